"""``hpscale spectrum``'s outputs: its ``--format`` choices, the scan and comparison tables,
their JSON and CSV text, and the figure hook (``--plot``, drawn by ``hpscale.plots.spectrum``).

The results and their JSON contracts are ``hpscale.core.spectrum_result`` (``Scan``,
``CheckpointComparison``). Nothing heavy is imported at module level (rich and matplotlib load
inside the functions that draw).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..checkpoints import CheckpointComparison, Scan

#: ``--format`` choices; the first is the default.
FORMATS = ("table", "json", "csv")

#: The scan table shows shape and ‖W‖_F from this many columns, the stable rank from
#: MEDIUM_TABLE; narrower terminals get tensor, group, role and σ_top (JSON/CSV have all).
WIDE_TABLE = 110
MEDIUM_TABLE = 90


def render_scan(scan: Scan, fmt: str, color: bool | None) -> str:
    """The text ``hpscale spectrum CHECKPOINT --format fmt`` prints."""
    if fmt == "json":
        return _json(scan.to_json_dict())
    if fmt == "csv":
        return scan_csv(scan)
    return scan_table(scan, color=color)


def render_compare(result: CheckpointComparison, fmt: str, color: bool | None) -> str:
    """The text ``hpscale spectrum PROXY --compare TARGET --format fmt`` prints."""
    if fmt == "json":
        return _json(result.to_json_dict())
    if fmt == "csv":
        rows: list[list[object]] = [[p.group, p.role, p.name, p.proxy, p.target, p.sigma_proxy, p.sigma_target, p.ratio]
                                    for p in result.comparison.pairs]
        return _csv(rows, _CSV_PAIRS)
    return compare_table(result, color=color)


def _fmt(x: float | None, digits: int = 5) -> str:
    from .common import fmt_value

    return fmt_value(x, digits)


def _json(obj: dict[str, Any]) -> str:
    import json

    return json.dumps(obj, indent=2, allow_nan=False) + "\n"


def _shape(shape: Any) -> str:
    return "×".join(str(d) for d in shape) if shape else "scalar"


_CSV_SCAN = ("tensor", "part", "expert", "group", "role", "layer", "shape", "matrix_shape", "dtype",
             "sigma_max", "frobenius", "stable_rank", "grouped_by")


def _csv(rows: list[list[object]], header: tuple[str, ...]) -> str:
    import csv
    import io

    from ..text import printable

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else printable(v) if isinstance(v, str) else repr(v) if isinstance(v, float) else v
                         for v in row])
    return buffer.getvalue()


def scan_csv(scan: Scan) -> str:
    rows: list[list[object]] = []
    for r in scan.records:
        st = r.stats
        rows.append([r.tensor or r.name, r.part, r.expert, r.group, r.role, r.layer, "x".join(map(str, r.shape)),
                     "x".join(map(str, r.matrix_shape)) if r.matrix_shape else None, r.dtype,
                     st.sigma_max if st else None, st.frobenius if st else None,
                     st.stable_rank if st else None, r.grouped_by])
    return _csv(rows, _CSV_SCAN)


def scan_table(scan: Scan, color: bool | None) -> str:
    from rich import box
    from rich.table import Table

    from ..core.spectrum import group_summary
    from ..text import printable
    from .common import render_rich, table_width

    width = table_width()
    columns = ["tensor", "group", "role"] + (["shape"] if width >= WIDE_TABLE else []) + ["σ_top"]
    columns += (["‖W‖_F"] if width >= WIDE_TABLE else []) + (["st.rank"] if width >= MEDIUM_TABLE else [])
    m = scan.model
    about = [scan.format]
    if m.width:
        about.append(f"width {m.width}" + (f", depth {m.depth}" if m.depth else "") + f" ({m.source})")
    table = Table(title=f"{printable(str(scan.path))} — {'; '.join(about)}", box=box.SIMPLE_HEAD,
                  title_justify="left", caption="vectors (norms, biases) have no σ_top: listed in JSON and CSV",
                  caption_justify="left")
    for col in columns:
        table.add_column(col, overflow="fold" if col == "tensor" else "ellipsis", no_wrap=col != "tensor",
                         justify="left" if col in ("tensor", "group", "role", "shape") else "right")
    for r in scan.records:
        st = r.stats
        if st is None:
            continue
        values = {"tensor": printable(r.name), "group": r.group, "role": printable(r.role),
                  "shape": _shape(r.matrix_shape or r.shape), "σ_top": _fmt(st.sigma_max),
                  "‖W‖_F": _fmt(st.frobenius), "st.rank": _fmt(st.stable_rank, 4)}
        table.add_row(*(values[c] for c in columns))
    summary = Table(title="per group", box=box.SIMPLE_HEAD, title_justify="left")
    for col in ("group", "matrices", "with σ", "median σ_top"):
        summary.add_column(col, justify="left" if col == "group" else "right")
    for g, s in group_summary(scan.records).items():
        summary.add_row(g, str(s["tensors"]), str(s["with_sigma"]), _fmt(s["sigma_max_median"]))  # type: ignore[arg-type]
    return render_rich([table, summary], color=color)


# ----------------------------------------------------------------------------- compare

_CSV_PAIRS = ("group", "role", "key", "proxy", "target", "sigma_proxy", "sigma_target", "ratio")


def compare_table(result: CheckpointComparison, color: bool | None) -> str:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from ..text import printable
    from .common import render_rich

    c = result.comparison
    rules = list(c.predicted)
    table = Table(title="σ_top ratio target / proxy (median) and each rule's prediction",
                  box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("group / sublayer", no_wrap=True)
    for col in ("pairs", "ratio", *rules, "fits"):
        table.add_column(col, justify="left" if col == "fits" else "right", no_wrap=True)
    for row in c.rows:
        label = row.group if row.role is None else f"  {printable(row.role)}"
        preds = [_fmt(c.predicted[r], 4) if row.group == "hidden" else "" for r in rules]
        fits = row.verdict.short if row.verdict else ""
        table.add_row(label, str(row.pairs), _fmt(row.median_ratio, 4), *preds, fits)
    table.caption = (f"fits: the rule within {c.verdict.tolerance:.0%} of the ratio (none: no rule "
                     "fits; ?: the rules are too close to tell"
                     + ("; init: the weights look untrained)" if c.verdict.untrained else ")"))
    table.caption_justify = "left"
    m = "unknown" if c.width_ratio is None else f"{c.width_ratio:.4g}"

    def about(scan: Scan, depth: int | None) -> str:
        return f"{printable(str(scan.path))} ({scan.format}" + (f", depth {depth})" if depth else ")")

    lines = [
        f"proxy:  {about(result.proxy, c.depths[0])}",
        f"target: {about(result.target, c.depths[1])}",
        f"m = {m} (from {c.width_ratio_source}); pairing by {c.pairing}",
        f"predictions: {c.prediction_source}",
    ]
    if c.lr_ratio is not None:
        lines.append(f"hidden η_t/η_p = {c.lr_ratio:.4g}" + (
            f"; the configs' own hidden η, λ predict {c.configured:.4g}" if c.configured is not None else ""))
    lines.append(f"verdict: {c.verdict.message}")
    return render_rich([table, Text("\n".join(lines))], color=color)


# ----------------------------------------------------------------------------- plot


def plot(folder: Path, proxy: Scan, result: CheckpointComparison | None, tolerance: float) -> list[Path]:
    """Draw the figure (``hpscale.plots.spectrum``; needs matplotlib) and write spectrum.png and
    spectrum.svg into ``folder`` (created); ``InputFileError`` naming ``--plot`` if it cannot."""
    from ..errors import InputFileError
    from ..plots.spectrum import spectrum_figure, write_figure

    fig = spectrum_figure(proxy, result.target if result else None, result.comparison if result else None,
                          tolerance)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return write_figure(fig, folder)
    except OSError as exc:
        raise InputFileError(f"--plot: {folder}: cannot write: {exc.strerror or exc}") from None
