"""σ_top, ‖W‖_F and stable rank of one matrix (numpy array, bf16 bit patterns, or torch tensor).

Pure: arrays in, numbers out; no I/O, no printing. One of the modules behind
``hpscale.core.spectrum`` (which re-exports them and maps them): this one (σ_top),
``spectrum_groups`` (which group and role a tensor has, how a fused tensor is cut),
``spectrum_records`` (one row per analysed matrix, per-group summaries), ``spectrum_init``
(do weights still look like their initialisation?) and ``spectrum_pairs`` (proxy/target
pairing, the median ratios and the verdict).

This module holds the method (:func:`block_krylov_sigma`, its stopping rule and the refined
residual), the entry points (:func:`top_singular_value`, :func:`matrix_stats`) and the
statistics; one pass over W and the small linear algebra of a pass, on the host (numpy) or on
W's device (torch), are ``hpscale.core.sigma_passes``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .rules import SIGMA_TOP_RTOL
from .sigma_passes import DeviceTiles, HostTiles, NumpyLinalg, TorchLinalg, is_torch, one_blas_thread

SIGMA_RTOL = SIGMA_TOP_RTOL
"""Target relative error of σ_top (``hpscale.core.rules.SIGMA_TOP_RTOL``); see
:func:`block_krylov_sigma` for what the iteration certifies."""


@dataclass(frozen=True)
class SigmaTop:
    """Result of :func:`top_singular_value`.

    ``sigma`` is a lower bound of σ_top (a Ritz value, up to the rounding of float32 products);
    ``error_estimate`` is the certified relative distance from ``sigma`` to σ_top: the least of
    the residual bound (to the nearest singular value of W) and the gap-theorem bound of
    :func:`block_krylov_sigma`, under its random-start premise; 0.0 for the direct path;
    ``steps`` counts passes over W (each applies WᵀW to a block of :data:`BLOCK` vectors);
    ``converged`` says ``error_estimate`` ≤ rtol.
    """

    sigma: float
    error_estimate: float
    steps: int
    converged: bool
    method: str


#: A side at most this long: σ² from the eigenvalues of the k×k Gram matrix (exact, fast).
DIRECT_SIDE = 256
#: Vectors per block. Chosen by measurement (``benchmarks/README.md``): with BLAS at one
#: thread per tile worker, a pass with 8 vectors costs little more than with 4 (the pass is
#: bound by widening and reading W), and 8 took the fewest passes and the least time on
#: bf16 11008×4096 matrices: a near-degenerate top 4 passes (4–5 at b = 4), a flat power-law
#: bulk 8–9 (12 at b = 4, 10–11 at b = 6), Gaussian 20–21 (24–28 at b = 4). One vector
#: stopped at σ2 of a near-degenerate top (σ1/σ2 = 1.007); b ≥ 2 never did. Re-measured on
#: an Intel Xeon (AVX-512) with the refined residual: b = 12 and 16 took fewer passes on the
#: Gaussian layer (14–16 and 13–15 against 15–19) but more time (2.36 and 2.25 s against 1.92 s):
#: a pass costs ~20 % more at b = 16 and the Rayleigh–Ritz step grows with the basis; b = 4
#: costs more per pass than b = 8 there (OpenBLAS's kernels for 4 columns are slower).
BLOCK = 8
#: Most passes over W (then ``converged=False``; σ is still a lower bound). The Krylov basis
#: holds at most BLOCK·MAX_PASSES float64 vectors of the short-or-long side n.
MAX_PASSES = 40
#: Passes the Krylov basis has room for before it grows (it doubles then): realistic spectra
#: stop in 3–9 passes, Gaussian ones in 12–21 (``benchmarks/README.md``).
_FIRST_ROOM = 12
#: Singular values of a new block below this fraction of θ are dropped (the Krylov space has
#: become invariant: the rest of it is rounding).
_DEFLATE = 1e-13

STORED_KINDS = ("bf16",)
"""What ``stored`` may name: ``"bf16"`` — the array holds bfloat16 bit patterns as uint16."""


# ----------------------------------------------------------------------------------------
# The block Krylov iteration
# ----------------------------------------------------------------------------------------


def start_block(n: int, block: int = BLOCK, seed: int = 0) -> np.ndarray:
    """The random start: an n×b float64 block of independent standard normal entries."""
    return np.random.default_rng(seed).standard_normal((n, min(block, n)))


def block_krylov_sigma(gram: Callable[[Any], Any], x0: Any, ops: Any, *, rtol: float = SIGMA_RTOL,
                       max_passes: int = MAX_PASSES) -> SigmaTop:
    """σ_top = √λ_max(G) of G = WᵀW (n×n, positive semi-definite) given as X ↦ G·X on blocks.

    Method: block Lanczos with full reorthogonalisation, i.e. Rayleigh–Ritz on the block
    Krylov space K_j = span{X₀, G·X₀, …, G^(j−1)·X₀} of a random Gaussian n×b start X₀
    (Golub & Van Loan, *Matrix Computations*, 4th ed., §10.3.6; Musco & Musco 2015,
    arXiv 1504.05477, "randomized block Krylov"). Each pass over W applies G to the newest
    block; Q (orthonormal basis of K_j, two classical Gram–Schmidt sweeps, the first against
    the two newest blocks — Giraud, Langou & Rozložník 2005) and the projection H = QᵀGQ
    grow by one block; θ = λ_max(H) with Ritz vector y = Q·s.

    What is certified after every pass:

    - **lower bound**: θ ≤ λ_max(G) (Courant–Fischer: θ maximises the Rayleigh quotient over
      a subspace), so √θ never exceeds σ_top (up to the rounding of the float32 products);
    - **residual bound**: for any unit y, ‖G·y − θ·y‖ =: ρ puts an eigenvalue of G in
      [θ − ρ, θ + ρ] (Parlett, *The Symmetric Eigenvalue Problem*, SIAM 1998, Thm 4.5.1), so √θ
      is within ρ/(2θ) (relative, to first order) of a singular value of W. The Ritz vector
      gives ρ = ‖B_j·s_j‖ (B_j the new block's coefficients, s_j the last block of s); the
      iteration uses the least ρ over all unit y ∈ span(Q), the refined residual (:func:`_refined_residual`), which is never larger
      and is 1.5–2.3× smaller near convergence on flat tops (one hi×hi eigenvalue problem more
      per pass; 15–19 passes instead of 16–22 on Gaussian LLaMA-7B matrices at 0.25 %);
    - **gap bound**: where the top Ritz value stands clear of the second, λ_max − θ ≤ ρ_y²/δ
      with ρ_y the Ritz vector's residual and δ = θ − (θ₂ + ρ₂) (:func:`gap_bound`, the gap
      theorem); quadratic in ρ_y, it certifies a clear top in fewer passes. It rests on the
      premise below (the eigenvalue found near θ₂ is λ₂), so ``error_estimate`` is the least
      of ρ/(2θ) and this bound over 2θ.

    **Stopping rule**: stop when min(ρ, ρ_y²/δ) ≤ 2·rtol·θ, i.e. when √θ is certified within
    rtol of σ_top (of a singular value of W by the residual alone). The rule tests the
    residuals, not the progress of θ, so it cannot stop
    on a plateau: θ stalling between eigenvalues (where a one-vector rule judging by
    θⱼ − θⱼ₋₁ stops wrong) leaves ρ large. What it cannot certify is that the singular value
    found is the top one; that rests on the random block: its weight on the top singular
    vector, ‖X₀ᵀv₁‖², is χ² with b degrees of freedom, so the chance that it is below ε times its
    mean falls as ε^(b/2) (ε for one vector), and the block's top Ritz value converges at a rate
    set by the gap between λ₁ and λ_(b+1), not λ₂ (Saad 1980, SIAM J. Numer. Anal. 17(5),
    "On the rates of convergence of the Lanczos and the block-Lanczos methods"), so a
    near-degenerate top (λ₁ ≈ λ₂) does not slow it. The reported tolerance is therefore: σ is
    a lower bound of σ_top, within rtol of a singular value of W, which is σ_top unless the
    random start nearly missed it.

    Args:
        gram: X ↦ G·X for float64 n×b blocks (numpy, or torch on the device of ``ops``).
        x0: the start block (n×b float64, e.g. :func:`start_block`).
        ops: the small linear algebra (``sigma_passes.NumpyLinalg`` or ``TorchLinalg``: the same steps).
        rtol: target relative σ error (default :data:`SIGMA_RTOL`).
        max_passes: at most this many passes (then ``converged=False``).
    """
    n, b = (int(d) for d in x0.shape)
    cap = min(n, b * (max_passes + 1))
    room = min(cap, b * (_FIRST_ROOM + 1))  # the basis grows by doubling: most spectra stop early
    basis = ops.empty((n, room))
    h = ops.zeros((cap, cap))
    u, sv, _ = ops.svd(ops.asarray(x0))
    basis[:, :b] = u
    prev, lo, hi = 0, 0, b
    theta, rho = 0.0, math.inf
    for passes in range(1, max_passes + 1):
        w = gram(basis[:, lo:hi])
        # First sweep against the two newest blocks only: in exact arithmetic G·Q_j lies in
        # span(Q_(j−1), Q_j, Q_(j+1)) (the block three-term recurrence), so older blocks hold
        # only rounding (~1e-7·θ from the float32 products). The second sweep, against the
        # whole basis, removes that and restores orthogonality to working precision
        # ("twice is enough": Giraud, Langou & Rozložník 2005). Two full sweeps cost twice as
        # much in n×k products (measured ~10 % of a Gaussian 11008-wide run).
        near = basis[:, prev:hi]
        with np.errstate(over="ignore", invalid="ignore"):  # a W that is not finite: seen just below
            c_near = near.T @ w
            if passes == 1 and not math.isfinite(ops.host(ops.norm(c_near))[0]):
                return SigmaTop(math.nan, math.nan, passes, False, "block-lanczos")  # overflow or NaN
        w = w - near @ c_near
        q = basis[:, :hi]
        c = q.T @ w
        w = w - q @ c
        c[prev:hi] += c_near
        h[:hi, lo:hi] = c
        h[lo:hi, :hi] = c.T
        evals, evecs = ops.eigh(h[:hi, :hi])
        u, sv, vh = ops.svd(w)
        coupling = (sv[:, None] * vh) @ evecs[lo:hi, :]
        rho_t = _refined_residual(ops, evals, coupling)
        j = -2 if hi >= 2 else -1  # one Ritz pair only: θ₂ = θ makes the gap bound void
        theta, rho, theta2, rho1, rho2, *values = ops.host(
            evals[-1], rho_t, evals[j], ops.norm(coupling[:, -1]), ops.norm(coupling[:, j]), sv)
        if math.isnan(theta) or math.isnan(rho):
            return SigmaTop(math.nan, math.nan, passes, False, "block-lanczos")
        if not theta > 0.0:
            return SigmaTop(0.0, 0.0, passes, True, "block-lanczos")  # W = 0
        rho = min(rho, gap_bound(theta, rho1, theta2, rho2))
        bound = rho / theta / 2
        keep = sum(v > _DEFLATE * theta for v in values)
        if rho <= 2 * rtol * theta or keep == 0 or hi >= cap:
            return SigmaTop(math.sqrt(theta), bound, passes, bound <= rtol or keep == 0 or hi >= n,
                            "block-lanczos")
        keep = min(keep, cap - hi)
        if hi + keep > room:
            room = min(cap, 2 * room)
            grown = ops.empty((n, room))
            grown[:, :hi] = basis[:, :hi]
            basis = grown
        basis[:, hi:hi + keep] = u[:, :keep]
        prev, lo, hi = lo, hi, hi + keep
    return SigmaTop(math.sqrt(theta), rho / theta / 2, max_passes, False, "block-lanczos")


def gap_bound(theta: float, rho: float, theta2: float, rho2: float) -> float:
    """λ_max − θ ≤ ρ²/δ, δ = θ − (θ₂ + ρ₂): the gap-theorem bound on the top Ritz value's error.

    Kato–Temple / the gap theorem (Parlett, *The Symmetric Eigenvalue Problem*, SIAM 1998,
    Thm 11.7.1; Kato 1949, J. Phys. Soc. Japan 4): for a unit y with Rayleigh quotient θ and
    residual ρ = ‖G·y − θ·y‖, if the interval (θ − δ, ∞) holds one eigenvalue λ of G and no
    other, then 0 ≤ λ − θ ≤ ρ²/δ. Here θ, ρ are the top Ritz value and its Ritz residual
    (not the refined one: the theorem needs θ to be y's Rayleigh quotient), θ₂, ρ₂ the second
    Ritz value and its residual, and δ = θ − (θ₂ + ρ₂) bounds the gap θ − λ₂ from below
    *provided* the eigenvalue certified within ρ₂ of θ₂ is λ₂ — the same premise as for the
    top (the random block has not missed an eigenvector above θ₂). The bound is used only
    when δ > ρ (else ∞): then it is smaller than ρ itself and the intervals are disjoint.
    Near convergence with a clear gap it is quadratic in ρ, so it certifies in fewer passes
    what ρ certifies (measured: 36 → 30 passes over seven realistic LLaMA-7B-shaped
    matrices; none on flat Gaussian tops, where δ ≤ ρ). PROPACK refines its Lanczos bounds the
    same way ("Refine error bounds using the Gap theorem": ``drefinebounds``, called from
    ``dlansvd.F``; R. M. Larsen; scipy/scipy@c0f0d6d,
    ``scipy/sparse/linalg/_propack/PROPACK/double/``).

    Args:
        theta: the top Ritz value θ (an eigenvalue estimate of G = WᵀW).
        rho: ‖G·y − θ·y‖ of its Ritz vector y.
        theta2: the second-largest Ritz value θ₂.
        rho2: the Ritz residual of θ₂'s Ritz vector.
    """
    delta = theta - (theta2 + rho2)
    return rho * rho / delta if delta > rho else math.inf


def _refined_residual(ops: Any, evals: Any, c: Any) -> Any:
    """min over unit y ∈ span(Q) of ‖G·y − θ·y‖, θ = λ_max(H) — the refined Ritz residual.

    With G·Q = Q·H + U·B·E_jᵀ (U ⊥ Q the next block, B its b'×b coefficients, E_j the last
    block's columns of the identity) and H = V·diag(evals)·Vᵀ, a unit y = Q·V·t has
    ‖(G − θI)·y‖² = tᵀ·K·t with K = diag((evalsᵢ − θ)²) + CᵀC, C = B·V_j (``c``: the last
    block's rows of V, times B). The least eigenvalue of K is the squared refined residual
    (Jia 1997, Linear Algebra Appl. 259, "Refined iterative algorithms based on Arnoldi's
    process"; for the symmetric case Jia & Stewart 2001, Math. Comp. 70(234)); the Ritz vector
    (t = e_last) gives K_last,last = ‖C·e_last‖², the ordinary Lanczos residual, so the refined
    one is never larger (measured 1.5–2.3× smaller near convergence on Gaussian 4096², which
    saves about a fifth of the passes at rtol 0.25 %). It certifies as much as the Ritz
    residual: for any unit y, some eigenvalue of G lies within ‖G·y − θ·y‖ of θ (Parlett 1998,
    Thm 4.5.1). K's entries are ≤ θ², so its least eigenvalue is exact to ~1e-14·θ², i.e. the
    residual to ~1e-7·θ, far below any tolerance it is compared with.
    """
    k = (evals - evals[-1]) ** 2
    least = ops.eigvalsh(c.T @ c + ops.diag(k))[0]
    ritz = ops.norm(c[:, -1])
    return ops.minimum(ritz, ops.sqrt_clamped(least))


#: A torch tensor on the CPU is measured by the numpy row tiles (False: by torch, as on an
#: accelerator; the tests use it to run the device path on a machine without one).
_CPU_TENSORS_ON_HOST_TILES = True


def _on_host(w: Any, stored: str | None) -> tuple[Any, str | None]:
    """A float torch tensor on the CPU as the numpy array it shares memory with (bf16 as its
    uint16 bit patterns, ``stored="bf16"``); anything else unchanged.

    Why: torch's own CPU products are the slow path here. Measured (2 cores, AMD EPYC Zen 5,
    torch 2.13.0 CPU build): a pass over a bf16 11008×4096 tensor took 178 ms through torch
    (its CPU Wᵀ·Y alone 125 ms) against 14 ms on the numpy row tiles, which give the same σ.
    No copy is made; fp8 and integer tensors, and every other device, stay on torch.
    """
    if not (_CPU_TENSORS_ON_HOST_TILES and is_torch(w) and w.device.type == "cpu"):
        return w, stored
    import torch

    t = w.detach()
    try:
        if t.dtype == torch.bfloat16:
            return t.view(torch.int16).numpy().view(np.uint16), "bf16"
        if t.dtype in (torch.float16, torch.float32, torch.float64):
            return t.numpy(), None
    except (RuntimeError, TypeError):  # a tensor subclass or view that has no numpy array
        pass
    return w, stored


def _kind(a: Any, stored: str | None) -> str:
    """How a numpy matrix is stored: "bf16" (bit patterns), "f16", "f32" or "f64"."""
    if stored is not None:
        if stored not in STORED_KINDS:
            raise ValueError(f"stored: {stored!r}: allowed {', '.join(STORED_KINDS)}")
        if a.dtype != np.uint16:
            raise ValueError(f"stored: 'bf16' needs uint16 bit patterns, got dtype {a.dtype}")
        return stored
    if a.dtype == np.float64:
        return "f64"
    if a.dtype == np.float16:
        return "f16"
    return "f32"


def _widened(a: Any, kind: str) -> Any:
    """The whole matrix as float32/float64 (numpy) — the direct path and rare rescaling only."""
    if is_torch(a):
        import torch

        return a if a.dtype in (torch.float32, torch.float64) else a.float()
    if kind == "bf16":
        return (a.astype(np.uint32) << 16).view(np.float32)
    return a if a.dtype in (np.float32, np.float64) else a.astype(np.float32)


def _gram_op(a: Any, kind: str, block: int = BLOCK) -> Any:
    if is_torch(a):
        return DeviceTiles(a)
    return HostTiles(a, kind, block=block)


def _iterate(op: Any, a: Any, *, rtol: float, max_passes: int, seed: int, block: int) -> SigmaTop:
    x0 = start_block(int(a.shape[1]), block, seed)
    if is_torch(a):
        return block_krylov_sigma(op, x0, TorchLinalg(a.device), rtol=rtol, max_passes=max_passes)
    with one_blas_thread():
        return block_krylov_sigma(op, x0, NumpyLinalg(), rtol=rtol, max_passes=max_passes)


def top_singular_value(
    w: Any, *, rtol: float = SIGMA_RTOL, max_passes: int = MAX_PASSES, seed: int = 0, method: str = "auto",
    stored: str | None = None, block: int = BLOCK,
) -> SigmaTop:
    """Largest singular value σ_top = ‖W‖₂ of a 2-D array (numpy; bf16 bit patterns with
    ``stored="bf16"``; or a torch tensor of any float dtype on any device: on the CPU it runs on
    the numpy row tiles, zero-copy, see :func:`_on_host`), without a full SVD.

    ``method``: "auto" (Gram eigenvalues when a side is ≤ :data:`DIRECT_SIDE`, else
    :func:`block_krylov_sigma` over row tiles), "block" (the iteration, always; "lanczos" is
    accepted as its old name) or "direct" (the k×k Gram matrix of the short side in float64
    and its top eigenvalue, exact to rounding). Entries must be finite and their squares must
    not overflow: :func:`matrix_stats` rescales first.
    """
    if len(w.shape) != 2:
        raise ValueError(f"top_singular_value needs a 2-D array, got shape {tuple(w.shape)}")
    if method not in ("auto", "block", "lanczos", "direct"):
        raise ValueError(f"method: {method!r}: allowed auto, block, direct")
    w, stored = _on_host(w, stored)
    kind = "torch" if is_torch(w) else _kind(w, stored)
    m, n = (int(d) for d in w.shape)
    if min(m, n) == 0:
        return SigmaTop(0.0, 0.0, 0, True, "direct")
    if method == "direct" or (method == "auto" and min(m, n) <= DIRECT_SIDE):
        return _direct(_widened(w, kind))
    return _iterate(_gram_op(w, kind, block), w, rtol=rtol, max_passes=max_passes, seed=seed, block=block)


def _direct(a: Any) -> SigmaTop:
    a = a.double().cpu().numpy() if is_torch(a) else np.asarray(a, dtype=np.float64)
    m, n = a.shape
    g = a @ a.T if m <= n else a.T @ a
    top = float(np.linalg.eigvalsh(g)[-1])
    return SigmaTop(math.sqrt(max(top, 0.0)), 0.0, 0, True, "direct")


@dataclass(frozen=True)
class MatrixStats:
    """σ_top, Frobenius norm and stable rank ‖W‖_F²/σ_top² of one matrix (None if not finite).

    ``error_estimate`` is the certified relative error of σ_top (:class:`SigmaTop`);
    ``converged`` is False when the iteration stopped at its pass limit before reaching its
    tolerance (σ_top is then still a lower bound); ``passes``
    counts the passes over W the iteration took (0 for the direct path).
    """

    sigma_max: float | None
    frobenius: float | None
    stable_rank: float | None
    finite: bool
    converged: bool
    error_estimate: float = 0.0
    passes: int = 0


def _sum_squares(a: Any) -> float:
    if is_torch(a):
        flat = a.reshape(-1)
        return float(flat.dot(flat))
    flat = a.reshape(-1)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # checked by the caller
        return float(np.dot(flat, flat))


def _safe(sumsq: float | None, dtype: Any) -> bool:
    """A sum of squares that neither overflowed nor lost the matrix to underflow."""
    info = np.finfo(np.float64 if "64" in str(dtype) else np.float32)
    return sumsq is not None and float(info.tiny) / float(info.eps) < sumsq < float(info.max)


def _stats(sigma: SigmaTop, sumsq: float, scale: float) -> MatrixStats:
    if not math.isfinite(sigma.sigma):
        return MatrixStats(None, None, None, False, sigma.converged)
    frob = math.sqrt(sumsq)
    stable = (frob / sigma.sigma) ** 2 if sigma.sigma > 0.0 else None
    return MatrixStats(scale * sigma.sigma, scale * frob, stable, True, sigma.converged, sigma.error_estimate,
                       sigma.steps)


def matrix_stats(w: Any, *, stored: str | None = None, **kwargs: Any) -> MatrixStats:
    """σ_top, Frobenius norm and stable rank of ``w`` reshaped by :func:`as_matrix`.

    ``w`` is a numpy array (``stored="bf16"``: uint16 bf16 bit patterns, widened per tile and
    never as a whole), or a torch tensor of any float dtype (the products run on its device; a
    CPU tensor runs on the numpy row tiles, zero-copy: :func:`_on_host`).
    Sums of squares overflow float32 for entries ≳ 1e19 and underflow for entries ≲ 1e-154
    (float64) or 1e-19 (float32); in either case the matrix is divided by s = max|wᵢⱼ| and the
    results scaled back (σ(W) = s·σ(W/s)), so no finite matrix gives an inf, a NaN or a zero by
    rounding. Non-finite entries give all-None statistics with ``finite=False``; the stable
    rank is None for an all-zero matrix, and for an empty one (a side of length 0, whose norms
    are 0: it maps nothing). ``kwargs`` go to :func:`top_singular_value`.
    """
    shape2 = as_matrix(tuple(int(d) for d in w.shape))
    if shape2 is None:
        raise ValueError(f"matrix_stats needs a matrix-like array, got shape {tuple(w.shape)}")
    w, stored = _on_host(w, stored)
    if 0 in shape2:
        return MatrixStats(0.0, 0.0, None, True, True)
    a = w.reshape(shape2)
    kind = "torch" if is_torch(a) else _kind(a, stored)
    method = kwargs.get("method", "auto")
    if method == "direct" or (method == "auto" and min(shape2) <= DIRECT_SIDE):
        return _direct_stats(_widened(a, kind), kwargs)
    op = _gram_op(a, kind, kwargs.get("block", BLOCK))
    opts = {k: v for k, v in kwargs.items() if k != "method"}
    res = _iterate(op, a, **{"rtol": SIGMA_RTOL, "max_passes": MAX_PASSES, "seed": 0, "block": BLOCK, **opts})
    if _safe(op.sumsq, op.dtype) and math.isfinite(res.sigma):
        return _stats(res, op.sumsq, 1.0)
    if not op.all_finite():
        return MatrixStats(None, None, None, False, True)
    scale = op.abs_max()
    if scale == 0.0:
        return MatrixStats(0.0, 0.0, None, True, True)
    op = op.scaled(1.0 / scale)
    res = _iterate(op, a, **{"rtol": SIGMA_RTOL, "max_passes": MAX_PASSES, "seed": 0, "block": BLOCK, **opts})
    return _stats(res, op.sumsq, scale)


def _direct_stats(a: Any, kwargs: dict[str, Any]) -> MatrixStats:
    """The small-matrix path: the whole (short-side ≤ DIRECT_SIDE) matrix in memory."""
    sumsq = _sum_squares(a)
    scale = 1.0
    if not _safe(sumsq, a.dtype):
        finite = bool(a.isfinite().all()) if is_torch(a) else bool(np.isfinite(a).all())
        if not finite:
            return MatrixStats(None, None, None, False, True)
        scale = float(a.abs().max()) if is_torch(a) else float(np.max(np.abs(a)))
        if scale == 0.0:
            return MatrixStats(0.0, 0.0, None, True, True)
        a = a / scale
        sumsq = _sum_squares(a)
    return _stats(top_singular_value(a, **{**kwargs, "method": "direct"}), sumsq, scale)


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
