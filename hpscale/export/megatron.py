"""Megatron-LM: its training flags as a bash array, ``MEGATRON_ARGS=( … )``.

Every flag and rule below is read from NVIDIA/Megatron-LM at commit
d98e8a64ddf34856e74b24714e3bedb2f5a39553 (``megatron/training/arguments.py`` and the config
dataclasses whose fields ``ArgumentGroupFactory`` turns into ``--field-name`` flags:
``megatron/training/config/training_config.py``, ``megatron/core/transformer/transformer_config.py``).

| flag                                 | hpscale value                                            |
|--------------------------------------|----------------------------------------------------------|
| ``--hidden-size``, ``--num-layers``  | target width, depth (µP's width ratio reads hidden size)  |
| ``--seq-length``                     | ``--seq-len``                                            |
| ``--micro-batch-size``               | ``--micro-batch`` (sequences per rank)                   |
| ``--global-batch-size``              | sequences per step (B / seq_len, or B samples)           |
| ``--train-iters``                    | round(N·epochs / B)                                      |
| ``--lr-warmup-iters``                | the plan's warmup steps                                   |
| ``--lr``                             | µP: the vector group's lr (the base); else the hidden lr |
| ``--decoupled-lr``                   | the embedding lr, where Megatron's own would differ      |
| ``--weight-decay``                   | the hidden λ, coupled (Megatron's AdamW: η·λ per step)   |
| ``--adam-beta1/2``, ``--adam-eps``   | β1, β2; µP: the vector ε (the base), else the hidden ε   |
| ``--init-method-std``                | the hidden init std (×√m under µP, which divides by √m)  |
| ``--embedding-init-method-std``      | the embedding init std                                   |
| ``--use-mup``, ``--mup-base-hidden-size``, ``--mup-output-mult`` | µP when W ≠ W₀: base width W₀, the readout multiplier |

What Megatron does with them (``megatron/core/optimizer/__init__.py``,
``get_standard_config_overrides`` and ``get_mup_config_overrides``; m = hidden size / base):
no weight decay on 1-D parameters and biases; under µP (m ≠ 1) hidden matrices and the
output layer train at lr/m with ε/m, embeddings and vectors at lr and ε; ``--decoupled-lr``
sets embedding and output layer to one absolute lr. Init (``transformer_config.py``
``__post_init__``, ``gpt_model.py``): hidden σ/√m under µP; the output layer takes the
embedding's init under µP. The logits are multiplied by ``mup_output_mult`` (auto 1/m).

``--world-size`` is the data-parallel size (GPUs / (tensor × pipeline × context parallel)):
Megatron needs global batch = micro-batch × data-parallel size × accumulation.

Not expressible: a weight decay per group other than 0 for vectors, a readout lr other than
the embedding's once ``--decoupled-lr`` is set, an EMA, a residual multiplier.

Muon (hybrid plans: ``muon:`` in the proxy), read at the same commit: ``--optimizer muon``
(``arguments.py`` ``_add_training_args``) trains every 2-D weight but the embedding and output
layer with ``TensorParallelMuon`` and the rest with Adam (``megatron/core/optimizer/
emerging_optimizers.py``: ``_is_muon_excluded``, the ``muon`` registry entry). Its keyword
arguments come from the config (``_kwargs_from_config``, prefix ``muon_``): ``lr`` = ``--lr``,
``weight_decay`` = ``--weight-decay`` (decoupled: p ← p·(1 − lr·λ), NVIDIA-NeMo/Emerging-Optimizers
``mixin.py`` ``_apply_weight_decay_inplace``, with the lr it is given), ``--muon-momentum``
(parser default 0.9), ``--muon-nesterov`` (off by default), ``--muon-scale-mode``
(``spectral`` √max(A, B), ``shape_scaling`` √max(1, A/B), ``unit_rms_norm`` √(A/B):
``get_muon_scale_factor``, ``hpscale.core.muon_shapes``) and ``--muon-extra-scale-factor``
(``_add_regularization_args``); the update is orthogonalised · scale factor · extra factor
(``TensorParallelMuon.__init__``, ``scaled_orthogonalize_fn``). So every hpscale convention is
exact: ``original`` is ``shape_scaling``, ``match_rms_adamw`` is ``spectral`` with the factor
0.2. One ``--lr`` serves Muon and Adam, so the file sets ``--lr`` to the Adam base (the vector
lr, as µP's base) and ``--muon-extra-scale-factor`` to the Muon lr (in the mode's convention)
÷ ``--lr``; ``--weight-decay`` is the Muon λ × Muon lr ÷ ``--lr`` (the same shrink per step).
Under µP (``get_mup_config_overrides``) the Muon matrices keep ``--lr`` and, the optimizer not
being Adam, no group's ε is divided by m. Not expressible: Muon's Newton–Schulz ε (no flag).

Batch schedules: a transfer plans one batch, so this file writes neither of Megatron's
schedules. ``hpscale ramp --seq-len T --format megatron`` writes the stages as
``--step-batch-size-schedule`` (``hpscale/core/ramp.py``, ``megatron_schedule``). Megatron
(``megatron/core/num_microbatches_calculator.py``, the calculator builder, as cited there)
refuses it beside ``--rampup-batch-size`` or ``--decrease-batch-size-if-needed``, takes the
batch from it instead of ``--global-batch-size`` (leave that out), and checks at run time that
the running stage's batch divides micro-batch × data-parallel size
(``StepBatchsizeNumMicroBatchesCalculator.update``). Its flags carry one lr, ε, β and λ for the whole run, so the per-stage values
``hpscale ramp`` rescales for each κ are not expressible as flags: take them from
``hpscale ramp -f json``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from . import shell
from .common import Applied, GroupApplied, MuonApplied, TrainerPlan

TRAINER = "Megatron-LM"
USAGE = ('source FILE; torchrun ... pretrain_gpt.py "${MEGATRON_ARGS[@]}" <data, tokenizer, '
         'heads and the other model flags>')
NEEDS_SEQ_LEN = True
NOTES = (
    "--use-mup also sets the attention softmax scale to 1/d_head (--mup-attn-scale-power 1.0); "
    "add --mup-attn-scale-power 0.5 to keep 1/sqrt(d_head)",
    "Megatron initialises each block's output projections with init_method_std/sqrt(2·num_layers) "
    "(÷ sqrt(m) under µP): hpscale's hidden init std is the other matrices'",
)
_OVERRIDES = ("Megatron's optimizer config_overrides (megatron.core.optimizer, ParamKey → "
              "ParamGroupOverride), which no flag sets")
HOW: dict[str, str] = {
    "lr": _OVERRIDES, "weight_decay": _OVERRIDES, "eps": _OVERRIDES,
    "init_std": "the model's init methods (TransformerConfig.init_method / output_layer_init_method)",
    "multiplier": "TransformerConfig.mup_embedding_mult / mup_output_mult",
    "warmup_steps": "--lr-warmup-iters",
    "muon_eps": "emerging_optimizers' newton_schulz (its own ε; no flag)",
}

NAME = "MEGATRON_ARGS"
#: Flag → type as Megatron's parser declares it (``bool``: ``store_true``).
KINDS: dict[str, Any] = {
    "--hidden-size": int, "--num-layers": int, "--seq-length": int, "--micro-batch-size": int,
    "--global-batch-size": int, "--train-iters": int, "--lr-warmup-iters": int, "--lr": float,
    "--decoupled-lr": float, "--weight-decay": float, "--adam-beta1": float, "--adam-beta2": float,
    "--adam-eps": float, "--init-method-std": float, "--embedding-init-method-std": float,
    "--use-mup": bool, "--mup-base-hidden-size": int, "--mup-output-mult": float,
    "--optimizer": str, "--muon-scale-mode": str, "--muon-extra-scale-factor": float, "--muon-momentum": float,
    "--muon-nesterov": bool,
}
#: hpscale's shape convention → Megatron's --muon-scale-mode and the extra factor it needs.
SCALE_MODES: dict[str, tuple[str, float]] = {"original": ("shape_scaling", 1.0), "spectral": ("spectral", 1.0),
                                             "unit_rms_norm": ("unit_rms_norm", 1.0),
                                             "match_rms_adamw": ("spectral", 0.2)}
#: --muon-scale-mode → the hpscale convention ``apply`` states the Muon lr in.
CONVENTIONS: dict[str, str] = {"shape_scaling": "original", "spectral": "spectral", "unit_rms_norm": "unit_rms_norm"}
MUON_MOMENTUM_DEFAULT = 0.9  # arguments.py --muon-momentum


def muon_convention(plan: TrainerPlan) -> str:
    """The convention this file states the Muon lr in: the plan's, ``match_rms_adamw`` as
    ``spectral`` (its 0.2 goes into the lr, exact for every shape)."""
    assert plan.muon is not None
    return CONVENTIONS[SCALE_MODES[plan.muon.convention][0]]


def muon_shapes(plan: TrainerPlan) -> list[tuple[int, int]]:
    """The hidden width × width matrices (the conversion is exact for every shape here)."""
    return [(plan.width, plan.width)]


def notes(plan: TrainerPlan) -> tuple[str, ...]:
    """How to read a hybrid file's Muon flags."""
    if plan.muon is None:
        return ()
    return ("--optimizer muon: Muon's step is --lr × --muon-extra-scale-factor × the --muon-scale-mode factor "
            "s(A, B), so the extra factor carries the Muon lr's ratio to the Adam base --lr; it decays as "
            "p·(1 − lr·λ) with --lr and --weight-decay",)


