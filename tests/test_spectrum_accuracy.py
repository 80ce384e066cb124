"""σ_top is within its target on flat-topped spectra, also for unlucky random starts.

A single Lanczos start missed the 0.5 % target on 1–5 % of random matrices of 200×300 to
1536² (by up to 2.8 %, while reporting convergence): it can settle on the second eigenvalue or
stop on a plateau below the top edge. ``top_singular_value`` now takes the exact Gram
eigenvalue up to ``DIRECT_SIDE``, two starts up to ``TWO_STARTS_SIDE`` and a tighter stop.
"""

from __future__ import annotations

import numpy as np
import pytest

from hpscale.core.sigma import DIRECT_SIDE, SIGMA_RTOL, TWO_STARTS_SIDE, matrix_stats

TARGET = 2 * SIGMA_RTOL  # 0.5 %, the diagnostic's target


@pytest.mark.parametrize("shape, seeds, kind", [
    ((200, 300), 40, "uniform"),   # nn.Linear(300, 200) init: the reported case (direct now)
    ((300, 600), 25, "uniform"),   # two starts
    ((640, 1280), 8, "normal"),    # two starts, the size where one start failed most often
])
def test_worst_error_on_random_matrices_stays_within_target(shape, seeds, kind):
    assert DIRECT_SIDE < 300 <= TWO_STARTS_SIDE
    worst = 0.0
    for seed in range(seeds):
        rng = np.random.default_rng(1000 + seed)
        w = (rng.standard_normal(shape) if kind == "normal" else rng.uniform(-1, 1, shape)).astype(np.float32)
        exact = np.linalg.svd(w.astype(np.float64), compute_uv=False)[0]
        stats = matrix_stats(w)
        assert stats.converged
        worst = max(worst, abs(stats.sigma_max / exact - 1))
    assert worst <= TARGET, worst
