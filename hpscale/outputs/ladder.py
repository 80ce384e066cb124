"""``hpscale ladder``'s outputs: its ``--format`` choices, the table (one row per target), the
JSON lines and CSV rows the command streams, and the stderr warning tally.

The JSON is a list of ``transfer --format json`` objects (``TransferResult.to_json_dict``), one
compact object per line; CSV flattens the same objects (``csv_row``), so CSV = JSON values.
Rich is imported only by the table.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..contract import json_line
from ..core.rules import GROUPS
from ..export import FORMATS as EXPORT_FORMATS

if TYPE_CHECKING:
    from ..core.scale import Scale

#: ``--format`` choices (the first is the default); then one trainer file per target per
#: exporter (``hpscale.export``; --output is a pattern).
FORMATS = ("table", "json", "csv", *EXPORT_FORMATS)


def render_table(results: list[Any], color: bool | None) -> str:
    """One row per target: scale, then per group η · λ, hidden τ_epoch, Adam β, ε, EMA, residual.

    Columns are ranked; at the terminal's width the lowest-ranked ones that do not fit are left
    out and named in the caption (``--format csv`` has them all).
    """
    from rich import box
    from rich.table import Table

    from ..numbers import format_si
    from ..text import printable
    from .common import columns_that_fit, fmt_value, render_rich, table_width

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


#: At most this many distinct row warnings go to stderr; the rest are counted.
MAX_STDERR_WARNINGS = 20


def ladder_row(
    shared: tuple[Any, Any, str, Any], item: tuple[int, Scale]
) -> tuple[Any, tuple[str, ...]]:
    """Target number ``index`` as a JSON line (``fmt == "json"``) or a CSV row (``"csv"``), and
    its warnings; ``shared = (run, choices, fmt, show)`` (``show``: the result as the reader
    sees it, ``hpscale.commands.options.shown`` on the command line), ``item = (index, target)``
    (the form ``hpscale.parallel.ordered_map`` calls). Raises the transfer's error with the
    target named, as ``run_ladder`` does.
    """
    from ..core.ladder import transfer_row

    run, choices, fmt, show = shared
    result = show(transfer_row(run, choices, *item))
    obj = result.to_json_dict()
    return (json_line(obj) if fmt == "json" else csv_row(obj)), result.warnings


class WarningTally:
    """Each distinct row warning once, with how many targets it concerns; at most
    ``MAX_STDERR_WARNINGS`` distinct lines are kept, the rest only counted (memory stays bounded
    however long the ladder)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.rows = 0
        self.other: set[int] = set()  # hashes of the distinct warnings beyond the cap

    def add(self, warnings: Sequence[str]) -> None:
        self.rows += 1
        for line in warnings:
            if line in self.counts:
                self.counts[line] += 1
            elif len(self.counts) < MAX_STDERR_WARNINGS:
                self.counts[line] = 1
            elif len(self.other) < 1_000_000:
                self.other.add(hash(line))

    def lines(self) -> list[str]:
        total = self.rows
        out = [line if total == 1 else f"{line} ({'every target' if n == total else f'{n} of {total} targets'})"
               for line, n in self.counts.items()]
        if self.other:
            out.append(f"… and {len(self.other)} more distinct warnings; each target's are in its JSON "
                       "\"warnings\" / CSV column")
        return out


def stderr_warnings(rows: Sequence[Sequence[str]]) -> list[str]:
    """``WarningTally`` over ``rows``, the warnings of each target."""
    tally = WarningTally()
    for warnings in rows:
        tally.add(warnings)
    return tally.lines()



def join_json_lines(lines: Sequence[str]) -> str:
    """A JSON list with one object per line."""
    if not lines:
        return "[]\n"
    body = ",\n".join(lines)
    return f"[\n{body}\n]\n"


def dumps_json_list(objects: Sequence[dict[str, Any]]) -> str:
    """A JSON list, one compact object per line."""
    return join_json_lines([json_line(obj) for obj in objects])


_SCALE_COLUMNS = ("width", "depth", "batch_size", "dataset_size", "params", "steps_per_epoch", "total_steps")
_RATIO_COLUMNS = ("width", "batch", "dataset", "depth", "tokens_per_param")
_GROUP_COLUMNS = ("lr", "weight_decay", "init_std", "multiplier", "eps")


def csv_header() -> list[str]:
    header = list(_SCALE_COLUMNS) + [f"ratio.{name}" for name in _RATIO_COLUMNS]
    for group in GROUPS:
        header += [f"{group}.{name}" for name in _GROUP_COLUMNS]
        header += [f"{group}.tau_epoch", f"{group}.tau_run_fraction"]
    return header + ["beta1", "beta2", "eps", "ema_decay", "residual_multiplier", "warmup_steps", "warnings"]


def csv_row(contract: dict[str, Any]) -> list[Any]:
    """One flat CSV row taken from a transfer's JSON contract (so CSV = JSON values)."""
    target, ratios = contract["target"], contract["ratios"]
    row: list[Any] = [target[name] for name in _SCALE_COLUMNS] + [ratios[name] for name in _RATIO_COLUMNS]
    for group in GROUPS:
        values = contract["param_groups"][group]
        scales = contract["timescales"][group]["target"]
        row += [values[name] for name in _GROUP_COLUMNS] + [scales["tau_epoch"], scales["tau_run_fraction"]]
    betas = contract["optimizer"]["betas"]
    row += [betas[0], betas[1], contract["optimizer"]["eps"], contract["ema_decay"],
            contract["residual_multiplier"], contract["warmup_steps"], "; ".join(contract["warnings"])]
    return ["" if value is None else value for value in row]


def dumps_csv_rows(rows: Sequence[list[Any]]) -> str:
    """The CSV text: the header, then one line per row of ``csv_row``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(csv_header())
    writer.writerows(rows)
    return buffer.getvalue()


def dumps_csv(objects: Sequence[dict[str, Any]]) -> str:
    return dumps_csv_rows([csv_row(obj) for obj in objects])
