"""``hpscale fit``: calibrate the transfer rules on your own sweeps.

parse → ``hpscale.api.fit`` → render (Rich tables or the JSON contract), plus the law file
(``--output``) and figures (``--plot``). Only typer is imported at module level.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import options as O

if TYPE_CHECKING:
    from ..core.fit_result import CellFit, FitResult

FIT_FORMATS = ("table", "json")
#: Short names of the flags, for the 80-column table (the JSON keeps the full names).
FLAG_NAMES = {"not_bracketed": "edge", "too_few_points": "few", "non_convex": "nonconvex",
              "capped_by_divergence": "capped"}


def fit_command(
    runs: Annotated[list[Path], typer.Argument(
        metavar="RUNS...", show_default=False,
        help="Run tables, one row per run: .csv, .tsv (a W&B 'Export CSV' as it is) or .jsonl.")],
    by: Annotated[str, typer.Option(
        "--by", metavar="AXES", show_default=False,
        help="Scale axes that define a cell (runs with equal axes form one), comma-separated: width, depth, "
        "params, batch_size, dataset_size, steps.")],
    optimize: Annotated[str, typer.Option(
        "--optimize", metavar="HPS", show_default=False,
        help="The one or two hyperparameters swept inside each cell: lr, weight_decay, batch_size, beta1, "
        "beta2, eps, ema_decay.")],
    law: Annotated[list[str] | None, typer.Option(
        "--law", metavar="'HP ~ AXIS + AXIS'", show_default=False,
        help="A law to fit, log hp* = c + Σ aᵢ·log axisᵢ; repeatable. Default: each optimized hp (and "
        "tau_epoch, tau_iter when derivable) against every --by axis that varies.")] = None,
    column: Annotated[list[str] | None, typer.Option(
        "--column", metavar="NAME=COLUMN", show_default=False,
        help="The table's column for a quantity, e.g. lr=optimizer.lr; repeatable.")] = None,
    metric: Annotated[str, typer.Option(
        "--metric", metavar="COLUMN", help="The metric's column; lower is better unless --maximize.")] = "loss",
    maximize: Annotated[bool, typer.Option("--maximize", metavar="", help="Higher is better (accuracy).")] = False,
    group: Annotated[str, typer.Option(
        "--group", metavar="hidden|embedding|readout|vector",
        help="The parameter group whose absolute LR and weight decay the table holds; the µP base LR is "
        "the embedding group's.")] = "hidden",
    optimizer: Annotated[str, typer.Option(
        "--optimizer", metavar="adamw|muon",
        help="What trained that group: its rules are the verdicts' predictions (muon: the hidden group, "
        "with --muon-convention).")] = "adamw",
    muon_convention: Annotated[str | None, typer.Option(
        "--muon-convention", metavar="NAME", show_default=False,
        help="The shape convention of a Muon sweep's lr: original, match_rms_adamw, spectral, "
        "unit_rms_norm.")] = None,
    window: Annotated[str | None, typer.Option(
        "--window", metavar="N", show_default=False,
        help="Settings in each cell's quadratic fit (default 5 in 1-D, 13 in 2-D).")] = None,
    bootstrap: Annotated[str, typer.Option("--bootstrap", metavar="B", help="Bootstrap resamples.")] = "1000",
    confidence: Annotated[str, typer.Option("--confidence", metavar="C", help="Interval level.")] = "0.95",
    seed: Annotated[str, typer.Option("--seed", metavar="S", help="Random seed of the bootstrap.")] = "0",
    resample: Annotated[str, typer.Option(
        "--resample", metavar="noise|runs",
        help="noise: perturb each run's metric by the pooled run noise (fixed design); runs: resample runs "
        "with replacement.")] = "noise",
    edge: Annotated[str, typer.Option(
        "--edge", metavar="censor|drop|keep",
        help="Unbracketed optima in the laws: censor (a bound: the optimum is at least/most the grid "
        "edge), drop (left out), keep (their estimate used as a point).")] = "censor",
    keep_edge: Annotated[bool, typer.Option(
        "--keep-edge", metavar="", help="Same as --edge keep.")] = False,
    predict: Annotated[list[str] | None, typer.Option(
        "--predict", metavar="AXIS=V,…", show_default=False,
        help="Evaluate the laws there, e.g. params=7e9,dataset_size=1.4T; repeatable.")] = None,
    format: O.format_option(FIT_FORMATS, "table (report) or json (the contract).") = "table",  # type: ignore[valid-type]
    output: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="FILE", show_default=False,
        help="Also write the fitted laws to this law file (YAML), for transfer --law and check --law.")] = None,
    plot: Annotated[str | None, typer.Option(
        "--plot", metavar="DIR", show_default=False,
        # "\\[": Rich reads "[plot]" as markup and drops it from --help.
        help="Write the figures (PNG and SVG) into this folder; needs matplotlib (pip install 'hpscale\\[plot]').")] = None,
) -> None:
    """Find each cell's optimum in a sweep, fit how it moves with scale, and judge the rules.

    Runs with equal --by axes form a cell; in each cell the metric is fitted as a quadratic in
    log(hp) near the best run. The optima are fitted as a power law of the axes with bootstrap
    intervals, and each fitted exponent is compared with what the published rules predict.
    """
    import sys

    from ..errors import InputError

    fmt = O.choice("--format", format, FIT_FORMATS)
    law_path = O.output_option(output)
    if law_path is not None and optimizer != "adamw":
        raise InputError(f"--output: law files hold AdamW laws (transfer --law applies them to AdamW groups); "
                         f"a law fitted on a {optimizer} sweep is not written: leave --output out")
    from ..api import fit
    from ..contract import dumps_json
    from ..lawfile import dumps_law
    from ..output import emit, warn, write_atomic
    from ..runs import parse_mapping
    from ..text import printable

    numbers = {name: _whole(option, value) for name, option, value in
               (("window", "--window", window), ("bootstrap", "--bootstrap", bootstrap), ("seed", "--seed", seed))}
    points = [_parse_point(text) for text in predict or []]
    plot_dir = None
    if plot is not None:
        from ..extras import require

        require("matplotlib", "--plot")
        plot_dir = Path(plot)
        if plot_dir.exists() and not plot_dir.is_dir():
            raise InputError(f"--plot: {plot}: is a file, expected a folder")
        if not plot_dir.exists() and not plot_dir.parent.is_dir():
            raise InputError(f"--plot: {plot}: folder {plot_dir.parent} does not exist")
    result = O.shown(fit([str(path) for path in runs], by=by, optimize=optimize, laws=law or [],
                 columns=parse_mapping("--column", column or []), metric=metric, maximize=maximize,
                 group=group, confidence=_number("--confidence", confidence), resample=resample,
                 keep_edge=keep_edge, edge=edge, predict=points, optimizer=optimizer,
                 muon_convention=muon_convention, **numbers))  # type: ignore[arg-type]
    if law_path is not None and not result.laws:
        raise InputError(f"--output: {output}: no law could be fitted, so there is nothing to write")
    text = dumps_json(result.to_json_dict()) if fmt == "json" else render_table(result)
    figures = {}
    if plot_dir is not None:
        from ..plots.fit import render_figures

        figures = render_figures(result)  # drawn before anything is written
    written: list[str] = []
    if law_path is not None:
        write_atomic(law_path, dumps_law(result), runs)
        written.append(str(law_path))
    if plot_dir is not None:
        plot_dir.mkdir(exist_ok=True)
        for name, data in figures.items():
            (plot_dir / name).write_bytes(data)
            written.append(str(plot_dir / name))
    warn(result.warnings)
    emit(text, None)
    for path in written:
        print(f"wrote {printable(path)}", file=sys.stderr)


def _whole(option: str, value: str | None) -> int | None:
    from ..errors import InputError

    if value is None:
        return None
    text = value.strip()
    if not (text.isascii() and text.lstrip("-").isdigit() and len(text) < 10):
        raise InputError(f"{option}: expected a whole number, found {value!r}")
    return int(text)


def _number(option: str, value: str) -> float:
    from ..errors import InputError
    from ..numbers import parse_number

    try:
        return parse_number(value)
    except ValueError as exc:
        raise InputError(f"{option}: {exc}") from None


def _parse_point(text: str) -> dict[str, str]:
    """``'params=7e9,dataset_size=1.4T'`` → {'params': '7e9', 'dataset_size': '1.4T'}."""
    from ..runs import parse_mapping

    return parse_mapping("--predict", text.split(","), example="params=7e9,dataset_size=1.4T")


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
    from ..render import fmt_exponent, render_rich
    from ..text import printable

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
