"""Figures of ``hpscale fit --plot DIR`` (matplotlib, object-oriented API, Agg backend).

- ``fit-cells.png`` / ``.svg`` (``cells_figure``): one panel per cell, the metric against the swept
  hyperparameter (log axis): every finished run, the runs inside the fit window, diverged runs as
  red × on the top edge, the fitted quadratic and the optimum with its interval. Cells whose
  optimum is not bracketed get a red frame and a red title. With two swept hyperparameters a panel
  shows the runs in the (hp₁, hp₂) plane coloured by metric, the fitted quadratic's contours and
  the optimum with its interval in both directions.
- ``fit-laws.png`` / ``.svg`` (``laws_figure``): one panel per (law, axis) on log-log axes: the cell
  optima with their intervals (hollow red: left out of the law), the fitted law with its band,
  and every published rule's line through the fitted law at the centre of the data. For a law
  in several axes, each cell's optimum is moved to the centre of the other axes along the fitted
  law (a partial-residual plot), so the points scatter around the line of this axis.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..core.fit_result import CellFit, FitResult

RED = "#c0392b"
BLUE = "#1f5fa8"
GREY = "#8c8c8c"
RULE_STYLES = ("--", ":", "-.", (0, (5, 2, 1, 2)))


def _pyplot() -> Any:
    from ..extras import require

    matplotlib = require("matplotlib", "--plot")
    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    return plt


def render_figures(result: FitResult) -> dict[str, bytes]:
    """Both figures as PNG (150 dpi) and SVG bytes, by file name (``fit-cells.png``, …)."""
    import io

    plt = _pyplot()
    out: dict[str, bytes] = {}
    figures = [("fit-cells", cells_figure(result))]
    if result.laws:
        figures.append(("fit-laws", laws_figure(result)))
    for name, figure in figures:
        for suffix in ("png", "svg"):
            buffer = io.BytesIO()
            # No creation date in the SVG, so the same fit gives the same file.
            metadata = {"Date": None} if suffix == "svg" else {}
            figure.savefig(buffer, format=suffix, dpi=150, bbox_inches="tight", metadata=metadata)
            out[f"{name}.{suffix}"] = buffer.getvalue()
        plt.close(figure)
    return out


def write_figures(result: FitResult, folder: Path) -> list[Path]:
    """Write both figures (PNG and SVG) into ``folder`` (created if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in render_figures(result).items():
        (folder / name).write_bytes(data)
        written.append(folder / name)
    return written


def _legend_entries(axes: Any) -> tuple[list[Any], list[str]]:
    """Every distinct legend entry of a grid of panels (the first panel may lack diverged runs)."""
    entries: dict[str, Any] = {}
    for row in axes:
        for ax in row:
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                entries.setdefault(label, handle)
    return list(entries.values()), list(entries)


def _plain_ticks(ax: Any, *, y: bool = True) -> None:
    """Log-axis tick labels as plain numbers (0.01, 0.002): 1-2-5 steps on an axis spanning less
    than two decades, 1-3 below four, powers of ten beyond; minor ticks unlabelled."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    formatter = FuncFormatter(lambda value, _: f"{value:g}")
    for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim()))[: 2 if y else 1]:
        if axis.get_scale() != "log":
            continue
        decades = math.log10(max(limits) / min(limits))
        subs = (1.0, 2.0, 5.0) if decades < 2 else (1.0, 3.0) if decades < 4 else (1.0,)
        axis.set_major_locator(LogLocator(base=10, subs=subs))
        axis.set_major_formatter(formatter)
        axis.set_minor_formatter(NullFormatter())


def _grid(count: int) -> tuple[int, int]:
    columns = min(count, 4)
    return math.ceil(count / columns), columns


def _cell_title(result: FitResult, cell: CellFit) -> str:
    from ..numbers import format_si

    return ", ".join(f"{axis} {format_si(value)}" for axis, value in cell.axes.items())


def cells_figure(result: FitResult) -> Figure:
    """The metric against the swept hyperparameter(s), one panel per cell."""

    plt = _pyplot()
    sweep = result.sweep
    assert sweep is not None
    rows, columns = _grid(len(result.cells))
    figure, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 2.9 * rows), squeeze=False)
    sign = -1.0 if result.provenance.maximize else 1.0
    metric_name = result.provenance.metric
    for index, cell in enumerate(result.cells):
        ax = axes[index // columns][index % columns]
        here = sweep.cell == index
        values = sweep.values[here]
        metric = sweep.metric[here] * sign
        diverged = sweep.diverged[here]
        if len(result.optimize) == 1:
            _cell_1d(ax, result, cell, values[:, 0], metric, diverged, sign)
            ax.set_ylabel(metric_name if index % columns == 0 else "")
        else:
            _cell_2d(ax, result, cell, values, metric, diverged, sign)
        edge = "not_bracketed" in cell.flags
        title = _cell_title(result, cell) + ("\nNOT BRACKETED" if edge else "")
        ax.set_title(title, fontsize=9, color=RED if edge else "black")
        if edge:
            for spine in ax.spines.values():
                spine.set_edgecolor(RED)
                spine.set_linewidth(2)
    for index in range(len(result.cells), rows * columns):
        axes[index // columns][index % columns].set_visible(False)
    handles, labels = _legend_entries(axes)
    if handles:
        figure.legend(handles, labels, loc="lower center", ncol=len(handles), fontsize=8, frameon=False,
                      bbox_to_anchor=(0.5, -0.02))
    level = f"{result.options.confidence:.0%}"
    figure.suptitle(f"Optimum per cell: quadratic in log({' & '.join(result.optimize)}) near the best run, "
                    f"{level} interval", fontsize=10)
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    return figure


def _cell_1d(ax: Any, result: FitResult, cell: CellFit, x: Any, y: Any, diverged: Any, sign: float) -> None:
    import numpy as np

    hp = result.optimize[0]
    finished = ~diverged
    quadratic = cell.quadratic
    logs = np.log(x) if hp not in ("beta1", "beta2", "ema_decay") else np.log1p(-x)
    in_window = np.zeros(len(x), bool)
    if quadratic is not None:
        lo, hi = quadratic.span[0]
        in_window = (logs >= lo - 1e-12) & (logs <= hi + 1e-12) & finished
    near = y[in_window] if in_window.any() else y[finished]
    best = float(np.min(near)) if sign > 0 else float(np.max(near))
    spread = float(np.ptp(near)) if len(near) > 1 else abs(best) * 0.01 or 1.0
    low, high = (best - 0.15 * spread, best + 2.0 * spread) if sign > 0 else (best - 2.0 * spread, best + 0.15 * spread)
    shown = finished & (y >= low) & (y <= high)
    off = finished & ~shown
    ax.scatter(x[shown & ~in_window], y[shown & ~in_window], s=14, color=GREY, label="run", zorder=3)
    ax.scatter(x[shown & in_window], y[shown & in_window], s=18, color=BLUE, label="in fit window", zorder=4)
    edge_y = high if sign > 0 else low
    if off.any():
        ax.scatter(x[off], np.full(off.sum(), edge_y), marker="^" if sign > 0 else "v", s=16,
                   facecolors="none", edgecolors=GREY, label="off scale", zorder=3, clip_on=False)
    if diverged.any():
        ax.scatter(x[diverged], np.full(diverged.sum(), edge_y), marker="x", s=26, color=RED,
                   label="diverged", zorder=5, clip_on=False)
    if quadratic is not None:
        lo, hi = quadratic.span[0]
        grid = np.linspace(lo, hi, 200)
        curve = quadratic.metric(grid[:, None]) * sign
        hp_grid = np.exp(grid) if hp not in ("beta1", "beta2", "ema_decay") else -np.expm1(grid)
        ax.plot(hp_grid, curve, color=BLUE, lw=1.4, label="quadratic fit", zorder=4)
    optimum = cell.optimum[hp]
    lo_ci, hi_ci = cell.interval[hp]
    ax.axvspan(lo_ci, hi_ci, color=BLUE, alpha=0.15, lw=0, label="optimum ± interval")
    ax.axvline(optimum, color=BLUE, lw=1.0, ls="--")
    ax.set_xscale("log")
    ax.set_ylim(low, high)
    ax.set_xlabel(hp, fontsize=8)
    ax.tick_params(labelsize=7)
    _plain_ticks(ax, y=False)


def _cell_2d(ax: Any, result: FitResult, cell: CellFit, values: Any, y: Any, diverged: Any, sign: float) -> None:
    import numpy as np

    hp1, hp2 = result.optimize
    finished = ~diverged
    x1, x2 = values[:, 0], values[:, 1]
    near = y[finished]
    best = float(np.min(near)) if sign > 0 else float(np.max(near))
    spread = float(np.quantile(np.abs(near - best), 0.5)) or 1.0
    scatter = ax.scatter(x1[finished], x2[finished], c=np.clip(y[finished], best - spread, best + spread) if sign > 0
                         else np.clip(y[finished], best - spread, best + spread),
                         cmap="viridis_r" if sign > 0 else "viridis", s=22, zorder=3,
                         label="run (colour: metric, bright = better)")
    if diverged.any():
        ax.scatter(x1[diverged], x2[diverged], marker="x", s=24, color=RED, zorder=4, label="diverged")
    quadratic = cell.quadratic
    if quadratic is not None:
        (lo1, hi1), (lo2, hi2) = quadratic.span
        g1, g2 = np.meshgrid(np.linspace(lo1, hi1, 80), np.linspace(lo2, hi2, 80))
        surface = quadratic.metric(np.stack([g1, g2], axis=-1)) * sign
        ax.contour(np.exp(g1), np.exp(g2), surface, levels=6, colors=BLUE, linewidths=0.8, zorder=4)
    o1, o2 = cell.optimum[hp1], cell.optimum[hp2]
    (l1, h1), (l2, h2) = cell.interval[hp1], cell.interval[hp2]
    ax.errorbar([o1], [o2], xerr=[[o1 - l1], [h1 - o1]], yerr=[[o2 - l2], [h2 - o2]], fmt="*", ms=11,
                color=RED if "not_bracketed" in cell.flags else BLUE, mec="white", zorder=5,
                label="optimum ± interval")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(hp1, fontsize=8)
    ax.set_ylabel(hp2, fontsize=8)
    ax.tick_params(labelsize=7)
    _plain_ticks(ax)
    del scatter


def laws_figure(result: FitResult) -> Figure:
    """hp* against each axis of its law, log-log, with the band and the published rules."""
    import numpy as np

    plt = _pyplot()
    panels = [(hp, axis) for hp, law in result.laws.items() for axis in law.axes]
    rows, columns = _grid(len(panels))
    figure, axes = plt.subplots(rows, columns, figsize=(3.8 * columns, 3.3 * rows), squeeze=False)
    level = f"{result.options.confidence:.0%}"
    for index, (hp, axis) in enumerate(panels):
        ax = axes[index // columns][index % columns]
        law = result.laws[hp]
        beta_boot, centre = result.law_samples[hp]
        k = law.axes.index(axis)
        # Points: each cell's optimum moved to the centre of the other axes along the law.
        xs, ys, lows, highs, used = [], [], [], [], []
        for cell in result.cells:
            value_x = _axis_of(cell, axis)
            value, (lo, hi) = _value_of(cell, hp)
            if value_x is None or value is None:
                continue
            shift = 1.0
            for other in law.axes:
                if other != axis:
                    other_value = _axis_of(cell, other)
                    if other_value is None:
                        break
                    shift *= (law.centre[other] / other_value) ** law.exponents[other]
            else:
                xs.append(value_x)
                ys.append(value * shift)
                lows.append(lo * shift)
                highs.append(hi * shift)
                used.append(cell.used)
        xs_a, ys_a = np.array(xs), np.array(ys)
        err = np.array([ys_a - np.array(lows), np.array(highs) - ys_a])
        used_a = np.array(used, bool)
        span = np.log(xs_a)
        predictions = [p.at[axis] for p in result.predictions if axis in p.at and hp in p.values]
        lo_x = min([*xs_a, *predictions])
        hi_x = max([*xs_a, *predictions])
        grid = np.exp(np.linspace(np.log(lo_x) - 0.15 * (np.ptp(span) or 1), np.log(hi_x) + 0.15 * (np.ptp(span) or 1), 120))
        offset = np.log(grid) - centre[k]
        samples = beta_boot[0][None, :] + offset[:, None] * beta_boot[k + 1][None, :]
        band_lo, band_hi = np.quantile(samples, [(1 - result.options.confidence) / 2,
                                                 1 - (1 - result.options.confidence) / 2], axis=1)
        fitted = law.coefficient * np.prod([law.centre[o] ** law.exponents[o] for o in law.axes if o != axis]) \
            * grid ** law.exponents[axis]
        # The law is of log hp* (log(1 − hp*) for decay rates), so the band is exp of its quantiles.
        ax.fill_between(grid, np.exp(band_lo), np.exp(band_hi), color=BLUE, alpha=0.15, lw=0,
                        label=f"fit, {level} band")
        ax.plot(grid, fitted, color=BLUE, lw=1.6, label=f"fit: a = {law.exponents[axis]:.3f}")
        anchor = law.centre[axis]
        anchor_y = law.coefficient * np.prod([law.centre[o] ** law.exponents[o] for o in law.axes])
        styles = iter(RULE_STYLES * 3)
        for verdict in (v for v in result.verdicts if v.hp == hp and v.axis == axis):
            line = anchor_y * (grid / anchor) ** verdict.predicted
            ax.plot(grid, line, color=GREY if verdict.consistent else "#d08c60", lw=1.1, ls=next(styles),
                    label=f"{verdict.label}: a = {verdict.predicted:g} ({'in' if verdict.consistent else 'outside'} CI)")
        ax.errorbar(xs_a[used_a], ys_a[used_a], yerr=err[:, used_a], fmt="o", color=BLUE, ms=5, capsize=2,
                    zorder=5, label="cell optimum")
        if (~used_a).any():
            ax.errorbar(xs_a[~used_a], ys_a[~used_a], yerr=err[:, ~used_a], fmt="o", mfc="white", mec=RED,
                        color=RED, ms=5, capsize=2, zorder=5, label="not bracketed (left out)")
        for prediction in result.predictions:
            if axis in prediction.at and hp in prediction.values:
                value = prediction.values[hp]
                lo, hi = prediction.intervals[hp]
                ax.errorbar([prediction.at[axis]], [value], yerr=[[value - lo], [hi - value]], fmt="D", color="black",
                            ms=5, capsize=3, zorder=6, label="prediction")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(axis + (" (others at their centre)" if len(law.axes) > 1 else ""), fontsize=8)
        ax.set_ylabel(f"{hp}*" if hp not in ("beta1", "beta2", "ema_decay") else f"1 − {hp}*", fontsize=8)
        ax.set_title(f"{hp}* vs {axis}", fontsize=9)
        ax.tick_params(labelsize=7)
        _plain_ticks(ax)
        ax.legend(fontsize=6.5, frameon=False, loc="best")
    for index in range(len(panels), rows * columns):
        axes[index // columns][index % columns].set_visible(False)
    figure.suptitle("Fitted laws with the published rules' exponents (lines through the fit at the data's centre)",
                    fontsize=10)
    figure.tight_layout()
    return figure


def _axis_of(cell: CellFit, axis: str) -> float | None:
    if axis in cell.axes:
        return cell.axes[axis]
    if axis == "tokens_per_param" and "params" in cell.axes and "dataset_size" in cell.axes:
        return cell.axes["dataset_size"] / cell.axes["params"]
    return None


def _value_of(cell: CellFit, hp: str) -> tuple[float | None, tuple[float, float]]:
    if hp in cell.optimum:
        value, pair = cell.optimum[hp], cell.interval[hp]
    elif hp in cell.derived:
        value, pair = cell.derived[hp], cell.derived_interval[hp]
    else:
        return None, (0.0, 0.0)
    if hp in ("beta1", "beta2", "ema_decay"):
        return 1 - value, (1 - pair[1], 1 - pair[0])
    return value, pair
