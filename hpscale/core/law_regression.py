"""A law across the cells of a sweep: weighted least squares of log hp* on the log axes, with
the cells' excess scatter, censored bounds and bootstrap intervals. Pure: numpy, no I/O.

Step 2 of ``hpscale fit`` (``hpscale.core.fit``): the cells' optima and their bootstrap
resamples (``hpscale.core.optimum``) go in as a ``LawData``; ``fit_law`` returns the ``LawFit``
and its coefficient resamples. The methods, each cited where it is defined: weights from the
cells' bootstrap variances plus the DerSimonian–Laird excess scatter τ² (``excess_scatter``);
cells whose optimum lies beyond their grid's edge as bounds, in a simplification of the Tobit
model (``censored_selection``); intervals as point ± z·(robust spread of the refitted
resamples) (``robust_interval``); leave-one-cell-out errors in closed form (``fit_law``).

Notation as in ``hpscale.core.fit``: z = log hp* (log(1 − value) for decay rates); C cells,
B resamples, k axes, P = k + 1 coefficients.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from .fit_result import HeldOut, LawFit
from .frozen import FrozenMap
from .sweep import FitOptions, LawSpec

if TYPE_CHECKING:
    import numpy as np

#: A cell's law weight uses at least this bootstrap variance of log hp* (a cell whose resamples
#: all agree must not get infinite weight).
_MIN_VARIANCE = 1e-8


class LawData(NamedTuple):
    """One law's inputs: the cells that enter it, their optima and resamples, their log axes."""

    z: np.ndarray  # (C,) log optimum of the hp in each used cell
    boot: np.ndarray  # (C, B)
    logs: np.ndarray  # (C, k) log axis values
    cells: np.ndarray  # indices of the used cells
    fallback: np.ndarray  # (C,) the optimum is a grid point (variance floor = step²/12)
    step: np.ndarray  # (C,) grid step in log hp (0 for derived quantities)


def spans_axes(logs: np.ndarray) -> bool:
    """Do the cells vary in every axis (the centred log axis values have full column rank)?"""
    import numpy as np

    return bool(np.linalg.matrix_rank(logs - logs.mean(axis=0), tol=1e-9) >= logs.shape[1])


def censored_selection(data: LawData, side: np.ndarray, max_iter: int = 100) -> LawData:
    """The cells a censored law fit uses: every bracketed cell, and each bound the law violates.

    Cells whose optimum sits at the edge of their grid (``side`` ≠ 0, ``edge_side``) carry a
    bound, not a value: zᵢ ≥ Lᵢ (side +1; Lᵢ = the largest swept log setting minus half a grid
    step: the edge setting is the best one exactly when, for a loss symmetric in log hp, the
    optimum lies beyond the midpoint to its neighbour) or zᵢ ≤ Uᵢ (side −1, the smallest plus
    half a step); ``data.z`` holds that bound for them. The law minimises the convex objective

        S(β) = Σ_bracketed wᵢ (zᵢ − xᵢβ)² + Σ_censored wᵢ · max(0, sideᵢ·(zᵢ − xᵢβ))²,

    squared residuals of the bracketed cells plus the squared violations of the bounds (xᵢ:
    the cell's design row, wᵢ: its weight, as in ``fit_law``; censored cells get variance
    step²/12, a grid step's uniform uncertainty). The minimiser is found by the active-set
    iteration "refit with zᵢ ← max(Lᵢ, xᵢβ̂) (resp. min(Uᵢ, ·))": a bound the law satisfies
    contributes nothing (imputed at the prediction), one it violates acts as a point at the
    bound; the fixed point is where the active set stops changing (Newton's method on the
    piecewise-quadratic S, which converges in finitely many steps). This function returns the
    bracketed cells plus the active bounds (as grid-point optima, ``fallback``, with constant
    resamples), which ``fit_law`` then fits by ordinary weighted least squares; so the point
    estimate, the intervals and the held-out errors are those of the final active set.

    It is a simplification of the Tobit model (Tobin 1958, Econometrica 26:24; censored
    regression, e.g. Amemiya 1984, J. Econometrics 24:3, §1): Tobit maximises
    Σ log φ(rᵢ/σᵢ) + Σ log Φ(sideᵢ·(xᵢβ − Lᵢ)/σᵢ), which lets a bound pull a little even when
    satisfied; S is its limit where a satisfied bound carries no information and a violated one
    the information of a point. Assumptions: the true optimum lies beyond the edge (the cell
    was not bracketed because the optimum moved outside the grid, not because of noise or
    divergence), and the law is the same power law for censored and bracketed cells. With no
    censored cell this is not called, so the fit is exactly the uncensored one. Where the
    bracketed cells and the violated bounds stop varying in some axis (only satisfied bounds
    are left there, so S is flat along it and the law is bounded, not determined), the
    iteration stops and returns that rank-deficient selection: the caller reports the law as
    not fitted rather than pick one point of the flat valley.
    """
    import numpy as np

    X = np.column_stack([np.ones(len(data.z)), data.logs - data.logs.mean(axis=0)])
    censored = side != 0
    variance = robust_spread(data.boot, axis=1) ** 2
    variance = np.where(np.isfinite(variance) & ~censored, variance, 0.0)
    variance = np.maximum(variance, np.where(data.fallback | censored, data.step**2 / 12, 0.0))
    variance = np.maximum(variance, _MIN_VARIANCE)
    w = 1.0 / variance
    active = censored.copy()
    for _ in range(max_iter):
        rows = ~censored | active
        if not spans_axes(data.logs[rows]):
            # The bracketed cells and the violated bounds do not vary in every axis: along the
            # missing one only satisfied bounds remain, which limit the law but do not fix it
            # (S is flat there). Return this selection; the caller reports the law not fitted.
            break
        beta, _ = _wls(X[rows], data.z[rows], w[rows])
        violated = censored & (side * (data.z - X @ beta) > 0)
        if np.array_equal(violated, active):
            break
        active = violated
    rows = ~censored | active
    boot = np.where(censored[:, None], data.z[:, None], data.boot)
    return LawData(data.z[rows], boot[rows], data.logs[rows], data.cells[rows],
                    (data.fallback | censored)[rows], data.step[rows])


