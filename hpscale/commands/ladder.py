"""``hpscale ladder``: plan a whole model ladder from one proxy, one target per row.

parse → ``hpscale.ladder`` (targets, one ``transfer`` each) → render (table | json | csv).
The JSON is a list of ``transfer --format json`` objects; CSV flattens the same objects.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import options as O

if TYPE_CHECKING:
    from ..core.compose import RuleChoices

LADDER_FORMATS = ("table", "json", "csv")


def _table(results: list[Any], color: bool | None) -> str:
    """One row per target: scale, then per group η · λ, hidden τ_epoch, Adam β, ε, EMA, residual."""
    from rich import box
    from rich.table import Table

    from ..core.rules import GROUPS
    from ..numbers import format_si
    from ..render import fmt_value, render_rich

    first = results[0]
    show_depth = any(r.target.depth is not None for r in results)
    show_ema = first.ema_decay is not None
    show_residual = any(r.residual_multiplier is not None for r in results)
    show_tpp = any(r.ratios.tokens_per_param is not None for r in results)
    title = (f"hpscale ladder — {first.name or 'proxy'}: W={first.proxy.width}, "
             f"B={format_si(first.proxy.batch_size)}, N={format_si(first.proxy.dataset_size)} {first.unit}"
             f" (weight decay: {first.convention} convention)")
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    columns = ["W"] + (["L"] if show_depth else []) + ["B", "N"] + (["TPP ratio"] if show_tpp else [])
    columns += [f"{group} η · λ" for group in GROUPS] + ["hidden τ_epoch", "β1", "β2", "ε"]
    columns += (["EMA ρ"] if show_ema else []) + (["residual ×"] if show_residual else [])
    for column in columns:
        table.add_column(column, justify="right", no_wrap=True)
    for r in results:
        row = [f"{r.target.width:,}"] + ([str(r.target.depth or "")] if show_depth else [])
        row += [format_si(r.target.batch_size), format_si(r.target.dataset_size)]
        if show_tpp:
            row.append(fmt_value(r.ratios.tokens_per_param, 4))
        for group in GROUPS:
            g = r.groups[group]
            row.append(f"{fmt_value(g.lr.target, 4)} · {fmt_value(g.weight_decay.target, 4)}")
        tau = r.groups["hidden"].timescales_target.tau_epoch
        row += [fmt_value(tau if tau is not None else float("inf"), 4),
                fmt_value(r.betas[0].target, 6), fmt_value(r.betas[1].target, 6), fmt_value(r.eps.target, 4)]
        if show_ema:
            row.append(fmt_value(r.ema_decay.target if r.ema_decay else None, 6))
        if show_residual:
            row.append(fmt_value(r.residual_multiplier.target if r.residual_multiplier else None, 4))
        table.add_row(*row)
    return render_rich([table], color=color, width=max(120, 16 * len(columns)))


@O.with_rule_options
def ladder_command(
    proxy: Annotated[Path, typer.Argument(help="Proxy-run config (YAML).", show_default=False)],
    widths: Annotated[str | None, typer.Option("--widths", help="Target widths, comma list (512,1024,2K).", show_default=False)] = None,
    batch_sizes: Annotated[str | None, typer.Option("--batch-sizes", help="Target batch sizes per step, comma list; SI suffixes (0.5M,1M).", show_default=False)] = None,
    dataset_sizes: Annotated[str | None, typer.Option("--dataset-sizes", help="Target dataset sizes per epoch, comma list (10B,20B).", show_default=False)] = None,
    depths: Annotated[str | None, typer.Option("--depths", help="Target depths, comma list; needs model.depth in the proxy.", show_default=False)] = None,
    product: Annotated[bool, typer.Option("--product", help="Every combination of the lists instead of zipping them.")] = False,
    format: Annotated[str, typer.Option("--format", "-f", help="table | json (list of transfer objects) | csv")] = "table",
    output: O.OutputOpt = None,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", help="Worker processes for JSON/CSV; 0 = one per CPU for 200+ targets, else 1.")
    ] = 0,
    choices: RuleChoices | None = None,
) -> None:
    """Plan a ladder of targets from PROXY: one row per target (zipped lists, or --product).

    A list left out keeps the proxy's value; a list of one value applies to every row.
    """
    from ..errors import InputError

    fmt = O.choice("--format", format, LADDER_FORMATS)
    from .. import contract as C
    from ..core import ladder as LD

    lists = {
        "widths": O.parse_list("--widths", widths, whole=True),
        "batch_sizes": O.parse_list("--batch-sizes", batch_sizes),
        "dataset_sizes": O.parse_list("--dataset-sizes", dataset_sizes),
        "depths": O.parse_list("--depths", depths, whole=True),
    }
    if all(values is None for values in lists.values()):
        raise InputError("--widths: missing; give at least one of --widths, --batch-sizes, --dataset-sizes, --depths")

    from ..core.compose import read_proxy, scale_of
    from ..loader import load_config
    from ..output import emit, warn
    from ..parallel import ordered_map, worker_count

    config = load_config(proxy)
    targets = LD.ladder_scales(scale_of(config), product=product, **lists)
    color = None if output is None else False
    # The rows are acyclic (freed by reference counting), yet allocating ~10⁵ small objects
    # per 1,000 targets triggers repeated cyclic-GC passes: pausing the collector for this
    # short-lived process cut the 1,000-target ladder by ≈ 25 % (measured in development).
    gc.disable()
    try:
        if fmt == "table":
            results = LD.run_ladder(config, targets, choices)  # type: ignore[arg-type]
            text = _table(results, color)
            row_warnings = [result.warnings for result in results]
        else:
            shared = (read_proxy(config), choices, fmt)
            rows = ordered_map(C.ladder_row, list(enumerate(targets, start=1)), worker_count(jobs, len(targets)), shared)
            payloads = [payload for payload, _ in rows]
            text = C.join_json_lines(payloads) if fmt == "json" else C.dumps_csv_rows(payloads)
            row_warnings = [warnings for _, warnings in rows]
    finally:
        gc.enable()
    warn(C.stderr_warnings(row_warnings))
    emit(text, output, [proxy])

