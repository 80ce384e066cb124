"""``hpscale ramp``'s outputs: its ``--format`` choices, the stage table, JSON, YAML and the
Megatron-LM schedule string (the result is ``hpscale.core.ramp.RampResult``).

Formats: table (the stage table), json (the contract, docs/contracts.md), yaml (the same
object), megatron (the ``--step-batch-size-schedule`` string alone; needs ``seq_len``).
The caller passes the warnings as its reader sees them (the command line: flags, through
``hpscale.commands.options.flagged_all``). No rich or yaml at import time: the JSON path stays lean.
"""

from __future__ import annotations

from typing import Any

FORMATS = ("table", "json", "yaml", "megatron")


def render(result: Any, fmt: str, warnings: list[str], color: bool | None) -> str:
    """The text ``hpscale ramp --format fmt`` prints for ``result``; JSON and YAML carry
    ``warnings`` (``result.warnings()`` as the reader sees them)."""
    if fmt == "megatron":
        assert result.megatron is not None
        return str(result.megatron) + "\n"
    if fmt in ("json", "yaml"):
        obj = result.to_json_dict()
        obj["warnings"] = warnings
        from ..contract import dumps_json, dumps_yaml

        return dumps_json(obj) if fmt == "json" else dumps_yaml(obj)
    return render_table(result, color)


def _short(value: float) -> str:
    """A batch in a table cell: 3,932,160 → 3.932M (``format_si`` keeps every digit below 10⁷)."""
    from ..numbers import format_si

    return f"{value / 1e6:.4g}M" if 1e6 <= value < 1e7 else format_si(value)


def render_table(result: Any, color: bool | None) -> str:
    """One row per stage: start, batch (! above the critical batch), κ, the hidden group's η, λ,
    ε, Adam β, the model EMA and warmup when the proxy has them; then Megatron-LM's string."""
    from rich import box
    from rich.table import Table

    from ..numbers import format_si
    from .common import fmt_value, render_rich

    data = result.to_json_dict()
    table = Table(title=f"batch ramp: reference batch {format_si(result.reference_batch)} {result.unit} "
                  f"(the proxy's), {format_si(result.total)} {result.unit} of data",
                  box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False, collapse_padding=True)
    rows = data["stages"]
    ema = any(row["ema_decay"] is not None for row in rows)
    warmup = any(row["warmup_steps"] is not None for row in rows)
    headers = ["#", "from", "batch", "κ", "lr", "wd", "β1", "β2", "ε"] + ["EMA"] * ema + ["warmup"] * warmup
    for header in headers:
        table.add_column(header, justify="right", no_wrap=True)
    for row in rows:
        hidden = row["param_groups"]["hidden"]
        cells = [str(row["stage"]), format_si(row["start"]),
                 _short(row["batch_size"]) + ("!" if row["above_critical_batch"] else ""),
                 fmt_value(row["batch_ratio"], 4), fmt_value(hidden["lr"], 3),
                 fmt_value(hidden["weight_decay"], 3), fmt_value(row["betas"][0], 4),
                 fmt_value(row["betas"][1], 4), fmt_value(hidden["eps"], 3)]
        cells += ["" if row["ema_decay"] is None else fmt_value(row["ema_decay"], 5)] * ema
        cells += ["" if row["warmup_steps"] is None else str(row["warmup_steps"])] * warmup
        table.add_row(*cells)
    caption = "lr, wd, ε: the hidden group (--format json has every group)"
    used, source = result.critical_used()
    if used is not None:
        estimate = result.estimated_batch()
        caption += (f"; ! above the critical batch {format_si(round(used))}"
                    + (" (Zhang et al.'s estimate; --critical-batch to give yours)" if source == "estimate" else
                       "" if estimate is None else f" (Zhang et al.'s estimate: {format_si(round(estimate))})"))
    table.caption, table.caption_justify = caption, "left"
    text = render_rich([table], color=color)
    if result.megatron is not None:  # unwrapped, to copy as it is
        text += f"\nMegatron-LM --step-batch-size-schedule:\n{result.megatron}\n"
    return text
