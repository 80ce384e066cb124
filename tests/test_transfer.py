"""The composition: identity, composition of transfers, the invariant each rule keeps."""

from __future__ import annotations

import copy
import math

import pytest

from hpscale.core import rules as R
from hpscale.core.compose import resolve_groups, transfer_to
from hpscale.core.rules import RuleChoices
from hpscale.core.scale import Scale
from hpscale.errors import InputError, RuleDomainError
from hpscale.loader import config_from_data

rel = pytest.approx

BASE = {
    "name": "unit",
    "model": {"width": 256, "base_width": 256, "depth": 8},
    "data": {"dataset_size": "2e9", "batch_size": 524_288, "unit": "tokens"},
    "optimizer": {"lr": "1e-2", "weight_decay": 0.1, "betas": [0.9, 0.95], "eps": "1e-8"},
    "init_std": 0.02,
    "ema_decay": 0.999,
    "param_groups": {"vector": {"weight_decay": 0.0}, "readout": {"lr": 3e-3}},
}


def make(overrides: dict | None = None, **sections):
    data = copy.deepcopy(BASE)
    for key, value in (overrides or {}).items():
        data[key] = value
    for section, values in sections.items():
        data[section] = {**data.get(section, {}), **values}
    return config_from_data(data, "test")


def scale_of(config, **changes) -> Scale:
    values = {
        "width": config.model.width,
        "batch_size": config.data.batch_size,
        "dataset_size": config.data.dataset_size,
    }
    values.update(changes)
    return Scale(**values)


ALL_CHOICES = [
    RuleChoices(wd_width_rule=w, readout_rule=r, beta_rule=b)
    for w in R.WD_WIDTH_RULES
    for r in R.READOUT_RULES
    for b in R.BETA_RULES
]


def targets(result):
    out = {}
    for group, g in result.groups.items():
        for name in ("lr", "weight_decay", "init_std", "multiplier", "eps"):
            out[f"{group}.{name}"] = getattr(g, name).target
    out["beta1"], out["beta2"] = (q.target for q in result.betas)
    out["ema"] = result.ema_decay.target if result.ema_decay else None
    return out


class TestIdentity:
    @pytest.mark.parametrize("choices", [c for c in ALL_CHOICES if c.wd_width_rule != "sqrt"])
    def test_same_scale_changes_nothing(self, choices):
        config = make()
        result = transfer_to(config, scale_of(config), choices)
        for group, values in resolve_groups(config).items():
            g = result.groups[group]
            assert g.lr.target == rel(values.lr)
            assert g.weight_decay.target == rel(values.weight_decay)
            assert g.init_std.target == rel(values.init_std)
            assert g.multiplier.target == rel(values.multiplier)
        assert result.betas[0].target == rel(0.9)
        assert result.ema_decay.target == rel(0.999)
        assert result.warnings == ()

    def test_sqrt_rule_identity_keeps_the_tuned_vector_like_decay(self):
        # Fan et al. train vector-like groups with λ = 0 in every run: a recipe, not a factor.
        # hpscale returns the proxy at its own scale and says so when the proxy used λ ≠ 0.
        config = make()
        result = transfer_to(config, scale_of(config), RuleChoices(wd_width_rule="sqrt"))
        assert result.groups["hidden"].weight_decay.target == rel(0.1)
        assert result.groups["embedding"].weight_decay.target == rel(0.1)
        assert any("param_groups.embedding.weight_decay" in w and "λ = 0 in every run" in w
                   for w in result.warnings)

    @pytest.mark.parametrize("choices", ALL_CHOICES)
    def test_beta_zero_identity(self, choices):
        config = make(optimizer={"betas": [0.0, 0.95]})
        result = transfer_to(config, scale_of(config), choices)
        assert result.betas[0].target == 0.0 and result.betas[1].target == rel(0.95)


