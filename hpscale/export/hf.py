"""Hugging Face ``transformers.TrainingArguments`` as YAML (``HfArgumentParser.parse_yaml_file``).

| TrainingArguments field        | hpscale value                                            |
|--------------------------------|----------------------------------------------------------|
| ``per_device_train_batch_size``| ``--micro-batch`` sequences (default: all of a rank's)    |
| ``gradient_accumulation_steps``| sequences per step / (world size × micro-batch)          |
| ``max_steps``                  | round(N·epochs / B) optimizer steps                      |
| ``warmup_steps``               | the plan's warmup (whole steps; HF reads < 1 as a ratio) |
| ``learning_rate``              | the hidden group's lr                                    |
| ``weight_decay``               | the hidden group's λ, coupled (torch AdamW: η·λ per step) |
| ``adam_beta1``, ``adam_beta2`` | β1, β2                                                   |
| ``adam_epsilon``               | the hidden group's ε                                     |
| ``optim``                      | ``adamw_torch`` (the coupled convention above)           |

The batch in sequences is B / ``--seq-len`` when the plan counts tokens (the sequence length is
the data collator's, not a TrainingArguments field) and B when it counts samples; the world size
is the launcher's (``torchrun --nproc-per-node``), kept in the header for ``check``.

What ``Trainer`` does with it (transformers 5.24, ``Trainer.get_decay_parameter_names`` in
trainer.py): one ``learning_rate``, ``adam_epsilon`` and β for every parameter; weight decay
for all but biases and norm weights (hpscale's ``vector`` group gets 0). So per-group learning
rates, a weight decay of the embedding other than the hidden one, init std, multipliers and an
EMA cannot be expressed: pass ``optimizers=(torch.optim.AdamW(hpscale.torch.param_groups(model,
plan)), None)`` to ``Trainer`` and apply the model-side values with ``hpscale.torch``
(docs/export.md has an example that runs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .common import Applied, GroupApplied, TrainerPlan

TRAINER = "Hugging Face TrainingArguments"
USAGE = ("HfArgumentParser(TrainingArguments).parse_yaml_file(FILE); per-group values: "
         "Trainer(..., optimizers=(torch.optim.AdamW(hpscale.torch.param_groups(model, plan)), None))")
NEEDS_SEQ_LEN = False
HOW: dict[str, str] = {
    "lr": "Trainer(optimizers=(torch.optim.AdamW(hpscale.torch.param_groups(model, plan)), None))",
    "weight_decay": "Trainer(optimizers=(torch.optim.AdamW(hpscale.torch.param_groups(model, plan)), None))",
    "eps": "Trainer(optimizers=(torch.optim.AdamW(hpscale.torch.param_groups(model, plan)), None))",
}

#: The fields written, in order, with their types (what ``parse`` accepts back).
FIELDS: dict[str, type] = {
    "per_device_train_batch_size": int, "gradient_accumulation_steps": int, "max_steps": int,
    "warmup_steps": int, "learning_rate": float, "weight_decay": float, "adam_beta1": float,
    "adam_beta2": float, "adam_epsilon": float, "optim": str,
}


def fields(plan: TrainerPlan) -> dict[str, Any]:
    hidden = plan.groups["hidden"]
    out: dict[str, Any] = {
        "per_device_train_batch_size": plan.layout.micro_batch,
        "gradient_accumulation_steps": plan.layout.accumulation,
        "max_steps": plan.steps,
    }
    if plan.warmup_steps:
        out["warmup_steps"] = plan.warmup_steps
    out |= {"learning_rate": hidden.lr, "weight_decay": hidden.weight_decay, "adam_beta1": plan.betas[0],
            "adam_beta2": plan.betas[1], "adam_epsilon": hidden.eps, "optim": "adamw_torch"}
    return out


def apply(values: Mapping[str, Any], sizes: Mapping[str, Any]) -> Applied:
    lr, wd, eps = values["learning_rate"], values["weight_decay"], values["adam_epsilon"]
    decayed = GroupApplied(lr, wd, eps)
    groups = {"embedding": decayed, "hidden": decayed, "readout": decayed, "vector": GroupApplied(lr, 0.0, eps)}
    sequences = values["per_device_train_batch_size"] * values["gradient_accumulation_steps"] * int(sizes["world_size"])
    return Applied(groups, (values["adam_beta1"], values["adam_beta2"]), values.get("warmup_steps"),
                   sequences, values["max_steps"])


def render(values: Mapping[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(dict(values), sort_keys=False)


def parse(text: str) -> dict[str, Any]:
    import yaml

    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError("expected a mapping of TrainingArguments fields")
    out: dict[str, Any] = {}
    for key, kind in FIELDS.items():
        if key in data:
            value = data[key]
            if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ValueError(f"{key}: {value!r}: expected {kind.__name__}")
            out[key] = value
    for key in ("per_device_train_batch_size", "max_steps", "learning_rate"):
        if key not in out:
            raise ValueError(f"{key}: missing")
    out.setdefault("gradient_accumulation_steps", 1)
    out.setdefault("warmup_steps", 0)
    out.setdefault("weight_decay", 0.0)  # TrainingArguments' defaults
    out.setdefault("adam_beta1", 0.9)
    out.setdefault("adam_beta2", 0.999)
    out.setdefault("adam_epsilon", 1e-8)
    return out