def fields(plan: TrainerPlan) -> dict[str, Any]:
    g = plan.groups
    m = plan.width / plan.base_width
    mup = m != 1
    out: dict[str, Any] = {"--hidden-size": plan.width, "--num-layers": plan.depth,
                           "--seq-length": plan.layout.seq_len, "--micro-batch-size": plan.layout.micro_batch,
                           "--global-batch-size": plan.layout.sequences, "--train-iters": plan.steps,
                           "--lr-warmup-iters": plan.warmup_steps or None}
    muon = plan.muon
    base = g["vector"] if mup or muon is not None else g["hidden"]
    out["--lr"] = base.lr
    own_embedding, own_output = base.lr, base.lr / m
    if not math.isclose(g["embedding"].lr, own_embedding, rel_tol=1e-12) or \
            not math.isclose(g["readout"].lr, own_output, rel_tol=1e-12):
        out["--decoupled-lr"] = g["embedding"].lr
    hidden_wd = g["hidden"].weight_decay
    if muon is not None:
        # The same Muon shrink lr·λ per step with --lr as the Muon's lr.
        hidden_wd = hidden_wd * g["hidden"].lr / base.lr
    out |= {"--weight-decay": hidden_wd, "--adam-beta1": plan.betas[0],
            "--adam-beta2": plan.betas[1], "--adam-eps": base.eps}
    if g["hidden"].init_std is not None:
        out["--init-method-std"] = g["hidden"].init_std * math.sqrt(m)
    if g["embedding"].init_std is not None:
        out["--embedding-init-method-std"] = g["embedding"].init_std
    if mup:
        out |= {"--use-mup": True, "--mup-base-hidden-size": plan.base_width,
                "--mup-output-mult": g["readout"].multiplier}
    if muon is not None:
        mode = SCALE_MODES[muon.convention][0]  # muon.convention is already muon_convention's
        extra = g["hidden"].lr / base.lr
        out |= {"--optimizer": "muon", "--muon-scale-mode": mode,
                "--muon-extra-scale-factor": None if extra == 1 else extra,
                "--muon-momentum": muon.momentum, "--muon-nesterov": muon.nesterov}
    return out