class TestComposition:
    @pytest.mark.parametrize("choices", ALL_CHOICES)
    def test_two_transfers_equal_one(self, choices):
        config = make()
        t1 = scale_of(config, width=1024, batch_size=1_048_576, dataset_size=8e9)
        t2 = scale_of(config, width=4096, batch_size=2_097_152, dataset_size=3e10)
        direct = transfer_to(config, t2, choices)
        middle = config_from_data(transfer_to(config, t1, choices).to_target_config(), "t1")
        chained = transfer_to(middle, t2, choices)
        a, b = targets(direct), targets(chained)
        for key in a:
            assert b[key] == rel(a[key], rel=1e-9, abs=1e-15), key

    def test_composition_independent_convention_and_horizon_and_depth(self):
        config = make(optimizer={"weight_decay": 6e-4, "weight_decay_convention": "independent"})
        choices = RuleChoices(tau_rule="power-lines", eps_width_rule="inverse", depth_rule="depth-mup")
        t1 = Scale(width=512, batch_size=1_048_576, dataset_size=6e9, depth=16)
        t2 = Scale(width=2048, batch_size=2_097_152, dataset_size=4e10, depth=32)
        direct = transfer_to(config, t2, choices)
        middle = config_from_data(transfer_to(config, t1, choices).to_target_config(), "t1")
        chained = transfer_to(middle, t2, choices)
        a, b = targets(direct), targets(chained)
        for key in a:
            assert b[key] == rel(a[key], rel=1e-9, abs=1e-15), key
        assert chained.residual_multiplier.target == rel(direct.residual_multiplier.target)


class TestInvariants:
    def test_timescale_rule_keeps_tau_epoch_of_every_group(self):
        config = make()
        result = transfer_to(config, scale_of(config, width=2048, batch_size=2_097_152, dataset_size=3e10))
        for group in ("hidden", "readout", "embedding"):
            g = result.groups[group]
            if g.timescales_proxy.tau_epoch is None:
                continue
            assert g.timescales_target.tau_epoch == rel(g.timescales_proxy.tau_epoch, rel=1e-12)

    def test_timescale_width_only_keeps_tau_iter(self):
        config = make()
        result = transfer_to(config, scale_of(config, width=4096))
        hidden = result.groups["hidden"]
        assert hidden.lr.target == rel(1e-2 / 16)
        assert hidden.weight_decay.target == rel(0.1 * 16)
        assert hidden.timescales_target.tau_iter == rel(hidden.timescales_proxy.tau_iter)

    def test_sqrt_rule_keeps_sigma_top(self):
        config = make()
        m = 8
        result = transfer_to(config, scale_of(config, width=256 * m), RuleChoices(wd_width_rule="sqrt"))
        h = result.groups["hidden"]
        before = math.sqrt(h.lr.proxy / h.weight_decay.proxy)
        after = math.sqrt(h.lr.target / h.weight_decay.target) * m**0.75
        assert after == rel(before, rel=1e-12)
        sqrt_alt = {a.rule: a for a in result.alternatives}["sqrt"]
        assert sqrt_alt.sigma_top_ratio == rel(1.0)

    def test_alternatives_match_rules_md_worked_numbers(self):
        config = make()
        result = transfer_to(config, scale_of(config, width=256 * 8))
        sigma = {a.rule: a.sigma_top_ratio for a in result.alternatives}
        wd = {a.rule: a.weight_decay for a in result.alternatives}
        assert sigma == {"timescale": rel(0.5946, abs=1e-4), "sqrt": rel(1.0), "constant": rel(1.6818, abs=1e-4)}
        assert wd == {"timescale": rel(0.8), "sqrt": rel(0.1 * math.sqrt(8)), "constant": rel(0.1)}

    def test_batch_rule_worked_numbers(self):
        config = make(optimizer={"lr": 1e-4, "betas": [0.9, 0.999]})
        result = transfer_to(config, scale_of(config, batch_size=4 * 524_288))
        assert result.groups["hidden"].lr.target == rel(2e-4)
        assert [b.target for b in result.betas] == [rel(0.6), rel(0.996)]
        assert result.eps.target == rel(5e-9)
        assert result.groups["hidden"].weight_decay.target == rel(0.2)
        assert result.ema_decay.target == rel(0.999**4)

    def test_dataset_only_scales_weight_decay(self):
        config = make()
        result = transfer_to(config, scale_of(config, dataset_size=2e10))
        assert result.groups["hidden"].weight_decay.target == rel(0.01)
        assert result.groups["hidden"].lr.target == rel(1e-2)
        assert result.steps_per_epoch[1] == rel(result.steps_per_epoch[0] * 10)


