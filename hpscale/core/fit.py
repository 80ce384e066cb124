"""Fitting scaling laws of the optimal hyperparameters from sweeps. Pure: numpy, no I/O.

A *sweep* is a table of training runs. Runs with the same scale axes (``--by``: width, params,
dataset size, …) form a *cell*; inside a cell one or two hyperparameters were swept. The fit:

1. **Optimum per cell** (``optimum_method``, in ``hpscale.core.optimum``): the metric as a
   quadratic in log(hp) — jointly in 2-D when two hyperparameters were swept — on the runs near
   the best one; the optimum is the vertex of the parabola. Uncertainty by bootstrap over the
   cell's runs.
2. **Laws across cells** (``law_method``): log hp* = c + Σ aᵢ·log axisᵢ by weighted least squares;
   exponent intervals by refitting the law on every bootstrap resample of the cell optima.
3. **Verdicts**: each fitted exponent that a rule in ``hpscale.core.rules`` predicts, next to
   that prediction; the predicted exponent is computed from the rule function itself
   (``rule_exponent``), so there is no second copy of any constant.

This module holds ``fit_sweep``, the whole fit as ``hpscale fit`` and ``hpscale.fit`` run it:
which laws a sweep gets, each law's cells (bounds where an optimum is not bracketed), the
warnings, the predictions, and step 3. Step 1 is in ``hpscale.core.optimum``, the regression of
step 2 (``fit_law``, ``censored_selection``, the robust intervals) in
``hpscale.core.law_regression``, the result types (``FitResult``, ``CellFit``, ``LawFit``, …) in
``hpscale.core.fit_result``, the vocabulary (``Sweep``, ``FitOptions``, axes, hyperparameters,
log coordinates) in ``hpscale.core.sweep``.

Notation: z = log hp* (natural log; for the decay rates β1, β2 and the model-EMA ρ the fit uses
z = log(1 − value), the inverse averaging window, which is what their rules scale); x = log hp of
a run; y = the metric, lower is better (``--maximize`` negates it); C cells; B resamples.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from ..errors import InputError, mention
from . import rules as R
from .compose import FAR_EXTRAPOLATION
from .fit_result import CellFit, FitResult, LawFit, Prediction, Provenance, Verdict
from .frozen import FrozenMap
from .law_regression import LawData, censored_selection, fit_law, quantiles, robust_interval, spans_axes
from .law_regression import excess_scatter as excess_scatter  # importable from here as before
from .law_regression import robust_spread as robust_spread
from .optimizers import OPTIMIZERS
from .optimizers.base import RuleLine
from .optimizers.base import rule_exponent as rule_exponent  # importable from here as before
from .optimum import (
    NON_CONVEX,
    NOT_BRACKETED,
    TOO_FEW_POINTS,
    CellEstimates,
    cell_flags,
    cell_optima,
    cell_quadratic,
    edge_side,
    metric_at_optimum,
    metric_excess,
)
from .sweep import (
    DERIVED,
    TOKENS_PER_PARAM,
    FitOptions,
    LawSpec,
    Sweep,
    from_log,
    log_tau_epoch,
    log_tau_iter,
)

if TYPE_CHECKING:
    import numpy as np

#: Warn when a law's weighted R² is below this (and the law has residual degrees of freedom).
LOW_R2 = 0.8


# ---------------------------------------------------------------------------------------------
# The whole fit
# ---------------------------------------------------------------------------------------------


def fit_sweep(
    sweep: Sweep,
    options: FitOptions,
    provenance: Provenance,
    laws: Sequence[LawSpec] = (),
    predict: Sequence[Mapping[str, float]] = (),
) -> FitResult:
    """Fit a sweep: the optimum of every cell, the laws, the verdicts and the predictions.

    Args:
        sweep: the runs, grouped into cells (``hpscale.runs.sweep_from_tables``).
        options: window, resamples, confidence, seed, edge handling, parameter group.
        provenance: the inputs, recorded in the outputs.
        laws: ``--law`` specs; every optimized hp not named gets its default law.
        predict: points (axis → value) at which to evaluate the laws.

    Raises:
        InputError: a law that cannot be fitted as asked, a prediction point that names an
            unknown axis.
    """
    import numpy as np

    if len(sweep.cell_axes) < 2:
        raise InputError.of("by", f" {','.join(sweep.axes)}: the runs form a single cell "
                         f"({_cell_label(sweep.axes, sweep.cell_axes[0])}); a law needs at least 2 cells that "
                         f"differ in a {mention('by')} axis")
    # The rules' predictions first: a group or convention the optimizer refuses costs no fit.
    lines = rule_lines(options.group, lr_optimized="lr" in sweep.hps, optimizer=options.optimizer,
                       convention=options.muon_convention)
    specs = check_laws(sweep, laws)
    estimates = cell_optima(sweep, options)
    flags = cell_flags(estimates)
    used = np.array([options.edge_mode == "keep" or NOT_BRACKETED not in f for f in flags])
    derived = {hp: _derived(sweep, hp, estimates.z, estimates.boot) for hp in DERIVED if _derivable(sweep, hp)}
    cells = _cell_fits(sweep, estimates, derived, flags, used, options.confidence, provenance.maximize)
    warnings = _cell_warnings(sweep, flags, options.edge_mode) + _bootstrap_warnings(estimates, options.resample)

    rng = np.random.default_rng(options.seed + 1)
    axis_values = _cell_axis_values(sweep)
    law_fits, law_samples, law_warnings = _fit_laws(sweep, specs, estimates, derived, used, axis_values, options, rng)
    verdict_list = verdicts(law_fits, lines)
    warnings += law_warnings + _verdict_interval_warnings(verdict_list, options.confidence)
    predictions: list[Prediction] = []
    for point in predict:
        prediction, far = _predict(point, law_fits, law_samples, options, rng, axis_values)
        predictions.append(prediction)
        warnings += far

    return FitResult(
        by=sweep.axes, optimize=sweep.hps, options=options, provenance=provenance,
        runs=int(len(sweep.cell) + sweep.incomplete.sum()), diverged=int(sweep.diverged.sum()),
        incomplete=int(sweep.incomplete.sum()),
        cells=tuple(cells), laws=FrozenMap(law_fits), verdicts=tuple(verdict_list), predictions=tuple(predictions),
        warnings=tuple(dict.fromkeys(warnings)),
        resampling=options.resample if estimates.noise is not None else "runs",
        noise=estimates.noise, noise_dof=estimates.noise_dof, sweep=sweep, law_samples=law_samples,
    )


def _cell_fits(
    sweep: Sweep,
    estimates: CellEstimates,
    derived: Mapping[str, tuple[np.ndarray, np.ndarray]],
    flags: Sequence[tuple[str, ...]],
    used: np.ndarray,
    confidence: float,
    maximize: bool,
) -> list[CellFit]:
    """Each cell's record: its optimum with the percentile bootstrap interval, τ_epoch* and
    τ_iter* at the optimum (``derived``: log values per cell and per resample), the runs behind
    it (best run, diverged, window, quadratic), its flags and whether it enters the laws."""
    import numpy as np

    C = len(sweep.cell_axes)
    detail = estimates.detail
    counts = np.bincount(sweep.cell, minlength=C)
    div_counts = np.bincount(sweep.cell, weights=sweep.diverged, minlength=C).astype(int)
    lo_q, hi_q = quantiles(estimates.boot, confidence, axis=1)  # (C, d)
    derived_q = {hp: quantiles(boot, confidence, axis=1) for hp, (_, boot) in derived.items()}
    order = np.argsort(sweep.cell, kind="stable")
    sign = -1.0 if maximize else 1.0
    cells: list[CellFit] = []
    for c in range(C):
        runs_here = order[np.searchsorted(sweep.cell[order], c):np.searchsorted(sweep.cell[order], c, side="right")]
        finished = runs_here[~sweep.diverged[runs_here]]
        best_run = finished[np.argmin(sweep.metric[finished])] if len(finished) else None
        optimum = {hp: float(from_log(hp, estimates.z[c, j])) for j, hp in enumerate(sweep.hps)}
        interval = {}
        for j, hp in enumerate(sweep.hps):
            ends = sorted((float(from_log(hp, lo_q[c, j])), float(from_log(hp, hi_q[c, j]))))
            ends = [e if math.isfinite(e) else optimum[hp] for e in ends]
            interval[hp] = (min(ends[0], optimum[hp]), max(ends[1], optimum[hp]))
        dvals, dints = {}, {}
        for hp, (point, _) in derived.items():
            dvals[hp] = float(np.exp(point[c]))
            lo_d, hi_d = derived_q[hp][0][c], derived_q[hp][1][c]
            dints[hp] = (float(np.exp(lo_d)), float(np.exp(hi_d))) if np.isfinite(lo_d) else (dvals[hp], dvals[hp])
        cells.append(CellFit(
            axes=FrozenMap({axis: float(sweep.cell_axes[c, i]) for i, axis in enumerate(sweep.axes)}),
            runs=int(counts[c]),
            diverged=int(div_counts[c]),
            incomplete=int(sweep.incomplete[c]),
            optimum=FrozenMap(optimum),
            interval=FrozenMap(interval),
            metric_at_optimum=sign * metric_at_optimum(estimates, c),
            best_run=(sweep.names[best_run] if best_run is not None else None),
            best_metric=sign * float(sweep.metric[best_run]) if best_run is not None else math.nan,
            window=int(detail["n_window"][c]),
            flags=flags[c],
            used=bool(used[c]),
            derived=FrozenMap(dvals),
            derived_interval=FrozenMap(dints),
            quadratic=cell_quadratic(estimates, c),
        ))
    return cells


_EDGE_WHERE = {"keep": f"; kept in the laws ({mention('edge', 'keep')})",
               "drop": f"; left out of the laws ({mention('edge', 'drop')})",
               "censor": f"; a bound in the laws ({mention('edge', 'censor')})"}


def _cell_warnings(sweep: Sweep, flags: Sequence[tuple[str, ...]], edge: str) -> list[str]:
    """One warning per flag that makes a cell's optimum weak evidence, cell by cell."""
    warnings: list[str] = []
    for c, flagged in enumerate(flags):
        label = _cell_label(sweep.axes, sweep.cell_axes[c])
        if NOT_BRACKETED in flagged:
            where = _EDGE_WHERE[edge]
            warnings.append(f"cell {label}: optimum not bracketed (at or beyond the edge of the swept range)"
                            f"{where}; extend the sweep")
        if TOO_FEW_POINTS in flagged:
            warnings.append(f"cell {label}: too few settings for a quadratic; the best run stands for the optimum")
        if NON_CONVEX in flagged:
            warnings.append(f"cell {label}: the fitted quadratic is not convex; the best run stands for the optimum")
    return warnings


