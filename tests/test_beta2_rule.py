"""The β batch rules side by side: Malladi et al.'s linear form and Marek et al.'s β^κ
(arXiv 2507.07101: β2's half-life held fixed in tokens). Values computed by hand."""

import math

import pytest

from hpscale.core import rules as R


def half_life_steps(beta: float) -> float:
    """Steps until a sample's weight in the EMA halves: β^h = ½."""
    return math.log(0.5) / math.log(beta)


@pytest.mark.parametrize("form", ["linear", "exponential"])
def test_identity_at_kappa_one(form):
    assert R.adam_beta_for_batch(0.95, 1.0, form) == 0.95


def test_hand_values():
    # 0.95² = 0.9025; 1 − 2·0.05 = 0.9; 0.999^0.25 = exp(ln 0.999 / 4) = 0.99974992...
    assert R.adam_beta_for_batch(0.95, 2, "exponential") == pytest.approx(0.9025, rel=1e-12)
    assert R.adam_beta_for_batch(0.95, 2, "linear") == pytest.approx(0.9, rel=1e-12)
    assert R.adam_beta_for_batch(0.999, 0.25, "exponential") == pytest.approx(0.9997499062, rel=1e-9)


def test_half_life_in_tokens_is_kept():
    # B_proxy = 512 sequences, β2 = 0.95: h = 13.51 steps = 6,918 sequences; at B = 32 (κ = 1/16)
    # the exponential form gives h = 216.2 steps, again 6,918 sequences.
    b_proxy, beta = 512, 0.95
    for kappa in (1 / 16, 0.5, 3.0, 40.0):
        new = R.adam_beta_for_batch(beta, kappa, "exponential")
        assert half_life_steps(new) * b_proxy * kappa == pytest.approx(half_life_steps(beta) * b_proxy, rel=1e-9)
    assert half_life_steps(beta) * b_proxy == pytest.approx(6918.3, rel=1e-4)


@pytest.mark.parametrize("k1, k2", [(2, 3), (0.5, 4), (3, 1 / 3), (40, 0.01)])
def test_exponential_composes_exactly(k1, k2):
    once = R.adam_beta_for_batch(0.999, k1 * k2, "exponential")
    twice = R.adam_beta_for_batch(R.adam_beta_for_batch(0.999, k1, "exponential"), k2, "exponential")
    assert twice == pytest.approx(once, rel=1e-12)


def test_linear_stops_where_exponential_continues():
    # β2 = 0.999, κ = 2000: κ(1 − β2) = 2 ≥ 1, the linear form is undefined; 0.999^2000 = 0.13520
    with pytest.raises(ValueError):
        R.adam_beta_for_batch(0.999, 2000, "linear")
    assert R.adam_beta_for_batch(0.999, 2000, "exponential") == pytest.approx(0.135200, rel=1e-4)


def test_reference_names_both_papers():
    reference = R.RULES["sqrt-batch-beta"].reference
    assert "2205.10287" in reference and "2507.07101" in reference
