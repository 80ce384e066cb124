"""``hpscale explain``: generated from ``rules.RULES`` and the rule docstrings, so it cannot drift."""

from __future__ import annotations

import copy
import inspect
import json

import pytest
from typer.testing import CliRunner

import hpscale
from hpscale.cli import app
from hpscale.core import rules as R
from hpscale.core.compose import transfer_to
from hpscale.core.rules import RuleChoices
from hpscale.core.scale import Scale
from hpscale.loader import config_from_data
from hpscale.outputs.explain import plain_rst

EVERYTHING = {
    "name": "all-rules",
    "model": {"width": 256, "base_width": 256, "depth": 8, "params": "50M"},
    "data": {"dataset_size": "2e9", "batch_size": 524_288, "unit": "tokens"},
    "optimizer": {"lr": "1e-2", "weight_decay": 0.1, "betas": [0.9, 0.95], "eps": "1e-8",
                  "weight_decay_convention": "independent"},
    "init_std": 0.02,
    "ema_decay": 0.999,
}


def run(*args: str):
    return CliRunner().invoke(app, ["explain", *args], env={"COLUMNS": "200"})  # titles on one line


def emitted_rule_keys(result) -> set[str]:
    keys = {f.rule for g in result.groups.values()
            for q in (g.lr, g.weight_decay, g.init_std, g.multiplier, g.eps) for f in q.factors}
    keys |= {f.rule for q in (*result.betas, result.eps) for f in q.factors}
    for quantity in (result.ema_decay, result.residual_multiplier):
        keys |= {f.rule for f in quantity.factors} if quantity is not None else set()
    return keys


ALL_CHOICES = [
    RuleChoices(tau_rule="power-lines", eps_width_rule="inverse", depth_rule=depth, wd_width_rule=wd,
                readout_rule=readout, beta_rule=beta)
    for depth in R.DEPTH_RULES for wd in R.WD_WIDTH_RULES for readout in R.READOUT_RULES for beta in R.BETA_RULES
]


def test_every_rule_transfer_emits_is_explained():
    """Run transfer with every option active under every rule combination; each rule key it
    names must be registered, and ``explain KEY`` must reproduce its docstring line for line."""
    config = config_from_data(copy.deepcopy(EVERYTHING), "test")
    keys: set[str] = set()
    for choices in ALL_CHOICES:
        result = transfer_to(config, Scale(width=1024, batch_size=1_048_576, dataset_size=20e9, depth=32), choices)
        emitted = emitted_rule_keys(result)
        assert {"depth-lr", "depth-residual", "power-lines", "eps-width", "coupled-to-independent",
                "ema-decay"} <= emitted, choices  # every option is active
        keys |= emitted
    assert keys <= set(R.RULES), keys - set(R.RULES)
    for key in sorted(keys):
        text = run(key).stdout
        for line in plain_rst(inspect.getdoc(R.RULES[key].func) or "").splitlines():
            assert line in text, (key, line)


def test_every_registered_rule_is_documented():
    for key, info in R.RULES.items():
        assert info.key == key
        assert inspect.getdoc(info.func), key
        for field in ("title", "invariant", "convention", "validity", "reference"):
            assert getattr(info, field).strip(), (key, field)


def test_entry_is_the_registry_and_the_docstring():
    entry = hpscale.explain("power-lines").rules[0].to_json_dict()
    info = R.RULES["power-lines"]
    assert entry["formula"] == inspect.getdoc(R.power_lines_tau_factor)
    assert entry["function"] == "hpscale.core.rules.power_lines_tau_factor"
    assert (entry["invariant"], entry["convention"], entry["validity"], entry["reference"]) == (
        info.invariant, info.convention, info.validity, info.reference)
    assert entry["arxiv"] == ["2505.13738"]


def test_list_table_names_every_rule():
    result = run()
    assert result.exit_code == 0 and result.stderr == ""
    for key, info in R.RULES.items():
        assert key in result.stdout and info.title in result.stdout


def test_single_rule_text():
    result = run("depth-lr")
    assert result.exit_code == 0
    out = result.stdout
    assert out.startswith("depth-lr — Residual-block learning rate vs depth (Adam)")
    flat = " ".join(out.split())  # the text is wrapped to the terminal
    for field in ("invariant", "convention", "validity", "reference"):
        assert " ".join(getattr(R.RULES["depth-lr"], field).split()) in flat
    assert "arXiv 2505.01618" in out


def test_json_list_and_single():
    data = json.loads(run("--format", "json").stdout)
    assert data["schema_version"] == 1
    assert [e["key"] for e in data["rules"]] == list(R.RULES)
    assert all(e["formula"] == inspect.getdoc(R.RULES[e["key"]].func) for e in data["rules"])
    single = json.loads(run("tau-epoch", "--format", "json").stdout)
    assert single["key"] == "tau-epoch" and single["schema_version"] == 1
    assert "B / (η·λ·N)" in single["formula"]


@pytest.mark.parametrize(("name", "suggestion"), [("mup-lrr", "'mup-lr'"), ("powerlines", "'power-lines'"),
                                                   ("tau_epoch", "'tau-epoch'")])
def test_unknown_rule_suggests(name, suggestion):
    result = run(name)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: RULE: {name!r}: unknown rule; did you mean {suggestion}")
    assert result.stderr.count("\n") == 1


def test_unknown_rule_without_close_match_lists_allowed():
    result = run("zzzzzz")
    assert result.exit_code == 2
    assert "did you mean" not in result.stderr and "allowed: mup-lr" in result.stderr