def _bootstrap_warnings(estimates: CellEstimates, resample: str) -> list[str]:
    """When the bootstrap could not run as asked: no noise estimate, resamples that failed."""
    warnings: list[str] = []
    if estimates.noise is None and resample == "noise":
        warnings.append("no cell has more runs in its window than quadratic coefficients, so the run-to-run "
                        f"noise cannot be estimated; the intervals resample runs instead ({mention('resample', 'runs')})")
    if estimates.failed_share > 0.01:
        warnings.append(f"{estimates.failed_share:.1%} of the bootstrap resamples held only diverged runs "
                        "in some cell; those resamples were skipped")
    return warnings


def _fit_laws(
    sweep: Sweep,
    specs: Sequence[LawSpec],
    estimates: CellEstimates,
    derived: Mapping[str, tuple[np.ndarray, np.ndarray]],
    used: np.ndarray,
    axis_values: Mapping[str, np.ndarray],
    options: FitOptions,
    rng: np.random.Generator,
) -> tuple[dict[str, LawFit], dict[str, tuple[np.ndarray, np.ndarray]], list[str]]:
    """Each law by ``fit_law`` over the cells that enter the laws (``used``, finite optimum).

    Returns the laws, each law's coefficient resamples (P, B) with its design centre, and the
    warnings: a law left unfitted (fewer usable cells than coefficients, axes that do not vary
    across them) or weakly supported (``_law_warnings``)."""
    import numpy as np

    C = len(sweep.cell_axes)
    detail = estimates.detail
    law_fits: dict[str, LawFit] = {}
    law_samples: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    warnings: list[str] = []
    for spec in specs:
        excess: Callable[[int, float], float | None] | None = None
        if spec.hp in sweep.hps:
            j = sweep.hps.index(spec.hp)
            z, boot = estimates.z[:, j], estimates.boot[:, :, j]
            step = np.array([detail["set_x"][c][2][j] for c in range(C)])
            fallback = ~detail["fitted"]
            excess = functools.partial(metric_excess, estimates, j)
            side = np.zeros(C, int)
            if options.edge_mode == "censor":
                side = np.array([0 if used[c] else edge_side(estimates, c, j) for c in range(C)])
                # The bound: half a grid step inside the edge (the best setting is the edge one
                # exactly when the optimum lies beyond the midpoint to its neighbour).
                ends = np.array([detail["set_x"][c][4 if side[c] > 0 else 3][j] - side[c] * step[c] / 2
                                 for c in range(C)])
                z = np.where(side != 0, ends, z)
        else:
            z, boot = derived[spec.hp]
            step = np.zeros(C)
            fallback = np.zeros(C, bool)
            side = np.zeros(C, int)
        keep = (used | (side != 0)) & np.isfinite(z)
        points = int((keep & (side == 0)).sum())  # bounds alone cannot determine a law
        P = len(spec.axes) + 1
        if points < P:
            warnings.append(f"law {spec}: {points} usable cells for {P} coefficients; "
                            "not fitted" + ("" if options.edge_mode == "keep" else
                                            f" ({mention('edge', 'keep')} uses unbracketed estimates too)"))
            continue
        logs = np.column_stack([np.log(axis_values[axis][keep]) for axis in spec.axes])
        data = LawData(z[keep], np.asarray(boot)[keep], logs, np.flatnonzero(keep), fallback[keep], step[keep])
        censored = int((side[keep] != 0).sum())
        # Checked before censoring (its least squares needs every axis to vary) and after (the
        # cells kept are a subset, whose rank can only drop).
        usable = spans_axes(data.logs)
        bounds_only = False
        if usable and censored:
            data = censored_selection(data, side[keep])
            bounds_only = not spans_axes(data.logs)
            usable = not bounds_only
        if not usable:
            warnings.append(f"law {spec}: the usable cells do not vary in every axis; not fitted" + (
                " (along one axis only the unbracketed cells' bounds limit the law; "
                f"{mention('edge', 'keep')} uses their edge settings as estimates)" if bounds_only else ""))
            continue
        law, beta_boot, centre = fit_law(spec, data, options, rng, excess)
        law = law._replace(censored=censored)
        law_fits[spec.hp] = law
        law_samples[spec.hp] = (beta_boot, centre)
        warnings += _law_warnings(spec, law)
    return law_fits, law_samples, warnings


