"""Zhang et al.'s critical-batch estimate (hpscale.core.critical) and how ramp and plan use it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpscale.cli import app
from hpscale.core.critical import ZHANG_FITTED_TOKENS, zhang_critical_batch

ROOT = Path(__file__).resolve().parents[1]
NANOGPT = str(ROOT / "configs" / "nanogpt-124m-proxy.yaml")
VIT = str(ROOT / "configs" / "vit-s16-ema.yaml")
RAMP = ["ramp", NANOGPT, "--batch-size", "3932160", "--ramp", "linear:0.1", "--dataset-size", "100B"]


def run(*args: str):
    return CliRunner(env={"COLUMNS": "100", "NO_COLOR": "1"}).invoke(app, list(args))


def test_the_authors_forecast_for_1_2b():
    # hlzhang109/critical-batch-size@c5b509d, plots/chinchilla.ipynb cell 7 prints the fit's
    # forecast "Model Size: 1200, Forecasted CBS: 2578.1882129770333" (sequences of 512 tokens).
    estimate = zhang_critical_batch(20.4 * 1.2e9)
    assert estimate.tokens / 512 == pytest.approx(2578.1882129770333, rel=1e-9)
    assert estimate.tokens == pytest.approx(1_320_032.4, abs=0.1) and estimate.beyond is None


@pytest.mark.parametrize(("steps", "measured"), [
    # Cell 1's goal steps at batch 256 (× 256 × 512 = the run's tokens) and cell 5's measured CBS
    # ("Critical batch size: …") for 85M, 151M, 302M, 604M and 1.2B.
    (13282, 745.3201466381583), (23438, 955.1582414387951), (46875, 1393.726947253441),
    (93750, 1888.5221009346358), (187500, 2533.4108017868743)])
def test_the_fit_in_d_lies_near_each_measured_cbs(steps, measured):
    estimate = zhang_critical_batch(steps * 256 * 512)
    assert estimate.tokens / 512 == pytest.approx(measured, rel=0.035) and estimate.beyond is None


def test_extrapolation_is_measured_and_bad_input_refused():
    assert zhang_critical_batch(100e9).beyond == pytest.approx(100e9 / ZHANG_FITTED_TOKENS[1])
    assert zhang_critical_batch(1e9).beyond == pytest.approx(ZHANG_FITTED_TOKENS[0] / 1e9)
    # D^0.468: 10× the tokens moves the estimate × 10^0.4683.
    assert zhang_critical_batch(1e11).tokens / zhang_critical_batch(1e10).tokens == pytest.approx(10**0.4682782328)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            zhang_critical_batch(bad)


def test_ramp_flags_stages_above_the_estimate_without_a_given_value():
    result = run(*RAMP, "-f", "json")
    data = json.loads(result.stdout)
    estimate = data["critical_batch_estimate"]
    assert data["critical_batch_size"] is None and data["critical_batch_from"] == "estimate"
    assert estimate["tokens"] == pytest.approx(zhang_critical_batch(100e9).tokens)
    assert estimate["batch_size"] == estimate["tokens"] and estimate["beyond"] == pytest.approx(4.069, rel=1e-3)
    assert [s["above_critical_batch"] for s in data["stages"]] == [False, False, True, True]
    flagged = [w for w in data["warnings"] if w.startswith("critical batch ≈")]
    assert len(flagged) == 1 and "stage(s) 3, 4" in flagged[0] and "extrapolated ×4.07" in flagged[0]


def test_a_given_critical_batch_wins_and_both_are_shown():
    data = json.loads(run(*RAMP, "--critical-batch", "1.5M", "-f", "json").stdout)
    assert data["critical_batch_size"] == 1.5e6 and data["critical_batch_from"] == "given"
    assert data["critical_batch_estimate"]["tokens"] == pytest.approx(zhang_critical_batch(100e9).tokens)
    assert [s["above_critical_batch"] for s in data["stages"]] == [False, True, True, True]
    table = run(*RAMP, "--critical-batch", "1.5M").stdout
    assert "critical batch 1,500,000" in table and "estimate: 2,551,472" in " ".join(table.split())


def test_samples_without_seq_len_get_no_estimate():
    data = json.loads(run("ramp", VIT, "--batch-size", "8192", "--ramp", "linear:0.5", "-f", "json").stdout)
    assert data["critical_batch_estimate"] is None and data["critical_batch_from"] is None
    assert {s["above_critical_batch"] for s in data["stages"]} == {None}


def test_plan_reports_the_estimate_and_the_batches_above_it():
    data = json.loads(run("plan", "--params", "1B", "--tokens", "20B", "--seq-len", "2048", "-f", "json").stdout)
    critical = data["critical_batch"]
    assert critical["tokens"] == pytest.approx(zhang_critical_batch(20e9).tokens)
    assert critical["sequences"] == pytest.approx(critical["tokens"] / 2048)
    assert critical["beyond"] is None and critical["above"] == []
    # 2B tokens: the estimate (≈ 408K tokens) falls below DeepSeek's batch (≈ 508K), not Step Law's.
    small = json.loads(run("plan", "--params", "1B", "--tokens", "2B", "--seq-len", "2048", "-f", "json").stdout)
    by_law = {law["name"]: law["batch_size"]["tokens"] for law in small["laws"]}
    assert small["critical_batch"]["above"] == ["deepseek"]
    assert by_law["deepseek"] > small["critical_batch"]["tokens"] > by_law["steplaw"]
    table = run("plan", "--params", "1B", "--tokens", "2B", "--seq-len", "2048").stdout
    assert "deepseek above it" in table
