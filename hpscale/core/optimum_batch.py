"""Every cell's optimum of a sweep, batched: the runs padded to common shapes and one quadratic
fit for every cell of a chunk under one block of resamples. Pure: numpy, no I/O.

The method is ``hpscale.core.optimum``'s (which calls this module from ``cell_optima``); here is
how it runs fast in bounded memory: cells of similar size are padded to common shapes
(``Chunk``, ``chunks``), one batch of normal equations fits every resample of every cell of a
chunk (``optima``), and blocks of ``BLOCK`` elements bound the memory. The bootstrap's draws are
16-bit integers mapped through tables (``poisson_table``, ``normal_table``). The layout, the
chunks and the fit read one padded array layout, so they change together and stay in one
module.

Notation as in ``hpscale.core.optimum``: x = log hp of a run; y = the metric, centred per cell
and scaled (``metric_scale``); u = (x − x_best)/step, the distance from the best setting in grid
steps; in a chunk, G cells of S settings and ``slots`` run slots each, Bk resamples per block.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import InputError
from .sweep import Sweep

if TYPE_CHECKING:
    import numpy as np

#: Bootstrap draws are 16-bit integers mapped through tables of this many entries.
LEVELS = 65_536
#: Elements of one (resamples × runs) block; bounds the memory of the bootstrap (~100 MB).
BLOCK = 1 << 22


# ---------------------------------------------------------------------------------------------
# Runs laid out for the vectorised fit: cells of similar size padded to common shapes
# ---------------------------------------------------------------------------------------------


class Layout(NamedTuple):
    """Runs sorted by (cell, setting), and where each cell's settings and runs are."""

    order: np.ndarray  # run indices in sorted order
    setting_ranges: np.ndarray  # (C, 2)
    run_ranges: np.ndarray  # (C, 2)
    set_x: np.ndarray  # (n_settings, d)
    run_setting: np.ndarray  # (R,) setting of each sorted run
    run_y: np.ndarray  # (R,) metric of each sorted run, centred per cell, 0 if diverged
    run_diverged: np.ndarray  # (R,)
    y_offset: np.ndarray  # (C,) the centre subtracted from the metric
    y_scale: float  # the power of two the centred metric is divided by (``metric_scale``)


def layout(sweep: Sweep, logx: np.ndarray) -> Layout:
    import numpy as np

    n_cells = len(sweep.cell_axes)
    keys = [logx[:, j] for j in reversed(range(logx.shape[1]))] + [sweep.cell]
    order = np.lexsort(keys)
    cell = sweep.cell[order]
    xs = logx[order]
    new = np.ones(len(order), bool)
    new[1:] = (cell[1:] != cell[:-1]) | np.any(xs[1:] != xs[:-1], axis=1)
    run_setting = np.cumsum(new) - 1
    set_x = xs[new]
    set_cell = cell[new]
    run_counts = np.bincount(cell, minlength=n_cells)
    set_counts = np.bincount(set_cell, minlength=n_cells)
    run_ranges = np.stack([np.cumsum(run_counts) - run_counts, np.cumsum(run_counts)], axis=1)
    setting_ranges = np.stack([np.cumsum(set_counts) - set_counts, np.cumsum(set_counts)], axis=1)
    metric = sweep.metric[order]
    diverged = sweep.diverged[order]
    finite = np.where(diverged, np.inf, metric)
    offset = np.full(n_cells, np.inf)
    np.minimum.at(offset, cell, finite)
    offset = np.where(np.isfinite(offset), offset, 0.0)
    y = np.where(diverged, 0.0, metric - offset[cell])
    scale = metric_scale(y[~diverged], metric[~diverged])
    return Layout(order, setting_ranges, run_ranges, set_x, run_setting, y / scale, diverged, offset, scale)


#: Centred metrics are fitted in float32 (half the memory and time of float64) with squares
#: summed, so after scaling every |y| must stay far inside float32's range (≈ 3.4e38 = 2^128).
_MAX_SCALED = 2.0**40
#: Below this spread the differences approach float64's subnormals (2^−1022), which lose digits.
_MIN_SPREAD = 2.0**-1020


