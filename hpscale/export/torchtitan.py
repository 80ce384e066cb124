"""torchtitan: its command-line overrides as a bash array, ``TORCHTITAN_ARGS=( … )``.

torchtitan 0.3 has no TOML job file any more: a run is a Python config function
(``--module llama3 --config llama3_8b``) plus ``--section.field value`` overrides parsed by
``torchtitan.config.ConfigManager`` (tyro). So this writes those overrides, to put after the
module and config; an older torchtitan (≤ 0.2) read the same fields from ``[training]``,
``[optimizer]``, ``[lr_scheduler]`` tables of a TOML file. Read from torchtitan 0.3.0
(``torchtitan/config/configs.py`` ``TrainingConfig``, ``components/optimizer/optimizer.py``
``default_adamw``, ``components/optimizer/lr_scheduler.py``).

| override                                              | hpscale value                      |
|-------------------------------------------------------|------------------------------------|
| ``--training.local-batch-size``                       | ``--micro-batch`` sequences         |
| ``--training.global-batch-size``                      | sequences per step                 |
| ``--training.seq-len``                                | ``--seq-len``                       |
| ``--training.steps``                                  | round(N·epochs / B)                |
| ``--lr-scheduler.warmup-steps``                       | the plan's warmup (0 without one)  |
| ``--optimizer.param-groups.0.optimizer-kwargs.lr``    | the hidden lr                      |
| ``… .weight-decay``, ``… .eps``, ``… .betas``          | hidden λ (coupled, torch AdamW), ε; β1 β2 |

Gradient accumulation is torchtitan's: global / (local × data-parallel degree), the world
size here. What it does: the config's param group 0 (pattern ``.*`` in the shipped configs)
trains every parameter with one lr, λ, ε and β — vectors decayed too. Per-group values need
more ``ParamGroupConfig`` entries (regex patterns of parameter names, first match wins) in the
config function: ``hpscale transfer --format overrides --model-names`` lists each group's names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import shell
from .common import Applied, GroupApplied, TrainerPlan

TRAINER = "torchtitan"
USAGE = ('source FILE; torchrun ... -m torchtitan.train --module MODEL --config CONFIG '
         '"${TORCHTITAN_ARGS[@]}"')
NEEDS_SEQ_LEN = True
_GROUPS = ("more optimizer.param_groups (ParamGroupConfig: a name pattern per group) in the config "
           "function; names from `hpscale transfer --format overrides --model-names`")
HOW: dict[str, str] = {"lr": _GROUPS, "weight_decay": _GROUPS, "eps": _GROUPS,
                       "init_std": "the model's init_weights", "multiplier": "the model's forward",
                       "warmup_steps": "--lr-scheduler.warmup-steps"}

NAME = "TORCHTITAN_ARGS"
_KW = "--optimizer.param-groups.0.optimizer-kwargs."
KINDS: dict[str, Any] = {
    "--training.local-batch-size": int, "--training.global-batch-size": int, "--training.seq-len": int,
    "--training.steps": int, "--lr-scheduler.warmup-steps": int, f"{_KW}lr": float,
    f"{_KW}weight-decay": float, f"{_KW}eps": float, f"{_KW}betas": (float, 2),
}


def fields(plan: TrainerPlan) -> dict[str, Any]:
    hidden = plan.groups["hidden"]
    return {
        "--training.local-batch-size": plan.layout.micro_batch,
        "--training.global-batch-size": plan.layout.sequences,
        "--training.seq-len": plan.layout.seq_len,
        "--training.steps": plan.steps,
        "--lr-scheduler.warmup-steps": plan.warmup_steps or 0,
        f"{_KW}lr": hidden.lr,
        f"{_KW}weight-decay": hidden.weight_decay,
        f"{_KW}eps": hidden.eps,
        f"{_KW}betas": list(plan.betas),
    }


def apply(values: Mapping[str, Any], sizes: Mapping[str, Any]) -> Applied:
    one = GroupApplied(values[f"{_KW}lr"], values[f"{_KW}weight-decay"], values[f"{_KW}eps"])
    betas = values[f"{_KW}betas"]
    return Applied({"embedding": one, "hidden": one, "readout": one, "vector": one}, (betas[0], betas[1]),
                   values["--lr-scheduler.warmup-steps"], values["--training.global-batch-size"],
                   values["--training.steps"], seq_len=values["--training.seq-len"])


def render(values: Mapping[str, Any]) -> str:
    return shell.render(NAME, values)


def parse(text: str) -> dict[str, Any]:
    # Every flag is required: the config function's own values are not known here.
    return shell.flags(text, NAME, KINDS, required=KINDS)