def _law_warnings(spec: LawSpec, law: LawFit) -> list[str]:
    """A fitted law that the cells barely test: it passes through every cell, or they scatter
    around it more than their own noise explains."""
    P = len(spec.axes) + 1
    if law.cells == P:
        return [f"law {spec}: {law.cells} cells for {P} coefficients: the law passes through every "
                "cell, so nothing checks the power-law form; its interval reflects run noise only"]
    if law.r2 is not None and law.r2 < LOW_R2 and law.excess_scatter > 0:
        # A flat law has a low R² by construction; only scatter beyond the cells' own noise
        # (τ² > 0) says that the optima do not follow the power law.
        return [f"law {spec}: R² = {law.r2:.2f}: the optima scatter around the power law in "
                f"{', '.join(spec.axes)} more than their own noise explains"]
    return []


def _verdict_interval_warnings(verdict_list: Sequence[Verdict], confidence: float) -> list[str]:
    """Per (hp, axis): the fitted interval is wider than the gap between the exponents that the
    published rules predict, so the sweep cannot tell those rules apart."""
    by_pair: dict[tuple[str, str], list[Verdict]] = {}
    for verdict in verdict_list:
        by_pair.setdefault((verdict.hp, verdict.axis), []).append(verdict)
    warnings: list[str] = []
    for (hp, axis), group in by_pair.items():
        predictions_here = sorted({round(v.predicted, 9) for v in group})
        if len(predictions_here) < 2:
            continue
        gap = min(b - a for a, b in zip(predictions_here, predictions_here[1:], strict=False))
        lo, hi = group[0].interval
        if hi - lo > gap:
            warnings.append(f"{hp} vs {axis}: the {confidence:.0%} interval [{lo:.3g}, {hi:.3g}] is wider "
                            f"than the gap between the published rules' exponents ({gap:g}); the sweep cannot "
                            "tell them apart")
    return warnings


