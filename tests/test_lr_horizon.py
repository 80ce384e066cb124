"""The lr's token-horizon rule (``lr_horizon_rule``, issue 21 item 3): η ∝ D^a at a fixed model,
a read off each shipped (verified) law."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import hpscale
from hpscale.cli import app
from hpscale.core import rules as R

ROOT = Path(__file__).resolve().parents[1]
LLAMA = str(ROOT / "configs" / "llama-mup-w256.yaml")
VIT = str(ROOT / "configs" / "vit-s16-ema.yaml")


def run(*args: str):
    return CliRunner(env={"COLUMNS": "100", "NO_COLOR": "1"}).invoke(app, list(args))


def test_hand_computed_factors():
    # 10^−0.125 and 10^0.3075, by hand.
    assert R.lr_horizon_factor(10, "deepseek") == pytest.approx(0.7498942, rel=1e-6)
    assert R.lr_horizon_factor(10, "steplaw") == pytest.approx(2.0300185, rel=1e-6)
    assert R.lr_horizon_factor(10, "none") == 1.0
    assert R.lr_horizon_factor(0.25, "steplaw") == pytest.approx(0.25**0.3075)
    for rule in R.LR_HORIZON_RULES:
        assert R.lr_horizon_factor(1.0, rule) == 1.0
    with pytest.raises(ValueError):
        R.lr_horizon_factor(0.0, "steplaw")


def test_exponents_and_ranges_are_the_shipped_law_files_own():
    for name, law in R.LR_HORIZON_LAWS.items():
        shipped = hpscale.load_law(name)
        assert shipped.terms["lr"].exponents["dataset_size"] == law.exponent
        ranges = {k: tuple(v) for k, v in shipped.provenance["fitted_range"].items()}
        assert ranges == dict(law.fitted_range)
    # Step Law's paper prints D^0.307 (arXiv 2503.04715); the released mean rounds to it.
    assert round(R.LR_HORIZON_LAWS["steplaw"].exponent, 3) == 0.307
    # The two laws disagree in sign: the reason the default is none.
    assert R.LR_HORIZON_LAWS["deepseek"].exponent < 0 < R.LR_HORIZON_LAWS["steplaw"].exponent
    assert R.RuleChoices().lr_horizon_rule == "none"


def test_deepseek_rule_reaches_the_7b_runs_lr_from_a_shorter_horizon():
    # DeepSeek LLM Table 2: the 7B run (30 layers, width 4,096, 4,096-token sequences) used lr 4.2e-4
    # on 2T tokens. Its law's own optimum at 20B tokens, moved to 2T by the rule (ν = 100), gives it.
    law = hpscale.load_law("deepseek").terms["lr"]
    m = 72 * 30 * 4096**2 + 12 * 30 * 4096 * 4096
    short = law.coefficient * (m * 20e9) ** -0.125
    assert short * R.lr_horizon_factor(100, "deepseek") == pytest.approx(4.2e-4, rel=0.03)


@pytest.mark.parametrize("rule", ["deepseek", "steplaw"])
def test_rule_agrees_with_the_law_file_along_the_data(rule):
    # 4× the tokens at the proxy's width: the rule and --law NAME move the hidden lr alike.
    by_rule = hpscale.transfer(LLAMA, dataset_size=8e9, lr_horizon_rule=rule)
    by_law = hpscale.transfer(LLAMA, dataset_size=8e9, law=rule)
    assert by_rule.groups["hidden"].lr.target == pytest.approx(1e-2 * 4 ** R.LR_HORIZON_LAWS[rule].exponent)
    assert by_rule.groups["hidden"].lr.target == pytest.approx(by_law.groups["hidden"].lr.target)


def test_identity_at_the_proxy_scale_under_every_rule():
    base = hpscale.transfer(LLAMA)
    for rule in R.LR_HORIZON_RULES:
        result = hpscale.transfer(LLAMA, lr_horizon_rule=rule)
        for group, g in result.groups.items():
            assert g.lr.target == base.groups[group].lr.target == g.lr.proxy
            assert g.weight_decay.target == base.groups[group].weight_decay.target


def test_weight_decay_keeps_tau_epoch_and_default_output_is_unchanged():
    plain = hpscale.transfer(LLAMA, width=512, dataset_size=20e9)
    moved = hpscale.transfer(LLAMA, width=512, dataset_size=20e9, lr_horizon_rule="steplaw")
    f = 10**0.3075
    for group in ("hidden", "readout"):
        assert moved.groups[group].lr.target == pytest.approx(plain.groups[group].lr.target * f)
        assert moved.groups[group].weight_decay.target == pytest.approx(plain.groups[group].weight_decay.target / f)
        assert moved.groups[group].timescales_target.tau_epoch == pytest.approx(
            plain.groups[group].timescales_target.tau_epoch)
    assert [f.rule for f in plain.groups["hidden"].lr.factors] == ["mup-lr", "sqrt-batch-lr"]


def test_json_names_the_rule_and_shows_every_alternative():
    data = json.loads(run("transfer", LLAMA, "--width", "512", "--dataset-size", "20B",
                          "--lr-horizon-rule", "deepseek", "-f", "json").stdout)
    assert data["rules"]["lr_horizon_rule"] == "deepseek"
    alts = data["lr_horizon_alternatives"]
    assert list(alts) == ["none", "deepseek", "steplaw"]
    assert alts["none"]["hidden_lr"] == pytest.approx(0.005)  # µP 1/2 of the proxy's 0.01
    assert alts["deepseek"]["hidden_lr"] == pytest.approx(0.005 * 10**-0.125, rel=1e-9)
    assert alts["steplaw"]["hidden_lr"] == pytest.approx(0.005 * 10**0.3075, rel=1e-9)
    assert data["param_groups"]["hidden"]["lr"] == pytest.approx(alts["deepseek"]["hidden_lr"])
    default = json.loads(run("transfer", LLAMA, "-f", "json").stdout)
    assert default["rules"]["lr_horizon_rule"] == "none"


def test_table_shows_the_alternatives_only_when_the_data_moves():
    out = run("transfer", LLAMA, "--dataset-size", "20B", "--lr-horizon-rule", "steplaw").stdout
    assert "Hidden lr vs token horizon" in out and "◀ chosen" in out.split("Hidden lr vs token horizon")[1]
    assert "Hidden lr vs token horizon" not in run("transfer", LLAMA, "--width", "512").stdout


def test_fitted_range_flagged_once():
    result = hpscale.transfer(LLAMA, width=512, dataset_size=20e9, lr_horizon_rule="steplaw")
    flagged = [w for w in result.warnings if w.startswith("`lr_horizon_rule='steplaw'`")]
    assert len(flagged) == 1 and "non_embedding_params" in flagged[0] and "×8.53" in flagged[0]
    inside = hpscale.transfer(LLAMA, width=512, dataset_size=20e9, lr_horizon_rule="deepseek")
    assert not [w for w in inside.warnings if w.startswith("`lr_horizon_rule")]  # C = 3.0e18
    shown = run("transfer", LLAMA, "--width", "512", "--dataset-size", "20B", "--lr-horizon-rule", "steplaw").stderr
    assert shown.count("--lr-horizon-rule steplaw: the target's non_embedding_params") == 1  # the CLI shows the flag


def test_bad_input_is_one_line_exit_2():
    result = run("transfer", LLAMA, "--lr-horizon-rule", "bjorck")
    assert result.exit_code == 2 and result.stdout == ""
    line = result.stderr.strip()
    assert "\n" not in line and "--lr-horizon-rule" in line and "'bjorck'" in line and "steplaw" in line
    samples = run("transfer", VIT, "--lr-horizon-rule", "deepseek")
    assert samples.exit_code == 2 and samples.stdout == ""
    assert samples.stderr.strip().startswith("error: data.unit:") and "Traceback" not in samples.stderr
