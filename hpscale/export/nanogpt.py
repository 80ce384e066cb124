"""nanoGPT: a config file of ``train.py``'s variables (``python train.py FILE``).

Read from karpathy/nanoGPT at commit 3adf61e154c3fe3fca428ad6bc3818b27a3b8291: ``train.py``
(its globals are the config: ``configurator.py`` ``exec``s the file over them), ``model.py``
``GPT.configure_optimizers``.

| variable                      | hpscale value                                               |
|-------------------------------|-------------------------------------------------------------|
| ``batch_size``                | ``--micro-batch`` sequences per rank                        |
| ``block_size``                | ``--seq-len``                                               |
| ``gradient_accumulation_steps`` | accumulation × world size (train.py divides it by the world size) |
| ``max_iters``, ``lr_decay_iters`` | round(N·epochs / B) (the cosine decay ends with the run) |
| ``warmup_iters``              | the plan's warmup (0 without one)                            |
| ``learning_rate``             | the hidden lr                                               |
| ``weight_decay``              | the hidden λ, coupled (``torch.optim.AdamW``)               |
| ``beta1``, ``beta2``          | β1, β2                                                      |
| ``n_embd``, ``n_layer``       | target width, depth (``n_head`` must divide ``n_embd``: yours) |

What nanoGPT does: one learning rate; weight decay on every tensor of 2 or more dimensions
(embeddings, matrices, the tied ``lm_head``), none on biases and LayerNorm gains; AdamW's
default ε = 1e-8 (no variable sets it); init std 0.02 (``c_proj`` 0.02/√(2·n_layer)).
Per-group lrs, ε, init, multipliers and an EMA need edits to ``model.py`` or the optimizer.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

from .common import Applied, GroupApplied, TrainerPlan, plain

TRAINER = "nanoGPT"
USAGE = "torchrun --standalone --nproc_per_node=WORLD train.py FILE"
NEEDS_SEQ_LEN = True
_EDIT = "an edit of nanoGPT's GPT.configure_optimizers (one AdamW param group per hpscale group)"
HOW: dict[str, str] = {"lr": _EDIT, "weight_decay": _EDIT, "eps": _EDIT, "betas": _EDIT,
                       "init_std": "an edit of GPT._init_weights, or hpscale.torch.apply_init(model, plan)",
                       "multiplier": "hpscale.torch.apply_multipliers(model, plan)",
                       "warmup_steps": "warmup_iters"}

#: train.py's variables this writes, with their types there (configurator.py refuses a
#: command-line value whose type differs from the default's).
KINDS: dict[str, type] = {
    "batch_size": int, "block_size": int, "gradient_accumulation_steps": int, "max_iters": int,
    "lr_decay_iters": int, "warmup_iters": int, "learning_rate": float, "weight_decay": float,
    "beta1": float, "beta2": float, "n_embd": int, "n_layer": int,
}
#: train.py's defaults (the values a file that leaves a variable out trains with).
DEFAULTS: dict[str, Any] = {"gradient_accumulation_steps": 40, "warmup_iters": 2000, "weight_decay": 0.1,
                            "beta1": 0.9, "beta2": 0.95}


def fields(plan: TrainerPlan) -> dict[str, Any]:
    hidden = plan.groups["hidden"]
    out: dict[str, Any] = {
        "batch_size": plan.layout.micro_batch, "block_size": plan.layout.seq_len,
        "gradient_accumulation_steps": plan.layout.accumulation * plan.layout.world_size,
        "max_iters": plan.steps, "lr_decay_iters": plan.steps, "warmup_iters": plan.warmup_steps or 0,
        "learning_rate": hidden.lr, "weight_decay": hidden.weight_decay,
        "beta1": plan.betas[0], "beta2": plan.betas[1], "n_embd": plan.width,
    }
    if plan.depth is not None:
        out["n_layer"] = plan.depth
    return out


def apply(values: Mapping[str, Any], sizes: Mapping[str, Any]) -> Applied:
    v = {**DEFAULTS, **values}
    lr, wd = v["learning_rate"], v["weight_decay"]
    decayed = GroupApplied(lr, wd, 1e-8)
    groups = {"embedding": decayed, "hidden": decayed, "readout": decayed, "vector": GroupApplied(lr, 0.0, 1e-8)}
    # tokens per step = gradient_accumulation_steps (all ranks) × batch_size × block_size (train.py)
    return Applied(groups, (v["beta1"], v["beta2"]), v["warmup_iters"],
                   v["gradient_accumulation_steps"] * v["batch_size"], v["max_iters"], seq_len=v["block_size"])


def render(values: Mapping[str, Any]) -> str:
    return "".join(f"{name} = {repr(float(value)) if KINDS.get(name) is float else plain(value)}\n"
                   for name, value in values.items())


def parse(text: str) -> dict[str, Any]:
    """Plain assignments of literals only (the file is Python that nanoGPT ``exec``s; this reads
    it without running it)."""
    out: dict[str, Any] = {}
    for node in ast.parse(text).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            raise ValueError(f"line {node.lineno}: not a plain `name = value` assignment")
        name = node.targets[0].id
        value = ast.literal_eval(node.value)
        if name in KINDS:
            kind = KINDS[name]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ValueError(f"{name}: {value!r}: expected {kind.__name__}")
            out[name] = value
    for name in ("batch_size", "block_size", "max_iters", "learning_rate"):
        if name not in out:
            raise ValueError(f"{name}: missing")
    return out