class TestConventions:
    def test_independent_config_gives_the_same_coupled_run(self):
        coupled = make()
        lr, wd = 1e-2, 0.1
        independent = make(optimizer={"weight_decay": lr * wd, "weight_decay_convention": "independent"},
                           param_groups={"vector": {"weight_decay": 0.0},
                                         "readout": {"lr": 3e-3, "weight_decay": 3e-3 * wd}})
        target = scale_of(coupled, width=1024, batch_size=2_097_152, dataset_size=1e10)
        a, b = transfer_to(coupled, target), transfer_to(independent, target)
        for group in R.GROUPS:
            ga, gb = a.groups[group], b.groups[group]
            assert gb.lr.target == rel(ga.lr.target)
            assert gb.weight_decay.target == rel(ga.lr.target * ga.weight_decay.target, abs=1e-18)
            assert gb.timescales_target.tau_epoch == ga.timescales_target.tau_epoch or rel(
                ga.timescales_target.tau_epoch
            )

    def test_independent_timescale_rule_is_kappa_over_nu(self):
        config = make(optimizer={"weight_decay": 1e-3, "weight_decay_convention": "independent"})
        result = transfer_to(config, scale_of(config, width=4096, batch_size=4 * 524_288, dataset_size=2e10))
        assert result.groups["hidden"].weight_decay.target == rel(1e-3 * 4 / 10)


class TestValidity:
    def test_beta_limit_refused_with_fix(self):
        config = make()
        with pytest.raises(RuleDomainError) as info:
            transfer_to(config, scale_of(config, batch_size=16 * 524_288))
        message = str(info.value)
        assert "optimizer.betas[0]" in message and "κ ≤ 1/(1 − β1) = 10" in message
        assert "proxy batch of at least 838,861" in message  # 16·524,288/10, above the proxy's own

    def test_beta_at_the_limit_is_zero_not_refused(self):
        # κ(1 − β1) = 1: β̂1 = 0 lies inside [0, 1); the old code refused it naming the proxy's
        # own batch as the fix.
        config = make()
        result = transfer_to(config, scale_of(config, batch_size=10 * 524_288))
        assert result.betas[0].target == 0.0 and result.betas[1].target == rel(0.5)

    def test_beta_keep_and_large_move_warning(self):
        config = make()
        moved = transfer_to(config, scale_of(config, batch_size=4 * 524_288))
        assert any("optimizer.betas: β1 0.9 → 0.6" in w and "`beta_rule='keep'`" in w for w in moved.warnings)
        kept = transfer_to(config, scale_of(config, batch_size=4 * 524_288), RuleChoices(beta_rule="keep"))
        assert [q.target for q in kept.betas] == [0.9, 0.95]
        assert not any("optimizer.betas" in w for w in kept.warnings)
        small = transfer_to(config, scale_of(config, batch_size=2 * 524_288))
        assert not any("optimizer.betas" in w for w in small.warnings)  # window ×½: no warning

    def test_exponential_beta_rule_allows_large_kappa(self):
        config = make()
        result = transfer_to(config, scale_of(config, batch_size=16 * 524_288), RuleChoices(beta_rule="exponential"))
        assert result.betas[0].target == rel(0.9**16)

    def test_depth_without_proxy_depth_is_refused(self):
        config = make(model={"width": 256, "depth": None})
        with pytest.raises(InputError, match="model.depth"):
            transfer_to(config, Scale(width=256, batch_size=524_288, dataset_size=2e9, depth=16))

    def test_warnings(self):
        config = make(optimizer={"weight_decay": 200.0})
        result = transfer_to(config, scale_of(config, width=256 * 128, dataset_size=2e12))
        text = "\n".join(result.warnings)
        assert "far extrapolation: m = 128" in text
        assert "far extrapolation: ν = 1000" in text
        same_scale = transfer_to(config, scale_of(config))
        assert any("weight_decay = 200" in w and "η·λ ≥ 1" in w and "a typo?" in w for w in same_scale.warnings)

    def test_implausible_lr_is_called_a_typo(self):
        # lr: 6e4 was diagnosed as "λ is probably in the independent convention".
        result = transfer_to(make(optimizer={"lr": "6e4"}), scale_of(make()))
        text = "\n".join(result.warnings)
        assert "lr = 60000 is outside any plausible Adam learning rate" in text
        assert "independent" not in text

    def test_independent_decay_of_100_percent_is_refused(self):
        config_data = {"weight_decay": 1e308, "weight_decay_convention": "independent"}
        with pytest.raises(InputError, match="removes 100 % or more of the weights every step"):
            transfer_to(make(optimizer=config_data), scale_of(make()))

    def test_unstated_parametrization_warns_on_width_change(self):
        config = make()  # BASE states no parametrization
        warned = transfer_to(config, scale_of(config, width=512)).warnings
        assert any("model.parametrization is not stated" in w for w in warned)
        assert not any("parametrization" in w for w in transfer_to(config, scale_of(config)).warnings)
        stated = make(model={"width": 256, "parametrization": "mup"})
        assert not any("parametrization" in w for w in transfer_to(stated, scale_of(stated, width=512)).warnings)

    def test_sqrt_rule_says_when_data_breaks_its_invariant(self):
        config = make()
        result = transfer_to(config, scale_of(config, width=1024, dataset_size=8e9), RuleChoices(wd_width_rule="sqrt"))
        assert any("predicted σ_top ratio is 2, not 1" in w for w in result.warnings)
        plain = transfer_to(config, scale_of(config, width=1024), RuleChoices(wd_width_rule="sqrt"))
        assert not any("σ_top" in w for w in plain.warnings)

    def test_power_lines_far_tpp_ratio_warns(self):
        config = make(model={"width": 256, "depth": 8, "params": "6.3M"})
        result = transfer_to(config, scale_of(config, dataset_size=2e9 / 256), RuleChoices(tau_rule="power-lines"))
        assert any("far extrapolation: TPP_t/TPP_p = 0.003906" in w for w in result.warnings)

    def test_tau_beyond_run_warns(self):
        config = make(optimizer={"weight_decay": 1e-4})
        result = transfer_to(config, scale_of(config))
        assert any("exceeds the run" in w for w in result.warnings)

    def test_tau_far_below_epoch_warns(self):
        config = make(data={"batch_size": 1024, "dataset_size": "2e9"})
        result = transfer_to(config, scale_of(config))
        assert any("far below one epoch" in w for w in result.warnings)

    def test_standard_parametrization_warns_on_width_change(self):
        config = make(model={"width": 256, "parametrization": "standard"})
        assert any("µP" in w for w in transfer_to(config, scale_of(config, width=512)).warnings)
        assert transfer_to(config, scale_of(config)).warnings == ()

    def test_readout_multiplier_uses_base_width(self):
        config = make(model={"width": 512, "base_width": 256})
        result = transfer_to(config, scale_of(config, width=2048))
        readout = result.groups["readout"]
        assert readout.multiplier.proxy == rel(0.5)
        assert readout.multiplier.target == rel(256 / 2048)