def metric_scale(y: np.ndarray, metric: np.ndarray) -> float:
    """The power of two s that the per-cell-centred metric y is divided by before the float32 fit.

    s = 2^round(log₂ spread), spread = the median |y| over finished runs that differ from their
    cell's best (y > 0), computed in float64. A power of two divides exactly, so the fit of
    y/s is the fit of y in other units: the optimum of a cell does not depend on the metric's
    scale (issue 18: losses ×1e-30 had underflowed in y², σ̂ collapsed and every interval with
    it). Metric-valued outputs (the quadratic, σ̂, the metric at the optimum) are multiplied
    back by s in ``cell_optima``.

    Raises ``InputError`` (naming ``metric``) when the values cannot be represented after
    scaling: one run lies more than 2^40 spreads from its cell's best (a logging error such as
    −1e308 — which also overflowed float32), or the spread itself is below 2^−1020 (near float64's subnormals).
    """
    import numpy as np

    positive = y[y > 0]
    if not len(positive):
        return 1.0
    spread = float(np.median(positive))
    if not spread >= _MIN_SPREAD:
        raise InputError(f"metric: the runs' values differ by about {spread:.3g}, too little to fit in "
                         "floating point; rescale the metric (e.g. report it in other units)")
    scale = 2.0 ** round(math.log2(spread))
    if float(np.max(np.abs(y))) / scale > _MAX_SCALED:
        # Name the outlier: the value farthest from the median of all finished runs.
        with np.errstate(all="ignore"):
            worst = float(metric[int(np.argmax(np.abs(metric - np.median(metric))))])
        raise InputError(
            f"metric: {worst:.6g}: lies more than 2^40 typical differences ({spread:.3g}) from the other "
            "runs of its cell; values this far apart cannot be fitted together (a logging error or a "
            "divergence marker? mark that run failed or drop it)")
    return scale


def chunks(layout: Layout, resamples: int, window: int, resample: str) -> Iterator[Chunk]:
    """Cells in groups of similar size whose padded arrays fit the memory block."""
    import numpy as np

    sizes = layout.setting_ranges[:, 1] - layout.setting_ranges[:, 0]
    runs = layout.run_ranges[:, 1] - layout.run_ranges[:, 0]
    order = np.lexsort((runs, sizes))
    group: list[int] = []
    S_max = slots_max = 0
    for c in order:
        S_new = max(S_max, int(sizes[c]) + 1)
        slots_new = max(slots_max, int(runs[c] + (S_new - sizes[c])))
        G = len(group) + 1
        too_big = G * slots_new * max(1, min(resamples, 64)) > BLOCK or G * S_new * S_new > BLOCK
        if group and too_big:
            yield Chunk(np.array(group), layout.setting_ranges, layout.run_ranges, layout.set_x,
                        layout.run_setting, layout.run_y, layout.run_diverged, window, resample)
            group, S_new = [], int(sizes[c]) + 1
            slots_new = int(runs[c]) + 1
        group.append(int(c))
        S_max, slots_max = S_new, slots_new
    if group:
        yield Chunk(np.array(group), layout.setting_ranges, layout.run_ranges, layout.set_x,
                    layout.run_setting, layout.run_y, layout.run_diverged, window, resample)


