"""Each rule against the worked numbers of the papers (via shared/RULES.md) and its invariant."""

from __future__ import annotations

import math

import pytest

from hpscale.core import rules as R

rel = pytest.approx


class TestTimescale:
    # Wang & Aitchison's NanoGPT setting: η=6e-4, λ=0.1, B=491,520, N=9,035,582,198 tokens.
    LR, WD, B, N = 6e-4, 0.1, 491_520, 9_035_582_198

    def test_worked_tau_iter(self):
        assert R.tau_iter(self.LR, self.WD) == rel(16_666.6667, rel=1e-8)

    def test_worked_tau_epoch(self):
        assert self.N / self.B == rel(18_382.94, rel=1e-6)
        assert R.tau_epoch(self.LR, self.WD, self.B, self.N) == rel(0.906638, rel=1e-5)

    def test_inverse_gives_wd_for_tau_one(self):
        assert R.weight_decay_for_tau_epoch(self.LR, 1.0, self.B, self.N) == rel(0.0906638, rel=1e-5)

    def test_inverse_round_trip(self):
        wd = R.weight_decay_for_tau_epoch(self.LR, 0.37, self.B, self.N)
        assert R.tau_epoch(self.LR, wd, self.B, self.N) == rel(0.37, rel=1e-12)

    def test_inverse_solves_lr_by_symmetry(self):
        lr = R.weight_decay_for_tau_epoch(self.WD, 0.9066, self.B, self.N)
        assert lr == rel(6e-4, rel=1e-4)

    def test_zero_decay_is_infinite(self):
        assert R.tau_iter(1e-3, 0.0) == math.inf
        assert R.tau_epoch(1e-3, 0.0, 1, 10) == math.inf

    @pytest.mark.parametrize("m, kappa, nu", [(8, 1, 1), (1, 4, 1), (1, 1, 10), (16, 8, 33.2)])
    def test_timescale_factor_keeps_tau_epoch(self, m, kappa, nu):
        lr_ratio = math.sqrt(kappa) / m
        wd_ratio = R.timescale_weight_decay_factor(lr_ratio, kappa, nu)
        before = R.tau_epoch(self.LR, self.WD, self.B, self.N)
        after = R.tau_epoch(self.LR * lr_ratio, self.WD * wd_ratio, self.B * kappa, self.N * nu)
        assert after == rel(before, rel=1e-12)

    def test_convention_round_trip(self):
        assert R.to_independent(6e-4, 0.1) == rel(6e-5)
        assert R.to_coupled(6e-4, R.to_independent(6e-4, 0.1)) == rel(0.1, rel=1e-15)


class TestSqrtWeightDecay:
    # Fan et al.: m=8, η=4e-3, λ=0.1 → η=5e-4, λ=0.28284; σ ratio 1.0 (0.5946 / 1.6818 for m, 1).
    def test_worked_values(self):
        m = 8
        lr = 4e-3 * R.mup_lr_width_factor("hidden", m, "mureadout")
        wd = 0.1 * R.weight_decay_width_factor("hidden", m, "sqrt", "mureadout")
        assert lr == rel(5e-4)
        assert wd == rel(0.28284, rel=1e-5)

    @pytest.mark.parametrize("rule, sigma", [("timescale", 0.5946), ("sqrt", 1.0), ("constant", 1.6818)])
    def test_predicted_sigma_ratio(self, rule, sigma):
        m = 8
        wd_ratio = R.weight_decay_width_factor("hidden", m, rule, "mureadout")
        assert R.sigma_top_ratio(1 / m, wd_ratio, m) == rel(sigma, abs=1e-4)

    @pytest.mark.parametrize("m", [0.25, 2, 8, 64])
    def test_sqrt_rule_keeps_sqrt_eta_over_lambda_times_m_075(self, m):
        eta, lam = 4e-3, 0.1
        eta_t = eta * R.mup_lr_width_factor("hidden", m, "mureadout")
        lam_t = lam * R.weight_decay_width_factor("hidden", m, "sqrt", "mureadout")
        assert math.sqrt(eta_t / lam_t) * m**0.75 == rel(math.sqrt(eta / lam), rel=1e-12)

    @pytest.mark.parametrize("group", ["embedding", "vector", "readout"])
    def test_vector_like_groups_keep_the_proxy_value(self, group):
        # Fan et al.'s λ = 0 for vector-like parameters is a recipe for both runs, not a factor.
        assert R.weight_decay_width_factor(group, 4, "sqrt", "mureadout") == 1.0

    @pytest.mark.parametrize("rule", R.WD_WIDTH_RULES)
    @pytest.mark.parametrize("group", R.GROUPS)
    def test_every_width_rule_is_the_identity_at_m_1(self, rule, group):
        assert R.weight_decay_width_factor(group, 1, rule, "mureadout") == 1.0


