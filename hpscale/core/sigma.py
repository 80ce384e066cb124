"""σ_top, ‖W‖_F and stable rank of one matrix (numpy array or torch tensor).

Pure: arrays in, numbers out; no I/O, no printing. One of the four modules behind
``hpscale.core.spectrum`` (which re-exports them): this one (σ_top), ``spectrum_groups``
(which group and role a tensor has, how a fused tensor is cut), ``spectrum_records`` (one
row per analysed matrix, per-group summaries) and ``spectrum_pairs`` (proxy/target pairing,
the median ratios and the verdict).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .rules import SIGMA_TOP_RTOL

SIGMA_RTOL = SIGMA_TOP_RTOL
"""Target relative error of σ_top (``hpscale.core.rules.SIGMA_TOP_RTOL``); see
:func:`lanczos_sigma` for how the iteration decides it is there."""


@dataclass(frozen=True)
class SigmaTop:
    """Result of :func:`top_singular_value`.

    ``error_estimate`` is the relative σ error the stopping rule estimated: a bound when the
    residual rule stopped, the 1/j² extrapolation when the flat-top rule did (0.0 for the direct
    path); ``steps`` counts applications of the Gram matrix (one pass over W each).
    """

    sigma: float
    error_estimate: float
    steps: int
    converged: bool
    method: str


#: Lanczos takes at least this many steps before the flat-top estimate may stop it: the
#: 1/j² law below describes the asymptotic regime, not the first few steps.
_MIN_STEPS = 6
#: Bytes of W per block in the fused product AᵀA·v (about the L2 cache of one core).
_BLOCK_BYTES = 1 << 20
#: A side at most this long: σ² from the eigenvalues of the k×k Gram matrix (exact, fast).
DIRECT_SIDE = 256
#: Up to this short side, Lanczos runs from two independent random starts and keeps the larger
#: σ: a single start can settle for many steps on the second eigenvalue (or stop on a plateau
#: below the top edge) when its weight on the top eigenvector is small, and the top gap, which
#: shrinks as n^(−2/3) (Tracy–Widom), is still large enough to matter at these sizes. Measured on
#: Gaussian and uniform matrices of 200×300 to 1536² (``tests/test_spectrum_accuracy.py``):
#: one start missed 0.5 % in 1–5 % of matrices (by up to 2.8 %); two starts at the tighter
#: threshold below never did.
TWO_STARTS_SIDE = 1536
#: The stopping rule is given this fraction of the target error: its flat-top estimate is
#: measured to fall short of the true error by up to 2.6×, and a plateau can fool it (see
#: ``lanczos_sigma``); at half the target the worst error over those matrices was 0.49 %.
STOP_FRACTION = 0.5


class _NumpyGram:
    """G·v = Aᵀ(A·v) in one pass over A: for each block of rows Aᵢ (cache-resident),
    z += Aᵢᵀ(Aᵢ·v). Two separate products would read A from memory twice."""

    def __init__(self, a: np.ndarray) -> None:
        self.a = a
        m, n = a.shape
        self.n = n
        self.rows = max(16, _BLOCK_BYTES // max(1, n * a.itemsize))

    def __call__(self, v: np.ndarray) -> np.ndarray:
        a, rows = self.a, self.rows
        x = v.astype(a.dtype)
        if a.shape[0] <= rows:
            return (a.T @ (a @ x)).astype(np.float64)
        z = np.zeros(self.n, dtype=a.dtype)
        for i in range(0, a.shape[0], rows):
            block = a[i:i + rows]
            z += block.T @ (block @ x)
        return z.astype(np.float64)


class _TorchGram:
    """G·v = Aᵀ(A·v) with torch on A's device; vectors travel as float64 numpy arrays."""

    def __init__(self, a: Any) -> None:
        self.a = a
        self.n = int(a.shape[1])

    def __call__(self, v: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(v).to(device=self.a.device, dtype=self.a.dtype)
        z = self.a.T @ (self.a @ x)
        return z.to(dtype=torch.float64).cpu().numpy()


def _is_torch(a: Any) -> bool:
    return type(a).__module__.startswith("torch")


def lanczos_sigma(gram: Callable[[np.ndarray], np.ndarray], n: int, *, rtol: float = SIGMA_RTOL,
                  max_steps: int = 300, seed: int = 0) -> SigmaTop:
    """σ_top = √λ_max(G) of a positive semi-definite G = AᵀA (n×n) given as v ↦ G·v.

    Method: Lanczos with full reorthogonalisation (Golub & Van Loan, *Matrix Computations*,
    4th ed., §10.1), one vector per step, from a Gaussian random start. After j steps the
    top eigenvalue θⱼ of the j×j tridiagonal Tⱼ is a lower bound of λ_max (Cauchy
    interlacing) that rises with j. It stops at the first of:

    1. the residual bound: βⱼ·|sⱼ| ≤ 2·rtol·θⱼ (sⱼ the last entry of T's top eigenvector)
       puts an eigenvalue of G within 2·rtol·θ of θ (Golub & Van Loan Thm 8.1.13), i.e. a
       singular value within ≈ rtol of √θ; this is how spectra with a gap at the top stop;
    2. the flat-top estimate: for a spectrum whose density vanishes like a power at the top
       edge (Gaussian/Marchenko–Pastur matrices, most trained weights), the top Ritz value
       is the largest zero of the j-th orthogonal polynomial of the start vector's spectral
       measure and approaches λ_max as 1/j² (Kuijlaars 2000, "Which eigenvalues are found
       by the Lanczos method?", SIAM J. Matrix Anal. Appl. 22(1)). Then
       λ_max − θⱼ ≈ (j/2)·(θⱼ − θⱼ₋₁), a σ error of ≈ (j/4)·(θⱼ − θⱼ₋₁)/θⱼ; the rule
       stops when that estimate is ≤ rtol/2 (and j ≥ 6) — a safety factor of 2, because on
       Gaussian matrices the estimate was measured to fall short of the true error by up to
       2.6× (the asymptotic law holds only roughly at j ≈ 10–30). Faster (geometric)
       convergence only makes the estimate more conservative.

    With a random start the top Ritz value converges without needing a spectral gap
    (Kuczyński & Woźniakowski 1992; Musco & Musco 2015, arXiv 1504.05477). Measured on
    Gaussian 4096², 4096×11008 and 1024×4096 float32 matrices (the flattest tops a trained
    layer shows), the default rtol = 0.25 % gave errors up to 0.26 % (σ is a lower bound)
    in 16–30 steps (``benchmarks/bench_spectrum.py``); the diagnostic's target is 0.5 %.

    Why one vector per step and not a block (randomized block Krylov, b ≥ 2 vectors per
    pass): a pass over W in float32 is memory-bound at b = 1, and with OpenBLAS a product
    with 2–8 vectors costs 3–4× a single one (measured on 4096² and 4096×11008, 2 cores),
    while flat tops need about the same number of passes for any b ≤ 8 — the polynomial
    degree, not the block size, sets the accuracy there.

    Args:
        gram: v ↦ G·v for float64 vectors of length n.
        n: dimension of G.
        rtol: target relative error of σ (default :data:`SIGMA_RTOL`).
        max_steps: at most this many steps (then ``converged=False``; σ is a lower bound).
        seed: seed of the random start (results are deterministic).
    """
    if n == 0:
        return SigmaTop(0.0, 0.0, 0, True, "lanczos")
    cap = max(1, min(max_steps, n))
    rng = np.random.default_rng(seed)
    basis = np.empty((cap + 1, n))
    v = rng.standard_normal(n)
    basis[0] = v / np.linalg.norm(v)
    alphas: list[float] = []
    betas: list[float] = []
    theta_prev = 0.0
    lam_tol = 2.0 * rtol
    for j in range(cap):
        w = gram(basis[j])
        alphas.append(float(basis[j] @ w))
        done = basis[:j + 1]
        w -= done.T @ (done @ w)  # twice is enough (Giraud, Langou & Rozložník 2005)
        w -= done.T @ (done @ w)
        beta = float(np.linalg.norm(w))
        t = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
        evals, evecs = np.linalg.eigh(t)
        theta = float(evals[-1])
        steps = j + 1
        if not theta > 0.0:
            if math.isnan(theta):
                return SigmaTop(math.nan, math.nan, steps, False, "lanczos")
            return SigmaTop(0.0, 0.0, steps, True, "lanczos")  # W = 0
        residual = beta * abs(float(evecs[-1, -1]))
        flat = steps * (theta - theta_prev)
        if residual <= lam_tol * theta or beta <= 1e-12 * theta:
            return SigmaTop(math.sqrt(theta), residual / theta / 2, steps, True, "lanczos")
        if steps >= _MIN_STEPS and flat <= lam_tol * theta:
            return SigmaTop(math.sqrt(theta), flat / theta / 4, steps, True, "lanczos")
        theta_prev = theta
        if steps == cap:
            break
        betas.append(beta)
        basis[j + 1] = w / beta
    return SigmaTop(math.sqrt(theta), min(residual / 2, flat / 4) / theta, cap, False, "lanczos")


def top_singular_value(
    w: Any, *, rtol: float = SIGMA_RTOL, max_steps: int = 300, seed: int = 0, method: str = "auto",
) -> SigmaTop:
    """Largest singular value σ_top = ‖W‖₂ of a 2-D float array (numpy, or a torch tensor on
    any device), without a full SVD.

    ``method``: "auto" (Gram eigenvalues when a side is ≤ :data:`DIRECT_SIDE`, else
    :func:`lanczos_sigma` stopped at ``STOP_FRACTION``·``rtol``, from two starts when the short
    side is ≤ :data:`TWO_STARTS_SIDE`), "lanczos" (the same, always), or "direct". The direct path forms the k×k Gram
    matrix of the short side in float64 and takes its top eigenvalue (exact to rounding).
    Entries must be finite and their squares must not overflow: :func:`matrix_stats`
    rescales first.
    """
    if len(w.shape) != 2:
        raise ValueError(f"top_singular_value needs a 2-D array, got shape {tuple(w.shape)}")
    if method not in ("auto", "lanczos", "direct"):
        raise ValueError(f"method: {method!r}: allowed auto, lanczos, direct")
    m, n = (int(d) for d in w.shape)
    if min(m, n) == 0:
        return SigmaTop(0.0, 0.0, 0, True, "direct")
    if method == "direct" or (method == "auto" and min(m, n) <= DIRECT_SIDE):
        a = w.double().cpu().numpy() if _is_torch(w) else np.asarray(w, dtype=np.float64)
        g = a @ a.T if m <= n else a.T @ a
        top = float(np.linalg.eigvalsh(g)[-1])
        return SigmaTop(math.sqrt(max(top, 0.0)), 0.0, 0, True, "direct")
    if _is_torch(w):
        gram: Callable[[np.ndarray], np.ndarray] = _TorchGram(w)
    else:
        a = w if w.dtype in (np.float32, np.float64) else w.astype(np.float32)
        gram = _NumpyGram(np.ascontiguousarray(a))
    starts = (seed, seed + 1) if min(m, n) <= TWO_STARTS_SIDE else (seed,)
    runs = [lanczos_sigma(gram, n, rtol=rtol * STOP_FRACTION, max_steps=max_steps, seed=start)
            for start in starts]
    best = max(runs, key=lambda r: r.sigma if math.isfinite(r.sigma) else math.inf)
    return replace(best, steps=sum(r.steps for r in runs), converged=all(r.converged for r in runs))


@dataclass(frozen=True)
class MatrixStats:
    """σ_top, Frobenius norm and stable rank ‖W‖_F²/σ_top² of one matrix (None if not finite).

    ``error_estimate`` (added with the Lanczos stopping rule) is the relative σ error the
    iteration estimated (:class:`SigmaTop`); ``converged`` is False when it stopped at its
    step limit.
    """

    sigma_max: float | None
    frobenius: float | None
    stable_rank: float | None
    finite: bool
    converged: bool
    error_estimate: float = 0.0


def _sum_squares(a: Any) -> float:
    if _is_torch(a):
        flat = a.reshape(-1)
        return float(flat.dot(flat))
    flat = a.reshape(-1)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # checked by the caller
        return float(np.dot(flat, flat))


def _abs_max(a: Any) -> float:
    if _is_torch(a):
        return float(a.abs().max())
    return float(np.max(np.abs(a)))


def _all_finite(a: Any) -> bool:
    if _is_torch(a):
        import torch

        return bool(torch.isfinite(a).all())
    return bool(np.isfinite(a).all())


def matrix_stats(w: Any, **kwargs: Any) -> MatrixStats:
    """σ_top, Frobenius norm and stable rank of ``w`` reshaped by :func:`as_matrix`.

    ``w`` is a numpy array or a torch tensor (then the products run on its device). Sums of
    squares overflow float32 for entries ≳ 1e19 and underflow float64 for entries ≲ 1e-154;
    in either case the matrix is divided by s = max|wᵢⱼ| first and the results scaled back
    (σ(W) = s·σ(W/s)), so no finite matrix gives an inf, a NaN or a zero by rounding.
    Non-finite entries give all-None statistics with ``finite=False``; the stable rank is
    None for an all-zero matrix. ``kwargs`` go to :func:`top_singular_value`.
    """
    shape2 = as_matrix(tuple(int(d) for d in w.shape))
    if shape2 is None:
        raise ValueError(f"matrix_stats needs a matrix-like array, got shape {tuple(w.shape)}")
    a = w.reshape(shape2)
    if _is_torch(a):
        import torch

        if a.dtype not in (torch.float32, torch.float64):
            a = a.float()
        dtype_info = np.finfo(np.float64 if a.dtype == torch.float64 else np.float32)
    else:
        if a.dtype not in (np.float32, np.float64):
            a = a.astype(np.float32)
        dtype_info = np.finfo(a.dtype)
    sumsq = _sum_squares(a)
    scale = 1.0
    safe = float(dtype_info.tiny) / float(dtype_info.eps) < sumsq < float(dtype_info.max)
    if not safe:
        if not _all_finite(a):
            return MatrixStats(None, None, None, False, True)
        scale = _abs_max(a)
        if scale == 0.0:
            return MatrixStats(0.0, 0.0, None, True, True)
        a = a / scale
        sumsq = _sum_squares(a)
    res = top_singular_value(a, **kwargs)
    if not math.isfinite(res.sigma):
        return MatrixStats(None, None, None, False, res.converged)
    frob = math.sqrt(sumsq)
    stable = (frob / res.sigma) ** 2 if res.sigma > 0.0 else None
    return MatrixStats(scale * res.sigma, scale * frob, stable, True, res.converged, res.error_estimate)


def as_matrix(shape: Sequence[int]) -> tuple[int, int] | None:
    """The 2-D shape a tensor is analysed as, or None if it is vector-like.

    Size-1 axes are dropped first (ViT ``pos_embed`` (1, N, d) → (N, d)); a tensor with at
    most one remaining axis has no meaningful σ_top (it is a vector). Conv kernels
    (out, in, kh, kw) and other ≥3-D tensors become (out, in·kh·kw) — the standard
    "output channels × fan-in" unfolding. (Stacked MoE experts are cut per expert by
    :func:`tensor_matrices` before this.)
    """
    dims = [int(d) for d in shape if int(d) != 1]
    if len(dims) <= 1:
        return None
    rest = 1
    for d in dims[1:]:
        rest *= d
    return dims[0], rest
