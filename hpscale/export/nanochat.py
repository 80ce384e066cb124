"""nanochat: ``scripts/base_train.py`` flags as a bash array, ``NANOCHAT_ARGS=( … )``.

Read from karpathy/nanochat at commit 92d63d4e8bb4df75c3b71618f31ddde2378b2bcd:
``scripts/base_train.py`` (argparse flags; the batch and lr scaling) and ``nanochat/gpt.py``
(``GPT.setup_optimizer``).

| flag                       | hpscale value                                                  |
|----------------------------|----------------------------------------------------------------|
| ``--depth``, ``--aspect-ratio``, ``--head-dim`` | target depth; width W = depth × aspect ratio, a multiple of the head size |
| ``--max-seq-len``          | ``--seq-len``                                                  |
| ``--device-batch-size``    | ``--micro-batch`` sequences per rank                           |
| ``--total-batch-size``     | tokens per step (nanochat derives the accumulation)            |
| ``--num-iterations``       | round(N·epochs / B)                                            |
| ``--warmup-steps``         | the plan's warmup (0 without one)                              |
| ``--embedding-lr``, ``--unembedding-lr`` | embedding, readout lr ÷ nanochat's own scaling (``nanochat_lr_scale``) |
| ``--matrix-lr``            | hybrid plans: the Muon lr in nanochat's ``original`` convention ÷ √(B/2¹⁹) |
| ``--weight-decay``         | hybrid plans: the Muon λ ÷ nanochat's own rescaling (``nanochat_wd_scale``) |

nanochat scales what it is given: every AdamW lr by √(B/2¹⁹) (``batch_lr_scale``) and by
(W/768)^−½ (``dmodel_lr_scale``); the exporter divides by both so the lr that trains is the
plan's. It cannot express: the hidden matrices' AdamW values (nanochat trains them with Muon:
``--matrix-lr`` and ``--weight-decay`` are Muon's, the latter rescaled by nanochat's own
horizon rule), its AdamW groups' β, ε = 1e-10 and weight decay (fixed in ``setup_optimizer``:
embedding 0.001, lm_head 0.01), init std, multipliers, an EMA.

Muon (hybrid plans: ``muon:`` in the proxy). ``nanochat/optim.py`` ``MuonAdamW._compute_muon``
steps each matrix with ``lr · √max(1, A/B)`` (A = ``shape[-2]``, the fan-out of an ``nn.Linear``
weight): hpscale's ``original`` convention, so a plan in another convention is converted per
shape (``hybrid.in_convention``; its hidden matrices: c_q, c_k, c_v, c_proj d×d, c_fc 4d×d,
mlp c_proj d×4d, from ``gpt.py`` ``CausalSelfAttention`` and ``MLP``; the tiny ``ve_gate``
matrices are left out). ``base_train.py`` gives ``setup_optimizer`` ``matrix_lr ×
batch_lr_scale`` (√(B/2¹⁹), no width scaling) and a weight decay rescaled by
√(B/2¹⁹)·D_REF/target_tokens (``nanochat_wd_scale``). What nanochat's Muon does that hpscale's
plan does not, said in every hybrid file (``notes``): its momentum follows a fixed schedule
(``get_muon_momentum``: 0.85 → 0.97 → 0.90, no flag), its weight decay is cautious (only where
update and weight agree in sign, ``muon_step_fused``), uses the shape-scaled lr (×2 on c_fc) and
follows a cosine schedule to 0 (``get_weight_decay``), and its update is variance-reduced
(NorMuon) with the orthogonalised matrix's Frobenius norm.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..errors import InputError
from . import shell
from .common import Applied, GroupApplied, MuonApplied, TrainerPlan

TRAINER = "nanochat"
USAGE = 'source FILE; torchrun --standalone --nproc_per_node=WORLD -m scripts.base_train -- "${NANOCHAT_ARGS[@]}"'
NEEDS_SEQ_LEN = True
_EDIT = "an edit of nanochat's GPT.setup_optimizer (its AdamW groups fix β, ε and weight decay; Muon trains the matrices)"
HOW: dict[str, str] = {"lr": _EDIT, "weight_decay": _EDIT, "eps": _EDIT, "betas": _EDIT,
                       "init_std": "an edit of GPT.init_weights", "multiplier": "an edit of GPT.forward",
                       "warmup_steps": "--warmup-steps",
                       "muon_momentum": "an edit of base_train.py get_muon_momentum (nanochat schedules "
                                        "it 0.85 → 0.97 → 0.90; no flag)",
                       "muon_eps": "an edit of nanochat/optim.py muon_step_fused (its own Polar Express "
                                   "iteration; no flag)"}

NAME = "NANOCHAT_ARGS"
KINDS: dict[str, Any] = {
    "--depth": int, "--aspect-ratio": int, "--head-dim": int, "--max-seq-len": int, "--device-batch-size": int,
    "--total-batch-size": int, "--num-iterations": int, "--warmup-steps": int, "--embedding-lr": float,
    "--unembedding-lr": float, "--matrix-lr": float, "--weight-decay": float,
}
#: The flags of a hybrid plan's file only.
MUON_FLAGS = ("--matrix-lr", "--weight-decay")
#: base_train.py: B_REF, the batch its lrs are tuned at; gpt.py: the width of dmodel_lr_scale.
B_REF = 2**19
D_MODEL_REF = 768
HEAD_DIMS = (128, 64)
#: base_train.py: --weight-decay's default (applied when a file leaves it out), and
#: --target-param-data-ratio's, which its weight-decay rescaling reads (D_REF, target_tokens).
WEIGHT_DECAY_DEFAULT = 0.28
PARAM_DATA_RATIO = 12.0
#: The vocabulary nanochat's tokenizer is trained with by default (scripts/tok_train.py
#: --vocab-size) and gpt.py's padding of it (GPT.__init__ pad_vocab_size_to).
VOCAB = 32768
VOCAB_PAD = 64


def nanochat_lr_scale(total_batch_tokens: int, model_dim: int) -> float:
    """The factor nanochat multiplies every AdamW lr flag by: √(B/B_ref) · (W/768)^−½.

    B: ``--total-batch-size`` in tokens, B_ref = 2¹⁹ (``base_train.py``: ``batch_lr_scale`` is
    1 when B = B_ref and √(B/B_ref) otherwise, the same number); W: ``model_dim``, 768 the width
    its lrs are tuned at (``gpt.py`` ``setup_optimizer``: ``dmodel_lr_scale``).
    """
    return math.sqrt(total_batch_tokens / B_REF) * (model_dim / D_MODEL_REF) ** -0.5


def scaling_params(depth: int, width: int, head_dim: int, vocab: int = VOCAB, ve_gate_channels: int = 12) -> int:
    """nanochat's parameter count for its scaling laws: ``transformer_matrices + lm_head``
    (base_train.py ``get_scaling_params``; gpt.py ``GPT.num_scaling_params``).

    P = L·12·W² (c_q, c_k, c_v, c_proj W×W and c_fc, mlp c_proj 4W×W per block, n_kv_head =
    n_head) + ⌈L/2⌉·c·(W/h) (``ve_gate``, c × n_kv_head with c = ``ve_gate_channels`` = 12, on
    the layers ``has_ve`` picks) + V_pad·W (lm_head; V_pad the vocabulary rounded up to a
    multiple of 64). L depth, W width, h head dim, V vocabulary.
    """
    padded = -(-vocab // VOCAB_PAD) * VOCAB_PAD
    ve_layers = sum(1 for i in range(depth) if i % 2 == (depth - 1) % 2)
    return depth * 12 * width * width + ve_layers * ve_gate_channels * (width // head_dim) + padded * width


def nanochat_wd_scale(total_batch_tokens: int, depth: int, aspect_ratio: int, head_dim: int) -> float:
    """The factor nanochat multiplies ``--weight-decay`` by: √(B/B_ref) · D_REF/target_tokens.

    base_train.py (its T_epoch rule, arXiv 2405.13698): ``weight_decay_scaled = weight_decay ·
    √(B/B_REF) · (D_REF/target_tokens)`` with target_tokens = int(r·P) and D_REF = r·P₁₂, P the
    model's ``scaling_params`` and P₁₂ that of depth 12 at the same aspect ratio and head dim
    (``build_model_meta(12)``), r = ``--target-param-data-ratio`` (12, this file leaves it). The
    vocabulary is nanochat's default (``VOCAB``): a tokenizer with another changes P.
    """
    width = model_dim(depth, aspect_ratio, head_dim)
    target_tokens = int(PARAM_DATA_RATIO * scaling_params(depth, width, head_dim))
    d_ref = PARAM_DATA_RATIO * scaling_params(12, model_dim(12, aspect_ratio, head_dim), head_dim)
    return math.sqrt(total_batch_tokens / B_REF) * d_ref / target_tokens


def muon_convention(plan: TrainerPlan) -> str:
    """nanochat's Muon steps with lr·√max(1, A/B): ``original`` (optim.py ``_compute_muon``)."""
    return "original"


