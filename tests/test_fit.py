"""``hpscale fit``'s method: synthetic worlds with known laws (tests/sweeps.py) must be recovered.

Each world plants one published rule; the fit must recover its exponent inside the interval,
say "consistent" for that rule and "not consistent" for the rules that disagree with it, flag
unbracketed cells, and use diverged runs as evidence. Coverage is checked over many seeds.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import sweeps

import hpscale
from hpscale import InputError
from hpscale.core import rules as R
from hpscale.core.fit import rule_exponent, rule_lines
from hpscale.core.optimum import CAPPED, NOT_BRACKETED, t_quantile
from hpscale.core.sweep import log_tau_epoch, log_tau_iter


def fit(rows, **kwargs):
    kwargs.setdefault("metric", "val/loss")
    kwargs.setdefault("bootstrap", 300)
    return hpscale.fit(rows, **kwargs)


def verdict_map(result):
    return {(v.hp, v.axis, v.label): v.consistent for v in result.verdicts}


# --- predicted exponents come from the rule registry -----------------------------------------

def test_predicted_exponents_are_the_rule_functions_own():
    lines = {(line.hp, line.axis, line.label): line.exponent for line in rule_lines("hidden", lr_optimized=True)}
    assert lines[("lr", "width", "µP")] == -1.0
    assert lines[("lr", "batch_size", "√κ")] == 0.5
    assert lines[("lr", "depth", "CompleteP")] == 0.0 and lines[("lr", "depth", "depth-µP")] == -0.5
    assert lines[("weight_decay", "width", "timescale")] == 1.0
    assert lines[("weight_decay", "width", "√d")] == 0.5
    assert lines[("weight_decay", "width", "plain µP")] == 0.0
    assert lines[("weight_decay", "batch_size", "√κ")] == 0.5
    assert lines[("tau_epoch", "tokens_per_param", "constant τ")] == 0.0
    assert lines[("tau_epoch", "tokens_per_param", "Power Lines")] == -R.POWER_LINES_EXPONENT
    assert lines[("tau_epoch", "params", "Power Lines")] == R.POWER_LINES_EXPONENT
    assert lines[("tau_epoch", "width", "√d")] == 0.5  # η × 1/m, λ × √m → τ ∝ √m


def test_predictions_follow_the_swept_group_and_whether_lr_was_swept():
    base = {(line.hp, line.axis, line.label): line.exponent for line in rule_lines("embedding", lr_optimized=False)}
    assert base[("lr", "width", "µP")] == 0.0  # the µP base LR does not move with width
    assert base[("weight_decay", "width", "√d")] == 0.0  # √d keeps the vector-like groups' λ
    assert base[("weight_decay", "dataset_size", "constant τ")] == -1.0  # at fixed η, B
    assert base[("weight_decay", "dataset_size", "Power Lines")] == pytest.approx(R.POWER_LINES_EXPONENT - 1)
    assert base[("weight_decay", "batch_size", "constant τ")] == 1.0
    readout = {line.label: line.exponent for line in rule_lines("readout", lr_optimized=True)
               if (line.hp, line.axis) == ("lr", "width")}
    assert readout == {"MuReadout": 0.0, "Table 3": -1.0}  # the disagreement is shown, not hidden


def test_rule_exponent_refuses_a_rule_that_is_not_a_power_law():
    assert rule_exponent(lambda r: r**-0.25) == -0.25
    with pytest.raises(ValueError, match="not a power law"):
        rule_exponent(lambda r: 1 + r)


def test_vectorised_timescales_equal_the_rule_functions():
    rng = np.random.default_rng(0)
    lr, wd, batch, dataset = np.exp(rng.uniform(-10, 0, (4, 20)))
    batch, dataset = batch * 1e6, dataset * 1e10
    expected_epoch = [R.tau_epoch(*args) for args in zip(lr, wd, batch, dataset, strict=True)]
    expected_iter = [R.tau_iter(*args) for args in zip(lr, wd, strict=True)]
    got_epoch = np.exp(log_tau_epoch(np.log(lr), np.log(wd), np.log(dataset / batch)))
    assert got_epoch == pytest.approx(expected_epoch, rel=1e-12)
    assert np.exp(log_tau_iter(np.log(lr), np.log(wd))) == pytest.approx(expected_iter, rel=1e-12)


def test_t_quantile_matches_tables():
    # Student t 97.5 % points (any statistics table): ν = 3, 5, 10, 30, ∞.
    for dof, expected in ((3, 3.182), (5, 2.571), (10, 2.228), (30, 2.042), (math.inf, 1.960)):
        assert t_quantile(0.975, dof) == pytest.approx(expected, abs=0.02)


# --- the worlds -------------------------------------------------------------------------------

def test_mup_world_recovers_minus_one_and_says_mup():
    result = fit(sweeps.mup_world(seed=1), by="width", optimize="lr")
    law = result.laws["lr"]
    lo, hi = law.exponent_intervals["width"]
    assert lo <= -1.0 <= hi and hi - lo < 0.3
    assert law.exponents["width"] == pytest.approx(-1.0, abs=0.08)
    assert verdict_map(result) == {("lr", "width", "µP"): True}
    assert all(cell.flags == () for cell in result.cells)
    for cell in result.cells:  # each optimum's interval holds the planted optimum
        lo, hi = cell.interval["lr"]
        assert lo <= 1e-2 * 256 / cell.axes["width"] <= hi


def test_sqrt_d_world_supports_sqrt_and_rejects_the_other_width_rules():
    result = fit(sweeps.sqrt_d_world(seed=3), by="width", optimize="weight_decay")
    lo, hi = result.laws["weight_decay"].exponent_intervals["width"]
    assert lo <= 0.5 <= hi
    verdicts = verdict_map(result)
    assert verdicts[("weight_decay", "width", "√d")] is True
    assert verdicts[("weight_decay", "width", "timescale")] is False
    assert verdicts[("weight_decay", "width", "plain µP")] is False
    # lr is fixed per cell (µP, 1/m) and known, so τ_iter* = 1/(η·λ*) is derived: ∝ √m under √d.
    lo, hi = result.laws["tau_iter"].exponent_intervals["width"]
    assert lo <= 0.5 <= hi


def test_sqrt_kappa_world_supports_the_square_root_batch_rule():
    result = fit(sweeps.sqrt_kappa_world(seed=3), by="batch_size", optimize="lr")
    lo, hi = result.laws["lr"].exponent_intervals["batch_size"]
    assert lo <= 0.5 <= hi and hi - lo < 0.3
    assert verdict_map(result) == {("lr", "batch_size", "√κ"): True}


def test_tau_world_constant_timescale_in_two_dimensions():
    result = fit(sweeps.tau_world(seed=4), by="dataset_size", optimize="lr,weight_decay")
    assert set(result.laws) == {"lr", "weight_decay", "tau_epoch", "tau_iter"}
    wd_lo, wd_hi = result.laws["weight_decay"].exponent_intervals["dataset_size"]
    assert wd_lo <= -1.0 <= wd_hi  # λ* ∝ 1/N at the optimal (constant) η
    verdicts = verdict_map(result)
    assert verdicts[("tau_epoch", "dataset_size", "constant τ")] is True
    assert verdicts[("tau_epoch", "dataset_size", "Power Lines")] is False
    for cell in result.cells:  # τ_epoch* = B/(η*·λ*·N) at each joint optimum holds the planted 0.5
        lo, hi = cell.derived_interval["tau_epoch"]
        assert lo <= 0.5 <= hi
        assert cell.derived["tau_epoch"] == pytest.approx(
            R.tau_epoch(cell.optimum["lr"], cell.optimum["weight_decay"], 524_288, cell.axes["dataset_size"]))


def test_coverage_and_width_of_the_law_interval_over_seeds():
    """The 95 % interval of the exponent covers the planted −1 in about 95 % of sweeps, and is
    about as wide as the spread of the estimate across sweeps (calibrated, not just wide)."""
    hits, cell_hits, cells, widths, estimates = 0, 0, 0, [], []
    seeds = 120
    for seed in range(seeds):
        result = fit(sweeps.mup_world(seed=100 + seed, widths=(128, 256, 512, 1024), lrs=sweeps.grid(3.2e-3, 13, 2 ** 0.5)),
                     by="width", optimize="lr", bootstrap=200, seed=seed)
        law = result.laws["lr"]
        lo, hi = law.exponent_intervals["width"]
        hits += lo <= -1.0 <= hi
        widths.append(hi - lo)
        estimates.append(law.exponents["width"])
        for cell in result.cells:
            lo, hi = cell.interval["lr"]
            cell_hits += lo <= 1e-2 * 256 / cell.axes["width"] <= hi
            cells += 1
    assert 0.88 <= hits / seeds <= 1.0
    assert 0.88 <= cell_hits / cells <= 1.0
    ratio = np.median(widths) / (2 * 1.96 * np.std(estimates))
    assert 0.7 <= ratio <= 1.5, ratio


# --- edges and divergence --------------------------------------------------------------------

def test_unbracketed_cells_are_flagged_and_left_out_unless_kept():
    rows = sweeps.mup_world(seed=5, widths=(64, 256, 512, 1024, 8192))
    result = fit(rows, by="width", optimize="lr")
    flagged = {cell.axes["width"] for cell in result.cells if NOT_BRACKETED in cell.flags}
    assert flagged == {64, 8192}
    assert result.laws["lr"].cells == 3
    assert sum("not bracketed" in warning for warning in result.warnings) == 2
    kept = fit(rows, by="width", optimize="lr", keep_edge=True)
    assert kept.laws["lr"].cells == 5


def test_diverged_runs_bracket_and_cap_the_optimum():
    # Runs diverge from 0.9·η* on: the loss still falls at the largest finished LR, so on the
    # finished runs alone the optimum is not bracketed; the diverged runs bound it from above.
    rows = sweeps.mup_world(seed=6, diverge_at=0.9)
    result = fit(rows, by="width", optimize="lr")
    for cell in result.cells:
        assert cell.diverged > 0 and NOT_BRACKETED not in cell.flags
        first_diverged = min(float(r["optimizer.lr"]) for r in rows
                             if r["State"] == "crashed" and r["model.width"] == cell.axes["width"])
        assert cell.optimum["lr"] < first_diverged
    assert any(CAPPED in cell.flags for cell in result.cells)
    finished_only = [row for row in rows if row["State"] != "crashed"]
    alone = fit(finished_only, by="width", optimize="lr")
    assert all(NOT_BRACKETED in cell.flags for cell in alone.cells)


def test_diverged_runs_are_counted_not_dropped():
    rows = sweeps.mup_world(seed=7)
    result = fit(rows, by="width", optimize="lr")
    crashed = sum(row["State"] == "crashed" for row in rows)
    assert crashed > 0 and result.diverged == crashed == sum(cell.diverged for cell in result.cells)
    assert result.runs == len(rows)


def test_a_metric_that_is_nan_or_missing_is_a_diverged_run():
    rows = sweeps.mup_world(seed=8, diverge_at=None)
    for row in rows[9:11]:
        row["val/loss"] = "NaN"
    rows[20]["val/loss"] = None
    result = fit(rows, by="width", optimize="lr")
    assert result.diverged == 3


def test_maximize_finds_the_same_optimum_as_the_negated_metric():
    rows = sweeps.mup_world(seed=9, diverge_at=None)
    flipped = [{**row, "val/loss": -row["val/loss"]} for row in rows]  # type: ignore[operator]
    low = fit(rows, by="width", optimize="lr", bootstrap=50)
    high = fit(flipped, by="width", optimize="lr", bootstrap=50, maximize=True)
    assert [c.optimum["lr"] for c in low.cells] == pytest.approx([c.optimum["lr"] for c in high.cells])
    assert high.cells[0].best_metric == -low.cells[0].best_metric


def test_resampling_runs_is_offered_and_wider():
    rows = sweeps.mup_world(seed=10)
    noise = fit(rows, by="width", optimize="lr")
    runs = fit(rows, by="width", optimize="lr", resample="runs")
    assert runs.resampling == "runs" and noise.resampling == "noise" and noise.noise is not None
    width = {name: np.subtract(*r.laws["lr"].exponent_intervals["width"][::-1]) for name, r in
             (("noise", noise), ("runs", runs))}
    assert width["runs"] > width["noise"]


# --- laws and predictions --------------------------------------------------------------------

def test_two_axis_law_and_prediction_interval():
    def optimum(axes):
        return {"lr": 2e-3 * (axes["params"] / 1e8) ** -0.3 * (axes["dataset_size"] / 1e10) ** 0.1}

    cells = [{"params": p, "dataset_size": d} for p in (3e7, 1e8, 3e8) for d in (3e9, 1e10, 3e10)]
    rows = sweeps.sweep_rows(cells, {"lr": sweeps.grid(2e-3, 11, 2 ** 0.5)}, sweeps.bowl(optimum, {"lr": 0.05}),
                             seed=11)
    result = fit(rows, by="params,dataset_size", optimize="lr", laws=["lr ~ params + dataset_size"],
                 predict=[{"params": "7e9", "dataset_size": "1.4T"}, {"params": "3e10", "dataset_size": "1e10"}])
    law = result.laws["lr"]
    for axis, planted in (("params", -0.3), ("dataset_size", 0.1)):
        lo, hi = law.exponent_intervals[axis]
        assert lo <= planted <= hi
    assert law.held_out is not None and law.held_out.max_factor < 1.3
    prediction = result.predictions[0]
    planted = optimum({"params": 7e9, "dataset_size": 1.4e12})["lr"]
    lo, hi = prediction.intervals["lr"]
    assert lo <= planted <= hi and lo < prediction.values["lr"] < hi
    far = [w for w in result.warnings if "beyond the swept range" in w]
    assert len(far) == 1 and "params=3e+10: ×100" in far[0]  # 7e9 (×23) is not flagged, 3e10 is


def test_result_is_immutable_picklable_and_json_is_strict():
    import json

    result = fit(sweeps.mup_world(seed=12), by="width", optimize="lr", bootstrap=50)
    with pytest.raises(AttributeError):
        result.cells = ()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        result.laws["lr"].exponents.x = 1  # type: ignore[attr-defined]
    again = pickle.loads(pickle.dumps(result))
    assert again.to_json_dict() == result.to_json_dict()
    json.dumps(result.to_json_dict(), allow_nan=False)


def test_same_seed_same_result_other_seed_other_intervals():
    rows = sweeps.mup_world(seed=13)
    a = fit(rows, by="width", optimize="lr", bootstrap=100, seed=1).to_json_dict()
    b = fit(rows, by="width", optimize="lr", bootstrap=100, seed=1).to_json_dict()
    c = fit(rows, by="width", optimize="lr", bootstrap=100, seed=2).to_json_dict()
    assert a == b and a["laws"]["lr"]["exponent_ci"] != c["laws"]["lr"]["exponent_ci"]
    # The law's weights are 1/(bootstrap variance + τ²), so the point estimate moves a little.
    assert a["laws"]["lr"]["exponents"]["width"] == pytest.approx(c["laws"]["lr"]["exponents"]["width"], abs=1e-3)
    assert [cell["optimum"] for cell in a["cells"]] == [cell["optimum"] for cell in c["cells"]]


@pytest.mark.parametrize("kwargs, needle", [
    ({"laws": ["lr ~ depth"]}, "unknown axis 'depth'"),
    ({"laws": ["beta2 ~ width"]}, "'beta2' is not fitted"),
    ({"laws": ["lr ~ width", "lr ~ width"]}, "a second law for lr"),
    ({"laws": ["lr = width"]}, "expected 'HP ~ AXIS"),
    ({"window": 2}, "^window: 2"),
    ({"confidence": 1.5}, "^confidence: 1.5"),
    ({"resample": "jackknife"}, "^resample: 'jackknife'"),
    ({"group": "attention"}, "^group: 'attention'"),
    ({"predict": [{"depth": 4}]}, "^predict: depth: not an axis"),
])
def test_bad_fit_options(kwargs, needle):
    with pytest.raises(InputError, match=needle):
        fit(sweeps.mup_world(seed=14), by="width", optimize="lr", bootstrap=20, **kwargs)