class TestMup:
    def test_factors(self):
        assert R.mup_lr_width_factor("hidden", 4, "mureadout") == 0.25
        assert R.mup_lr_width_factor("embedding", 4, "mureadout") == 1
        assert R.mup_lr_width_factor("readout", 4, "mureadout") == 1
        assert R.mup_lr_width_factor("readout", 4, "table3") == 0.25
        assert R.mup_init_std_width_factor("hidden", 4, "mureadout") == 0.5
        assert R.mup_init_std_width_factor("readout", 4, "table3") == 0.25
        assert R.mup_multiplier_width_factor("readout", 4, "mureadout") == 0.25
        assert R.mup_multiplier_width_factor("readout", 4, "table3") == 1

    @pytest.mark.parametrize("readout", R.READOUT_RULES)
    def test_both_readout_forms_scale_lr_times_multiplier_as_inverse_m(self, readout):
        m = 16
        product = R.mup_lr_width_factor("readout", m, readout) * R.mup_multiplier_width_factor(
            "readout", m, readout
        )
        assert product == rel(1 / m)

    @pytest.mark.parametrize("group", R.GROUPS)
    def test_identity_at_proxy_width(self, group):
        for func in (R.mup_lr_width_factor, R.mup_init_std_width_factor, R.mup_multiplier_width_factor):
            for readout in R.READOUT_RULES:
                assert func(group, 1.0, readout) == 1.0

    def test_timescale_width_keeps_eta_lambda(self):
        m = 32
        for group in R.GROUPS:
            prod = R.mup_lr_width_factor(group, m, "table3") * R.weight_decay_width_factor(
                group, m, "timescale", "table3"
            )
            assert prod == rel(1.0)


class TestAdamBatch:
    # Malladi et al.: κ=4, η=1e-4, β=(0.9, 0.999), ε=1e-8 → η=2e-4, β=(0.6, 0.996), ε=5e-9.
    def test_worked(self):
        assert 1e-4 * R.sqrt_batch_lr_factor(4) == rel(2e-4)
        assert R.adam_beta_for_batch(0.9, 4) == rel(0.6)
        assert R.adam_beta_for_batch(0.999, 4) == rel(0.996)
        assert 1e-8 * R.sqrt_batch_eps_factor(4) == rel(5e-9)

    def test_limit(self):
        assert R.beta_batch_limit(0.9) == rel(10)
        # κ(1 − β) = 1 exactly is the limit itself: β̂ = 0, inside [0, 1) (1 − 10·0.0999…98 is
        # 2e-16 in binary, which must not count as a value above 0 or below it).
        assert R.adam_beta_for_batch(0.9, 10) == 0.0
        with pytest.raises(ValueError):
            R.adam_beta_for_batch(0.9, 10.001)
        assert R.adam_beta_for_batch(0.9, 9.99) == rel(0.001, abs=1e-12)

    def test_beta_zero(self):
        assert R.adam_beta_for_batch(0.0, 1) == 0.0  # identity
        assert R.adam_beta_for_batch(0.0, 0.5) == 0.5  # a smaller batch averages over 2 steps
        with pytest.raises(ValueError):
            R.adam_beta_for_batch(0.0, 2)  # κ > 1/(1 − 0)

    def test_keep(self):
        assert R.adam_beta_for_batch(0.95, 40, "keep") == 0.95

    def test_exponential_form_is_named_option(self):
        assert R.adam_beta_for_batch(0.9, 16, "exponential") == rel(0.9**16)

    def test_forms_agree_to_first_order(self):
        kappa = 1.001
        lin = R.adam_beta_for_batch(0.99, kappa, "linear")
        exp = R.adam_beta_for_batch(0.99, kappa, "exponential")
        assert abs(lin - exp) < 1e-6

    @pytest.mark.parametrize("k1, k2", [(2, 3), (0.5, 4), (3, 1 / 3)])
    def test_beta_composes(self, k1, k2):
        once = R.adam_beta_for_batch(0.95, k1 * k2)
        twice = R.adam_beta_for_batch(R.adam_beta_for_batch(0.95, k1), k2)
        assert twice == rel(once, rel=1e-12)

    def test_batch_weight_decay_keeps_tau_epoch(self):
        kappa = 4
        before = R.tau_epoch(1e-4, 0.1, 100, 1e6)
        after = R.tau_epoch(
            1e-4 * R.sqrt_batch_lr_factor(kappa),
            0.1 * R.sqrt_batch_weight_decay_factor(kappa),
            100 * kappa,
            1e6,
        )
        assert after == rel(before)


