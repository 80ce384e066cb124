"""``hpscale timescale``: the AdamW EMA timescale of one run, forward or solved for λ (or η).

Forward: from η, λ, B, N print τ_iter = 1/(η·λ), τ_epoch = B/(η·λ·N), the iterations per epoch
M = N/B and, given the run length, τ as a fraction of the run.
Inverse: given ``--tau-epoch`` (or ``--tau-iter``) solve for λ (default) or, with
``--solve lr``, for η. Every formula is a registered rule of ``hpscale.rules`` (``tau-iter``,
``tau-epoch``, ``tau-epoch-inverse``, ``coupled-to-independent``); this module only picks the
inputs and checks that they are complete (Wang & Aitchison 2024, arXiv 2405.13698).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..core.timescale import (
    CONVENTIONS,
    SOLVE_FOR,
    TIMESCALE_FORMATS,
    TimescaleReport,
    compute_timescale,
)
from . import options as O


def render_table(report: TimescaleReport, *, group: str | None, config: str | None, unit: str | None,
                 color: bool | None) -> str:
    from rich import box
    from rich.table import Table

    from ..numbers import format_si
    from ..outputs.common import fmt_value, render_rich
    from ..text import printable

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


def _number(option: str, value: str | None, *, positive: bool = True) -> float | None:
    """Parse ``6e-4``-style numbers with a one-line error naming the option."""
    from ..errors import InputError
    from ..numbers import parse_number

    if value is None:
        return None
    try:
        number = parse_number(value)
    except ValueError as exc:
        raise InputError(f"{option}: {exc}") from None
    if positive and number <= 0:
        raise InputError(f"{option}: must be > 0, found {value!r}")
    if number < 0:
        raise InputError(f"{option}: must be ≥ 0, found {value!r}")
    return number


def timescale_command(
    lr: Annotated[str | None, typer.Option("--lr", metavar="η", help="Learning rate η (e.g. 6e-4).", show_default=False)] = None,
    weight_decay: Annotated[str | None, typer.Option("--weight-decay", metavar="λ", help="AdamW weight_decay λ, in --convention.", show_default=False)] = None,
    batch_size: Annotated[str | None, typer.Option("--batch-size", metavar="B", help="Batch size B per step: 491520, 0.5M or 2Mi.", show_default=False)] = None,
    dataset_size: Annotated[str | None, typer.Option("--dataset-size", metavar="N", help="Dataset size N per epoch, same unit as B (9B).", show_default=False)] = None,
    convention: Annotated[str | None, typer.Option("--convention", metavar="coupled|independent", autocompletion=O._completer(CONVENTIONS), help="Weight-decay convention: coupled (torch.optim.AdamW's weight_decay, which PyTorch calls decoupled: decay η·λ per step) or independent (decay λ per step). Default: the config's, else coupled.", show_default=False)] = None,
    config: Annotated[Path | None, typer.Option("--config", metavar="FILE", help="Take η, λ, B, N and epochs from this run config; explicit options override.", dir_okay=False, show_default=False)] = None,
    group: Annotated[str | None, typer.Option("--group", metavar="embedding|hidden|readout|vector", help="Parameter group of --config whose η and λ to use (default: hidden).", show_default=False)] = None,
    epochs: Annotated[str | None, typer.Option("--epochs", metavar="E", help="Run length in epochs, for τ as a fraction of the run.", show_default=False)] = None,
    total_steps: Annotated[str | None, typer.Option("--total-steps", metavar="S", help="Run length in optimizer steps (instead of --epochs).", show_default=False)] = None,
    tau_epoch: Annotated[str | None, typer.Option("--tau-epoch", metavar="τ", help="Inverse: solve for λ (or η with --solve lr) so that τ_epoch is this.", show_default=False)] = None,
    tau_iter: Annotated[str | None, typer.Option("--tau-iter", metavar="τ", help="Inverse: solve so that τ_iter (steps) is this.", show_default=False)] = None,
    solve: Annotated[str, typer.Option("--solve", metavar="weight-decay|lr", autocompletion=O._completer(SOLVE_FOR), help="What the inverse solves for.")] = "weight-decay",
    format: O.format_option(TIMESCALE_FORMATS) = "table",  # type: ignore[valid-type]
    output: O.OutputOpt = None,
) -> None:
    """AdamW EMA timescale: τ_iter, τ_epoch and τ per run from η, λ, B, N; or solve for λ (or η).

    Example: hpscale timescale --lr 6e-4 --weight-decay 0.1 --batch-size 491520
    --dataset-size 9035582198 gives τ_epoch = 0.9066; add --tau-epoch 1 and drop
    --weight-decay to get λ = 0.09066.
    """
    output_file = O.output_option(output)
    from ..errors import InputError
    from ..output import emit, warn

    fmt = O.choice("--format", format, TIMESCALE_FORMATS)
    solve_for = O.choice("--solve", solve, SOLVE_FOR)
    if convention is not None:
        O.choice("--convention", convention, CONVENTIONS)
    inverse = tau_epoch is not None or tau_iter is not None
    if not inverse and solve != "weight-decay":
        raise InputError("--solve: needs --tau-epoch or --tau-iter (the timescale to solve for)")
    if inverse and solve_for == "weight-decay" and weight_decay is not None:
        raise InputError(
            "--weight-decay: given together with --tau-epoch/--tau-iter, which solve for the weight "
            "decay; drop --weight-decay, or add --solve lr to solve for the learning rate instead"
        )
    if inverse and solve_for == "lr" and lr is not None:
        raise InputError("--lr: given together with --solve lr, which solves for the learning rate; drop --lr")
    if group is not None and config is None:
        raise InputError("--group: needs --config (the run whose parameter group to read)")

    values: dict[str, Any] = {
        "lr": _number("--lr", lr),
        "weight_decay": _number("--weight-decay", weight_decay, positive=False),
        "batch_size": O.size_option("--batch-size", batch_size),
        "dataset_size": O.size_option("--dataset-size", dataset_size),
        "epochs": _number("--epochs", epochs),
        "total_steps": O.size_option("--total-steps", total_steps),
    }
    unit: str | None = None
    config_name: str | None = None
    chosen_convention = convention
    if config is not None:
        from ..core import rules as R
        from ..core.compose import resolve_groups
        from ..loader import load_config

        run = load_config(config)
        group = O.choice("--group", group or "hidden", R.GROUPS)
        resolved = resolve_groups(run)[group]  # type: ignore[index]
        chosen_convention = convention or run.optimizer.weight_decay_convention
        # The config's λ is in its own convention; re-express it in the chosen one.
        config_wd = (resolved.weight_decay_coupled if chosen_convention == "coupled"
                     else R.to_independent(resolved.lr, resolved.weight_decay_coupled))
        defaults = {"lr": resolved.lr, "weight_decay": config_wd, "batch_size": run.data.batch_size,
                    "dataset_size": run.data.dataset_size}
        if values["total_steps"] is None and values["epochs"] is None:
            values["epochs"] = run.data.epochs
        for key, default in defaults.items():
            if values[key] is None:
                values[key] = default
        unit = run.data.unit
        config_name = run.name or config.name
    if inverse:
        # The solved quantity comes from the equation, never from the config.
        values["weight_decay" if solve_for == "weight-decay" else "lr"] = None

    report = O.shown(compute_timescale(
        **values,
        convention=chosen_convention or "coupled",
        tau_epoch=_number("--tau-epoch", tau_epoch),
        tau_iter=_number("--tau-iter", tau_iter),
        solve=solve_for,
    ))
    warn(report.warnings)
    if fmt == "json":
        from ..contract import dumps_json

        text = dumps_json(report.to_json_dict(group=group, config=config_name, unit=unit))
    else:
        text = render_table(report, group=group, config=config_name, unit=unit,
                            color=None if output_file is None else False)
    emit(text, output_file, [config] if config is not None else [])
