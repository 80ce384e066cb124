"""Muon's shape conventions against the definitions of PyTorch and NVIDIA (hpscale.core.muon_shapes)."""

from __future__ import annotations

import math

import pytest

from hpscale.core import muon_shapes as S
from hpscale.errors import InputError

SHAPES = [(1, 1), (64, 64), (256, 64), (64, 256), (768, 3072), (3072, 768), (4096, 4096), (50304, 768),
          (7, 3), (3, 7)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("convention", S.TORCH_CONVENTIONS)
def test_factors_equal_torch_adjust_lr(shape, convention):
    torch = pytest.importorskip("torch")
    from torch.optim import _muon

    # _adjust_lr(lr, fn, shape) = lr·s(A, B); lr = 1 reads off s.
    expected = _muon._adjust_lr(1.0, convention, torch.Size(shape))
    assert S.shape_factor(convention, *shape) == pytest.approx(expected, rel=1e-15)


def test_torch_default_is_original():
    torch = pytest.importorskip("torch")
    from torch.optim import _muon

    assert S.shape_factor("original", 256, 64) == _muon._adjust_lr(1.0, None, torch.Size((256, 64)))


# NVIDIA's get_muon_scale_factor(size_out, size_in, mode) (see NVIDIA_SOURCE), hand-evaluated:
# shape_scaling max(1, out/in)**0.5, spectral max(out, in)**0.5, unit_rms_norm (out/in)**0.5.
NVIDIA = [
    ("original", (256, 64), 2.0), ("original", (64, 256), 1.0),
    ("spectral", (256, 64), 16.0), ("spectral", (64, 256), 16.0), ("spectral", (4096, 4096), 64.0),
    ("unit_rms_norm", (256, 64), 2.0), ("unit_rms_norm", (64, 256), 0.5), ("unit_rms_norm", (768, 768), 1.0),
    ("match_rms_adamw", (4096, 4096), 0.2 * 64.0),
]


@pytest.mark.parametrize(("convention", "shape", "value"), NVIDIA)
def test_factors_hand_values(convention, shape, value):
    assert S.shape_factor(convention, *shape) == pytest.approx(value, rel=1e-15)


@pytest.mark.parametrize("shape", SHAPES)
def test_match_rms_adamw_is_spectral_times_point_two(shape):
    # NVIDIA: extra_scale_factor 0.2 on spectral is Moonlight's factor.
    assert S.shape_factor("match_rms_adamw", *shape) == pytest.approx(0.2 * S.shape_factor("spectral", *shape))


def test_the_same_lr_means_steps_64x_apart_on_a_4096_square():
    ratio = S.shape_factor("spectral", 4096, 4096) / S.shape_factor("original", 4096, 4096)
    assert ratio == 64.0


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("source", S.CONVENTIONS)
@pytest.mark.parametrize("target", S.CONVENTIONS)
def test_convert_lr_keeps_the_step(shape, source, target):
    lr = 0.02
    converted = S.convert_lr(lr, *shape, source, target)
    assert converted * S.shape_factor(target, *shape) == pytest.approx(lr * S.shape_factor(source, *shape))
    # Round trip.
    assert S.convert_lr(converted, *shape, target, source) == pytest.approx(lr)


def test_convert_original_to_match_rms_adamw_hand_value():
    # 768×768: s_original = 1, s_match = 0.2·√768 ≈ 5.5426; η' = 0.02/5.5426.
    assert S.convert_lr(0.02, 768, 768, "original", "match_rms_adamw") == pytest.approx(0.02 / (0.2 * math.sqrt(768)))


def test_convert_weight_decay_keeps_the_shrink():
    lr, wd = 0.02, 0.1
    converted = S.convert_lr(lr, 768, 768, "original", "spectral")
    assert converted * S.convert_weight_decay(lr, wd, converted) == pytest.approx(lr * wd)


def test_unknown_convention_names_the_field_and_the_allowed():
    with pytest.raises(InputError) as info:
        S.shape_factor("orignal", 4, 4)
    message = str(info.value)
    assert message.startswith("muon.convention: 'orignal'") and "\n" not in message
    for name in S.CONVENTIONS:
        assert name in message


@pytest.mark.parametrize("shape", [(0, 4), (4, 0), (math.inf, 4), (math.nan, 4)])
def test_bad_shape_is_refused(shape):
    with pytest.raises(InputError):
        S.shape_factor("original", *shape)


@pytest.mark.parametrize(("shape", "values"), [
    ((1024, 512), (math.sqrt(2), 6.4, 32.0, math.sqrt(2))),
    ((1024, 4096), (1.0, 12.8, 64.0, 0.5)),
])
def test_worked_numbers_of_the_domain_reference(shape, values):
    # /work/shared/RULES.md §8: original / match_rms_adamw / spectral / unit_rms_norm.
    got = tuple(S.shape_factor(name, *shape) for name in ("original", "match_rms_adamw", "spectral", "unit_rms_norm"))
    assert got == pytest.approx(values, rel=1e-12)
