"""``hpscale timescale``'s outputs: its ``--format`` choices, the table and the JSON text (the
result is ``hpscale.core.timescale.TimescaleReport``). No rich at import time: the JSON path
stays lean."""

from __future__ import annotations

from typing import Any

FORMATS = ("table", "json")


def render(report: Any, fmt: str, color: bool | None) -> str:
    """The text ``hpscale timescale --format fmt`` prints for ``report``."""
    if fmt == "json":
        from ..contract import dumps_json

        return dumps_json(report.to_json_dict())
    return render_table(report, color)


def render_table(report: Any, color: bool | None) -> str:
    """η, λ (and λ coupled in the independent convention), B, N, M = N/B, τ_iter, τ_epoch, the
    run length and τ / run, one row each; the solved quantity marked. The title names the
    report's config and group, the sizes carry its unit."""
    from rich import box
    from rich.table import Table

    from ..numbers import format_si
    from ..text import printable
    from .common import fmt_value, render_rich

    group, config, unit = report.group, report.config, report.unit

    def _size(value: float) -> str:
        return f"{value:,.0f}" if value == int(value) else format_si(value)

    where = f" — {config}" + (f", group {group}" if group else "") if config else ""
    table = Table(title=f"hpscale timescale{printable(where)} (weight decay: {report.convention} convention)",
                  box=box.SIMPLE_HEAD, title_justify="left")
    for column, justify in (("quantity", "left"), ("value", "right"), ("", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    solved = ""
    if report.target is not None:
        symbol = "τ_epoch" if report.target[0] == "tau_epoch" else "τ_iter"
        solved = f"◀ solved for {symbol} = {report.target[1]:g}"
    units = f" {unit}" if unit else ""
    wd_label = "weight decay λ" if report.convention == "coupled" else "weight decay λ_ind = η·λ"
    table.add_row("learning rate η", fmt_value(report.lr), solved if report.solved_for == "lr" else "")
    table.add_row(wd_label, fmt_value(report.weight_decay), solved if report.solved_for == "weight_decay" else "")
    if report.convention == "independent":
        table.add_row("weight decay λ (coupled, λ_ind/η)", fmt_value(report.weight_decay_coupled), "")
    if report.batch_size is not None and report.dataset_size is not None:
        table.add_row("batch size B", _size(report.batch_size), f"{units.strip()} per step")
        table.add_row("dataset size N", _size(report.dataset_size), f"{units.strip()} per epoch")
        table.add_row("iterations per epoch M = N/B", f"{report.iterations_per_epoch:,.1f}", "")
    inf = float("inf")
    table.add_row("τ_iter = 1/(η·λ)", fmt_value(report.tau_iter or inf), "steps")
    if report.batch_size is not None:
        table.add_row("τ_epoch = B/(η·λ·N)", fmt_value(report.tau_epoch or inf, 4), "epochs")
    if report.total_steps is not None or report.epochs is not None:
        length = " = ".join(part for part in (
            f"{report.epochs:g} epoch{'' if report.epochs == 1 else 's'}" if report.epochs is not None else "",
            f"{report.total_steps:,.0f} steps" if report.total_steps is not None else "",
        ) if part)
        table.add_row("run length", length, "")
        table.add_row("τ / run", fmt_value(report.tau_run_fraction or inf, 4), "fraction of the run")
    return render_rich([table], color=color)
