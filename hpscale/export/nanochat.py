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

nanochat scales what it is given: every AdamW lr by √(B/2¹⁹) (``batch_lr_scale``) and by
(W/768)^−½ (``dmodel_lr_scale``); the exporter divides by both so the lr that trains is the
plan's. It cannot express: the hidden matrices' AdamW values (nanochat trains them with Muon:
``--matrix-lr`` and ``--weight-decay`` are Muon's, the latter rescaled by nanochat's own
horizon rule), its AdamW groups' β, ε = 1e-10 and weight decay (fixed in ``setup_optimizer``:
embedding 0.001, lm_head 0.01), init std, multipliers, an EMA.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..errors import InputError
from . import shell
from .common import Applied, GroupApplied, TrainerPlan

TRAINER = "nanochat"
USAGE = 'source FILE; torchrun --standalone --nproc_per_node=WORLD -m scripts.base_train -- "${NANOCHAT_ARGS[@]}"'
NEEDS_SEQ_LEN = True
_EDIT = "an edit of nanochat's GPT.setup_optimizer (its AdamW groups fix β, ε and weight decay; Muon trains the matrices)"
HOW: dict[str, str] = {"lr": _EDIT, "weight_decay": _EDIT, "eps": _EDIT, "betas": _EDIT,
                       "init_std": "an edit of GPT.init_weights", "multiplier": "an edit of GPT.forward",
                       "warmup_steps": "--warmup-steps"}

NAME = "NANOCHAT_ARGS"
KINDS: dict[str, Any] = {
    "--depth": int, "--aspect-ratio": int, "--head-dim": int, "--max-seq-len": int, "--device-batch-size": int,
    "--total-batch-size": int, "--num-iterations": int, "--warmup-steps": int, "--embedding-lr": float,
    "--unembedding-lr": float,
}
#: base_train.py: B_REF, the batch its lrs are tuned at; gpt.py: the width of dmodel_lr_scale.
B_REF = 2**19
D_MODEL_REF = 768
HEAD_DIMS = (128, 64)


def nanochat_lr_scale(total_batch_tokens: int, model_dim: int) -> float:
    """The factor nanochat multiplies every AdamW lr flag by: √(B/B_ref) · (W/768)^−½.

    B: ``--total-batch-size`` in tokens, B_ref = 2¹⁹ (``base_train.py``: ``batch_lr_scale`` is
    1 when B = B_ref and √(B/B_ref) otherwise, the same number); W: ``model_dim``, 768 the width
    its lrs are tuned at (``gpt.py`` ``setup_optimizer``: ``dmodel_lr_scale``).
    """
    return math.sqrt(total_batch_tokens / B_REF) * (model_dim / D_MODEL_REF) ** -0.5


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
    }


def apply(values: Mapping[str, Any], sizes: Mapping[str, Any]) -> Applied:
    width = model_dim(values["--depth"], values["--aspect-ratio"], values["--head-dim"])
    tokens, seq_len = values["--total-batch-size"], values["--max-seq-len"]
    scale = nanochat_lr_scale(tokens, width)
    groups = {
        "embedding": GroupApplied(values["--embedding-lr"] * scale, 0.001, 1e-10),
        "hidden": GroupApplied(None, None, None),  # Muon, not AdamW
        "readout": GroupApplied(values["--unembedding-lr"] * scale, 0.01, 1e-10),
        "vector": GroupApplied(None, None, None),  # no norm gains; fixed scalar groups
    }
    if tokens % seq_len:
        raise ValueError(f"--total-batch-size {tokens} is not a whole number of {seq_len}-token sequences")
    return Applied(groups, None, values["--warmup-steps"], tokens // seq_len, values["--num-iterations"],
                   seq_len=seq_len)


def render(values: Mapping[str, Any]) -> str:
    return shell.render(NAME, values)


def parse(text: str) -> dict[str, Any]:
    return shell.flags(text, NAME, KINDS, required=KINDS)
