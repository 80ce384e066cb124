"""The optimum of each cell of a sweep, and its bootstrap. Pure: numpy, no I/O.

**Optimum per cell** (``optimum_method`` states it with the numbers used,
``hpscale.core.optimum_batch.optima`` in full): the metric as a quadratic in log(hp) — jointly in 2-D when two hyperparameters were swept — on
the runs near the best one; the optimum is the vertex of the parabola, kept within one grid step
of the swept range and half a step short of a setting whose runs all diverged. Uncertainty by
bootstrap over the cell's runs (``cell_optima``): by default a parametric residual bootstrap for
a fixed design (Efron & Tibshirani 1993, *An Introduction to the Bootstrap*, §9.5), with
``--resample runs`` the Poisson bootstrap (Hanley & MacGibbon 2006, Comput. Methods Programs
Biomed. 83:57). ``cell_flags`` says when an optimum is weak evidence (not bracketed, too few
points, not convex, capped by divergence).

How it runs fast in bounded memory — cells padded to common shapes, one batch of normal
equations for every resample of every cell of a chunk, the bootstrap's quantised draws — is
``hpscale.core.optimum_batch``; this module states the method, runs it (``cell_optima``) and
reads its results (``cell_flags``, ``edge_side``, ``cell_quadratic``, ``metric_excess``).

Notation: x = log hp of a run (``hpscale.core.sweep.to_log``: log(1 − value) for decay rates);
y = the metric, lower is better (``--maximize`` negates it); u = (x − x_best)/step, the distance
from the best setting in grid steps; C cells; B resamples.

The laws across cells that these optima feed are in ``hpscale.core.fit``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

from . import optimum_batch as batched
from .optimum_batch import metric_scale as metric_scale  # importable from here as before
from .optimum_batch import quadratic_features
from .sweep import FitOptions, Sweep, to_log

if TYPE_CHECKING:
    import numpy as np

#: Flags of a cell's optimum.
NOT_BRACKETED = "not_bracketed"
TOO_FEW_POINTS = "too_few_points"
NON_CONVEX = "non_convex"
CAPPED = "capped_by_divergence"


# ---------------------------------------------------------------------------------------------
# What a cell's optimum is, and how it was found
# ---------------------------------------------------------------------------------------------


class Quadratic(NamedTuple):
    """A cell's fitted quadratic: metric(x) = offset + φ(u)ᵀβ with u = (log hp − centre)/step and
    φ = [1, u, u²] (1-D) or [1, u₁, u₂, u₁², u₁u₂, u₂²] (2-D); ``span`` is the window's range of
    log hp per dimension. The metric is as fitted (negated under ``--maximize``)."""

    centre: tuple[float, ...]
    step: tuple[float, ...]
    coefficients: tuple[float, ...]
    offset: float
    span: tuple[tuple[float, float], ...]

    def metric(self, logs: Any) -> Any:
        """The fitted metric at log hp values ``logs`` (…, d)."""
        import numpy as np

        u = (np.asarray(logs, float) - np.array(self.centre)) / np.array(self.step)
        return quadratic_features(u) @ np.array(self.coefficients) + self.offset


class CellEstimates(NamedTuple):
    """Every cell's log optimum, its bootstrap resamples, and the details of the point fit.

    ``detail`` holds per-cell arrays (C, …) of the point estimate: ``best`` (the best setting),
    ``beta`` (the quadratic's coefficients in u), ``fitted`` (the vertex is the optimum),
    ``too_few``, ``convex``, ``capped``, ``raw`` (the vertex before the caps), ``bound_lo`` and
    ``bound_hi`` (the nearest all-diverged settings), ``n_window``, ``metric_at`` (the fitted
    metric at the optimum), ``best_mean``, ``rss``, ``dof``, ``span``, ``y_offset`` (the centre
    subtracted from each cell's metric); ``set_x[c]`` is cell c's (settings, real, step, lo, hi).
    """

    z: np.ndarray  # (C, d) log optimum (point estimate)
    boot: np.ndarray  # (C, B, d) resampled log optima (NaN where the resample failed)
    detail: dict[str, Any]  # per-cell details of the point estimate
    failed_share: float
    noise: float | None  # pooled run-to-run SD of the metric (None: not estimable)
    noise_dof: float


def optimum_method(options: FitOptions, dims: int) -> str:
    """The per-cell method in one sentence, with the numbers used."""
    resampling = ("each finished run's metric perturbed by the pooled run noise (fixed design)"
                  if options.resample == "noise" else "the cell's runs resampled with replacement (Poisson)")
    return (
        f"quadratic in log(hp) ({'joint 2-D' if dims == 2 else '1-D'}) by least squares over the "
        f"{options.window_for(dims)} settings nearest the best one (log-space, in grid steps); "
        "vertex = optimum; best run if too few points or not convex; kept within one grid step of "
        "the swept range and half a step below a setting whose runs all diverged; bootstrap: "
        f"{resampling}, {options.resamples} resamples, {options.confidence:.0%} percentile interval"
    )


# ---------------------------------------------------------------------------------------------
# Every cell's optimum and its bootstrap
# ---------------------------------------------------------------------------------------------


def cell_optima(sweep: Sweep, options: FitOptions) -> CellEstimates:
    """Point estimates and bootstrap resamples of every cell's log optimum.

    Two resampling schemes (``options.resample``); each resample reruns the whole per-cell
    method — best setting, window, quadratic, caps — on the resampled runs:

    - ``noise`` (default): the design is kept and every finished run's metric gets independent
      N(0, (c·σ̂)²) noise — a parametric residual bootstrap for a fixed-design regression (Efron &
      Tibshirani 1993, *An Introduction to the Bootstrap*, §9.5). σ̂ is the run-to-run noise
      pooled over every cell's window fit, σ̂² = Σ RSS / Σ (n − p), and c = t_ν/z (ν = Σ (n − p))
      widens it for the few degrees of freedom of small sweeps. Diverged runs stay diverged.
    - ``runs``: resample the cell's runs with replacement, as Poisson(1) weights per run (the
      Poisson bootstrap, Hanley & MacGibbon 2006, Comput. Methods Programs Biomed. 83:57).
      On sweeps with one run per setting a third of the settings drop out of each resample,
      which moves the fit window.

    Measured on the synthetic worlds of ``tests/sweeps.py`` (100 sweeps each, 95 % intervals of
    the law's exponent): ``noise`` covered 96–98 % with intervals 1.15–1.4× the real spread,
    ``runs`` 91–96 % with 0.9–1.13×; per-cell intervals covered 96 % (1-D) and 97 % (2-D) under
    ``noise``. So ``noise`` is the default: it errs on the wide side.
    """
    import numpy as np

    d = len(sweep.hps)
    logx = np.column_stack([to_log(hp, sweep.values[:, j]) for j, hp in enumerate(sweep.hps)])
    layout = batched.layout(sweep, logx)
    C, B = len(sweep.cell_axes), options.resamples
    window = options.window_for(d)
    z = np.zeros((C, d))
    boot = np.full((C, B, d), np.nan)
    names = ("best", "beta", "fitted", "too_few", "convex", "capped", "raw", "bound_lo", "bound_hi",
             "n_window", "metric_at", "best_mean", "rss", "dof", "span")
    detail: dict[str, Any] = {"set_x": {}}
    chunks = list(batched.chunks(layout, B, window, options.resample))
    for chunk in chunks:
        point = batched.optima(chunk, chunk.slot_real[None].astype(np.float32), detail=True)
        z[chunk.cells] = point.x[0]
        for name in names:
            value = getattr(point, name)[0]
            if name not in detail:
                detail[name] = np.zeros((C,) + value.shape[1:], value.dtype)
            detail[name][chunk.cells] = value
        for g, c in enumerate(chunk.cells):
            detail["set_x"][int(c)] = (chunk.x[g], chunk.real[g], chunk.step[g], chunk.lo[g], chunk.hi[g])
    detail["y_offset"] = layout.y_offset
    dof = float(detail["dof"].sum())
    noise_scaled = math.sqrt(float(detail["rss"].sum()) / dof) if dof > 0 else None
    # Back to the metric's own units (``metric_scale``); the bootstrap below runs on y/s.
    s = layout.y_scale
    for name, power in (("beta", 1), ("best_mean", 1), ("metric_at", 1), ("rss", 2)):
        detail[name] = detail[name].astype(np.float64) * s**power
    noise = None if noise_scaled is None else noise_scaled * s
    scheme = options.resample if noise is not None else "runs"
    if scheme != options.resample:  # the runs bootstrap needs longer candidate lists
        chunks = list(batched.chunks(layout, B, window, scheme))
    tail = 1 - (1 - options.confidence) / 2
    scale = (noise_scaled or 0.0) * t_quantile(tail, dof) / t_quantile(tail, math.inf)

    rng = np.random.default_rng(options.seed)
    table = batched.normal_table() if scheme == "noise" else batched.poisson_table()
    failed_total = 0
    for chunk in chunks:
        per_block = max(1, batched.BLOCK // max(1, chunk.G * chunk.slots))
        for start in range(0, B, per_block):
            stop = min(B, start + per_block)
            draws = table[rng.integers(0, batched.LEVELS, size=(stop - start, chunk.G, chunk.slots), dtype=np.uint16)]
            if scheme == "noise":
                result = batched.optima(chunk, None, chunk.slot_y + np.float32(scale) * draws)
            else:
                result = batched.optima(chunk, (draws * chunk.slot_real).astype(np.float32))
            x = np.where(result.failed[..., None], np.nan, result.x)
            boot[chunk.cells, start:stop] = np.moveaxis(x, 0, 1)
            failed_total += int(result.failed.sum())
    share = failed_total / max(1, C * B)
    return CellEstimates(z, boot, detail, share, noise, dof)


def edge_side(estimates: CellEstimates, c: int, j: int) -> int:
    """Where cell c's optimum of hyperparameter j lies with respect to its swept range:
    +1 at or beyond the top edge (the best setting is the largest, or the vertex lies above it)
    with no all-diverged setting above to bound it, −1 likewise at the bottom, 0 bracketed."""
    import numpy as np

    detail = estimates.detail
    x, _, _, lo, hi = detail["set_x"][c]
    best = x[detail["best"][c]]
    raw = detail["raw"][c]
    if (best[j] >= hi[j] - 1e-12 or raw[j] > hi[j] + 1e-12) and not np.isfinite(detail["bound_hi"][c][j]):
        return 1
    if (best[j] <= lo[j] + 1e-12 or raw[j] < lo[j] - 1e-12) and not np.isfinite(detail["bound_lo"][c][j]):
        return -1
    return 0


def cell_flags(estimates: CellEstimates) -> list[tuple[str, ...]]:
    """The flags of every cell's optimum: ``TOO_FEW_POINTS`` or ``NON_CONVEX`` (the best run
    stands for the optimum), ``NOT_BRACKETED`` (along some hyperparameter the best setting is at
    the edge of the swept range, or the vertex beyond it, and no all-diverged setting bounds that
    side), ``CAPPED`` (the vertex was moved to half a grid step inside a diverged setting)."""
    import numpy as np

    detail = estimates.detail
    C, d = estimates.z.shape
    flags_of: list[tuple[str, ...]] = []
    for c in range(C):
        flags: list[str] = []
        if detail["too_few"][c]:
            flags.append(TOO_FEW_POINTS)
        elif not detail["convex"][c]:
            flags.append(NON_CONVEX)
        if any(edge_side(estimates, c, j) for j in range(d)):
            flags.append(NOT_BRACKETED)
        if np.any(detail["capped"][c]):
            flags.append(CAPPED)
        flags_of.append(tuple(flags))
    return flags_of


def cell_quadratic(estimates: CellEstimates, c: int) -> Quadratic | None:
    """Cell c's fitted quadratic around its best setting, None when the best run stands for the
    optimum (too few points, not convex)."""
    detail = estimates.detail
    if not detail["fitted"][c]:
        return None
    x_set, _, step_c, _, _ = detail["set_x"][c]
    return Quadratic(tuple(float(v) for v in x_set[detail["best"][c]]), tuple(float(v) for v in step_c),
                     tuple(float(v) for v in detail["beta"][c]),
                     float(detail["best_mean"][c] + detail["y_offset"][c]),
                     tuple((float(lo), float(hi)) for lo, hi in detail["span"][c]))


def metric_at_optimum(estimates: CellEstimates, c: int) -> float:
    """The metric at cell c's optimum: the fitted quadratic there, else the best setting's mean
    (as fitted: negated under ``--maximize``)."""
    detail = estimates.detail
    return float(detail["metric_at"][c] + detail["y_offset"][c])


def metric_excess(estimates: CellEstimates, j: int, c: int, error: float) -> float | None:
    """How much cell c's metric rises when the optimum of hyperparameter j moves by ``error``
    (in log hp), on the cell's own quadratic: (q(u* + Δ·eⱼ) − q(u*)) / |y*| with Δ = error/step,
    u* the optimum in grid steps and y* = ``metric_at_optimum``. Step Law judges a law by the
    loss it loses at its predicted optimum (arXiv 2503.04715 §4). None when the cell has no
    quadratic or y* = 0."""
    import numpy as np

    detail = estimates.detail
    if not detail["fitted"][c]:
        return None
    beta = detail["beta"][c]
    _, _, step, _, _ = detail["set_x"][c]
    x_best = detail["set_x"][c][0][detail["best"][c]]
    u_opt = (estimates.z[c] - x_best) / step
    u_moved = u_opt.copy()
    u_moved[j] += error / step[j]
    f = quadratic_features(np.stack([u_opt, u_moved]))
    at_opt, moved = f @ beta
    scale = abs(metric_at_optimum(estimates, c))
    return float((moved - at_opt) / scale) if scale > 0 else None



def t_quantile(probability: float, dof: float) -> float:
    """Student's t quantile by the Cornish–Fisher expansion (Abramowitz & Stegun 26.7.5, error
    < 1e-3 for ν ≥ 3 at the 97.5 % point; used only to widen a noise estimate with few degrees
    of freedom)."""
    from statistics import NormalDist

    z = NormalDist().inv_cdf(probability)
    if not math.isfinite(dof) or dof > 1e6:
        return z
    n = max(dof, 1.0)
    return (z + (z**3 + z) / (4 * n) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * n**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * n**3)
            + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * n**4))
