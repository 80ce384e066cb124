"""``hpscale fit``'s outputs: its ``--format`` choices, the report's tables (designed for 80
columns), the JSON text, the law file it writes (``--output``) and the figure hook (``--plot``).

**JSON** (``hpscale fit --format json``, ``schema_version`` 1; fields are only added within a
schema version): built by ``FitResult.to_json_dict`` (``hpscale.core.fit_result``), see
docs/fit.md. Same input and seed → byte-identical output; floats rounded to 12 significant
digits; NaN and ∞ never appear (null).

**Law file**: ``law_document`` / ``dumps_law`` write the format ``hpscale.lawfile`` documents
and reads (the writer sits with fit's outputs, the reader with the other input readers).

Nothing heavy is imported at module level (rich, yaml, the fit's core and matplotlib load inside
the functions that need them), so the command's start-up stays lean.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..core.fit_result import CellFit, FitResult

#: ``--format`` choices; the first is the default.
FORMATS = ("table", "json")
#: Short names of the flags, for the 80-column table (the JSON keeps the full names).
FLAG_NAMES = {"not_bracketed": "edge", "too_few_points": "few", "non_convex": "nonconvex",
              "capped_by_divergence": "capped"}


def render(result: FitResult, fmt: str) -> str:
    """The text ``hpscale fit --format fmt`` prints: the JSON contract or the tables."""
    if fmt == "json":
        from ..contract import dumps_json

        return dumps_json(result.to_json_dict())
    return render_table(result)


def figures(result: FitResult) -> dict[str, bytes]:
    """The ``--plot`` figures, file name → bytes (``hpscale.plots.fit``; needs matplotlib)."""
    from ..plots.fit import render_figures

    return render_figures(result)


# ---------------------------------------------------------------------------------------------
# Tables (designed for 80 columns)
# ---------------------------------------------------------------------------------------------


def g3(value: float | None) -> str:
    """Three significant digits, compact exponent: 0.0200, 1.21, 712, 4.10e-5, 1.20e4."""
    import math

    if value is None or not math.isfinite(value):
        return "—"
    if value == 0:
        return "0"
    text = f"{value:#.3g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"{mantissa.rstrip('.')}e{int(exponent)}"
    return text.rstrip(".")


def exponent_text(value: float, digits: int = 2) -> str:
    """An exponent with a real minus sign: −1.01, +0.52, 0."""
    text = f"{value:+.{digits}f}"
    if float(text) == 0:
        return "0"
    return text.replace("-", "−")


def _range(pair: tuple[float, float], fmt: Any = g3) -> str:
    return f"{fmt(pair[0])}–{fmt(pair[1])}"


def _bracket(pair: tuple[float, float]) -> str:
    return f"[{exponent_text(pair[0])}, {exponent_text(pair[1])}]"


def _cell_label(cell: CellFit) -> str:
    from ..numbers import format_si

    return " · ".join(format_si(v) for v in cell.axes.values())


_EDGE_LEGEND = {"keep": "", "drop": ", left out of the laws", "censor": ", a bound in the laws"}


#: The per-cell tables show at most this many cells (the first and last halves): a 20,000-cell
#: sweep printed 20,000 rows, most of its run time; JSON keeps every cell (issue 18).
MAX_TABLE_CELLS = 60


def shown_cells(count: int, limit: int = MAX_TABLE_CELLS) -> tuple[int, int]:
    """The cells a table leaves out, as the index range [head, tail) (empty when all fit)."""
    if count <= limit:
        return count, count
    return limit // 2, count - limit // 2


def render_table(result: FitResult, *, color: bool | None = None) -> str:
    """The report as Rich tables (cells, timescales, laws, verdicts, predictions), 80 columns wide."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from ..core.fit import SOURCES
    from ..numbers import format_si
    from ..text import printable
    from .common import fmt_exponent, render_rich

    def table(title: str) -> Table:
        return Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", caption_justify="left")

    level = f"{result.options.confidence:.0%}"
    renderables: list[Any] = []
    counts = [f"{result.runs:,} runs", f"{len(result.cells):,} cells", f"{result.diverged:,} diverged"]
    if result.incomplete:
        counts.append(f"{result.incomplete} incomplete (not fitted)")
    noise = f", σ̂ = {g3(result.noise)}" if result.noise is not None else ""
    better = "higher" if result.provenance.maximize else "lower"
    renderables.append(Text("\n".join([
        f"hpscale fit: {', '.join(counts)}",
        "from " + ", ".join(printable(path) for path, _, _ in result.provenance.inputs),
        f"metric {printable(result.provenance.metric)} ({better} is better); "
        f"{result.options.resamples:,} resamples ({result.resampling}{noise})",
    ])))

    cells = table(f"Optimum per cell ({level} interval)")
    cells.add_column(" · ".join(result.by), no_wrap=True)
    cells.add_column("hp")
    cells.add_column("optimum", justify="right")
    cells.add_column(level, justify="right")
    cells.add_column("runs", justify="right")
    cells.add_column("div", justify="right")
    cells.add_column("flags")
    two = len(result.optimize) > 1
    head, tail = shown_cells(len(result.cells))
    for number, cell in enumerate(result.cells):
        if head <= number < tail:
            if number == head:
                cells.add_row(f"… {tail - head:,} more cells", "", "", "", "", "", "")
            continue
        flags = ", ".join(FLAG_NAMES.get(f, f) for f in cell.flags)
        for index, hp in enumerate(result.optimize):
            first = index == 0
            cells.add_row(_cell_label(cell) if first else "", hp, g3(cell.optimum[hp]), _range(cell.interval[hp]),
                          str(cell.runs) if first else "", str(cell.diverged) if first else "",
                          Text(flags if first else "", style="red" if "not_bracketed" in cell.flags else ""))
        if two:
            cells.add_section()
    shown = sorted({FLAG_NAMES[f] for cell in result.cells for f in cell.flags if f in FLAG_NAMES})
    legend = {"edge": "edge = not bracketed" + _EDGE_LEGEND[result.options.edge_mode],
              "few": "few = too few settings, best run used", "nonconvex": "nonconvex = best run used",
              "capped": "capped = kept below a diverged setting"}
    cut = [f"{len(result.cells) - (tail - head):,} of {len(result.cells):,} cells shown; --format json "
           "has every cell"] if tail > head else []
    cells.caption = "; ".join([*cut, *(legend[name] for name in shown)]) or None
    renderables.append(cells)

    derived = [hp for hp in ("tau_epoch", "tau_iter") if result.cells and hp in result.cells[0].derived]
    if derived:
        scales = table(f"AdamW timescales at each optimum ({level} interval)")
        scales.add_column(" · ".join(result.by), no_wrap=True)
        for hp in derived:
            scales.add_column({"tau_epoch": "τ_epoch* (epochs)", "tau_iter": "τ_iter* (steps)"}[hp], justify="right")
            scales.add_column(level, justify="right")
        for number, cell in enumerate(result.cells):
            if head <= number < tail:
                if number == head:
                    scales.add_row(f"… {tail - head:,} more cells", *[""] * (2 * len(derived)))
                continue
            row = [_cell_label(cell)]
            for hp in derived:
                row += [g3(cell.derived[hp]), _range(cell.derived_interval[hp])]
            scales.add_row(*row)
        renderables.append(scales)

    if result.laws:
        laws = table(f"Laws: hp* = c · Π axis^a ({level} interval)")
        for name, justify in (("hp", "left"), ("axis", "left"), ("a", "right"), (level, "right"),
                              ("R²", "right"), ("held out", "right"), ("cells", "right")):
            laws.add_column(name, justify=justify)  # type: ignore[arg-type]
        for hp, fitted in result.laws.items():
            held = fitted.held_out
            for index, axis in enumerate(fitted.axes):
                first = index == 0
                laws.add_row(hp if first else "", axis, exponent_text(fitted.exponents[axis]),
                             _bracket(fitted.exponent_intervals[axis]),
                             (f"{fitted.r2:.3f}" if fitted.r2 is not None else "—") if first else "",
                             (f"×{held.max_factor:.3g}" if held is not None else "—") if first else "",
                             str(fitted.cells) if first else "")
        laws.caption = "\n".join([fitted.formula() for fitted in result.laws.values()]
                                 + ["held out: the worst factor between a cell's optimum and the law fitted "
                                    "without that cell"])
        renderables.append(laws)
        # The shipped laws are fitted on AdamW runs: no comparison for another optimizer's sweep.
        published = published_table(result, table, level) if result.options.optimizer == "adamw" else None
        if published is not None:
            renderables.append(published)

    if result.verdicts:
        verdicts = table("Verdicts: fitted exponent vs the published rules")
        for name, justify in (("hp", "left"), ("vs", "left"), ("rule", "left"), ("predicts", "right"),
                              ("fitted", "right"), (level, "right"), ("ok", "left")):
            verdicts.add_column(name, justify=justify)  # type: ignore[arg-type]
        previous = None
        for v in result.verdicts:
            first = (v.hp, v.axis) != previous
            if first and previous is not None:
                verdicts.add_section()
            previous = (v.hp, v.axis)
            verdicts.add_row(v.hp if first else "", v.axis if first else "", v.label, fmt_exponent(v.predicted),
                             exponent_text(v.fitted) if first else "", _bracket(v.interval) if first else "",
                             Text("yes", style="green") if v.consistent else Text("no", style="red"))
        labels = list(dict.fromkeys(v.label for v in result.verdicts))
        verdicts.caption = ("ok: the rule's exponent lies inside the interval. "
                            + "; ".join(f"{label}: {SOURCES[label]}" for label in labels))
        renderables.append(verdicts)

    if result.predictions:
        predictions = table(f"Predictions ({level} prediction interval)")
        for name, justify in (("at", "left"), ("hp", "left"), ("optimum", "right"), (level, "right")):
            predictions.add_column(name, justify=justify)  # type: ignore[arg-type]
        for prediction in result.predictions:
            at = " ".join(f"{axis}={format_si(v)}" for axis, v in prediction.at.items())
            for index, (hp, value) in enumerate(prediction.values.items()):
                predictions.add_row(at if index == 0 else "", hp, g3(value), _range(prediction.intervals[hp]))
            if not prediction.values:
                predictions.add_row(at, "—", "no law covers these axes", "")
            predictions.add_section()
        renderables.append(predictions)
    if not result.laws:
        renderables.append(Text("no law fitted (see the warnings)"))
    spaced: list[Any] = []
    for renderable in renderables:
        spaced += [renderable, Text("")]
    return render_rich(spaced[:-1], color=color)


