"""``hpscale fit`` on Muon sweeps (issue 20): the verdicts compare with Muon's width rule under
the sweep's shape convention (``fit_lines`` of hpscale/core/optimizers/muon.py), not µP's."""

from __future__ import annotations

import json

import pytest
import sweeps
from typer.testing import CliRunner

import hpscale
from hpscale.cli import app
from hpscale.core.fit import rule_lines

runner = CliRunner()
SWEEP = str(sweeps.ROOT / "configs" / "sweep-muon-synthetic.csv")
ARGS = ["fit", SWEEP, "--by", "width", "--optimize", "lr", "--metric", "val/loss", "--bootstrap", "200"]


def lines(convention, lr_optimized=True):
    return {(line.hp, line.axis, line.label): line.exponent
            for line in rule_lines("hidden", lr_optimized=lr_optimized, optimizer="muon", convention=convention)}


@pytest.mark.parametrize(("convention", "lr", "wd_timescale"), [
    # s(A, B) of a fixed-aspect matrix: constant under original and unit_rms_norm, ∝ √m under
    # the other two, so η* ∝ m^0 or m^−½, and η·λ kept gives λ ∝ m^0 or m^+½.
    ("original", 0.0, 0.0), ("unit_rms_norm", 0.0, 0.0), ("match_rms_adamw", -0.5, 0.5), ("spectral", -0.5, 0.5),
])
def test_muon_lines_follow_the_convention(convention, lr, wd_timescale):
    got = lines(convention)
    assert got[("lr", "width", "spectral cond.")] == lr
    assert got[("weight_decay", "width", "η·λ kept")] == wd_timescale
    assert got[("weight_decay", "width", "1/width")] == -1.0 and got[("weight_decay", "width", "fixed λ")] == 0.0
    assert got[("lr", "batch_size", "√κ assumed")] == 0.5
    assert ("lr", "width", "µP") not in got  # AdamW's µP line is not Muon's


def test_muon_weight_decay_lines_at_fixed_lr_are_the_timescale_rule():
    got = lines("original", lr_optimized=False)
    assert got[("weight_decay", "dataset_size", "constant τ")] == -1.0
    assert got[("weight_decay", "batch_size", "constant τ")] == 1.0


def test_the_planted_constant_lr_is_consistent_under_original_only():
    # muon_world: η* = 0.02 at every width (planted exponent 0).
    rows = sweeps.muon_world(seed=1)
    verdicts = {}
    for convention in ("original", "spectral"):
        result = hpscale.fit(rows, by="width", optimize="lr", metric="val/loss", bootstrap=200,
                             optimizer="muon", muon_convention=convention)
        assert abs(result.laws["lr"].exponents["width"]) < 0.05
        (verdict,) = [v for v in result.verdicts if v.axis == "width"]
        verdicts[convention] = (verdict.predicted, verdict.consistent)
    assert verdicts == {"original": (0.0, True), "spectral": (-0.5, False)}


def test_a_match_rms_adamw_sweep_moving_as_inverse_sqrt_width_is_consistent():
    rows = sweeps.muon_world(seed=2, exponent=-0.5)
    result = hpscale.fit(rows, by="width", optimize="lr", metric="val/loss", bootstrap=200,
                         optimizer="muon", muon_convention="match_rms_adamw")
    (verdict,) = [v for v in result.verdicts if v.axis == "width"]
    assert verdict.predicted == -0.5 and verdict.consistent


def test_json_names_the_optimizer_only_for_muon():
    muon = json.loads(runner.invoke(app, [*ARGS, "--optimizer", "muon", "--muon-convention", "original",
                                          "-f", "json"]).stdout)
    assert muon["optimizer"] == {"name": "muon", "muon_convention": "original"}
    assert [v["rule"] for v in muon["verdicts"]] == ["muon-width-lr"]
    plain = json.loads(runner.invoke(app, [*ARGS, "-f", "json"]).stdout)
    assert "optimizer" not in plain and plain["verdicts"][0]["rule"] == "mup-lr"


@pytest.mark.parametrize(("extra", "field"), [
    (["--optimizer", "muon"], "--muon-convention"),
    (["--optimizer", "muon", "--muon-convention", "orignal"], "--muon-convention"),
    (["--optimizer", "muon", "--muon-convention", "original", "--group", "embedding"], "--group"),
    (["--optimizer", "lion"], "--optimizer"),
    (["--muon-convention", "original"], "--muon-convention"),
    (["--optimizer", "muon", "--muon-convention", "original", "-o", "law.yaml"], "--output"),
])
def test_bad_muon_fit_input_is_one_line_exit_2(tmp_path, extra, field):
    result = runner.invoke(app, [*ARGS, *extra])
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and field in lines[0] and "Traceback" not in result.stderr
