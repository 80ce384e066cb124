"""Round-3 fit fixes: censored edge cells (issue 17 item 10) and API/option checks (issue 18)."""

from __future__ import annotations

import numpy as np
import pytest
from sweeps import grid, mup_world

import hpscale
from hpscale.core.law_regression import LawData, censored_selection
from hpscale.errors import InputError

FIT = {"by": "width", "optimize": "lr", "metric": "val/loss", "bootstrap": 100}


def _edge_world(seed: int = 0) -> list[dict[str, object]]:
    """η* = 1e-2·(W/256)^−1 at six widths; the grid's top (≈7e-3) is below η* of the three
    smallest widths, and no run diverges, so those cells are not bracketed."""
    return mup_world(seed, widths=(64, 128, 256, 512, 1024, 2048), diverge_at=None,
                     lrs=grid(2.5e-3, 9, 2 ** 0.5))


def test_identity_when_no_cell_is_censored() -> None:
    rows = mup_world(0)
    drop = hpscale.fit(rows, **FIT, edge="drop").to_json_dict()
    censor = hpscale.fit(rows, **FIT, edge="censor").to_json_dict()
    assert not any("not_bracketed" in cell["flags"] for cell in drop["cells"])
    for result in (drop, censor):
        result.pop("method")
    assert censor == drop


def test_censored_cells_are_counted_and_a_satisfied_bound_changes_nothing() -> None:
    rows = _edge_world()
    drop = hpscale.fit(rows, **FIT, edge="drop")
    censor = hpscale.fit(rows, **FIT, edge="censor")
    assert sum("not_bracketed" in cell.flags for cell in censor.cells) == 3
    assert censor.laws["lr"].censored == 3 and drop.laws["lr"].censored == 0
    # The law through the bracketed cells predicts η* above the grid's top for the small widths:
    # every bound holds, so the censored fit is the dropped one.
    assert censor.laws["lr"].exponents["width"] == drop.laws["lr"].exponents["width"]
    assert censor.to_json_dict()["method"]["edge"] == "censor"
    assert abs(drop.laws["lr"].exponents["width"] + 1) < 0.1


def test_a_violated_bound_acts_as_a_point_at_the_bound() -> None:
    # Hand-made: bracketed cells at log-axis 0, 1, 2 with z = 0, −1, −2 (slope −1), and a
    # censored cell at 3 that says z ≥ −2.5; the slope-−1 line predicts −3 < −2.5, so the
    # bound is active and enters as a point; a bound z ≥ −3.5 holds and is left out.
    logs = np.array([[0.0], [1.0], [2.0], [3.0]])
    boot = np.zeros((4, 10))
    for bound, rows in ((-2.5, 4), (-3.5, 3)):
        data = LawData(np.array([0.0, -1.0, -2.0, bound]), boot, logs, np.arange(4), np.zeros(4, bool),
                        np.full(4, 0.35))
        chosen = censored_selection(data, np.array([0, 0, 0, 1]))
        assert len(chosen.z) == rows
        if rows == 4:
            assert chosen.fallback[3] and chosen.z[3] == bound


def test_edge_option_is_checked() -> None:
    with pytest.raises(InputError, match="^edge"):
        hpscale.fit(mup_world(0), **FIT, edge="tobit")


@pytest.mark.parametrize("kwargs, field", [
    ({"seed": -1}, "seed"),
    ({"by": 5}, "by"),
    ({"predict": "width=abc"}, "predict"),
    ({"predict": [{"width": "abc"}]}, "predict width"),
    ({"laws": 5}, "laws"),
])
def test_api_argument_types_raise_input_error(kwargs: dict[str, object], field: str) -> None:
    args = {**FIT, **kwargs}
    with pytest.raises(InputError) as info:
        hpscale.fit(mup_world(0), **args)  # type: ignore[arg-type]
    assert str(info.value).startswith(field)


def test_runs_that_are_not_a_table_raise_input_error() -> None:
    with pytest.raises(InputError, match="^runs"):
        hpscale.fit(5, **FIT)  # type: ignore[arg-type]


def test_rows_with_numpy_integers_are_accepted() -> None:
    rows = [{key: (np.int64(value) if key == "model.width" else value) for key, value in row.items()}
            for row in mup_world(0)]
    result = hpscale.fit(rows, **FIT)
    assert abs(result.laws["lr"].exponents["width"] + 1) < 0.1


def test_cli_seed_minus_one_exits_2_naming_the_field(tmp_path) -> None:
    from sweeps import write_csv
    from typer.testing import CliRunner

    from hpscale.cli import app

    path = write_csv(mup_world(0), tmp_path / "s.csv")
    result = CliRunner().invoke(app, ["fit", str(path), "--by", "width", "--optimize", "lr",
                                      "--metric", "val/loss", "--seed", "-1"])
    assert result.exit_code == 2
    assert "--seed" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("bootstrap", [0, 5, True, 2.5])
