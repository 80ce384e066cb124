"""σ_top is within its target on flat-topped, near-degenerate and power-law spectra, for every start.

A single Lanczos vector missed the 0.5 % target on 1–5 % of random matrices of 200×300 to
1536² (by up to 2.8 %, while reporting convergence), and on a near-degenerate top
(σ1/σ2 = 1.007) it stalls at σ2: a residual small enough to stop on. The block method
(``hpscale.core.sigma.block_krylov_sigma``, a block of ``BLOCK`` random vectors, stopped on the
certified residual bound or, on a clear top, the gap-theorem bound) must stay within the target on all of them, from several seeds,
and its σ must never exceed the exact one (Ritz values are lower bounds).
"""

from __future__ import annotations

import numpy as np
import pytest

from hpscale.core.sigma import BLOCK, DIRECT_SIDE, SIGMA_RTOL, matrix_stats, top_singular_value

TARGET = 2 * SIGMA_RTOL  # 0.5 %, the diagnostic's target


def _exact(w: np.ndarray) -> float:
    return float(np.linalg.svd(w.astype(np.float64), compute_uv=False)[0])


@pytest.mark.parametrize("shape, seeds, kind", [
    ((200, 300), 40, "uniform"),   # nn.Linear(300, 200) init: the reported case (direct)
    ((300, 600), 25, "uniform"),
    ((640, 1280), 8, "normal"),    # the size where one Lanczos start failed most often
])
def test_worst_error_on_random_matrices_stays_within_target(shape, seeds, kind):
    assert DIRECT_SIDE < 300
    worst = 0.0
    for seed in range(seeds):
        rng = np.random.default_rng(1000 + seed)
        w = (rng.standard_normal(shape) if kind == "normal" else rng.uniform(-1, 1, shape)).astype(np.float32)
        exact = _exact(w)
        stats = matrix_stats(w)
        assert stats.converged
        assert stats.sigma_max <= exact * (1 + 1e-6)  # a lower bound (to float32 rounding)
        worst = max(worst, abs(stats.sigma_max / exact - 1))
    assert worst <= TARGET, worst


def _planted(m: int, n: int, s: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((m, len(s))))
    v, _ = np.linalg.qr(rng.standard_normal((n, len(s))))
    return ((u * s) @ v.T).astype(np.float32)


def _power_law(r: int, outliers: list[float], alpha: float = 0.5, i0: float = 50.0) -> np.ndarray:
    """A bulk σᵢ = (1 + i/i0)^−α (flat near its top, like trained layers) below some outliers
    given as multiples of the bulk's top."""
    s = (1 + np.arange(r) / i0) ** -alpha
    s[:len(outliers)] = np.asarray(outliers) * s[0]
    return np.sort(s)[::-1]


@pytest.mark.parametrize("outliers", [
    [2.0, 2.0 / 1.007, 1.5],   # near-degenerate top: σ1/σ2 = 1.007
    [1.007, 1.0],              # near-degenerate top just above the flat bulk
    [3.0, 2.2, 1.8],           # well separated outliers
    [],                        # the bulk alone: a flat power-law top
])
def test_near_degenerate_and_power_law_tops_within_target(outliers):
    s = _power_law(400, outliers)
    worst = 0.0
    for seed in range(6):
        w = _planted(900, 700, s, seed)
        exact = _exact(w)
        res = top_singular_value(w, seed=seed)
        assert res.converged and res.error_estimate <= SIGMA_RTOL
        assert res.sigma <= exact * (1 + 1e-6)
        worst = max(worst, 1 - res.sigma / exact)
    assert worst <= TARGET, worst


def test_one_vector_stops_on_the_second_value_where_the_block_does_not():
    """Why a block: the same stopping rule with one vector stops at σ2 on a near-degenerate top
    for some start (its residual there is small); the block finds σ1 from every start."""
    w = _planted(900, 700, _power_law(400, [2.0, 2.0 / 1.007, 1.5]), 0)
    exact = _exact(w)
    single = [1 - top_singular_value(w, block=1, seed=seed).sigma / exact for seed in range(12)]
    block = [1 - top_singular_value(w, block=BLOCK, seed=seed).sigma / exact for seed in range(12)]
    assert max(single) > TARGET  # the failure mode exists (seeds chosen fixed, deterministic)
    assert max(block) <= SIGMA_RTOL


def _bf16_bits(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """W rounded to bf16 (round to nearest even) as uint16 bit patterns, and its float32 value."""
    u = w.astype(np.float32).view(np.uint32).astype(np.uint64)
    bits = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return bits, (bits.astype(np.uint32) << 16).view(np.float32)


@pytest.mark.parametrize("case", ["near-degenerate", "gaussian"])
@pytest.mark.parametrize("rtol", [SIGMA_RTOL, 2 * SIGMA_RTOL])
def test_error_estimate_bounds_the_error_against_sigma_top_itself(case, rtol):
    """The reported error_estimate bounds the error against σ_top, not only against some
    singular value: on a near-degenerate top (σ1/σ2 = 1.007, σ2 is 0.7 % below σ1, more than
    either tolerance) the block must not stop on σ2, and on a Gaussian matrix (the flattest
    top) it must not stop on one of the many values just below σ1. bf16 bit patterns, as a
    checkpoint stores them, from several starts."""
    for seed in range(3):
        rng = np.random.default_rng(2000 + seed)
        if case == "gaussian":
            w = rng.standard_normal((800, 600)).astype(np.float32) * 0.02
        else:
            w = _planted(800, 600, _power_law(400, [2.0, 2.0 / 1.007, 1.5]), seed)
        bits, rounded = _bf16_bits(w)
        exact = _exact(rounded)
        stats = matrix_stats(bits, stored="bf16", rtol=rtol, seed=seed)
        assert stats.converged and stats.error_estimate <= rtol
        assert stats.sigma_max <= exact * (1 + 1e-6)
        assert 1 - stats.sigma_max / exact <= stats.error_estimate, (seed, stats)
