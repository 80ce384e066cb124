"""``hpscale fit``: calibrate the transfer rules on your own sweeps.

parse → ``hpscale.api.fit`` → render (Rich tables or the JSON contract), plus the law file
(``--output``) and figures (``--plot``). Only typer is imported at module level.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from ..core.fit import CellFit, FitResult

FIT_FORMATS = ("table", "json")
#: Short names of the flags, for the 80-column table (the JSON keeps the full names).
FLAG_NAMES = {"not_bracketed": "edge", "too_few_points": "few", "non_convex": "nonconvex",
              "capped_by_divergence": "capped"}


def fit_command(
    runs: Annotated[list[Path], typer.Argument(
        help="Run tables: .csv, .tsv (W&B 'Export CSV' works as is) or .jsonl, one row per run.",
        show_default=False)],
    by: Annotated[str, typer.Option(
        "--by", help="Scale axes that define a cell (runs with equal axes form one): width, depth, params, "
        "batch_size, dataset_size, steps.", show_default=False)],
    optimize: Annotated[str, typer.Option(
        "--optimize", help="The one or two swept hyperparameters: lr, weight_decay, batch_size, beta1, beta2, "
        "eps, ema_decay.", show_default=False)],
    law: Annotated[list[str] | None, typer.Option(
        "--law", help="A law to fit, 'HP ~ AXIS + AXIS' (log hp* = c + Σ aᵢ·log axisᵢ); repeatable. Default: "
        "each optimized hp (and tau_epoch, tau_iter when derivable) against every --by axis that varies.",
        show_default=False)] = None,
    column: Annotated[list[str] | None, typer.Option(
        "--column", help="NAME=COLUMN: the table's column for a quantity (lr=optimizer.lr); repeatable.",
        show_default=False)] = None,
    metric: Annotated[str, typer.Option(
        "--metric", help="The metric's column; lower is better unless --maximize.")] = "loss",
    maximize: Annotated[bool, typer.Option("--maximize", help="Higher metric is better (accuracy).")] = False,
    group: Annotated[str, typer.Option(
        "--group", help="Parameter group whose LR/weight decay the table holds: hidden (absolute LR of the "
        "matrix-like weights) | embedding (= the base LR of a µP model) | readout | vector.")] = "hidden",
    window: Annotated[int | None, typer.Option(
        "--window", help="Settings in each cell's quadratic fit (default 5 in 1-D, 13 in 2-D).",
        show_default=False)] = None,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Bootstrap resamples.")] = 1000,
    confidence: Annotated[float, typer.Option("--confidence", help="Interval level.")] = 0.95,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the bootstrap.")] = 0,
    resample: Annotated[str, typer.Option(
        "--resample", help="noise: perturb each run's metric by the pooled run noise (fixed design) | "
        "runs: resample runs with replacement.")] = "noise",
    keep_edge: Annotated[bool, typer.Option(
        "--keep-edge", help="Use unbracketed optima in the laws (default: leave them out).")] = False,
    predict: Annotated[list[str] | None, typer.Option(
        "--predict", help="AXIS=VALUE,…: evaluate the laws there, e.g. params=7e9,dataset_size=1.4T; repeatable.",
        show_default=False)] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table | json")] = "table",
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the fitted laws to this YAML law file (for transfer --law).",
        dir_okay=False, show_default=False)] = None,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Write figures (PNG and SVG) into this folder; needs matplotlib (hpscale[plot]).",
        file_okay=False, show_default=False)] = None,
) -> None:
    """Find the optimum of each cell of a sweep, fit how it moves with scale, and judge the rules.

    Runs with equal --by axes form a cell; in each cell the metric is fitted as a quadratic in
    log(hp) near the best run. The optima are fitted as a power law of the axes with bootstrap
    intervals, and each fitted exponent is compared with what the published rules predict.
    """
    import sys

    from ..errors import InputError

    if format not in FIT_FORMATS:
        raise InputError(f"--format: {format!r}: allowed: {', '.join(FIT_FORMATS)}")
    from ..api import fit
    from ..lawfile import dumps_fit_json
    from ..output import emit, warn, write_atomic
    from ..runs import parse_mapping

    points = [_parse_point(text) for text in predict or []]
    if output is not None:
        _check_destination(output, runs)
    if plot is not None:
        from ..extras import require

        require("matplotlib", "--plot")
        if plot.exists() and not plot.is_dir():
            raise InputError(f"--plot: {plot}: is a file, expected a folder")
        if not plot.exists() and not plot.parent.is_dir():
            raise InputError(f"--plot: {plot}: folder {plot.parent} does not exist")
    result = fit([str(path) for path in runs], by=by, optimize=optimize, laws=law or [],
                 columns=parse_mapping("--column", column or []), metric=metric, maximize=maximize,
                 group=group, window=window, bootstrap=bootstrap, confidence=confidence, seed=seed,
                 resample=resample, keep_edge=keep_edge, predict=points)
    if output is not None and not result.laws:
        raise InputError(f"--output: {output}: no law could be fitted, so there is nothing to write")
    text = dumps_fit_json(result) if format == "json" else render_table(result)
    written: list[Path] = []
    if output is not None:
        write_atomic(output, result.to_law_yaml(), runs)
        written.append(output)
    if plot is not None:
        from ..plots.fit import write_figures

        written += write_figures(result, plot)
    warn(result.warnings)
    emit(text, None)
    for path in written:
        print(f"wrote {path}", file=sys.stderr)


def _check_destination(output: Path, inputs: list[Path]) -> None:
    """Refuse an --output that cannot be written before any work is done (nothing is printed)."""
    import os

    from ..errors import InputFileError

    if output.is_dir():
        raise InputFileError(f"--output: {output}: is a directory, expected a file path")
    folder = output.parent if str(output.parent) else Path(".")
    if not folder.is_dir():
        raise InputFileError(f"--output: {output}: folder {folder} does not exist")
    for source in inputs:
        if output.resolve() == source.resolve() or (output.exists() and source.exists()
                                                      and os.path.samefile(output, source)):
            raise InputFileError(f"--output: {output}: is an input file; refusing to overwrite it")


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


def predicted_text(value: float) -> str:
    """A rule's exponent as exact as it is: −1, +0.5, −0.527."""
    text = f"{value:+.3f}".rstrip("0").rstrip(".")
    return "0" if float(text) == 0 else text.replace("-", "−")