class Chunk:
    """Cells of similar size, padded to common shapes, ready for the vectorised fit.

    Settings (distinct hp values of a cell) are padded to S + 1 per cell; the last one is a
    dummy that never holds a run. Run slots are sorted by setting, every setting has at least
    one slot, so per-setting sums are one ``np.add.reduceat``.
    """

    def __init__(self, cells: np.ndarray, setting_ranges: np.ndarray, run_ranges: np.ndarray,
                 set_x: np.ndarray, run_setting: np.ndarray, run_y: np.ndarray,
                 run_diverged: np.ndarray, window: int, resample: str = "noise") -> None:
        import numpy as np

        self.cells = cells
        G = len(cells)
        d = set_x.shape[1]
        sizes = setting_ranges[cells, 1] - setting_ranges[cells, 0]
        runs = run_ranges[cells, 1] - run_ranges[cells, 0]
        S = int(sizes.max()) + 1
        slots = int((runs + (S - sizes)).max())
        self.G, self.S, self.d, self.slots = G, S, d, slots
        x = np.zeros((G, S, d))
        real = np.zeros((G, S), bool)
        slot_setting = np.full((G, slots), S - 1, np.int64)
        slot_y = np.zeros((G, slots), np.float32)
        slot_conv = np.zeros((G, slots), bool)
        slot_div = np.zeros((G, slots), bool)
        first = np.zeros((G, S), np.int64)
        for g, c in enumerate(cells):
            s0, s1 = setting_ranges[c]
            r0, r1 = run_ranges[c]
            n_set, n_run = s1 - s0, r1 - r0
            x[g, :n_set] = set_x[s0:s1]
            real[g, :n_set] = True
            local = run_setting[r0:r1] - s0
            slot_setting[g, :n_run] = local
            slot_setting[g, n_run:n_run + S - n_set] = np.arange(n_set, S)
            slot_y[g, :n_run] = run_y[r0:r1]
            slot_conv[g, :n_run] = ~run_diverged[r0:r1]
            slot_div[g, :n_run] = run_diverged[r0:r1]
            first[g] = np.searchsorted(slot_setting[g], np.arange(S))
        self.x, self.real = x, real
        self.identity = bool(np.all(runs == sizes)) and slots == S
        self.starts = (first + np.arange(G)[:, None] * slots).ravel()
        self.slot_real = np.arange(slots)[None, :] < runs[:, None]
        self.slot_y = np.where(slot_conv, slot_y, 0).astype(np.float32)
        self.slot_conv = slot_conv
        self.slot_div = slot_div
        self.any_diverged = bool(slot_div.any())

        self.step = step = _grid_steps(x, real)
        # The swept range of the settings that have a finished run.
        self.has_conv = has_conv = _settings_with(slot_setting, slot_conv & self.slot_real, S)
        masked = np.where(has_conv[:, :, None], x, np.nan)
        with np.errstate(all="ignore"):
            self.lo = np.nanmin(np.where(np.any(has_conv, axis=1)[:, None, None], masked, 0.0), axis=1)
            self.hi = np.nanmax(np.where(np.any(has_conv, axis=1)[:, None, None], masked, 0.0), axis=1)
        # Candidates for the window: the nearest settings with a finished run. Under the noise
        # bootstrap that set never changes, so the window's size is enough; resampling runs
        # drops a third of them (Poisson weight 0), so twice the window is kept.
        spare = 0 if resample == "noise" else max(window, 8)
        self.candidates = _nearest(x / step[:, None, :], has_conv, min(S, window + spare))
        ones = self.slot_real[None].astype(np.float32)
        self.unit_sums = {key: value for key, value in self.sums(ones).items() if key != "Y"}
        self.window = window
        # Settings with a diverged run: candidates for the divergence bounds.
        has_div = _settings_with(slot_setting, slot_div & self.slot_real, S)
        D = max(1, int(has_div.sum(1).max()))
        div_index = np.full((G, D), S - 1, np.int64)
        for g in range(G):
            found = np.flatnonzero(has_div[g])
            div_index[g, :len(found)] = found
        self.div_index = div_index

    def sums(self, counts: np.ndarray | None, y: np.ndarray | None = None, *, squares: bool = False) -> dict[str, Any]:
        """Per setting (Bk, G, S): finished-run weight ``W``, weighted metric sum ``Y``, diverged
        weight ``Wd`` (if any run diverged) and, with ``squares``, the weighted sum of y² ``Y2``.
        ``counts=None`` means every run weighs 1 (the noise bootstrap): the weights are the
        chunk's own, computed once (shape (1, G, S))."""
        import numpy as np

        y = self.slot_y[None] if y is None else y
        if counts is None:
            unit = self.unit_sums
            Y = self._reduce(np.where(self.slot_conv, y, np.float32(0)))
            return {**unit, "Y": Y}
        conv = counts * self.slot_conv
        arrays = {"W": conv, "Y": conv * y}
        if squares:
            arrays["Y2"] = conv * y * y
        if self.any_diverged:
            arrays["Wd"] = counts * self.slot_div
        return {key: self._reduce(array) for key, array in arrays.items()}

    def _reduce(self, array: np.ndarray) -> np.ndarray:
        """Per-slot values (Bk, G, slots) summed per setting (Bk, G, S)."""
        import numpy as np

        if self.identity:
            return array
        Bk = array.shape[0]
        flat = array.reshape(Bk, self.G * self.slots)
        return np.add.reduceat(flat, self.starts, axis=1).reshape(Bk, self.G, self.S)


