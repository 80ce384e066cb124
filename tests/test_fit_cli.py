"""``hpscale fit`` end to end: run tables (CSV, TSV, W&B exports, JSON Lines), the tables, the JSON
contract, the law file, figures, and every bad input (exit 2, one line, nothing on stdout)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import sweeps
from typer.testing import CliRunner

from hpscale.cli import app

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ROOT / "configs" / "sweep-synthetic.csv"
README_ARGS = [str(SWEEP), "--by", "width", "--optimize", "lr,weight_decay", "--metric", "val/loss"]


def run(*args: str, columns: int = 100):
    return CliRunner(env={"COLUMNS": str(columns), "NO_COLOR": "1"}).invoke(app, ["fit", *args])


@pytest.fixture(scope="module")
def mup_csv(tmp_path_factory) -> Path:
    return sweeps.write_csv(sweeps.mup_world(seed=21), tmp_path_factory.mktemp("fit") / "mup.csv")


def test_shipped_sweep_is_labelled_synthetic_and_reproducible(tmp_path):
    text = SWEEP.read_text(encoding="utf-8")
    assert text.startswith("# SYNTHETIC sweep, not real training runs")
    again = sweeps.write_csv(sweeps.readme_world(), tmp_path / "again.csv", sweeps.README_COMMENT)
    assert again.read_text(encoding="utf-8") == text


@pytest.mark.parametrize("columns", [80, 120])
def test_table_fits_the_terminal(columns):
    result = run(*README_ARGS, "--bootstrap", "200", "--predict", "width=4096", columns=columns)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns
    for needle in ("Optimum per cell", "Laws:", "Verdicts:", "Predictions", "√d", "timescale"):
        assert needle in result.stdout


def test_json_contract():
    result = run(*README_ARGS, "--bootstrap", "200", "--predict", "width=4096", "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["schema_version"] == 1 and data["by"] == ["width"] and data["optimize"] == ["lr", "weight_decay"]
    law = data["laws"]["lr"]
    assert law["exponents"]["width"] == pytest.approx(-1.0, abs=0.05)
    lo, hi = law["exponent_ci"]["width"]
    assert lo < law["exponents"]["width"] < hi and law["coefficient"] > 0
    assert data["laws"]["weight_decay"]["exponents"]["width"] == pytest.approx(0.5, abs=0.08)
    assert len(data["cells"]) == 4 and data["cells"][0]["axes"] == {"width": 128}
    assert set(data["cells"][0]) >= {"optimum", "ci", "runs", "diverged", "flags", "used_in_laws", "derived"}
    assert data["runs"] == {"total": 252, "diverged": 41, "incomplete": 1, "cells": 4}
    verdicts = {(v["hp"], v["axis"], v["choice"]): v["consistent"] for v in data["verdicts"]}
    assert verdicts[("weight_decay", "width", "sqrt")] and not verdicts[("weight_decay", "width", "timescale")]
    prediction = data["predictions"][0]
    assert prediction["at"] == {"width": 4096}
    assert prediction["intervals"]["lr"][0] < prediction["values"]["lr"] < prediction["intervals"]["lr"][1]
    assert data["columns"]["lr"] == "optimizer.lr" and data["inputs"][0]["sha256"]
    assert data["method"]["resample"] == "noise" and data["method"]["noise_sd"] > 0


def test_law_file_round_trip(tmp_path):
    from hpscale.lawfile import read_law

    law_path = tmp_path / "law.yaml"
    result = run(*README_ARGS, "--bootstrap", "200", "--output", str(law_path), "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert f"wrote {law_path}" in result.stderr
    data = json.loads(result.stdout)
    law = read_law(law_path)
    assert law.group == "hidden" and set(law.terms) == set(data["laws"]) and law.lr_optimized
    assert law.terms["weight_decay"].exponents["width"] == data["laws"]["weight_decay"]["exponents"]["width"]
    assert law.terms["lr"].exponent_ci["width"] == tuple(data["laws"]["lr"]["exponent_ci"]["width"])
    assert law.terms["lr"].axes_range["width"] == (128, 1024)
    text = law_path.read_text(encoding="utf-8")
    assert "sha256:" in text and "hpscale_version" in text and "method:" in text


def test_law_file_errors(tmp_path):
    from hpscale.errors import InputError
    from hpscale.lawfile import read_law

    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: hpscale-law\nschema_version: 1\nhpscale_version: x\nname: n\ngroup: hidden\n"
                   "laws: {lr: {of: value, exponents: {width: -1}, exponent_ci: {width: [-1.1, -0.9]}, extra: 1}}\n")
    with pytest.raises(InputError, match=r"laws\.lr\.extra"):
        read_law(bad)
    bad.write_text("kind: other\n")
    with pytest.raises(InputError, match="kind: 'other'"):
        read_law(bad)


def test_plot_writes_png_and_svg(tmp_path, mup_csv):
    pytest.importorskip("matplotlib")
    folder = tmp_path / "figures"
    result = run(str(mup_csv), "--by", "width", "--optimize", "lr", "--metric", "val/loss", "--bootstrap", "50",
                 "--plot", str(folder))
    assert result.exit_code == 0, result.stderr
    names = sorted(path.name for path in folder.iterdir())
    assert names == ["fit-cells.png", "fit-cells.svg", "fit-laws.png", "fit-laws.svg"]
    assert (folder / "fit-cells.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (folder / "fit-laws.svg").read_text(encoding="utf-8")


def test_plot_without_matplotlib_is_a_clear_error(monkeypatch, mup_csv, tmp_path):
    import hpscale.extras

    monkeypatch.setattr(hpscale.extras, "available", lambda module: False)
    result = run(str(mup_csv), "--by", "width", "--optimize", "lr", "--metric", "val/loss",
                 "--plot", str(tmp_path / "f"))
    assert result.exit_code == 2 and result.stdout == ""
    assert "pip install 'hpscale[plot]'" in result.stderr


# --- run tables ------------------------------------------------------------------------------

def test_wandb_export_columns_and_an_ambiguous_metric(tmp_path):
    rows = sweeps.mup_world(seed=22)
    for row in rows:
        row["train/loss"] = row["val/loss"]
    path = sweeps.write_csv(rows, tmp_path / "wandb_export.csv")
    ambiguous = run(str(path), "--by", "width", "--optimize", "lr")
    assert ambiguous.exit_code == 2 and ambiguous.stdout == ""
    assert "loss: several columns could hold it ('val/loss', 'train/loss')" in ambiguous.stderr
    assert "--column loss=COLUMN" in ambiguous.stderr or "--metric" in ambiguous.stderr
    chosen = run(str(path), "--by", "width", "--optimize", "lr", "--metric", "val/loss", "--bootstrap", "50",
                 "-f", "json")
    assert chosen.exit_code == 0, chosen.stderr
    assert json.loads(chosen.stdout)["columns"] == {"metric": "val/loss", "width": "model.width",
                                                    "lr": "optimizer.lr", "name": "Name", "state": "State"}


def test_tsv_jsonl_and_explicit_columns(tmp_path):
    rows = sweeps.mup_world(seed=23)
    tsv = tmp_path / "runs.tsv"
    with open(tsv, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, list(rows[0]), delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    jsonl = tmp_path / "runs.jsonl"
    jsonl.write_text("\n".join(json.dumps({"name": r["Name"], "state": r["State"],
                                           "config": {"d_model": r["model.width"], "opt": {"peak": r["optimizer.lr"]}},
                                           "summary": {"eval": r["val/loss"] if r["val/loss"] != "" else None}})
                               for r in rows) + "\n", encoding="utf-8")
    exponents = []
    for path, extra in ((tsv, ["--metric", "val/loss"]),
                        (jsonl, ["--metric", "summary.eval", "--column", "width=config.d_model",
                                 "--column", "lr=config.opt.peak"])):
        result = run(str(path), "--by", "width", "--optimize", "lr", "--bootstrap", "50", "-f", "json", *extra)
        assert result.exit_code == 0, result.stderr
        exponents.append(json.loads(result.stdout)["laws"]["lr"]["exponents"]["width"])
    assert exponents[0] == pytest.approx(exponents[1])


def test_runs_from_two_files_and_incomplete_runs(tmp_path):
    rows = sweeps.mup_world(seed=24)
    rows[3]["State"] = "running"
    first = sweeps.write_csv(rows[:30], tmp_path / "a.csv")
    second = sweeps.write_csv(rows[30:], tmp_path / "b.csv")
    result = run(str(first), str(second), "--by", "width", "--optimize", "lr", "--metric", "val/loss",
                 "--bootstrap", "50", "-f", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [entry["rows"] for entry in data["inputs"]] == [30, len(rows) - 30]
    assert data["runs"]["incomplete"] == 1 and data["runs"]["total"] == len(rows)


# --- bad input: exit 2, one line naming the column/row and what is allowed -----------------------

def _table(tmp_path: Path, edit, name: str = "bad.csv") -> Path:
    rows = sweeps.mup_world(seed=25)
    rows = edit(rows) or rows
    return sweeps.write_csv(rows, tmp_path / name)


def _set(index: int, key: str, value):
    def edit(rows):
        rows[index][key] = value
    return edit


BAD_TABLES = {
    "missing column": (lambda rows: [{k: v for k, v in r.items() if k != "optimizer.lr"} for r in rows],
                       [], "bad.csv: no column for lr (looked for 'lr', '*.lr', '*/lr')"),
    "unmapped column": (None, ["--column", "lr=learning_rate"],
                        "bad.csv has no column 'learning_rate'; columns: 'Name', 'State'"),
    "text in a number column": (_set(5, "optimizer.lr", "fast"), [],
                                "bad.csv:7: column 'optimizer.lr': 'fast': expected a number"),
    "text in the metric": (_set(5, "val/loss", "n.a.x"), [], "bad.csv:7: column 'val/loss': 'n.a.x'"),
    "zero hp": (_set(2, "optimizer.lr", 0), [], "bad.csv:4: column 'optimizer.lr': '0': lr must be > 0"),
    "negative hp": (_set(2, "optimizer.lr", -1e-3), [], "lr must be > 0 to be placed on a log axis"),
    "negative axis": (_set(2, "model.width", -128), [], "bad.csv:4: column 'model.width': '-128': width must be > 0"),
    "duplicate run by name": (_set(4, "Name", "run-0001"), [], "bad.csv:6: run 'run-0001' also at "),
    "duplicate run without names": (lambda rows: [{k: v for k, v in r.items() if k != "Name"} for r in rows + rows[:1]],
                                    [], "a duplicate run; list each run once"),
    "unknown state": (_set(1, "State", "exploded"), [], "bad.csv:3: column 'State': 'exploded': unknown run state"),
    "single cell": (lambda rows: [r for r in rows if r["model.width"] == 256], [],
                    "--by width: the runs form a single cell (width=256); a law needs at least 2 cells"),
    "all runs of a cell diverged": (lambda rows: [{**r, "State": "crashed"} if r["model.width"] == 512 else r
                                                  for r in rows], [],
                                    "cell width=512: all 13 runs diverged; nothing to fit"),
    "unfixed hp": (lambda rows: [{**r, "optimizer.weight_decay": 0.1 * (1 + i % 2)} for i, r in enumerate(rows)], [],
                   "column 'optimizer.weight_decay': weight_decay varies inside cell width=128 (0.1, 0.2) but is "
                   "neither in --optimize nor in --by"),
}


@pytest.mark.parametrize("case", list(BAD_TABLES))
def test_bad_tables(case, tmp_path):
    edit, extra, needle = BAD_TABLES[case]
    path = _table(tmp_path, edit or (lambda rows: None))
    result = run(str(path), "--by", "width", "--optimize", "lr", "--metric", "val/loss", "--bootstrap", "20", *extra)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert needle in lines[0], lines[0]


@pytest.mark.parametrize("args, needle", [
    (["--by", "height"], "--by: 'height': allowed: width, depth, params"),
    (["--optimize", "momentum"], "--optimize: 'momentum': allowed: lr, weight_decay"),
    (["--optimize", "lr,weight_decay,beta2"], "give one or two hyperparameters"),
    (["--by", "width,batch_size", "--optimize", "batch_size"], "--by/--optimize: batch_size is in both"),
    (["--format", "xml"], "--format: 'xml': allowed: table, json"),
    (["--predict", "width"], "--predict: 'width': expected NAME=VALUE, e.g. params=7e9"),
    (["--predict", "width=big"], "--predict width: expected a number"),
    (["--column", "lr"], "--column: 'lr': expected NAME=VALUE, e.g. lr=optimizer.lr"),
    (["--law", "lr ~ width + width"], "an axis is named twice"),
    (["--bootstrap", "-5"], "--bootstrap: -5"),
])
def test_bad_options(args, needle, mup_csv):
    base = {"--by": "width", "--optimize": "lr"}
    given = dict(zip(args[::2], args[1::2], strict=True))
    merged = [*sum(([key, value] for key, value in {**base, **given}.items() if key in base), []),
              *sum(([key, value] for key, value in given.items() if key not in base), [])]
    result = run(str(mup_csv), "--metric", "val/loss", *merged)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == "" and needle in result.stderr


def test_unreadable_inputs(tmp_path):
    for path, needle in ((tmp_path / "missing.csv", "no such file"), (tmp_path, "is a directory"),
                         (tmp_path / "runs.parquet", "unknown run-table format '.parquet'")):
        if path.suffix == ".parquet":
            path.write_bytes(b"PAR1")
        result = run(str(path), "--by", "width", "--optimize", "lr")
        assert result.exit_code == 2 and result.stdout == "" and needle in result.stderr


def test_output_never_overwrites_an_input_and_needs_a_folder(tmp_path, mup_csv):
    for output, needle in ((mup_csv, "is an input file"), (tmp_path / "nope" / "law.yaml", "does not exist")):
        before = mup_csv.read_bytes()
        result = run(str(mup_csv), "--by", "width", "--optimize", "lr", "--metric", "val/loss", "-o", str(output))
        assert result.exit_code == 2 and result.stdout == "" and needle in result.stderr
        assert mup_csv.read_bytes() == before


def test_weak_evidence_warns_on_stderr_and_in_json(tmp_path):
    rows = sweeps.mup_world(seed=26, widths=(64, 256, 1024, 2048))
    path = sweeps.write_csv(rows, tmp_path / "edge.csv")
    result = run(str(path), "--by", "width", "--optimize", "lr", "--metric", "val/loss", "--bootstrap", "50",
                 "-f", "json")
    assert result.exit_code == 0
    warning = "cell width=64: optimum not bracketed"
    assert f"warning: {warning}" in result.stderr
    data = json.loads(result.stdout)
    assert any(w.startswith(warning) for w in data["warnings"])
    assert data["cells"][0]["flags"] == ["not_bracketed"] and data["cells"][0]["used_in_laws"] is False


def test_terminal_acting_characters_in_names_are_escaped(tmp_path):
    rows = sweeps.mup_world(seed=27)
    for row in rows:
        row["val/loss\x1b[2J\u202e"] = row.pop("val/loss")
        row["Name"] = f"{row['Name']}\x9b"
    path = sweeps.write_csv(rows, tmp_path / "sweep\x1b]0;pwned\x07.csv")
    metric = "val/loss\x1b[2J\u202e"
    table = run(str(path), "--by", "width", "--optimize", "lr", "--metric", metric, "--bootstrap", "20")
    assert table.exit_code == 0, table.stderr
    data = run(str(path), "--by", "width", "--optimize", "lr", "--metric", metric, "--bootstrap", "20", "-f", "json")
    for text in (table.stdout, table.stderr, data.stdout):
        assert not any(char in text for char in "\x1b\x07\x9b\u202e")
    assert json.loads(data.stdout)["metric"]["column"] == metric  # the same value, escaped in the text