def _range(pair: tuple[float, float], fmt: Any = g3) -> str:
    return f"{fmt(pair[0])}–{fmt(pair[1])}"


def _bracket(pair: tuple[float, float]) -> str:
    return f"[{exponent_text(pair[0])}, {exponent_text(pair[1])}]"


def _cell_label(cell: CellFit) -> str:
    from ..numbers import format_si

    return " · ".join(format_si(v) for v in cell.axes.values())


def render_table(result: FitResult, *, color: bool | None = None) -> str:
    """The report as Rich tables (cells, timescales, laws, verdicts, predictions), 80 columns wide."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from ..core.fit import SOURCES
    from ..numbers import format_si
    from ..output import printable
    from ..render import render_rich

    def table(title: str) -> Table:
        return Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", caption_justify="left")

    level = f"{result.options.confidence:.0%}"
    renderables: list[Any] = []
    counts = [f"{result.runs:,} runs", f"{len(result.cells)} cells", f"{result.diverged} diverged"]
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
    for cell in result.cells:
        flags = ", ".join(FLAG_NAMES.get(f, f) for f in cell.flags)
        for index, hp in enumerate(result.optimize):
            first = index == 0
            cells.add_row(_cell_label(cell) if first else "", hp, g3(cell.optimum[hp]), _range(cell.interval[hp]),
                          str(cell.runs) if first else "", str(cell.diverged) if first else "",
                          Text(flags if first else "", style="red" if "not_bracketed" in cell.flags else ""))
        if two:
            cells.add_section()
    shown = sorted({FLAG_NAMES[f] for cell in result.cells for f in cell.flags if f in FLAG_NAMES})
    legend = {"edge": "edge = not bracketed" + ("" if result.options.keep_edge else ", left out of the laws"),
              "few": "few = too few settings, best run used", "nonconvex": "nonconvex = best run used",
              "capped": "capped = kept below a diverged setting"}
    cells.caption = "; ".join(legend[name] for name in shown) or None
    renderables.append(cells)

    derived = [hp for hp in ("tau_epoch", "tau_iter") if result.cells and hp in result.cells[0].derived]
    if derived:
        scales = table(f"AdamW timescales at each optimum ({level} interval)")
        scales.add_column(" · ".join(result.by), no_wrap=True)
        for hp in derived:
            scales.add_column({"tau_epoch": "τ_epoch* (epochs)", "tau_iter": "τ_iter* (steps)"}[hp], justify="right")
            scales.add_column(level, justify="right")
        for cell in result.cells:
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
            verdicts.add_row(v.hp if first else "", v.axis if first else "", v.label, predicted_text(v.predicted),
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