def test_bootstrap_below_the_floor_is_an_input_error(bootstrap: object) -> None:
    """Issue 18: --bootstrap 0 crashed (IndexError) though the documented range began at 0."""
    with pytest.raises(InputError, match="^bootstrap"):
        hpscale.fit(mup_world(0), **{**FIT, "bootstrap": bootstrap})


def _scaled(rows: list[dict[str, object]], factor: float) -> list[dict[str, object]]:
    return [{**row, "val/loss": row["val/loss"] * factor} if isinstance(row.get("val/loss"), float) else row
            for row in rows]


@pytest.mark.parametrize("factor", [1e-30, 1e30, 1e-300])
def test_fit_does_not_depend_on_the_metric_scale(factor: float) -> None:
    """Issue 18: losses ×1e-30 underflowed in float32 (σ̂ "—", zero-width intervals, flipped
    verdict). The metric is divided by a power of two near its spread before the float32 fit."""
    import warnings

    base = hpscale.fit(mup_world(0), **FIT)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy RuntimeWarning may reach the user
        scaled = hpscale.fit(_scaled(mup_world(0), factor), **FIT)
    law, ref = scaled.laws["lr"], base.laws["lr"]
    assert law.exponents["width"] == pytest.approx(ref.exponents["width"], rel=1e-6)
    for (lo, hi), (rlo, rhi) in zip(law.exponent_intervals.values(), ref.exponent_intervals.values(), strict=True):
        assert hi - lo == pytest.approx(rhi - rlo, rel=1e-3) and hi > lo
    assert scaled.noise == pytest.approx(base.noise * factor, rel=1e-3)


def test_a_metric_that_cannot_be_represented_is_refused() -> None:
    rows = mup_world(0)
    rows[5] = {**rows[5], "val/loss": -1e308}
    with pytest.raises(InputError) as info:
        hpscale.fit(rows, **FIT)
    assert str(info.value).startswith("metric: -1e+308")


def test_the_cell_tables_are_bounded_and_json_keeps_every_cell(tmp_path) -> None:
    """Issue 18: a 20,000-cell sweep printed 20,000 table rows (most of its run time)."""
    import json

    from sweeps import write_csv
    from typer.testing import CliRunner

    from hpscale.cli import app
    from hpscale.outputs.fit import MAX_TABLE_CELLS

    widths = tuple(range(64, 64 + 8 * (MAX_TABLE_CELLS + 10), 8))
    path = write_csv(mup_world(0, widths=widths, lrs=grid(4e-3, 7, 2 ** 0.5)), tmp_path / "s.csv")
    args = ["fit", str(path), "--by", "width", "--optimize", "lr", "--metric", "val/loss", "--bootstrap", "20"]
    table = CliRunner().invoke(app, args)
    assert table.exit_code == 0, table.output
    assert "… 10 more cells" in table.stdout
    assert f"{MAX_TABLE_CELLS} of {MAX_TABLE_CELLS + 10} cells shown" in table.stdout
    data = CliRunner().invoke(app, [*args, "-f", "json"])
    assert len(json.loads(data.stdout)["cells"]) == MAX_TABLE_CELLS + 10


def test_a_satisfied_bound_on_the_only_cell_of_an_axis_value_leaves_the_law_unfitted() -> None:
    # Bracketed cells at w = 0 only (b = 0, 1, 2; z = 0, −1, −2) and one censored cell at w = 1
    # saying z ≥ −5. The first fit (every bound active) passes through all four cells, so the bound
    # holds; without it the remaining cells do not vary in w. That used to reach a singular
    # least-squares solve (numpy LinAlgError, exit 3); now the selection is returned rank-deficient
    # and the caller reports the law as not fitted.
    from hpscale.core.law_regression import spans_axes

    logs = np.array([[0.0, 0.0], [0.0, 1.0], [0.0, 2.0], [1.0, 0.0]])
    data = LawData(np.array([0.0, -1.0, -2.0, -5.0]), np.zeros((4, 10)), logs, np.arange(4),
                    np.zeros(4, bool), np.full(4, 0.35))
    chosen = censored_selection(data, np.array([0, 0, 0, 1]))
    assert not spans_axes(chosen.logs)


def test_censored_selection_never_reaches_a_singular_solve_on_random_2d_sweeps() -> None:
    from hpscale.core.law_regression import spans_axes

    rng = np.random.default_rng(1)
    tried = 0
    for _ in range(2000):
        logs = np.log(np.column_stack([rng.choice([128, 256, 512, 1024], 6),
                                       rng.choice([32, 64, 128, 256], 6)]).astype(float))
        side = rng.choice([0, 1, -1], size=6, p=[0.5, 0.25, 0.25])
        if not spans_axes(logs) or (side == 0).sum() < 3:
            continue
        z = rng.normal(-6, 1, 6)
        data = LawData(z, z[:, None] + rng.normal(0, 0.1, (6, 25)), logs, np.arange(6), np.zeros(6, bool),
                        np.full(6, 0.35))
        censored_selection(data, side)  # raised LinAlgError on 345 of 20,000 such draws before the fix
        tried += 1
    assert tried > 500