class TestEma:
    @pytest.mark.parametrize("rho, kappa, expected", [(0.99, 6, 0.941480), (0.9999, 8, 0.999200)])
    def test_worked(self, rho, kappa, expected):
        assert R.ema_decay_for_batch(rho, kappa) == rel(expected, abs=5e-7)

    def test_keeps_decay_per_sample(self):
        # After the same number of samples (κ fewer steps), the EMA has decayed by the same amount.
        rho, kappa, steps = 0.999, 4, 4000
        assert R.ema_decay_for_batch(rho, kappa) ** (steps / kappa) == rel(rho**steps)

    @pytest.mark.parametrize("rho", [0.0, 1.0, -0.1, 1.5])
    def test_domain(self, rho):
        with pytest.raises(ValueError):
            R.ema_decay_for_batch(rho, 2)


class TestBeyondSeeds:
    def test_power_lines(self):
        assert R.power_lines_tau_factor(2.5) == rel(2.5**-0.527)
        assert R.power_lines_tau_factor(1.0) == 1.0

    def test_depth(self):
        assert R.depth_residual_multiplier_factor(4, "completep") == rel(0.25)
        assert R.depth_residual_multiplier_factor(4, "depth-mup") == rel(0.5)
        assert R.depth_lr_factor(4, "completep") == rel(1.0)
        assert R.depth_lr_factor(4, "depth-mup") == rel(0.5)

    def test_eps_width(self):
        for group in R.GROUPS:  # every group, as CompleteP's Table 1 and reference code
            assert R.eps_width_factor(group, 8, "inverse") == rel(1 / 8)
            assert R.eps_width_factor(group, 8, "constant") == 1.0

    def test_eps_depth_and_batch_forms(self):
        assert R.depth_eps_factor(4, "completep") == rel(0.25)
        assert R.depth_eps_factor(4, "depth-mup") == rel(0.5)
        assert R.depth_eps_factor(4, "completep", "constant") == 1.0
        assert R.sqrt_batch_eps_factor(4) == rel(0.5) and R.sqrt_batch_eps_factor(4, "keep") == 1.0


class TestRegistry:
    def test_every_rule_is_documented(self):
        assert len(R.RULES) >= 15
        for key, info in R.RULES.items():
            doc = info.func.__doc__ or ""
            assert "=" in doc or "×" in doc, f"{key}: docstring must state the formula"
            assert info.reference and "arXiv" in info.reference or "PyTorch" in info.reference, key
            assert info.invariant and info.validity and info.convention, key

    @pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
    def test_rules_refuse_bad_ratios(self, bad):
        with pytest.raises(ValueError):
            R.sqrt_batch_lr_factor(bad)
        with pytest.raises(ValueError):
            R.mup_lr_width_factor("hidden", bad, "mureadout")