def _grid_steps(x: np.ndarray, real: np.ndarray) -> np.ndarray:
    """Grid step per cell and dimension (G, d): the median spacing of the distinct values of the
    real settings ``x`` (G, S, d); 1 where a cell has a single value."""
    import numpy as np

    G, _, d = x.shape
    step = np.ones((G, d))
    for j in range(d):
        values = np.where(real, x[:, :, j], np.inf)
        values.sort(axis=1)
        with np.errstate(invalid="ignore"):
            gaps = np.diff(values, axis=1)
        gaps = np.where(np.isfinite(gaps) & (gaps > 1e-12), gaps, np.nan)
        with np.errstate(all="ignore"):
            median = np.nanmedian(np.where(np.isnan(gaps).all(axis=1, keepdims=True), 1.0, gaps), axis=1)
        step[:, j] = np.where(np.isfinite(median) & (median > 0), median, 1.0)
    return step


def _settings_with(slot_setting: np.ndarray, slot_mask: np.ndarray, S: int) -> np.ndarray:
    """(G, S): whether a run slot of the setting is in ``slot_mask`` (G, slots)."""
    import numpy as np

    G, slots = slot_setting.shape
    found = np.zeros((G, S), bool)
    np.logical_or.at(found, (np.repeat(np.arange(G), slots), slot_setting.ravel()), slot_mask.ravel())
    return found