def published_table(result: FitResult, table: Any, level: str) -> Any:
    """The fitted exponents beside each shipped law's on the same hp and axis
    (``hpscale.core.published.shipped_exponent``), or None when no shipped law covers any."""
    from ..core.published import SYMBOLS, shipped_exponent
    from ..lawfile import read_law, shipped_laws
    from ..numbers import format_si

    laws = [read_law(name) for name in shipped_laws()]
    rows = []
    for hp, fitted in result.laws.items():
        for axis in fitted.axes:
            theirs = [shipped_exponent(law, hp, axis) for law in laws]
            if any(t is not None for t in theirs):
                rows.append((hp, axis, (fitted.exponents[axis], fitted.exponent_intervals[axis]), theirs))
    if not rows:
        return None
    out = table("Your laws beside the published ones: exponent a [interval]")
    for name in ("hp", "axis", "yours", *(law.name for law in laws)):
        out.add_column(name, justify="left" if name in ("hp", "axis") else "right")
    for hp, axis, ours, theirs in rows:
        cells = ["—" if pair is None else f"{exponent_text(pair[0])}\n{_bracket(pair[1])}"
                 for pair in (ours, *theirs)]
        out.add_row(hp, axis, *cells)

    def size(value: float) -> str:
        return format_si(value) if value < 1e15 else f"{value:.3g}"

    spans = []
    for law in laws:
        fitted_range = (law.provenance or {}).get("fitted_range") or {}
        spans.append(f"{law.name} " + ", ".join(f"{SYMBOLS.get(q, q)} {size(lo)}–{size(hi)}"
                                                for q, (lo, hi) in fitted_range.items()))
    ranges: dict[str, tuple[float, float]] = {}
    for fitted in result.laws.values():
        ranges.update(_ranges(result, fitted))
    intervals = "; ".join(f"{law.name}: {f'{law.confidence:.0%}' if law.confidence else 'none published'}" for law in laws)
    out.caption = (f"Intervals: yours {level}; {intervals}. Width and depth are compared through "
                   "P = 12·L·W²; the published laws are for one global lr in standard parametrization. "
                   f"Your range: {', '.join(f'{a} {size(lo)}–{size(hi)}' for a, (lo, hi) in ranges.items())}. "
                   f"Their fitted ranges: {'; '.join(spans)}.")
    return out