def muon_shapes(plan: TrainerPlan) -> list[tuple[int, int]]:
    """(fan_out, fan_in) of nanochat's hidden matrices, W×W first (see the module docstring)."""
    w = plan.width
    return [(w, w), (4 * w, w), (w, 4 * w)]


def notes(plan: TrainerPlan) -> tuple[str, ...]:
    """What nanochat's Muon does that the plan does not say (hybrid plans only)."""
    if plan.muon is None:
        return ()
    # At depth 12 the model is its own reference (D_REF/target_tokens = 1, whatever the vocabulary).
    vocabulary = () if plan.depth == 12 else (
        f"nanochat rescales --weight-decay by √(B/2¹⁹)·D_REF/target_tokens, a ratio of parameter counts "
        f"with the lm_head's vocabulary: this file assumes nanochat's default {VOCAB:,} (scripts/tok_train.py); "
        "another vocabulary changes the λ that trains",)
    return (
        *vocabulary,
        "nanochat's Muon weight decay is cautious (only where update and weight agree in sign), follows a "
        "cosine schedule to 0 and uses the shape-scaled lr (×2 on the 4d×d c_fc): --weight-decay gives the "
        "plan's peak λ on the d×d and d×4d matrices",
    )


def model_dim(depth: int, aspect_ratio: int, head_dim: int) -> int:
    """base_train.py ``build_model_meta``: depth × aspect ratio rounded up to a multiple of head_dim."""
    return -(-(depth * aspect_ratio) // head_dim) * head_dim


def _shape(width: int, depth: int | None) -> tuple[int, int, int]:
    if depth is None:
        raise InputError("--depth: nanochat sizes its model by depth (model.depth in the proxy, or --depth)")
    for head in HEAD_DIMS:
        aspect = -(-width // depth)
        if model_dim(depth, aspect, head) == width:
            return depth, aspect, head
    raise InputError(f"--width: {width}: nanochat builds width = depth × aspect ratio rounded up to a multiple "
                     f"of the head size ({' or '.join(map(str, HEAD_DIMS))}); {width} is not one at depth {depth}")


def fields(plan: TrainerPlan) -> dict[str, Any]:
    depth, aspect, head = _shape(plan.width, plan.depth)
    tokens = plan.layout.tokens
    assert tokens is not None  # NEEDS_SEQ_LEN
    scale = nanochat_lr_scale(tokens, plan.width)
    return {
        "--depth": depth, "--aspect-ratio": aspect, "--head-dim": head, "--max-seq-len": plan.layout.seq_len,
        "--device-batch-size": plan.layout.micro_batch, "--total-batch-size": tokens,
        "--num-iterations": plan.steps, "--warmup-steps": plan.warmup_steps or 0,
        "--embedding-lr": plan.groups["embedding"].lr / scale, "--unembedding-lr": plan.groups["readout"].lr / scale,
    } | (_muon_fields(plan, depth, aspect, head) if plan.muon is not None else {})


def _muon_fields(plan: TrainerPlan, depth: int, aspect: int, head: int) -> dict[str, Any]:
    """--matrix-lr, --weight-decay: the Muon group's lr and λ (in ``original``, ``hybrid``)
    divided by what base_train.py multiplies them by."""
    assert plan.muon is not None and plan.layout.tokens is not None
    group = plan.groups[plan.muon.group]
    tokens = plan.layout.tokens
    return {"--matrix-lr": group.lr / math.sqrt(tokens / B_REF),
            "--weight-decay": group.weight_decay / nanochat_wd_scale(tokens, depth, aspect, head)}


def apply(values: Mapping[str, Any], sizes: Mapping[str, Any]) -> Applied:
    width = model_dim(values["--depth"], values["--aspect-ratio"], values["--head-dim"])
    tokens, seq_len = values["--total-batch-size"], values["--max-seq-len"]
    scale = nanochat_lr_scale(tokens, width)
    muon = None
    hidden = GroupApplied(None, None, None)  # AdamW-only plan: nanochat's Muon, which hpscale did not plan
    if "--matrix-lr" in values:
        wd = values.get("--weight-decay", WEIGHT_DECAY_DEFAULT)
        hidden = GroupApplied(values["--matrix-lr"] * math.sqrt(tokens / B_REF),
                              wd * nanochat_wd_scale(tokens, values["--depth"], values["--aspect-ratio"],
                                                     values["--head-dim"]), None)
        muon = MuonApplied("original", None, True)  # momentum: get_muon_momentum's schedule; Nesterov
    groups = {
        "embedding": GroupApplied(values["--embedding-lr"] * scale, 0.001, 1e-10),
        "hidden": hidden,
        "readout": GroupApplied(values["--unembedding-lr"] * scale, 0.01, 1e-10),
        "vector": GroupApplied(None, None, None),  # no norm gains; fixed scalar groups
    }
    if tokens % seq_len:
        raise ValueError(f"--total-batch-size {tokens} is not a whole number of {seq_len}-token sequences")
    return Applied(groups, None, values["--warmup-steps"], tokens // seq_len, values["--num-iterations"],
                   seq_len=seq_len, muon=muon)


def render(values: Mapping[str, Any]) -> str:
    return shell.render(NAME, values)


def parse(text: str) -> dict[str, Any]:
    return shell.flags(text, NAME, KINDS, required=[flag for flag in KINDS if flag not in MUON_FLAGS])