class TestWarmup:
    def test_warmup_keeps_its_samples(self):
        config = make(optimizer={"warmup_steps": 2000})
        result = transfer_to(config, scale_of(config, width=4096, batch_size=4 * 524_288, dataset_size=2e10))
        assert result.warmup_steps.target == rel(500)  # 2000 steps × B = 500 steps × 4B
        assert result.warmup_steps.factors[0].rule == "warmup-samples"

    def test_no_warmup_no_quantity(self):
        config = make()
        assert transfer_to(config, scale_of(config, batch_size=2 * 524_288)).warmup_steps is None

    def test_yaml_round_trip_and_composition_within_a_step(self):
        config = make(optimizer={"warmup_steps": 1000})
        t1 = scale_of(config, batch_size=3 * 524_288)
        t2 = scale_of(config, batch_size=7 * 524_288, width=1024)
        middle = config_from_data(transfer_to(config, t1).to_target_config(), "t1")
        assert middle.optimizer.warmup_steps == 333  # nearest whole step of 1000/3
        chained = transfer_to(middle, t2).warmup_steps.target
        assert abs(chained - transfer_to(config, t2).warmup_steps.target) <= 0.5

    @pytest.mark.parametrize("bad", [-1, 1.5, "abc", True])
    def test_bad_warmup_is_refused(self, bad):
        with pytest.raises(InputError, match="optimizer.warmup_steps"):
            make(optimizer={"warmup_steps": bad})
