"""Depth transfer, token-horizon timescale (Power Lines) and Adam ε vs width, by hand.

Proxy: nanoGPT 124M (W = 768, L = 12, params 85M, B = 491,520, N = 9,035,582,198 tokens,
η = 6e-4, λ = 0.1 coupled, vector λ = 0, ε = 1e-8, residual multiplier 1).

Depth (m_L = L_t/L_p; α = 1 CompleteP, α = ½ depth-µP; Dey et al. 2025, arXiv 2505.01618;
Yang et al. 2023, arXiv 2310.02244):
  residual × m_L^−α; hidden η × m_L^(α−1); hidden λ × m_L^(1−α) (the core keeps η·λ, i.e. τ).
  12 → 48 (m_L = 4): CompleteP residual 1/4, η × 1, λ × 1;
                     depth-µP  residual 1/2, η × 1/2, λ × 2.

Power Lines (Bergsma et al. 2025, arXiv 2505.13738): τ_t = τ_p · (TPP_t/TPP_p)^−0.527.
  width × 2 → params × 4 = 340M; dataset × 10 → TPP ratio 10/4 = 2.5;
  hidden λ = 0.1 · 2 (µP timescale, λ × m) · 1/10 (1/ν) · 2.5^0.527 (1.620744) = 0.0324149.
  At a fixed model, dataset × 10: λ × 10^−1 · 10^0.527 = 10^−0.473 = 0.336512, i.e. λ falls
  *more slowly* than 1/ν = 0.1 (the issue text says "faster"; the formula it states gives slower).
"""

from __future__ import annotations

import copy
import json

import pytest
from typer.testing import CliRunner

from hpscale.cli import app
from hpscale.core.compose import transfer_to
from hpscale.core.rules import RuleChoices
from hpscale.core.scale import Scale, estimated_params
from hpscale.errors import InputError
from hpscale.loader import config_from_data

rel = pytest.approx
NANOGPT = "configs/nanogpt-124m-proxy.yaml"
N = 9_035_582_198
B = 491_520

PROXY = {
    "name": "nanogpt-124m",
    "model": {"width": 768, "base_width": 768, "depth": 12, "params": "85M"},
    "data": {"dataset_size": N, "batch_size": B, "unit": "tokens"},
    "optimizer": {"lr": "6e-4", "weight_decay": 0.1, "betas": [0.9, 0.95], "eps": "1e-8"},
    "init_std": 0.02,
    "param_groups": {"vector": {"weight_decay": 0.0}},
}


def proxy(**model):
    data = copy.deepcopy(PROXY)
    data["model"].update(model)
    data["model"] = {k: v for k, v in data["model"].items() if v is not None}
    return config_from_data(data, "test")


def target(width=768, depth=None, dataset=N, batch=B):
    return Scale(width=width, batch_size=batch, dataset_size=dataset, depth=depth)