def apply(values: Mapping[str, Any], sizes: Mapping[str, Any]) -> Applied:
    mup = bool(values.get("--use-mup"))
    m = values["--hidden-size"] / values.get("--mup-base-hidden-size", values["--hidden-size"]) if mup else 1.0
    lr, eps, wd = values["--lr"], values.get("--adam-eps", 1e-8), values.get("--weight-decay", 0.01)
    decoupled = values.get("--decoupled-lr")
    std = values.get("--init-method-std", 0.02)
    embedding_std = values.get("--embedding-init-method-std", std)
    hidden_std = std / math.sqrt(m)
    output_mult = values.get("--mup-output-mult", 1.0) if mup else 1.0
    if mup and m != 1 and output_mult == 1.0:
        output_mult = 1 / m  # TransformerConfig.__post_init__: auto-set when left at 1.0
    muon = None
    hidden = GroupApplied(lr / m, wd, eps / m, hidden_std, 1.0)
    readout_eps = eps / m
    if values.get("--optimizer", "adam") == "muon":
        mode = values.get("--muon-scale-mode", "spectral")
        if mode not in CONVENTIONS:
            raise ValueError(f"--muon-scale-mode {mode!r}: allowed: {', '.join(CONVENTIONS)}")
        muon_lr = lr * values.get("--muon-extra-scale-factor", 1.0)  # µP leaves Muon's lr alone
        hidden = GroupApplied(muon_lr, wd * lr / muon_lr, None, hidden_std, 1.0)
        readout_eps = eps  # µP divides ε by m for Adam runs only
        muon = MuonApplied(CONVENTIONS[mode], values.get("--muon-momentum", MUON_MOMENTUM_DEFAULT),
                           bool(values.get("--muon-nesterov")))
    elif values.get("--optimizer", "adam") != "adam":
        raise ValueError(f"--optimizer {values['--optimizer']!r}: hpscale writes adam or muon")
    groups = {
        "embedding": GroupApplied(decoupled if decoupled is not None else lr, wd, eps, embedding_std, 1.0),
        "hidden": hidden,
        "readout": GroupApplied(decoupled if decoupled is not None else lr / m, wd, readout_eps,
                                embedding_std if mup else std, output_mult),
        "vector": GroupApplied(lr, 0.0, eps, None, 1.0),
    }
    return Applied(groups, (values.get("--adam-beta1", 0.9), values.get("--adam-beta2", 0.999)),
                   values.get("--lr-warmup-iters", 0), values["--global-batch-size"],
                   values["--train-iters"], seq_len=values.get("--seq-length"), muon=muon)


def render(values: Mapping[str, Any]) -> str:
    return shell.render(NAME, values)


def parse(text: str) -> dict[str, Any]:
    return shell.flags(text, NAME, KINDS, required=("--hidden-size", "--global-batch-size", "--train-iters", "--lr"))