def _nearest(u: np.ndarray, real: np.ndarray, H: int) -> np.ndarray:
    """For every setting, the indices of its H nearest real settings (itself first), by
    Euclidean distance of u (G, S, d); ties keep index order. Rows are done in blocks so the
    distance matrix never holds more than ``BLOCK`` entries."""
    import numpy as np

    G, S, _ = u.shape
    out = np.zeros((G, S, H), np.int64)
    rows = max(1, BLOCK // max(1, G * S))
    for start in range(0, S, rows):
        stop = min(S, start + rows)
        dist = np.sqrt(((u[:, start:stop, None, :] - u[:, None, :, :]) ** 2).sum(-1))
        dist = np.where(real[:, None, :], dist, np.inf)
        if H < S:
            part = np.argpartition(dist, H - 1, axis=2)[:, :, :H]
            part.sort(axis=2)  # index order first, so the stable sort below breaks ties by index
            near = np.take_along_axis(dist, part, axis=2)
            out[:, start:stop] = np.take_along_axis(part, np.argsort(near, axis=2, kind="stable"), axis=2)
        else:
            out[:, start:stop] = np.argsort(dist, axis=2, kind="stable")
    return out


# ---------------------------------------------------------------------------------------------
# The quadratic fit of every cell of a chunk under one block of resamples
# ---------------------------------------------------------------------------------------------


class Optima(NamedTuple):
    """The optima of every cell of a chunk under one block of resamples (``optima``)."""

    x: np.ndarray  # (Bk, G, d) log optimum
    failed: np.ndarray  # (Bk, G) every run of the resample diverged
    # Details (point estimate only):
    best: np.ndarray | None = None
    beta: np.ndarray | None = None
    fitted: np.ndarray | None = None
    too_few: np.ndarray | None = None
    convex: np.ndarray | None = None
    capped: np.ndarray | None = None
    raw: np.ndarray | None = None
    bound_lo: np.ndarray | None = None
    bound_hi: np.ndarray | None = None
    n_window: np.ndarray | None = None
    metric_at: np.ndarray | None = None
    best_mean: np.ndarray | None = None
    rss: np.ndarray | None = None
    dof: np.ndarray | None = None
    span: np.ndarray | None = None


def quadratic_features(u: np.ndarray) -> np.ndarray:
    """Quadratic features of u (…, d): [1, u, u²] (d = 1) or [1, u₁, u₂, u₁², u₁u₂, u₂²]."""
    import numpy as np

    one = np.ones(u.shape[:-1] + (1,))
    if u.shape[-1] == 1:
        return np.concatenate([one, u, u**2], axis=-1)
    u1, u2 = u[..., :1], u[..., 1:2]
    return np.concatenate([one, u1, u2, u1**2, u1 * u2, u2**2], axis=-1)


#: Exponents of the quadratic features: [1, u, u²] and [1, u₁, u₂, u₁², u₁u₂, u₂²].
_EXPONENTS = {1: ((0, 0), (1, 0), (2, 0)), 2: ((0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2))}


def _normal_equations(u: np.ndarray, w: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """XᵀWX and XᵀWy of the quadratic features of u (…, H, d), from the moments Σ w·u₁ᵃ·u₂ᵇ
    (a + b ≤ 4): 15 sums over the window instead of a p×p outer product per point."""
    import numpy as np

    d = u.shape[-1]
    exponents = _EXPONENTS[d]
    u1 = [np.ones_like(w), u[..., 0]]
    u2 = [np.ones_like(w), u[..., 1] if d == 2 else np.zeros_like(w)]
    for _ in range(2, 5):
        u1.append(u1[-1] * u1[1])
        u2.append(u2[-1] * u2[1])
    weighted = [w * power for power in u1]
    moments: dict[tuple[int, int], np.ndarray] = {}
    for a in range(5):
        for b in range(5 - a if d == 2 else 1):
            moments[a, b] = np.sum(weighted[a] * u2[b], axis=-1)
    p = len(exponents)
    A = np.empty(w.shape[:-1] + (p, p))
    for i, (a1, b1) in enumerate(exponents):
        for j, (a2, b2) in enumerate(exponents):
            A[..., i, j] = moments[a1 + a2, b1 + b2]
    wy = w * y
    rhs = np.stack([np.sum(wy * u1[a] * u2[b], axis=-1) for a, b in exponents], axis=-1)
    return A, rhs


def _solve_vertex(beta: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertex u* of the fitted quadratic and whether it is a minimum (convex)."""
    import numpy as np

    if d == 1:
        curvature = beta[..., 2]
        convex = curvature > 0
        with np.errstate(all="ignore"):
            u = -beta[..., 1] / (2 * np.where(convex, curvature, 1.0))
        return u[..., None], convex
    h11, h12, h22 = 2 * beta[..., 3], beta[..., 4], 2 * beta[..., 5]
    det = h11 * h22 - h12**2
    convex = (h11 > 0) & (det > 0)
    safe = np.where(convex, det, 1.0)
    g1, g2 = beta[..., 1], beta[..., 2]
    u1 = -(h22 * g1 - h12 * g2) / safe
    u2 = -(h11 * g2 - h12 * g1) / safe
    return np.stack([u1, u2], axis=-1), convex


def optima(chunk: Chunk, counts: np.ndarray | None, y: np.ndarray | None = None, *,
           detail: bool = False) -> Optima:
    """The optimum of every cell of ``chunk`` under run weights ``counts`` (Bk, G, slots; None:
    every run weighs 1) and metrics ``y`` (default: the runs' own).

    Method (per cell and resample): the setting with the lowest mean metric is the best; the
    ``window`` nearest settings that hold a finished run (log-space distance in grid steps) are
    fitted by weighted least squares with a quadratic in u = (x − x_best)/step; the vertex is
    the optimum when the quadratic is convex and determined, else the best setting. The result
    is kept within one grid step of the swept range, and at least half a grid step inside the
    nearest setting on its line whose runs all diverged.
    """
    import numpy as np

    sums = chunk.sums(counts, y, squares=detail)
    W, Y, Wd = sums["W"], sums["Y"], sums.get("Wd")
    G, d = chunk.G, chunk.d
    W = np.broadcast_to(W, Y.shape)
    if Wd is not None:
        Wd = np.broadcast_to(Wd, Y.shape)
    with np.errstate(all="ignore"):
        mean = np.where(W > 0, Y / np.where(W > 0, W, 1), np.inf)
    best = np.argmin(mean, axis=2)  # (Bk, G)
    gi = np.arange(G)[None, :]
    failed = ~np.isfinite(np.take_along_axis(mean, best[..., None], axis=2)[..., 0])

    cand = chunk.candidates[gi, best]  # (Bk, G, H)
    w = np.take_along_axis(W, cand, axis=2).astype(np.float64)
    valid = w > 0
    take = valid & (np.cumsum(valid, axis=2) <= chunk.window)
    w = np.where(take, w, 0.0)
    ybar = np.where(take, np.take_along_axis(mean, cand, axis=2), 0.0).astype(np.float64)
    x_all = chunk.x  # (G, S, d)
    x_best = x_all[gi, best]  # (Bk, G, d)
    x_cand = x_all[gi[..., None], cand]  # (Bk, G, H, d)
    step = chunk.step[None, :, None, :]
    u = (x_cand - x_best[:, :, None, :]) / step
    y0 = np.take_along_axis(mean, best[..., None], axis=2)[..., 0].astype(np.float64)
    y0 = np.where(np.isfinite(y0), y0, 0.0)
    A, rhs = _normal_equations(u, w, ybar - y0[..., None])
    p = A.shape[-1]
    n_window = take.sum(axis=2)
    # Fewer settings than coefficients, or too few distinct values along an axis (then 1, u, u²
    # are collinear on the window): the normal matrix is singular. Hadamard: det ≤ Π diag.
    diag = np.clip(np.einsum("bgpp->bgp", A).prod(axis=-1), 1e-300, None)
    determined = (n_window >= p) & (np.linalg.det(A) > 1e-9 * diag)
    A_safe = np.where(determined[..., None, None], A, np.eye(p))
    beta = np.linalg.solve(A_safe, rhs[..., None])[..., 0]
    u_star, convex = _solve_vertex(beta, d)
    ok = determined & convex & ~failed
    u_star = np.where(ok[..., None], u_star, 0.0)
    raw = x_best + u_star * chunk.step[None]

    # Caps: one grid step beyond the swept range; half a step inside an all-diverged setting.
    lo = np.broadcast_to(chunk.lo - chunk.step, raw.shape).copy()
    hi = np.broadcast_to(chunk.hi + chunk.step, raw.shape).copy()
    bound_lo, bound_hi = _divergence_bounds(chunk, W, Wd, x_best)
    half = chunk.step[None] / 2
    upper = np.minimum(hi, np.maximum(bound_hi - half, x_best))
    lower = np.maximum(lo, np.minimum(bound_lo + half, x_best))
    x_star = np.clip(raw, lower, upper)
    if not detail:
        return Optima(x_star, failed)
    x_taken = np.where(take[..., None], x_cand, np.nan)
    with np.errstate(all="ignore"):
        span = np.stack([np.nanmin(x_taken, axis=2), np.nanmax(x_taken, axis=2)], axis=-1)  # (Bk, G, d, 2)
    capped = ((raw > bound_hi - half) & np.isfinite(bound_hi)) | ((raw < bound_lo + half) & np.isfinite(bound_lo))
    u_final = (x_star - x_best) / chunk.step[None]
    fitted_here = np.einsum("bgp,bgp->bg", quadratic_features(u_final), beta) + y0
    best_mean = np.take_along_axis(mean, best[..., None], axis=2)[..., 0]
    metric_at = np.where(ok, fitted_here, best_mean)
    # Residual sum of squares of the window fit over its runs, Σ_s [Σy² − 2ŷ_s·Σy + n_s·ŷ_s²].
    y_hat = np.einsum("bghp,bgp->bgh", quadratic_features(u), beta) + y0[..., None]
    Y_w = np.where(take, np.take_along_axis(Y, cand, axis=2), 0.0)
    Y2_w = np.where(take, np.take_along_axis(sums["Y2"], cand, axis=2), 0.0)
    rss = np.sum(Y2_w - 2 * y_hat * Y_w + w * y_hat**2, axis=2)
    dof = np.where(determined & ~failed, w.sum(axis=2) - p, 0.0)
    return Optima(x_star, failed, best, beta, ok, ~determined, convex, capped, raw, bound_lo, bound_hi,
                  n_window, metric_at, best_mean, np.where(dof > 0, np.maximum(rss, 0.0), 0.0), dof, span)


def _divergence_bounds(chunk: Chunk, W: np.ndarray, Wd: np.ndarray | None,
                       x_best: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The nearest setting below and above the best one, along each hyperparameter j, whose runs
    all diverged in this resample (finished weight ``W`` = 0, diverged weight ``Wd`` > 0): the
    settings on the line through ``x_best`` (Bk, G, d) parallel to axis j. Returns their log hp
    (Bk, G, d) each, −∞ / +∞ where there is none."""
    import numpy as np

    Bk, G, d = x_best.shape
    bound_lo = np.full(x_best.shape, -np.inf)
    bound_hi = np.full(x_best.shape, np.inf)
    if Wd is None:
        return bound_lo, bound_hi
    gi = np.arange(G)[None, :]
    di = chunk.div_index[None].repeat(Bk, axis=0)  # (Bk, G, D)
    only_div = (np.take_along_axis(Wd, di, axis=2) > 0) & (np.take_along_axis(W, di, axis=2) == 0)
    xd = chunk.x[gi[..., None], di]  # (Bk, G, D, d)
    for j in range(d):
        line = only_div.copy()
        for k in range(d):
            if k != j:
                line &= np.abs(xd[..., k] - x_best[..., k][..., None]) < 1e-9
        above = line & (xd[..., j] > x_best[..., j][..., None])
        below = line & (xd[..., j] < x_best[..., j][..., None])
        bound_hi[..., j] = np.where(above, xd[..., j], np.inf).min(axis=2)
        bound_lo[..., j] = np.where(below, xd[..., j], -np.inf).max(axis=2)
    return bound_lo, bound_hi


# ---------------------------------------------------------------------------------------------
# Bootstrap draws
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def poisson_table() -> np.ndarray:
    """uint16 → Poisson(1) count: P(k) = e⁻¹/k! quantised to 2⁻¹⁶ (k ≤ 11)."""
    import numpy as np

    probabilities = [math.exp(-1.0) / math.factorial(k) for k in range(12)]
    edges = np.round(np.cumsum(probabilities) * LEVELS).astype(np.int64)
    return np.searchsorted(edges, np.arange(LEVELS), side="right").astype(np.uint8)


@functools.lru_cache(maxsize=1)
def normal_table() -> np.ndarray:
    """uint16 → standard normal: Φ⁻¹((k + ½)/2¹⁶), the quantile at the middle of level k (a
    normal draw quantised to 2¹⁶ levels, tails cut at ±4.3σ; ~4× faster than sampling)."""
    from statistics import NormalDist

    import numpy as np

    half = [NormalDist().inv_cdf((k + 0.5) / LEVELS) for k in range(LEVELS // 2)]
    return np.array(half + [-v for v in reversed(half)], dtype=np.float32)