def _predict(
    point: Mapping[str, float],
    laws: Mapping[str, LawFit],
    boots: Mapping[str, tuple[np.ndarray, np.ndarray]],
    options: FitOptions,
    rng: np.random.Generator,
    axis_values: Mapping[str, np.ndarray],
) -> tuple[Prediction, list[str]]:
    """Every law whose axes the point names, with a prediction interval: the quantiles of
    log hp* under the resampled coefficients plus N(0, τ²) (a new cell scatters around the law
    as the fitted cells do). Warns for each axis more than ``FAR_EXTRAPOLATION`` beyond the
    swept range."""
    import numpy as np

    at = dict(point)
    if "params" in at and "dataset_size" in at and TOKENS_PER_PARAM not in at:
        at[TOKENS_PER_PARAM] = at["dataset_size"] / at["params"]
    known = set(axis_values) | {TOKENS_PER_PARAM}
    for axis in point:
        if axis not in known:
            raise InputError.of("predict", f": {axis}: not an axis of this sweep; allowed: {', '.join(sorted(known))}")
    values: dict[str, float] = {}
    intervals: dict[str, tuple[float, float]] = {}
    warnings: list[str] = []
    for hp, law in laws.items():
        if not all(axis in at for axis in law.axes):
            continue
        beta_boot, centre = boots[hp]
        logs = np.array([math.log(at[axis]) for axis in law.axes]) - centre
        for axis in law.axes:
            seen = axis_values[axis]
            ratio = max(at[axis] / float(np.max(seen)), float(np.min(seen)) / at[axis])
            if ratio > FAR_EXTRAPOLATION:
                warnings.append(f"{mention('predict')} {axis}={at[axis]:g}: ×{ratio:.3g} beyond the swept range "
                                f"(more than ×{FAR_EXTRAPOLATION:g}); the law is extrapolated that far")
        log_value = math.log(law.coefficient) + sum(
            law.exponents[axis] * math.log(at[axis]) for axis in law.axes)
        samples = beta_boot[0] + logs @ beta_boot[1:]
        if law.excess_scatter > 0:
            samples = samples + rng.normal(0.0, math.sqrt(law.excess_scatter), size=samples.shape)
        lo, hi = robust_interval(log_value, samples, options.confidence)
        ends = sorted((float(from_log(hp, lo)), float(from_log(hp, hi))))
        values[hp] = float(from_log(hp, log_value))
        intervals[hp] = (ends[0], ends[1])
    return Prediction(FrozenMap(point), FrozenMap(values), FrozenMap(intervals)), warnings


