"""Hostile run tables and law files (issue 18, round 3), and W&B column names (issue 17 item 8).

Every case asserts hpscale's own contract for bad input — exit 2, one line on stderr that names
the field (file:line and column, or the law file's key), nothing on stdout, no traceback — and
that memory stays bounded by the input's real size (tracemalloc peaks, never timings).
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest
import sweeps
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from hpscale.cli import app
from hpscale.errors import InputError
from hpscale.lawfile import read_law
from hpscale.runs import read_table, sweep_from_tables

FIT = ("--by", "width", "--optimize", "lr", "--metric", "val/loss")


def fit(*args: object):
    return CliRunner(env={"COLUMNS": "100", "NO_COLOR": "1"}).invoke(app, ["fit", *map(str, args)])


def one_error(result, *needles: str) -> str:
    """Exit 2, nothing on stdout, one line on stderr (no traceback) holding every needle."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr, result.exception)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def rows() -> list[dict[str, object]]:
    return sweeps.mup_world(0)


def _csv_text(rows: list[dict[str, object]], delimiter: str = ",") -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = [delimiter.join(columns)]
    lines += [delimiter.join(str(row.get(c, "")) for c in columns) for row in rows]
    return "\n".join(lines) + "\n"


def _jsonl_text(rows: list[dict[str, object]]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


# ---------------------------------------------------------------------------------------------
# One long cell in a number column (memory set by the longest cell; the 400-digit limit)
# ---------------------------------------------------------------------------------------------

LONG = "1" * 120_003


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
def test_one_long_cell_is_refused_naming_column_and_row(tmp_path: Path, rows, suffix: str) -> None:
    bad = dict(rows[5], **{"optimizer.lr": LONG})
    table = [*rows, bad]
    text = _jsonl_text(table) if suffix == ".jsonl" else _csv_text(table, "\t" if suffix == ".tsv" else ",")
    path = tmp_path / f"long{suffix}"
    path.write_text(text)
    line = len(table) + (0 if suffix == ".jsonl" else 1)
    message = one_error(fit(path, *FIT), f"{path}:{line}", "'optimizer.lr'", "120,003")
    assert "must be > 0" not in message  # the old, wrong reason


def test_a_long_json_integer_is_refused_by_the_digit_limit(tmp_path: Path, rows) -> None:
    path = tmp_path / "long.jsonl"
    path.write_text(_jsonl_text(rows) + json.dumps(dict(rows[5], **{"optimizer.lr": 0})).replace(
        '"optimizer.lr": 0', f'"optimizer.lr": {LONG}') + "\n")
    one_error(fit(path, *FIT), f"{path}:{len(rows) + 1}", "'optimizer.lr'", "400")


def test_401_characters_are_refused_and_400_digits_are_not_the_reason_for_400(tmp_path: Path, rows) -> None:
    path = tmp_path / "limit.csv"
    path.write_text(_csv_text([*rows, dict(rows[5], **{"optimizer.lr": "1" * 401})]))
    one_error(fit(path, *FIT), f"{path}:{len(rows) + 2}", "'optimizer.lr'")


def test_a_long_cell_costs_memory_of_its_own_size_not_rows_times_its_width(tmp_path: Path, rows) -> None:
    # 2,000 runs and one 120,003-character cell: the old whole-column conversion at the longest
    # cell's width allocated 2,001 × 120,003 × 4 bytes ≈ 0.96 GB here.
    many = [dict(rows[i % len(rows)], Name=f"run-{i}") for i in range(2_000)]
    path = tmp_path / "long.csv"
    path.write_text(_csv_text([*many, dict(rows[5], Name="long", **{"optimizer.lr": LONG})]))
    tracemalloc.start()
    try:
        table = read_table(path)
        with pytest.raises(InputError, match="optimizer.lr"):
            sweep_from_tables([table], by=["width"], optimize=["lr"], metric="val/loss")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 * path.stat().st_size, (peak, path.stat().st_size)


# ---------------------------------------------------------------------------------------------
# JSON Lines: nesting, huge integers, numbers beyond a float
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("record", [
    "[" * 200_000,
    '{"a":' * 2_000 + "1" + "}" * 2_000,
    '{"width": 64, "x": ' + '{"a":' * 2_000 + "1" + "}" * 2_000 + "}",
    '{"width": 64, "x": ' + "[" * 200_000 + "]" * 200_000 + "}",
])
def test_deep_json_nesting_exits_2_not_recursion_error(tmp_path: Path, rows, record: str) -> None:
    path = tmp_path / "deep.jsonl"
    path.write_text(_jsonl_text(rows) + record + "\n")
    one_error(fit(path, *FIT), f"{path}:{len(rows) + 1}")


@pytest.mark.parametrize("number", ["1" * 5_000, "-" + "1" * 5_000, "1" + "0" * 500, "1" + "0" * 350, "1e500"])
def test_json_numbers_no_float_holds_are_refused(tmp_path: Path, rows, number: str) -> None:
    path = tmp_path / "big.jsonl"
    record = json.dumps(dict(rows[5], **{"optimizer.lr": 0})).replace('"optimizer.lr": 0', f'"optimizer.lr": {number}')
    path.write_text(_jsonl_text(rows) + record + "\n")
    one_error(fit(path, *FIT), f"{path}:{len(rows) + 1}", "'optimizer.lr'")


def test_read_table_raises_input_error_for_a_5000_digit_integer(tmp_path: Path, rows) -> None:
    path = tmp_path / "big.jsonl"
    path.write_text(_jsonl_text(rows[:3]) + '{"width": ' + "9" * 5_000 + "}\n")
    table = read_table(path)  # an unused column may hold it; a used one is refused by name
    with pytest.raises(InputError, match="'width'"):
        sweep_from_tables([table], by=["width"], optimize=["lr"], metric="val/loss")


# ---------------------------------------------------------------------------------------------
# Line ends and blank lines
# ---------------------------------------------------------------------------------------------


def test_a_cr_only_csv_is_read_as_the_same_table(tmp_path: Path, rows) -> None:
    unix = tmp_path / "unix.csv"
    unix.write_text(_csv_text(rows))
    mac = tmp_path / "mac.csv"
    mac.write_bytes(_csv_text(rows).replace("\n", "\r").encode())
    a, b = fit(unix, *FIT, "--format", "json"), fit(mac, *FIT, "--format", "json")
    assert a.exit_code == b.exit_code == 0, b.stderr
    first, second = json.loads(a.stdout), json.loads(b.stdout)
    for result in (first, second):
        result.pop("provenance", None)
        result.pop("inputs", None)
    assert first["laws"] == second["laws"]
    assert read_table(mac).lines == read_table(unix).lines  # errors name the same line numbers


def test_a_cr_only_csv_error_names_the_line(tmp_path: Path, rows) -> None:
    mac = tmp_path / "mac.csv"
    text = _csv_text([*rows[:4], dict(rows[4], **{"optimizer.lr": "abc"}), *rows[5:]])
    mac.write_bytes(text.replace("\n", "\r").encode())
    one_error(fit(mac, *FIT), f"{mac}:6", "'optimizer.lr'")


def test_blank_lines_cost_memory_of_the_file_not_per_line_objects(tmp_path: Path, rows) -> None:
    # 8 MB of blank lines (the 50 MB took 942 MB: a Python string per line).
    path = tmp_path / "blank.csv"
    text = _csv_text(rows)
    header, body = text.split("\n", 1)
    path.write_text(header + "\n" + "\n" * 4_000_000 + body + " \n" * 2_000_000)
    tracemalloc.start()
    try:
        table = read_table(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(table.rows) == len(rows)
    assert table.lines[0] == 4_000_002  # line numbers still count the blank lines
    assert peak < 4 * path.stat().st_size, (peak, path.stat().st_size)


# ---------------------------------------------------------------------------------------------
# Law files: numbers are finite and never bools, intervals ordered, the law file's own keys
# ---------------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
LLAMA = ROOT / "configs" / "llama-mup-w256.yaml"
SHIPPED = (ROOT / "hpscale" / "laws" / "deepseek.yaml").read_text()
CI = "exponent_ci: {params: [-0.125, -0.125]"


def transfer_with(tmp_path: Path, text: str):
    law = tmp_path / "law.yaml"
    law.write_text(text)
    result = CliRunner(env={"COLUMNS": "100", "NO_COLOR": "1"}).invoke(
        app, ["transfer", str(LLAMA), "--dataset-size", "8e9", "--law", str(law)])
    return law, result


@pytest.mark.parametrize("old, new, key", [
    (CI, "exponent_ci: {params: [.nan, .inf]", "laws.lr.exponent_ci.params"),
    (CI, "exponent_ci: {params: [-0.125, .inf]", "laws.lr.exponent_ci.params"),
    (CI, "exponent_ci: {params: [5, -5]", "laws.lr.exponent_ci.params"),
    (CI, "exponent_ci: {params: [1, 2, 3]", "laws.lr.exponent_ci.params"),
    (CI, "exponent_ci: {params: [true, false]", "laws.lr.exponent_ci.params"),
    ("schema_version: 1", "schema_version: true", "schema_version"),
    ("exponents: {params: -0.125,", "exponents: {params: true,", "laws.lr.exponents.params"),
    ("exponents: {params: -0.125,", "exponents: {params: .nan,", "laws.lr.exponents.params"),
    ("coefficient: 0.3118", "coefficient: .inf", "laws.lr.coefficient"),
    ("coefficient_ci: null", "coefficient_ci: [2, 1]", "laws.lr.coefficient_ci"),
    ("confidence: null", "confidence: true", "confidence"),
    ("cells: null", "cells: true", "laws.lr.cells"),
    ("    r2: null", "    axes_range: {params: [1e9, 1e6]}\n    r2: null", "laws.lr.axes_range.params"),
])
def test_a_law_file_with_a_value_that_is_not_a_finite_number_or_interval_is_refused(
        tmp_path: Path, old: str, new: str, key: str) -> None:
    assert old in SHIPPED
    law, result = transfer_with(tmp_path, SHIPPED.replace(old, new, 1))
    one_error(result, f"{law}: {key}:")


def test_the_shipped_law_itself_still_transfers(tmp_path: Path) -> None:
    _, result = transfer_with(tmp_path, SHIPPED)
    assert result.exit_code == 0, result.stderr
    assert "nan" not in result.stdout.lower() and "inf" not in result.stdout.lower()


@pytest.mark.parametrize("old, new, key, allowed", [
    ("  lr:\n    of: value", "  lr:\n    of: value\n    exponent: 1", "laws.lr.exponent",
     "of, formula, coefficient, coefficient_ci, exponents, exponent_ci, axes_range, r2, cells"),
    ("group: hidden", "group: hidden\nmodel: {}", "model",
     "schema_version, kind, hpscale_version, name, group, confidence, laws, provenance"),
])
def test_an_unknown_law_key_is_answered_with_the_law_files_keys(
        tmp_path: Path, old: str, new: str, key: str, allowed: str) -> None:
    law, result = transfer_with(tmp_path, SHIPPED.replace(old, new, 1))
    message = one_error(result, f"{law}: {key}: unknown key", allowed)
    assert "optimizer" not in message and "param_groups" not in message  # the run config's keys


# ---------------------------------------------------------------------------------------------
# W&B exports: every unplaced quantity at once, the usual aliases (issue 17 item 8)
# ---------------------------------------------------------------------------------------------


def _renamed(rows: list[dict[str, object]], names: dict[str, str]) -> list[dict[str, object]]:
    return [{names.get(key, key): value for key, value in row.items()} for row in rows]


def test_every_unplaced_quantity_is_reported_at_once(tmp_path: Path, rows) -> None:
    table = _renamed(rows, {"model.width": "config.d_model_x", "optimizer.lr": "lrate"})
    for row in table:
        row["train/loss"] = row["val/loss"]
    path = sweeps.write_csv(table, tmp_path / "wandb_export.csv")
    message = one_error(fit(path, "--by", "width", "--optimize", "lr"), f"{path}: 3 quantities")
    for needle in ("loss: several columns could hold it", "no column for width", "no column for lr",
                   "'config.d_model_x'", "--column NAME=COLUMN"):
        assert needle in message, needle


@pytest.mark.parametrize("names", [
    {"model.width": "config.d_model", "optimizer.lr": "config.learning_rate"},
    {"model.width": "hidden_size", "optimizer.lr": "Learning_Rate"},
    {"model.width": "config/n_embd", "optimizer.lr": "optimizer.peak_lr"},
])
def test_usual_aliases_are_mapped_and_recorded(tmp_path: Path, rows, names: dict[str, str]) -> None:
    path = sweeps.write_csv(_renamed(rows, names), tmp_path / "aliases.csv")
    plain = sweeps.write_csv(rows, tmp_path / "plain.csv")
    args = (*FIT, "--bootstrap", "50", "--format", "json")
    aliased, reference = fit(path, *args), fit(plain, *args)
    assert aliased.exit_code == 0, aliased.stderr
    result = json.loads(aliased.stdout)
    assert result["laws"] == json.loads(reference.stdout)["laws"]
    assert result["columns"]["width"] == names["model.width"]
    assert result["columns"]["lr"] == names["optimizer.lr"]


@pytest.mark.parametrize("first, second", [("d_model", "hidden_size"), ("config.d_model", "config.hidden_size"),
                                           ("D_Model", "Hidden_Size")])
def test_two_alias_columns_are_ambiguous_not_guessed(tmp_path: Path, rows, first: str, second: str) -> None:
    table = _renamed(rows, {"model.width": first})
    for row in table:
        row[second] = row[first]
    path = sweeps.write_csv(table, tmp_path / "two.csv")
    one_error(fit(path, *FIT), "width: several columns could hold it", f"'{first}'", f"'{second}'")


# ---------------------------------------------------------------------------------------------
# Property: generated tables and law files raise InputError or read (the long harness:
# tests/fuzz/fuzz_tables.py)
# ---------------------------------------------------------------------------------------------

PIECES = st.sampled_from([",", "\t", "\n", "\r", "\r\n", '"', "[", "{", "}", "]", ":", "1e500", "-0", "nan",
                          "inf", "true", "null", "9" * 450, "1" * 401, ".nan", ".inf", "[5, -5]", "\x00",
                          "\u2028", "é", " ", "#", "0", "-1", "1_0", "1,000", "4Ki", "lr", "width"])
SPLICE = st.tuples(st.integers(0, 10_000), st.integers(0, 40), st.lists(PIECES, max_size=10).map("".join))


def _spliced(seed: str, splice: tuple[int, int, str]) -> str:
    start = splice[0] % (len(seed) + 1)
    return seed[:start] + splice[2] + seed[start + splice[1]:]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(suffix=st.sampled_from([".csv", ".tsv", ".jsonl"]), splice=SPLICE)
def test_generated_run_tables_read_or_raise_input_error(tmp_path_factory, suffix: str, splice) -> None:
    rows = sweeps.mup_world(0)[:30]
    seed = _jsonl_text(rows) if suffix == ".jsonl" else _csv_text(rows, "\t" if suffix == ".tsv" else ",")
    path = tmp_path_factory.mktemp("gen") / f"table{suffix}"
    path.write_bytes(_spliced(seed, splice).encode())
    try:
        sweep_from_tables([read_table(path)], by=["width"], optimize=["lr"], metric="val/loss")
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(splice=SPLICE)
def test_generated_law_files_read_or_raise_input_error(tmp_path_factory, splice) -> None:
    path = tmp_path_factory.mktemp("gen") / "law.yaml"
    path.write_text(_spliced(SHIPPED, splice))
    try:
        law = read_law(path)
    except InputError as exc:
        assert str(exc).startswith(str(path))
        return
    for term in law.terms.values():
        for low, high in term.exponent_ci.values():
            assert low <= high  # finite and ordered (NaN fails this)


def test_an_optional_quantity_with_two_alias_columns_is_left_unused(tmp_path: Path, rows) -> None:
    table = [dict(row, num_tokens=1e9 + i, train_tokens=2e9) for i, row in enumerate(rows)]
    path = sweeps.write_csv(table, tmp_path / "context.csv")
    result = fit(path, *FIT, "--bootstrap", "50", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "dataset_size" not in json.loads(result.stdout)["columns"]


def test_an_optional_quantity_is_read_through_its_alias(tmp_path: Path, rows) -> None:
    table = [dict(row, train_tokens=2e9) for row in rows]
    path = sweeps.write_csv(table, tmp_path / "context.csv")
    result = fit(path, *FIT, "--bootstrap", "50", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["columns"].get("dataset_size") == "train_tokens"


@pytest.mark.parametrize("old, new, key", [
    # Found by tests/fuzz/fuzz_tables.py: a list where a quantity's name belongs crashed transfer.
    ("dataset_size: tokens}\n  batch_unit: tokens\n  fitted_range: {compute: [1.0e+17, 2.0e+19]}",
     "dataset_size: [1.0e+17, 2.0e+19]}", "provenance.quantities.dataset_size"),
    ("dataset_size: tokens}", "dataset_size: furlongs}", "provenance.quantities.dataset_size"),
    ("fitted_range: {compute: [1.0e+17, 2.0e+19]}", "fitted_range: {compute: [.nan, 2.0e+19]}",
     "provenance.fitted_range.compute"),
    ("fitted_range: {compute: [1.0e+17, 2.0e+19]}", "fitted_range: {compute: 5}", "provenance.fitted_range.compute"),
])
def test_what_transfer_reads_from_a_laws_provenance_is_checked(tmp_path: Path, old: str, new: str, key: str) -> None:
    assert old in SHIPPED
    law, result = transfer_with(tmp_path, SHIPPED.replace(old, new, 1))
    one_error(result, f"{law}: {key}:")