def _wls(X: np.ndarray, z: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """β = (XᵀWX)⁻¹XᵀW z and the matrix M = (XᵀWX)⁻¹XᵀW (so β = M z for any z)."""
    import numpy as np

    XtW = X.T * w
    M = np.linalg.solve(XtW @ X, XtW)
    return M @ z, M


def excess_scatter(X: np.ndarray, z: np.ndarray, variance: np.ndarray) -> float:
    """τ², the between-cell variance beyond the cells' own variances (DerSimonian–Laird).

    Method-of-moments estimator for a meta-regression (DerSimonian & Laird 1986, Controlled
    Clinical Trials 7:177; Raudenbush 2009, in *The Handbook of Research Synthesis*): with
    w = 1/v, Q = Σ wᵢ rᵢ² (residuals of the weighted fit), k cells and p coefficients,
    τ² = max(0, (Q − (k − p)) / (Σw − tr((XᵀWX)⁻¹XᵀW²X))); 0 when k ≤ p.
    """
    import numpy as np

    k, p = X.shape
    if k <= p:
        return 0.0
    w = 1.0 / variance
    beta, _ = _wls(X, z, w)
    residual = z - X @ beta
    Q = float(np.sum(w * residual**2))
    XtWX = (X.T * w) @ X
    XtW2X = (X.T * w**2) @ X
    denominator = float(w.sum() - np.trace(np.linalg.solve(XtWX, XtW2X)))
    if denominator <= 0:
        return 0.0
    return max(0.0, (Q - (k - p)) / denominator)


def robust_spread(samples: np.ndarray, axis: int = -1) -> np.ndarray:
    """The spread of bootstrap samples as a standard deviation that ignores their tails:
    IQR/1.349 (the SD of a normal with that interquartile range). A parabola's vertex is a ratio
    of fitted coefficients, so its resamples have heavy tails that inflate the plain SD."""

    q25, q75 = _quantile(samples, [0.25, 0.75], axis)
    return (q75 - q25) / 1.349


def _quantile(samples: np.ndarray, q: list[float], axis: int) -> np.ndarray:
    """Quantiles ignoring NaN (failed resamples); ``np.quantile`` when there are none, since
    ``np.nanquantile`` works row by row."""
    import numpy as np

    with np.errstate(all="ignore"):
        if not np.isnan(samples).any():
            return np.quantile(samples, q, axis=axis)
        return np.nanquantile(samples, q, axis=axis)


def robust_interval(point: Any, samples: np.ndarray, confidence: float, axis: int = -1) -> tuple[Any, Any]:
    """point ± z·``robust_spread``: a normal interval whose width comes from the bootstrap.

    Used for laws and predictions, where the percentile interval of a linear combination of
    heavy-tailed vertex resamples was too wide (95 % intervals 1.6× the real spread in the
    suite's 2-D worlds; 1.1× with this form, coverage 97–99 %).
    """
    from statistics import NormalDist

    half = NormalDist().inv_cdf(1 - (1 - confidence) / 2) * robust_spread(samples, axis)
    return point - half, point + half


def quantiles(samples: np.ndarray, confidence: float, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:

    tail = (1 - confidence) / 2
    lo, hi = _quantile(samples, [tail, 1 - tail], axis)
    return lo, hi


def fit_law(spec: LawSpec, data: LawData, options: FitOptions, rng: np.random.Generator,
            metric_excess: Callable[[int, float], float | None] | None = None) -> tuple[LawFit, np.ndarray, np.ndarray]:
    """Weighted least squares of z = log hp* on the log axes, with bootstrap intervals.

    Weights 1/(vᵢ + τ²): vᵢ is cell i's bootstrap variance of z, as ``robust_spread``² (at least
    step²/12 for a cell whose optimum fell back to a grid point, at least ``_MIN_VARIANCE``),
    τ² the excess scatter (``excess_scatter``). The intervals refit the law on each resample b:
    z_b = (resampled cell optima) + N(0, τ²) per cell, β_b = M z_b; interval β̂ ± z·spread(β_b)
    (``robust_interval``). Axes are centred on their log-mean, so the intercept is the law at
    the centre of the data (``centre``).

    Returns the ``LawFit``, the coefficient resamples (P, B) and the design centre (k,).
    """
    import numpy as np

    C, k = data.logs.shape
    centre = data.logs.mean(axis=0)
    X = np.column_stack([np.ones(C), data.logs - centre])
    P = k + 1
    variance = robust_spread(data.boot, axis=1) ** 2
    variance = np.where(np.isfinite(variance), variance, 0.0)
    variance = np.maximum(variance, np.where(data.fallback, data.step**2 / 12, 0.0))
    variance = np.maximum(variance, _MIN_VARIANCE)
    tau2 = excess_scatter(X, data.z, variance)
    w = 1.0 / (variance + tau2)
    beta, M = _wls(X, data.z, w)
    boot = np.where(np.isfinite(data.boot), data.boot, data.z[:, None])
    if tau2 > 0:
        boot = boot + rng.normal(0.0, math.sqrt(tau2), size=boot.shape)
    beta_boot = M @ boot  # (P, B)
    residual = data.z - X @ beta
    r2: float | None = None
    if C > P:
        mean = np.sum(w * data.z) / w.sum()
        total = float(np.sum(w * (data.z - mean) ** 2))
        r2 = 1.0 - float(np.sum(w * residual**2)) / total if total > 0 else None
    held_out: HeldOut | None = None
    if C > P:
        # Leave-one-cell-out predictions in closed form (weights held fixed): the error of the
        # law refitted without cell i at cell i is rᵢ/(1 − hᵢᵢ), h = diag of X(XᵀWX)⁻¹XᵀW
        # (e.g. Hastie, Tibshirani & Friedman, Elements of Statistical Learning, Eq. 7.52).
        leverage = np.einsum("ip,pi->i", X, M)
        errors, excess = [], []
        for i in np.flatnonzero(leverage < 1 - 1e-9):  # hᵢᵢ = 1: the law needs cell i to exist
            error = float(-residual[i] / (1 - leverage[i]))
            errors.append(error)
            if metric_excess is not None:
                value = metric_excess(int(data.cells[i]), error)
                if value is not None:
                    excess.append(value)
        if errors:
            e = np.array(errors)
            held_out = HeldOut(float(np.sqrt(np.mean(e**2))), float(np.exp(np.abs(e).max())),
                               max(excess) if excess else None, tuple(errors))
    log_coefficient = beta[0] - beta[1:] @ centre
    log_coefficient_boot = beta_boot[0] - centre @ beta_boot[1:]
    lo, hi = robust_interval(beta, beta_boot, options.confidence, axis=1)
    c_lo, c_hi = robust_interval(log_coefficient, log_coefficient_boot, options.confidence)
    law = LawFit(
        hp=spec.hp,
        axes=spec.axes,
        coefficient=float(np.exp(log_coefficient)),
        coefficient_interval=(float(np.exp(c_lo)), float(np.exp(c_hi))),
        exponents=FrozenMap({axis: float(beta[i + 1]) for i, axis in enumerate(spec.axes)}),
        exponent_intervals=FrozenMap({axis: (float(lo[i + 1]), float(hi[i + 1])) for i, axis in enumerate(spec.axes)}),
        r2=r2,
        cells=C,
        excess_scatter=tau2,
        held_out=held_out,
        centre=FrozenMap({axis: float(np.exp(centre[i])) for i, axis in enumerate(spec.axes)}),
    )
    return law, beta_boot, centre