# ---------------------------------------------------------------------------------------------
# Which laws: the defaults, ``--law`` checked against the sweep, the derived timescales
# ---------------------------------------------------------------------------------------------


def _cell_label(axes: Sequence[str], values: Sequence[float]) -> str:
    return " ".join(f"{axis}={value:g}" for axis, value in zip(axes, values, strict=True))


def _cell_axis_values(sweep: Sweep) -> dict[str, np.ndarray]:
    """Axis values per cell, including ``tokens_per_param`` when params and dataset size are known."""
    import numpy as np

    values = {axis: sweep.cell_axes[:, i] for i, axis in enumerate(sweep.axes)}
    params = values.get("params", sweep.context.get("params"))
    dataset = values.get("dataset_size", sweep.context.get("dataset_size"))
    if params is not None and dataset is not None:
        with np.errstate(all="ignore"):
            values[TOKENS_PER_PARAM] = dataset / params
    return values


def available_laws(sweep: Sweep) -> tuple[list[str], list[str]]:
    """(hps a law can be fitted for, axes that vary across cells)."""
    import numpy as np

    axis_values = _cell_axis_values(sweep)
    varying = [axis for axis, v in axis_values.items()
               if np.all(np.isfinite(v)) and np.all(v > 0) and np.ptp(np.log(v)) > 1e-12]
    hps = list(sweep.hps) + [hp for hp in DERIVED if _derivable(sweep, hp)]
    return hps, varying


