"""Muon for the hidden matrices of a hybrid run: config, rules, transfer, check (issue 20)."""

from __future__ import annotations

import json
import math

import pytest
import yaml
from typer.testing import CliRunner

from hpscale.cli import app
from hpscale.core import rules as R
from hpscale.core.compose import transfer_to
from hpscale.core.optimizers import OPTIMIZERS
from hpscale.core.optimizers import muon as M
from hpscale.core.scale import Scale

runner = CliRunner()

PROXY = {
    "name": "hybrid",
    "model": {"width": 768, "depth": 12, "parametrization": "mup"},
    "data": {"dataset_size": 1e9, "batch_size": 524288},
    "optimizer": {"lr": 0.004, "weight_decay": 0.0, "betas": [0.8, 0.95], "eps": 1e-10},
    "muon": {"lr": 0.02, "weight_decay": 0.2, "momentum": 0.95, "convention": "original"},
}


def write(tmp_path, data, name="proxy.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return str(path)


def config(**muon):
    data = json.loads(json.dumps(PROXY))
    data["muon"].update(muon)
    return _load(data)


def _load(data):
    from hpscale.config import RunConfig

    return RunConfig.model_validate(data)


def target(width=768, batch=524288, dataset=1e9):
    return Scale(width=width, batch_size=batch, dataset_size=dataset, depth=12)


# --- the width rule (spectral condition) -----------------------------------------------------

@pytest.mark.parametrize(("convention", "factor"), [
    ("original", 1.0), ("unit_rms_norm", 1.0), ("match_rms_adamw", 0.5), ("spectral", 0.5)])
def test_width_rule_by_convention(convention, factor):
    # m = 4: constant under original/unit_rms_norm, 1/√m = 0.5 under match_rms_adamw/spectral.
    assert M.muon_width_lr_factor(convention, 4.0) == pytest.approx(factor)
    result = transfer_to(config(convention=convention), target(width=3072))
    assert result.groups["hidden"].lr.target == pytest.approx(0.02 * factor)


@pytest.mark.parametrize("convention", ["match_rms_adamw", "spectral", "original", "unit_rms_norm"])
@pytest.mark.parametrize("aspect", [(1, 1), (4, 1), (1, 4)])
def test_width_rule_keeps_the_spectral_step(convention, aspect):
    # η_t·s(m·A, m·B) = η_p·s(A, B) for every fixed aspect ratio.
    from hpscale.core.muon_shapes import shape_factor

    m, (a, b) = 4.0, (256 * aspect[0], 256 * aspect[1])
    f = M.muon_width_lr_factor(convention, m)
    assert f * shape_factor(convention, m * a, m * b) == pytest.approx(shape_factor(convention, a, b))


@pytest.mark.parametrize(("rule", "wd"), [
    ("timescale", 0.2), ("independent", 0.05), ("fixed", 0.2), ("zero", 0.0)])
def test_weight_decay_width_rules_side_by_side(rule, wd):
    choices = R.RuleChoices(muon_wd_width_rule=rule)
    result = transfer_to(config(), target(width=3072), choices)
    assert result.groups["hidden"].weight_decay.target == pytest.approx(wd)
    alternatives = {alt.rule: alt.weight_decay for alt in result.alternatives}
    assert alternatives == pytest.approx({"timescale": 0.2, "independent": 0.05, "fixed": 0.2, "zero": 0.0})


def test_timescale_wd_under_match_rms_adamw_keeps_eta_lambda():
    result = transfer_to(config(convention="match_rms_adamw"), target(width=3072))
    hidden = result.groups["hidden"]
    assert hidden.lr.target * hidden.weight_decay.target == pytest.approx(0.02 * 0.2)


def test_batch_and_data_rules_and_the_momentum_flag():
    # κ = 4, ν = 10: η × √κ = 2; λ × √κ/ν = 0.2 (τ_epoch kept), momentum kept and flagged.
    result = transfer_to(config(), target(batch=4 * 524288, dataset=1e10))
    hidden = result.groups["hidden"]
    assert hidden.lr.target == pytest.approx(0.04)
    assert hidden.weight_decay.target == pytest.approx(0.2 * 2 / 10)
    assert hidden.timescales_target.tau_epoch == pytest.approx(hidden.timescales_proxy.tau_epoch)
    assert any(w.startswith("muon.momentum: 0.95 is kept") for w in result.warnings)
    assert {f.rule for f in hidden.lr.factors} >= {"muon-batch-lr"}
    assert "ASSUMPTION" in R.RULES["muon-batch-lr"].validity


def test_adamw_groups_keep_todays_rules():
    hybrid = transfer_to(config(), target(width=3072, batch=2 * 524288))
    data = json.loads(json.dumps(PROXY))
    del data["muon"]
    adamw = transfer_to(_load(data), target(width=3072, batch=2 * 524288))
    for group in ("embedding", "readout", "vector"):
        assert hybrid.groups[group] == adamw.groups[group]
    assert adamw.groups["hidden"].lr.target == pytest.approx(0.004 / 4 * math.sqrt(2))  # µP 1/m, √κ


def test_convention_conversion_for_the_target_trainer():
    # original → match_rms_adamw at the target's 3072×3072 matrix: η' = η·1/(0.2·√3072); η·λ kept.
    choices = R.RuleChoices(muon_convention="match_rms_adamw")
    result = transfer_to(config(), target(width=3072), choices)
    hidden = result.groups["hidden"]
    assert hidden.lr.target == pytest.approx(0.02 / (0.2 * math.sqrt(3072)))
    assert hidden.lr.target * hidden.weight_decay.target == pytest.approx(0.02 * 0.2)
    assert result.optimizer_options["hidden"]["adjust_lr_fn"] == "match_rms_adamw"


def test_muon_is_one_registry_line():
    assert OPTIMIZERS["muon"].groups == ("hidden",)
    assert all(key in R.RULES for key in OPTIMIZERS["muon"].rules)


# --- CLI: bad input, JSON contract, explain, check -------------------------------------------

def test_unknown_convention_is_one_line_exit_2(tmp_path):
    data = json.loads(json.dumps(PROXY))
    data["muon"]["convention"] = "orignal"
    result = runner.invoke(app, ["transfer", write(tmp_path, data), "--width", "1536"])
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "muon.convention" in lines[0] and "Traceback" not in result.stderr
    for name in ("original", "match_rms_adamw", "spectral", "unit_rms_norm"):
        assert name in lines[0]


@pytest.mark.parametrize(("option", "value"), [("--muon-convention", "nope"), ("--muon-wd-width-rule", "sqrt")])
def test_bad_muon_options_exit_2(tmp_path, option, value):
    result = runner.invoke(app, ["transfer", write(tmp_path, PROXY), "--width", "1536", option, value])
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1


def test_independent_convention_with_muon_is_refused(tmp_path):
    data = json.loads(json.dumps(PROXY))
    data["optimizer"]["weight_decay_convention"] = "independent"
    result = runner.invoke(app, ["transfer", write(tmp_path, data), "--width", "1536"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "weight_decay_convention" in result.stderr


def test_json_contract_is_additive(tmp_path):
    result = runner.invoke(app, ["transfer", write(tmp_path, PROXY), "--width", "3072", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    obj = json.loads(result.stdout)
    assert obj["schema_version"] == 1
    assert obj["optimizers"] == {"embedding": "adamw", "hidden": "muon", "readout": "adamw", "vector": "adamw"}
    assert obj["optimizer_groups"]["hidden"] == {
        "lr": 0.02, "weight_decay": 0.2, "momentum": 0.95, "nesterov": True, "eps": 1e-07,
        "convention": "original", "adjust_lr_fn": "original"}
    assert obj["rules"]["muon_wd_width_rule"] == "timescale" and obj["rules"]["muon_convention"] == "proxy"
    assert [alt for alt in obj["weight_decay_width_alternatives"]] == list(R.MUON_WD_WIDTH_RULES)
    data = json.loads(json.dumps(PROXY))
    del data["muon"]
    plain = json.loads(runner.invoke(app, ["transfer", write(tmp_path, data), "--width", "3072",
                                           "--format", "json"]).stdout)
    assert "optimizers" not in plain and not any(key.startswith("muon") for key in plain["rules"])


@pytest.mark.parametrize("rule", ["muon-width-lr", "muon-wd-width", "muon-batch-lr", "muon-convention"])
def test_explain_covers_the_muon_rules(rule):
    result = runner.invoke(app, ["explain", rule])
    assert result.exit_code == 0 and rule in result.stdout


def test_check_verifies_a_muon_target(tmp_path):
    proxy = write(tmp_path, PROXY)
    args = ["--width", "3072", "--batch-size", "2097152", "--dataset-size", "1e10"]
    made = runner.invoke(app, ["transfer", proxy, *args, "--format", "yaml"])
    assert made.exit_code == 0, made.stderr
    good = tmp_path / "target.yaml"
    good.write_text(made.stdout)
    assert runner.invoke(app, ["check", proxy, str(good)]).exit_code == 0
    # The AdamW µP lr (÷m) on the Muon group is what a hand transfer gets wrong.
    wrong = yaml.safe_load(made.stdout)
    wrong["muon"]["lr"] = wrong["param_groups"]["hidden"]["lr"] = 0.04 / 4
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(wrong))
    checked = runner.invoke(app, ["check", proxy, str(bad)])
    assert checked.exit_code == 1, checked.stdout + checked.stderr
    assert "param_groups.hidden.lr" in checked.stdout


@pytest.mark.parametrize(("key", "value"), [("momentum", 0.5), ("nesterov", False), ("lr", 0.01),
                                            ("weight_decay", 0.5), ("eps", 1e-3)])
def test_check_compares_every_value_the_muon_section_states(tmp_path, key, value):
    # A launch script may read muon.* rather than param_groups.hidden: a stated value that differs
    # from the plan is a finding, not "all values match".
    proxy = write(tmp_path, PROXY)
    made = runner.invoke(app, ["transfer", proxy, "--width", "3072", "--format", "yaml"])
    assert made.exit_code == 0, made.stderr
    edited = yaml.safe_load(made.stdout)
    assert key in edited["muon"]
    edited["muon"][key] = value
    path = tmp_path / "target.yaml"
    path.write_text(yaml.safe_dump(edited))
    checked = runner.invoke(app, ["check", proxy, str(path)])
    assert checked.exit_code == 1, checked.stdout + checked.stderr
    assert f"muon.{key}" in checked.stdout
    ignored = runner.invoke(app, ["check", proxy, str(path), "--ignore", f"muon.{key}"])
    assert ignored.exit_code == 0, ignored.stdout + ignored.stderr


def test_check_predicts_in_the_target_trainers_convention(tmp_path):
    # A target written for a match_rms_adamw trainer: the proxy's original lr converted per shape.
    proxy = write(tmp_path, PROXY)
    made = runner.invoke(app, ["transfer", proxy, "--width", "3072", "--muon-convention", "match_rms_adamw",
                               "--format", "yaml"])
    assert made.exit_code == 0, made.stderr
    converted = yaml.safe_load(made.stdout)
    assert converted["muon"]["convention"] == "match_rms_adamw"
    assert converted["muon"]["lr"] == pytest.approx(0.02 / (0.2 * math.sqrt(3072)))
    path = tmp_path / "target.yaml"
    path.write_text(made.stdout)
    assert runner.invoke(app, ["check", proxy, str(path)]).exit_code == 0
    # The same numbers labelled with the proxy's convention are a mismatch.
    converted["muon"]["convention"] = "original"
    path.write_text(yaml.safe_dump(converted))
    assert runner.invoke(app, ["check", proxy, str(path)]).exit_code == 1


@pytest.mark.parametrize("fmt", ["hf", "torchtitan", "nanogpt", "litgpt"])
def test_exporters_refuse_a_hybrid_plan_instead_of_writing_muon_lr_as_adamw(tmp_path, fmt):
    # These trainers' files have no Muon option; before, a hybrid plan's Muon lr (0.02) was
    # written as the trainer's AdamW learning rate with exit 0. (nanochat and Megatron-LM
    # take Muon settings: tests/test_export_hybrid.py.)
    result = runner.invoke(app, ["transfer", write(tmp_path, PROXY), "--width", "1536", "-f", fmt,
                                 "--seq-len", "2048", "--world-size", "8"])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "param_groups.hidden" in lines[0] and "no muon option" in lines[0]
