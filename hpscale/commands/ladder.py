"""``hpscale ladder``: plan a whole model ladder from one proxy, one target per row.

parse → ``hpscale.ladder_targets`` (the validated targets) and ``hpscale.ladder`` (one ``transfer``
each) → write what ``hpscale.outputs.ladder`` renders (table | json | csv; JSON and CSV rows
streamed, computed in blocks by workers). The JSON is a list of ``transfer --format json``
objects; CSV flattens the same objects.
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
from ..outputs.ladder import FORMATS
from . import options as O

if TYPE_CHECKING:
    from ..core.rules import RuleChoices


@O.with_rule_options
def ladder_command(
    proxy: O.ProxyArg,
    widths: Annotated[str | None, typer.Option("--widths", metavar="W,...", help="Target widths, comma list (512,1024,2Ki).", show_default=False)] = None,
    batch_sizes: Annotated[str | None, typer.Option("--batch-sizes", metavar="B,...", help="Target batch sizes per step, comma list (0.5M,1M,2Mi).", show_default=False)] = None,
    dataset_sizes: Annotated[str | None, typer.Option("--dataset-sizes", metavar="N,...", help="Target dataset sizes per epoch, comma list (10B,20B).", show_default=False)] = None,
    depths: Annotated[str | None, typer.Option("--depths", metavar="L,...", help="Target depths, comma list; needs model.depth in the proxy.", show_default=False)] = None,
    product: Annotated[bool, typer.Option("--product", metavar="", help="Every combination of the lists instead of zipping them.")] = False,
    format: O.format_option(FORMATS, "table, json (a list of transfer objects), csv, or a trainer's config per target: " + ", ".join(EXPORT_FORMATS) + " (--output is then a pattern: runs/w{width}.yaml).") = "table",  # type: ignore[valid-type]
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
    fmt = O.choice("--format", format, FORMATS)
    trainer_sizes = X.trainer_sizes(seq_len, world_size, micro_batch, fmt)
    # An exporter's --output is a pattern of file names (hpscale.export.ladder), not one file.
    output_file = O.output_option(output) if trainer_sizes is None else (Path(output) if output else None)
    jobs_wanted = O.jobs_option(jobs)
    from dataclasses import asdict

    from ..api import ladder, ladder_targets
    from ..core.compose import read_proxy
    from ..output import emit, warn
    from ..outputs import ladder as C
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
            emit(C.render_table(results, None if output_file is None else False), output_file, [proxy])
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