def _ranges(result: FitResult, fitted: Any) -> dict[str, tuple[float, float]]:
    from ..core.fit_result import axes_range

    return {axis: (pair[0], pair[1]) for axis, pair in axes_range(result, fitted).items()
            if pair[0] is not None and pair[1] is not None}


# ---------------------------------------------------------------------------------------------
# The law file (its format: ``hpscale.lawfile``)
# ---------------------------------------------------------------------------------------------


def law_document(result: FitResult, name: str | None = None) -> dict[str, Any]:
    """The law file's mapping (the format ``hpscale.lawfile`` documents and reads back)."""
    from .._version import __version__
    from ..core.fit_result import axes_range, law_json, method_json
    from ..errors import InputError
    from ..lawfile import LAW_KIND, SCHEMA_VERSION
    from ..numbers import clean

    if result.options.optimizer != "adamw":
        # transfer --law applies a law to AdamW groups; a Muon sweep's law would move them wrongly.
        raise InputError(f"law file: a law fitted on a {result.options.optimizer} sweep is not written: "
                         "law files hold AdamW laws")
    provenance = result.provenance
    if name is None:
        first = provenance.inputs[0][0] if provenance.inputs else "sweep"
        name = Path(first).stem or "sweep"
    laws = {}
    for hp, law in result.laws.items():
        entry = law_json(law)
        laws[hp] = {
            "of": entry["of"],
            "formula": entry["formula"],
            "coefficient": entry["coefficient"],
            "coefficient_ci": entry["coefficient_ci"],
            "exponents": entry["exponents"],
            "exponent_ci": entry["exponent_ci"],
            "axes_range": axes_range(result, law),
            "r2": entry["r2"],
            "cells": entry["cells"],
        }
    method = method_json(result)
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": LAW_KIND,
        "hpscale_version": __version__,
        "name": name,
        "group": result.options.group,
        "confidence": clean(result.options.confidence),
        "laws": laws,
        "provenance": {
            "inputs": [{"path": path, "sha256": digest, "rows": rows} for path, digest, rows in provenance.inputs],
            "columns": dict(provenance.columns),
            "metric": {"column": provenance.metric, "maximize": provenance.maximize},
            "runs": result.runs,
            "diverged": result.diverged,
            "incomplete": result.incomplete,
            "cells": len(result.cells),
            "by": list(result.by),
            "optimize": list(result.optimize),
            "method": {key: method[key] for key in ("optimum", "law", "window", "resample", "resamples",
                                                     "seed", "keep_edge")},
        },
    }


def dumps_law(result: FitResult, name: str | None = None) -> str:
    """The law file as YAML text, with a header comment saying what it is."""
    import yaml

    from .._version import __version__
    from ..lawfile import SCHEMA_VERSION

    header = (
        f"# hpscale law file (schema_version {SCHEMA_VERSION}), written by hpscale {__version__} fit.\n"
        "# Apply it with: hpscale transfer PROXY.yaml --law THIS_FILE (and check --law).\n"
        "# The format is documented in docs/fit.md, section \"JSON contract and law files\". Refit rather than edit.\n"
    )
    body = yaml.safe_dump(law_document(result, name), sort_keys=False, allow_unicode=True,
                          default_flow_style=None, width=100)
    return header + body

