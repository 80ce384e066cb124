"""hpscale.core.widen: bfloat16 and float16 → float32, bit-exact for every one of the 65536 patterns."""

from __future__ import annotations

import numpy as np
import pytest

from hpscale.checkpoints.base import widen_in_place
from hpscale.core.widen import widen_bf16, widen_f16

ALL = np.arange(65536, dtype=np.uint32).astype(np.uint16).reshape(256, 256)


def test_bf16_every_pattern() -> None:
    out = widen_bf16(ALL, np.empty((256, 256), np.float32))
    assert np.array_equal(out.view(np.uint32), ALL.astype(np.uint32) << 16)


def test_f16_every_pattern_including_subnormals_inf_and_nan_payloads() -> None:
    ref = ALL.view(np.float16).astype(np.float32)
    out = widen_f16(ALL, np.full((256, 256), 7.0, np.float32), np.empty((256, 256), np.uint32))
    assert np.array_equal(out.view(np.uint32), ref.view(np.uint32))
    assert np.isinf(out).sum() == 2 and np.isnan(out).sum() == 2046 and np.signbit(out[128, 0])  # -0.0


def test_f16_finite_tile_and_strided_source() -> None:
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((64, 300)) * 0.02).astype(np.float16)
    w[0, :5] = [6e-8, -6e-8, 6.1e-5, 65504, -0.0]  # subnormals, the smallest normal, the largest finite
    strided = np.asfortranarray(w)[:, ::2]
    for src in (w, w.view(np.uint16), strided):
        out = widen_f16(src, np.empty(src.shape, np.float32), np.empty(src.shape, np.uint32))
        assert np.array_equal(out, np.asarray(src.view(np.float16), dtype=np.float32))


@pytest.mark.parametrize("kind", ["BF16", "F16"])
def test_in_place_widening_of_the_readers(kind: str) -> None:
    count = 3_000_000  # three chunks, the last partial: the in-place overlap is exercised
    raw = np.random.default_rng(1).integers(0, 65536, count, dtype=np.uint32).astype(np.uint16)
    buffer = np.empty(4 * count, np.uint8)
    buffer[2 * count:].view(np.uint16)[:] = raw
    got = widen_in_place(buffer, count, kind)
    ref = (raw.astype(np.uint32) << 16).view(np.float32) if kind == "BF16" else raw.view(np.float16).astype(np.float32)
    assert np.array_equal(got.view(np.uint32), ref.view(np.uint32))


def test_float16_matrix_stats_equal_the_widened_matrix_and_see_inf() -> None:
    from hpscale.core.sigma import matrix_stats

    w = (np.random.default_rng(2).standard_normal((700, 500)) * 0.02).astype(np.float16)
    w[0, 0] = np.float16(3e-7)  # a subnormal
    assert matrix_stats(w) == matrix_stats(w.astype(np.float32))
    w[5, 7] = np.inf
    assert matrix_stats(w).finite is False