def cli_json(*args: str) -> dict:
    result = CliRunner().invoke(app, ["transfer", NANOGPT, *args, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def cli_error(config: str, *args: str) -> str:
    result = CliRunner().invoke(app, ["transfer", config, *args, "--format", "json"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1
    return result.stderr


class TestDepth:
    def test_completep_12_to_48(self):
        r = transfer_to(proxy(), target(depth=48), RuleChoices(depth_rule="completep"))
        assert r.ratios.depth == 4
        assert r.residual_multiplier.target == rel(0.25)
        hidden = r.groups["hidden"]
        assert hidden.lr.target == rel(6e-4) and hidden.weight_decay.target == rel(0.1)
        assert [f.rule for f in hidden.lr.factors] == ["mup-lr", "depth-lr", "sqrt-batch-lr"]

    def test_depth_mup_12_to_48(self):
        r = transfer_to(proxy(), target(depth=48), RuleChoices(depth_rule="depth-mup"))
        assert r.residual_multiplier.target == rel(0.5)
        hidden = r.groups["hidden"]
        assert hidden.lr.target == rel(3e-4)
        assert hidden.weight_decay.target == rel(0.2)
        # η·λ (τ_iter) is kept under depth: 3e-4 · 0.2 = 6e-4 · 0.1
        assert hidden.timescales_target.tau_iter == rel(hidden.timescales_proxy.tau_iter)
        # depth-lr applies to the residual-block groups: hidden and vector (in-block norms, biases)
        assert r.groups["vector"].lr.target == rel(3e-4)
        for group in ("embedding", "readout"):
            assert r.groups[group].lr.target == rel(6e-4)

    def test_depth_mup_with_width(self):
        # W 768 → 1536 (m = 2), L 12 → 24 (m_L = 2): η = 6e-4 · ½ · 2^−½, λ = 0.1 · 2 · 2^½
        r = transfer_to(proxy(), target(width=1536, depth=24), RuleChoices(depth_rule="depth-mup"))
        assert r.groups["hidden"].lr.target == rel(2.12132034e-4)
        assert r.groups["hidden"].weight_decay.target == rel(0.282842712)
        assert r.residual_multiplier.target == rel(2**-0.5)

    def test_shallower_target(self):
        r = transfer_to(proxy(), target(depth=6), RuleChoices(depth_rule="completep"))
        assert r.residual_multiplier.target == rel(2.0)  # m_L = ½ → × 2

    def test_same_depth_is_no_depth_transfer(self):
        r = transfer_to(proxy(), target(depth=12))
        assert r.ratios.depth is None and r.residual_multiplier is None

    def test_cli_json_names_rule_and_residual(self):
        data = cli_json("--depth", "48", "--depth-rule", "depth-mup", "--derivation")
        assert data["residual_multiplier"] == rel(0.5)
        assert data["rules"]["depth_rule"] == "depth-mup"
        assert data["ratios"]["depth"] == 4 and data["target"]["depth"] == 48
        assert data["param_groups"]["hidden"]["lr"] == rel(3e-4)
        assert data["param_groups"]["hidden"]["weight_decay"] == rel(0.2)
        assert {f["rule"] for f in data["factors"]["hidden"]["lr"]} >= {"depth-lr"}
        plain = cli_json("--width", "1536")
        assert plain["residual_multiplier"] is None and plain["rules"]["depth_rule"] is None

    def test_refused_without_model_depth(self, tmp_path):
        with pytest.raises(InputError, match=r"^model\.depth: missing"):
            transfer_to(proxy(depth=None), target(depth=24))
        config = tmp_path / "nodepth.yaml"
        config.write_text(open(NANOGPT).read().replace("  depth: 12           # transformer blocks\n", ""))
        assert cli_error(str(config), "--depth", "24").startswith("error: model.depth: missing")

    @pytest.mark.parametrize(("depth_rule", "eps"), [("completep", 2.5e-9), ("depth-mup", 5e-9)])
    def test_hidden_eps_follows_depth(self, depth_rule, eps):
        r = transfer_to(proxy(), target(depth=48), RuleChoices(depth_rule=depth_rule))  # m_L = 4
        assert r.groups["hidden"].eps.target == rel(eps)  # 1e-8 · 4^−α
        assert r.groups["embedding"].eps.target == rel(1e-8)

    def test_unknown_depth_rule(self):
        assert cli_error(NANOGPT, "--depth", "24", "--depth-rule", "alpha").startswith(
            "error: --depth-rule: 'alpha': allowed: completep, depth-mup")


class TestPowerLines:
    def test_hand_computed_tpp_ratio(self):
        r = transfer_to(proxy(), target(width=1536, dataset=10 * N), RuleChoices(tau_rule="power-lines"))
        assert r.target.params == rel(340e6)  # 85M · m² = 85M · 4
        assert r.ratios.tokens_per_param == rel(2.5)
        hidden = r.groups["hidden"].weight_decay
        assert hidden.factors[-1].rule == "power-lines"
        assert hidden.factors[-1].value == rel(1.62074386)  # 2.5^0.527
        assert hidden.target == rel(0.0324148772)  # 0.1 · 2 · 0.1 · 2.5^0.527
        # τ moves by (TPP ratio)^−0.527 = 2.5^−0.527 relative to the proxy
        t_p = r.groups["hidden"].timescales_proxy.tau_epoch
        t_t = r.groups["hidden"].timescales_target.tau_epoch
        assert t_t / t_p == rel(2.5**-0.527)

    def test_more_data_lambda_falls_slower_than_one_over_nu(self):
        constant = transfer_to(proxy(), target(dataset=10 * N))
        horizon = transfer_to(proxy(), target(dataset=10 * N), RuleChoices(tau_rule="power-lines"))
        assert constant.groups["hidden"].weight_decay.target == rel(0.01)  # × 1/ν
        assert horizon.groups["hidden"].weight_decay.target == rel(0.1 * 0.336511569)  # × 10^−0.473
        assert horizon.groups["hidden"].weight_decay.target > constant.groups["hidden"].weight_decay.target

    def test_exponent_option(self):
        r = transfer_to(proxy(), target(width=1536, dataset=10 * N), RuleChoices(tau_rule="power-lines", tau_exponent=0.3))
        assert r.groups["hidden"].weight_decay.factors[-1].value == rel(1.31638220)  # 2.5^0.3
        data = cli_json("--width", "1536", "--dataset-size", str(10 * N), "--tau-rule", "power-lines",
                        "--tau-exponent", "0.3")
        assert data["rules"]["tau_rule"] == "power-lines" and data["rules"]["tau_exponent"] == 0.3
        assert data["param_groups"]["hidden"]["weight_decay"] == rel(0.02 * 1.31638220)

    def test_estimated_params_from_width_and_depth(self):
        assert estimated_params(768, 12) == 12 * 12 * 768**2  # 84,934,656 (Kaplan et al. 12·L·W²)
        r = transfer_to(proxy(params=None), target(width=1536, dataset=10 * N), RuleChoices(tau_rule="power-lines"))
        assert r.ratios.tokens_per_param == rel(2.5)
        # W × 2 and L × 2 → params × 8; dataset × 8 → same TPP → no horizon change
        r = transfer_to(proxy(params=None), target(width=1536, depth=24, dataset=8 * N),
                     RuleChoices(tau_rule="power-lines"))
        assert r.ratios.tokens_per_param == rel(1.0)
        assert r.groups["hidden"].weight_decay.factors[-1].value == rel(1.0)

    def test_cli_json(self):
        data = cli_json("--width", "1536", "--dataset-size", str(10 * N), "--tau-rule", "power-lines")
        assert data["ratios"]["tokens_per_param"] == rel(2.5)
        assert data["target"]["params"] == rel(340e6)
        assert data["param_groups"]["hidden"]["weight_decay"] == rel(0.0324148772)

    def test_refused_without_params_or_depth(self, tmp_path):
        with pytest.raises(InputError, match=r"^model\.params: missing"):
            transfer_to(proxy(params=None, depth=None), target(width=1536), RuleChoices(tau_rule="power-lines"))
        text = open(NANOGPT).read()
        text = text.replace("  depth: 12           # transformer blocks\n", "")
        text = text.replace("  params: 85M         # non-embedding parameters (12 · 12 · 768² ≈ 84.9M)\n", "")
        config = tmp_path / "noparams.yaml"
        config.write_text(text)
        assert cli_error(str(config), "--tau-rule", "power-lines").startswith("error: model.params: missing")

    def test_refused_for_samples(self):
        assert cli_error("configs/vit-s16-ema.yaml", "--tau-rule", "power-lines").startswith(
            "error: data.unit: 'samples'")

    def test_exponent_out_of_range(self):
        assert cli_error(NANOGPT, "--tau-rule", "power-lines", "--tau-exponent", "12").startswith(
            "error: --tau-exponent: 12.0")


class TestEpsWidth:
    def test_inverse_is_the_default_and_scales_every_group(self):
        # CompleteP Table 1 / reference code: ε·(1/m) for every parameter group (m = 4).
        r = transfer_to(proxy(), target(width=3072))
        for group in ("embedding", "hidden", "readout", "vector"):
            assert r.groups[group].eps.target == rel(2.5e-9)
        assert r.eps.target == rel(2.5e-9)  # the run's one ε is the embedding group's (issue 17 item 3)

    def test_inverse_composes_with_batch_rule(self):
        # m = 4 and κ = 4: ε × 1/4 · 1/√4 = 1/8 in every group
        r = transfer_to(proxy(), target(width=3072, batch=4 * B))
        assert r.groups["hidden"].eps.target == rel(1.25e-9)
        assert r.groups["embedding"].eps.target == rel(1.25e-9)

    def test_constant_keeps_eps(self):
        r = transfer_to(proxy(), target(width=3072), RuleChoices(eps_width_rule="constant"))
        assert all(g.eps.target == rel(1e-8) for g in r.groups.values())
        data = cli_json("--width", "3072", "--eps-width-rule", "constant")
        assert data["rules"]["eps_width_rule"] == "constant"
        assert data["param_groups"]["hidden"]["eps"] == rel(1e-8)


class TestEpsDepthAndBatch:
    def test_depth_scales_residual_block_groups_only(self):
        # CompleteP (α = 1), L 12 → 48: in-block ε × 1/4; embedding and readout keep ε.
        r = transfer_to(proxy(), target(depth=48))
        assert r.groups["hidden"].eps.target == rel(2.5e-9)
        assert r.groups["vector"].eps.target == rel(2.5e-9)
        assert r.groups["embedding"].eps.target == rel(1e-8)
        assert r.groups["readout"].eps.target == rel(1e-8)

    def test_depth_eps_can_be_kept(self):
        r = transfer_to(proxy(), target(depth=48), RuleChoices(eps_depth_rule="constant"))
        assert all(g.eps.target == rel(1e-8) for g in r.groups.values())

    def test_batch_eps_can_be_kept(self):
        r = transfer_to(proxy(), target(batch=4 * B), RuleChoices(eps_batch_rule="keep"))
        assert all(g.eps.target == rel(1e-8) for g in r.groups.values()) and r.eps.target == rel(1e-8)
        assert r.groups["hidden"].lr.target == rel(1.2e-3)  # the LR rule still applies