def _source(sweep: Sweep, name: str) -> str | None:
    """Where a quantity comes from: 'optimized', 'axis', 'context' or None."""
    import numpy as np

    if name in sweep.hps:
        return "optimized"
    if name in sweep.axes:
        return "axis"
    value = sweep.context.get(name)
    if value is not None and np.all(np.isfinite(value)) and np.all(value > 0):
        return "context"
    return None


def _derivable(sweep: Sweep, hp: str) -> bool:
    if not ({"lr", "weight_decay"} & set(sweep.hps)):
        return False
    if _source(sweep, "lr") is None or _source(sweep, "weight_decay") is None:
        return False
    if hp == "tau_iter":
        return True
    has_epoch = _source(sweep, "batch_size") and _source(sweep, "dataset_size")
    return bool(has_epoch or _source(sweep, "steps"))


def _per_cell(sweep: Sweep, name: str, z: np.ndarray, boot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log of ``name`` per cell (C,) and per resample (C, B): from the optimum, an axis or context."""
    import numpy as np

    if name in sweep.hps:
        j = sweep.hps.index(name)
        return z[:, j], boot[:, :, j]
    value = sweep.cell_axes[:, sweep.axes.index(name)] if name in sweep.axes else sweep.context[name]
    log = np.log(value)
    return log, np.broadcast_to(log[:, None], boot.shape[:2])


def _derived(sweep: Sweep, hp: str, z: np.ndarray, boot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log τ_iter* or log τ_epoch* per cell and per resample, at the optimum."""
    import numpy as np

    lr, lr_b = _per_cell(sweep, "lr", z, boot)
    wd, wd_b = _per_cell(sweep, "weight_decay", z, boot)
    if hp == "tau_iter":
        return log_tau_iter(lr, wd), log_tau_iter(lr_b, wd_b)
    if _source(sweep, "batch_size") and _source(sweep, "dataset_size"):
        batch, batch_b = _per_cell(sweep, "batch_size", z, boot)
        dataset = np.log(sweep.cell_axes[:, sweep.axes.index("dataset_size")]) if "dataset_size" in sweep.axes \
            else np.log(sweep.context["dataset_size"])
        steps, steps_b = dataset - batch, dataset[:, None] - batch_b
    else:
        steps, steps_b = _per_cell(sweep, "steps", z, boot)
    return log_tau_epoch(lr, wd, steps), log_tau_epoch(lr_b, wd_b, steps_b)


def default_laws(sweep: Sweep) -> list[LawSpec]:
    """Each optimized hp, and τ_epoch*, τ_iter* when derivable, against every varying ``--by`` axis."""
    hps, varying = available_laws(sweep)
    axes = tuple(axis for axis in sweep.axes if axis in varying)
    return [LawSpec(hp, axes) for hp in hps] if axes else []


def check_laws(sweep: Sweep, specs: Sequence[LawSpec]) -> list[LawSpec]:
    """Validate ``--law`` specs against the sweep; the defaults fill in the hps not named."""
    import numpy as np

    hps, varying = available_laws(sweep)
    axis_values = _cell_axis_values(sweep)
    seen: set[str] = set()
    for spec in specs:
        if spec.hp in seen:
            raise InputError.of("laws", f": {spec}: a second law for {spec.hp}; give one law per hyperparameter")
        seen.add(spec.hp)
        if spec.hp not in hps:
            allowed = ", ".join(hps)
            raise InputError.of("laws", f": {spec}: {spec.hp!r} is not fitted; allowed: {allowed} (the {mention('optimize')} "
                             "hyperparameters, and tau_epoch/tau_iter when lr and weight_decay are known)")
        for axis in spec.axes:
            if axis not in axis_values:
                allowed = ", ".join(axis_values)
                raise InputError.of("laws", f": {spec}: unknown axis {axis!r}; allowed: {allowed} (the {mention('by')} axes"
                                 f"{', and tokens_per_param = dataset_size/params' if TOKENS_PER_PARAM in axis_values else ''})")
            if axis not in varying:
                raise InputError.of("laws", f": {spec}: {axis} does not vary across the cells; a law needs it to vary")
        logs = np.column_stack([np.log(axis_values[axis]) for axis in spec.axes])
        centred = logs - logs.mean(axis=0)
        if np.linalg.matrix_rank(centred, tol=1e-9) < len(spec.axes):
            raise InputError.of("laws", f": {spec}: the axes {', '.join(spec.axes)} are collinear across the cells "
                             "(one determines the others); drop one")
    named = {spec.hp for spec in specs}
    return list(specs) + [spec for spec in default_laws(sweep) if spec.hp not in named]


# ---------------------------------------------------------------------------------------------
# Verdicts: what each published rule predicts, computed from the rule functions
# ---------------------------------------------------------------------------------------------


#: Who says so, for each short label (table captions).
SOURCES = {
    "µP": "Yang et al. 2022 (Tensor Programs V)",
    "MuReadout": "the mup library's MuReadout",
    "Table 3": "Tensor Programs V, Table 3",
    "√κ": "Malladi et al. 2022",
    "CompleteP": "Dey et al. 2025",
    "depth-µP": "Yang et al. 2023",
    "timescale": "Wang & Aitchison 2024",
    "√d": "Fan et al. 2025",
    "plain µP": "Tensor Programs V (no weight-decay rule)",
    "constant τ": "Wang & Aitchison 2024",
    "Power Lines": "Bergsma et al. 2025",
    # Muon (hpscale.core.optimizers.muon.FIT_LABELS)
    "spectral cond.": "Yang, Simon & Bernstein 2023 (spectral condition), derived",
    "√κ assumed": "Malladi et al. 2022, assumed for Muon (nanochat)",
    "η·λ kept": "nanochat (timescale, unadjusted η)",
    "1/width": "Qiu et al. 2025",
    "fixed λ": "Moonlight (Liu et al. 2025)",
}


def rule_lines(group: R.Group, *, lr_optimized: bool, optimizer: str = "adamw",
               convention: str | None = None) -> list[RuleLine]:
    """Every (hp, axis) exponent the rules of ``optimizer`` predict for ``group`` (its spec's
    ``fit_lines``: AdamW's in ``hpscale.core.optimizers.adamw``, Muon's in ``…muon``);
    ``convention``: the sweep's Muon shape convention (Muon only)."""
    spec = OPTIMIZERS[optimizer]
    assert spec.fit_lines is not None, optimizer
    return spec.fit_lines(group, lr_optimized, convention)



def verdicts(laws: Mapping[str, LawFit], lines: Sequence[RuleLine]) -> list[Verdict]:
    """Each fitted exponent that a rule line (``rule_lines``) predicts, with 'consistent' =
    prediction inside the CI."""
    out = []
    for line in lines:
        law = laws.get(line.hp)
        if law is None or line.axis not in law.exponents:
            continue
        lo, hi = law.exponent_intervals[line.axis]
        out.append(Verdict(line.hp, line.axis, line.rule, line.choice, line.label, line.exponent,
                           law.exponents[line.axis], (lo, hi), lo <= line.exponent <= hi, line.condition))
    return out
