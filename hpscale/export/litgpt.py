"""LitGPT: a YAML config for ``litgpt pretrain --config FILE``.

Read from litgpt 0.5.9 (``litgpt/pretrain.py`` ``setup``/``fit``, ``litgpt/args.py``
``TrainArgs``).

| key                                     | hpscale value                                        |
|-----------------------------------------|------------------------------------------------------|
| ``train.global_batch_size``             | sequences per step (all ranks)                       |
| ``train.micro_batch_size``              | ``--micro-batch`` sequences per rank                 |
| ``train.max_seq_length``                | ``--seq-len``                                        |
| ``train.max_tokens``                    | round(N·epochs / B) × tokens per step               |
| ``train.lr_warmup_steps``               | the plan's warmup, optimizer steps (0 without one)   |
| ``devices``                             | ``--world-size`` (one node)                          |
| ``optimizer.init_args.lr``              | the hidden lr                                        |
| ``… .weight_decay``, ``… .eps``, ``… .betas`` | hidden λ (coupled, ``torch.optim.AdamW``), ε, β1 β2 |

``pretrain`` runs max_tokens / (devices · micro_batch_size · max_seq_length) micro-iterations,
accumulating global_batch_size / (devices · micro_batch_size) of them per optimizer step;
``max_steps`` is refused by ``pretrain``, hence ``max_tokens``. ``model_name`` (or
``model_config``) and the data are yours. What it does: ``instantiate_torch_optimizer(optimizer,
model.parameters())`` — one group, so one lr, λ (vectors decayed too), ε and β. Per-group
values, init std, multipliers and an EMA need ``hpscale.torch`` in a script of your own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .common import Applied, GroupApplied, TrainerPlan

TRAINER = "LitGPT"
USAGE = "litgpt pretrain MODEL_NAME --config FILE --data ... (model_name and data are not written)"
NEEDS_SEQ_LEN = True
HOW: dict[str, str] = {"warmup_steps": "train.lr_warmup_steps"}


def fields(plan: TrainerPlan) -> dict[str, Any]:
    hidden = plan.groups["hidden"]
    tokens = plan.layout.tokens
    assert tokens is not None  # NEEDS_SEQ_LEN
    return {
        "devices": plan.layout.world_size,
        "num_nodes": 1,
        "train": {"global_batch_size": plan.layout.sequences, "micro_batch_size": plan.layout.micro_batch,
                  "max_seq_length": plan.layout.seq_len, "max_tokens": plan.steps * tokens,
                  "lr_warmup_steps": plan.warmup_steps or 0},
        "optimizer": {"class_path": "torch.optim.AdamW",
                      "init_args": {"lr": hidden.lr, "weight_decay": hidden.weight_decay,
                                    "betas": list(plan.betas), "eps": hidden.eps}},
    }


def apply(values: Mapping[str, Any], sizes: Mapping[str, Any]) -> Applied:
    train, args = values["train"], values["optimizer"]["init_args"]
    one = GroupApplied(args["lr"], args.get("weight_decay", 0.01), args.get("eps", 1e-8))  # torch defaults
    betas = args.get("betas", [0.9, 0.999])
    sequences = train["global_batch_size"]
    seq_len = train["max_seq_length"]
    # pretrain.fit: whole micro-iterations, whole optimizer steps
    steps = train["max_tokens"] // (sequences * seq_len)
    return Applied({"embedding": one, "hidden": one, "readout": one, "vector": one}, (betas[0], betas[1]),
                   train.get("lr_warmup_steps", 2000), sequences, steps, seq_len=seq_len)


def render(values: Mapping[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(dict(values), sort_keys=False)


def parse(text: str) -> dict[str, Any]:
    import yaml

    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("train"), dict) \
            or not isinstance(data.get("optimizer"), dict) or not isinstance(data["optimizer"].get("init_args"), dict):
        raise ValueError("expected train: and optimizer: {class_path, init_args} sections")
    if data["optimizer"].get("class_path") != "torch.optim.AdamW":
        raise ValueError(f"optimizer.class_path: {data['optimizer'].get('class_path')!r}: hpscale plans AdamW")
    for key in ("global_batch_size", "max_seq_length", "max_tokens"):
        if not isinstance(data["train"].get(key), int):
            raise ValueError(f"train.{key}: missing or not a whole number")
    if not isinstance(data["optimizer"]["init_args"].get("lr"), int | float):
        raise ValueError("optimizer.init_args.lr: missing")
    return data
