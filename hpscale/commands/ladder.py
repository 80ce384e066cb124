"""``hpscale ladder``: plan a whole model ladder from one proxy, one target per row.

parse → ``hpscale.ladder_targets`` (the validated targets) and ``hpscale.ladder`` (one ``transfer``
each) → render (table | json | csv; JSON and CSV rows streamed, computed in blocks by workers).
The JSON is a list of ``transfer --format json`` objects; CSV flattens the same objects.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from ..export import FORMATS as EXPORT_FORMATS
from ..export import options as X
from . import options as O

if TYPE_CHECKING:
    from ..core.rules import RuleChoices

#: Then one trainer file per target per exporter (``hpscale.export``; --output is a pattern).
LADDER_FORMATS = ("table", "json", "csv", *EXPORT_FORMATS)


def _table(results: list[Any], color: bool | None) -> str:
    """One row per target: scale, then per group η · λ, hidden τ_epoch, Adam β, ε, EMA, residual.

    Columns are ranked; at the terminal's width the lowest-ranked ones that do not fit are left
    out and named in the caption (``--format csv`` has them all).
    """
    from rich import box
    from rich.table import Table

    from ..numbers import format_si
    from ..render import columns_that_fit, fmt_value, render_rich, table_width
    from ..text import printable

    first = results[0]

    def pair(r: Any, group: str) -> str:
        g = r.groups[group]
        return f"{fmt_value(g.lr.target, 4)} · {fmt_value(g.weight_decay.target, 4)}"

    def tau(r: Any) -> str:
        value = r.groups["hidden"].timescales_target.tau_epoch
        return fmt_value(value if value is not None else float("inf"), 4)

    # (header, rank, cell of a result, shown at all?)
    candidates: list[tuple[str, int, Any, bool]] = [
        ("W", 1, lambda r: f"{r.target.width:,}", True),
        ("L", 6, lambda r: str(r.target.depth or ""), any(r.target.depth is not None for r in results)),
        ("B", 2, lambda r: format_si(r.target.batch_size), True),
        ("N", 3, lambda r: format_si(r.target.dataset_size), True),
        ("TPP ratio", 10, lambda r: fmt_value(r.ratios.tokens_per_param, 4),
         any(r.ratios.tokens_per_param is not None for r in results)),
        ("embedding η · λ", 12, lambda r: pair(r, "embedding"), True),
        ("hidden η · λ", 4, lambda r: pair(r, "hidden"), True),
        ("readout η · λ", 7, lambda r: pair(r, "readout"), True),
        ("vector η · λ", 13, lambda r: pair(r, "vector"), True),
        ("hidden τ_epoch", 5, tau, True),
        ("β1", 8, lambda r: fmt_value(r.betas[0].target, 6), True),
        ("β2", 9, lambda r: fmt_value(r.betas[1].target, 6), True),
        ("ε", 14, lambda r: fmt_value(r.eps.target, 4), True),
        ("EMA ρ", 5, lambda r: fmt_value(r.ema_decay.target if r.ema_decay else None, 6), first.ema_decay is not None),
        ("residual ×", 11, lambda r: fmt_value(r.residual_multiplier.target if r.residual_multiplier else None, 4),
         any(r.residual_multiplier is not None for r in results)),
    ]
    columns = [(header, rank, [cell(r) for r in results]) for header, rank, cell, shown in candidates if shown]
    width = table_width()
    kept = columns_that_fit(columns, width)
    title = (f"hpscale ladder — {printable(first.name or 'proxy')}: W={first.proxy.width}, "
             f"B={format_si(first.proxy.batch_size)}, N={format_si(first.proxy.dataset_size)} {first.unit}, "
             f"{first.convention} weight decay")
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    for index in kept:
        table.add_column(columns[index][0], justify="right", no_wrap=True)
    for row in range(len(results)):
        table.add_row(*(columns[index][2][row] for index in kept))
    left_out = [header for index, (header, _, _) in enumerate(columns) if index not in kept]
    if left_out:
        table.caption = f"not shown at {width} columns: {', '.join(left_out)} (all of them: --format csv)"
        table.caption_justify = "left"
    return render_rich([table], color=color, width=width)


@O.with_rule_options
def ladder_command(
    proxy: O.ProxyArg,
    widths: Annotated[str | None, typer.Option("--widths", metavar="W,...", help="Target widths, comma list (512,1024,2Ki).", show_default=False)] = None,
    batch_sizes: Annotated[str | None, typer.Option("--batch-sizes", metavar="B,...", help="Target batch sizes per step, comma list (0.5M,1M,2Mi).", show_default=False)] = None,
    dataset_sizes: Annotated[str | None, typer.Option("--dataset-sizes", metavar="N,...", help="Target dataset sizes per epoch, comma list (10B,20B).", show_default=False)] = None,
    depths: Annotated[str | None, typer.Option("--depths", metavar="L,...", help="Target depths, comma list; needs model.depth in the proxy.", show_default=False)] = None,
    product: Annotated[bool, typer.Option("--product", metavar="", help="Every combination of the lists instead of zipping them.")] = False,
    format: O.format_option(LADDER_FORMATS, "table, json (a list of transfer objects), csv, or a trainer's config per target: " + ", ".join(EXPORT_FORMATS) + " (--output is then a pattern: runs/w{width}.yaml).") = "table",  # type: ignore[valid-type]
    output: O.OutputOpt = None,
    jobs: O.JobsOpt = "0",
    max_rows: Annotated[str, typer.Option(
        "--max-rows", metavar="N", help="Refuse a ladder of more rows than this (it is checked before "
        "anything is computed); raise it for long --product sweeps.")] = "10000",
    seq_len: X.SeqLenOpt = None,
    world_size: X.WorldSizeOpt = "1",
    micro_batch: X.MicroBatchOpt = None,
    choices: RuleChoices | None = None,
) -> None:
    """Plan a ladder of targets from PROXY: one row per target (zipped lists, or --product).

    A list left out keeps the proxy's value; a list of one value applies to every row. JSON and
    CSV rows are streamed (memory does not grow with the ladder); the table is for ladders a
    person reads.
    """
    fmt = O.choice("--format", format, LADDER_FORMATS)
    trainer_sizes = X.trainer_sizes(seq_len, world_size, micro_batch, fmt)
    # An exporter's --output is a pattern of file names (hpscale.export.ladder), not one file.
    output_file = O.output_option(output) if trainer_sizes is None else (Path(output) if output else None)
    jobs_wanted = O.jobs_option(jobs)
    from dataclasses import asdict

    from .. import contract as C
    from ..api import ladder, ladder_targets
    from ..core.compose import read_proxy
    from ..output import emit, warn
    from ..parallel import ordered_map, worker_count

    lists = {"widths": widths, "batch_sizes": batch_sizes, "dataset_sizes": dataset_sizes, "depths": depths}
    targets = ladder_targets(proxy, **lists, product=product, max_rows=max_rows)
    config, size = targets.config, len(targets)
    # The rows are acyclic (freed by reference counting), yet allocating ~10⁵ small objects
    # per 1,000 targets triggers repeated cyclic-GC passes: pausing the collector for this
    # short-lived process cut the 1,000-target ladder by ≈ 25 % (measured in development).
    gc.disable()
    try:
        if trainer_sizes is not None or fmt == "table":
            results = [O.shown(result) for result in ladder(config, **lists, product=product, max_rows=max_rows,
                                                            **asdict(choices))]  # type: ignore[arg-type]
            if trainer_sizes is not None:
                from ..export.ladder import ladder_export

                ladder_export(results, fmt, trainer_sizes, output_file, [proxy])
                return
            warn(C.stderr_warnings([result.warnings for result in results]))
            emit(_table(results, None if output_file is None else False), output_file, [proxy])
            return
        shared = (read_proxy(config), choices, fmt, O.shown)
        workers = worker_count(jobs_wanted, size)
        tally = C.WarningTally()
        # Rows are computed in blocks and written as they come; a spool file (or the --output
        # temporary file) holds them until every row has succeeded, so an error in row 50,000
        # still leaves stdout empty.
        with _sink(output_file, [proxy]) as stream:
            writer = csv.writer(stream, lineterminator="\n") if fmt == "csv" else None
            stream.write("[\n" if fmt == "json" else "")
            if writer is not None:
                writer.writerow(C.csv_header())
            first = True
            for block in _blocks(enumerate(targets, start=1), BLOCK_ROWS):
                for payload, warnings in ordered_map(C.ladder_row, block, workers, shared):
                    tally.add(warnings)
                    if writer is not None:
                        writer.writerow(payload)
                    else:
                        stream.write(("" if first else ",\n") + payload)
                    first = False
            stream.write("\n]\n" if fmt == "json" else "")
    finally:
        gc.enable()
    warn(tally.lines())


#: Rows handed to the worker processes at a time (bounds the memory of a streamed ladder).
BLOCK_ROWS = 2_000


def _blocks(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while block := list(itertools.islice(items, size)):
        yield block


@contextlib.contextmanager
def _sink(output: Path | None, inputs: list[Path]) -> Iterator[TextIO]:
    """The --output file (written atomically), or a temporary spool copied to stdout at the end."""
    import tempfile

    from ..output import atomic_file, write_stdout

    if output is not None:
        with atomic_file(output, inputs) as stream:
            yield stream
        print(f"wrote {output}", file=sys.stderr)
        return
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        yield spool
        spool.seek(0)
        while chunk := spool.read(1 << 20):
            write_stdout(chunk)
