"""check on a staged target: the document ``hpscale ramp -f json|yaml`` writes (issue 21 item 4)."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from hpscale.cli import app

runner = CliRunner()
PROXY = "configs/nanogpt-124m-proxy.yaml"
RAMP = ["--batch-size", "3932160", "--ramp", "linear:0.1", "--dataset-size", "100B"]


def ramp_doc(*extra: str) -> dict:
    result = runner.invoke(app, ["ramp", PROXY, *RAMP, *extra, "-f", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def check(tmp_path, doc, *options: str, suffix: str = ".yaml"):
    path = tmp_path / f"ramp{suffix}"
    path.write_text(yaml.safe_dump(doc, sort_keys=False) if suffix == ".yaml" else json.dumps(doc))
    return runner.invoke(app, ["check", PROXY, str(path), *options])


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_ramp_checks_clean_against_its_proxy(tmp_path, suffix):
    result = check(tmp_path, ramp_doc(), suffix=suffix)
    assert result.exit_code == 0, result.output
    # 1 reference batch + 4 stages × (4 groups × 3 values + 2 betas + ε + warmup) = 65
    assert "all 65 stated values match" in result.stdout


def test_an_edited_stage_is_a_finding_named_by_its_document_path(tmp_path):
    doc = ramp_doc()
    doc["stages"][2]["param_groups"]["hidden"]["lr"] *= 2
    doc["stages"][3]["betas"][1] = 0.95
    result = check(tmp_path, doc, "-f", "json")
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["targets"][0]["findings"]
    assert {f["source"] for f in findings} == {"stages[2].param_groups.hidden.lr", "stages[3].betas[1]"}
    lr = next(f for f in findings if f["field"] == "stages[2].param_groups.hidden.lr")
    # stage 3 of linear:0.1 (4 stages): B = 491,520 + (3,932,160 − 491,520)·2/3 = 2,785,280, κ = 17/3
    assert lr["expected"] == pytest.approx(6e-4 * (17 / 3) ** 0.5)
    assert lr["rules"] == ["sqrt-batch-lr"]


def test_ignore_applies_to_every_stage(tmp_path):
    doc = ramp_doc()
    for stage in doc["stages"]:
        stage["betas"] = [0.9, 0.95]
    assert check(tmp_path, doc).exit_code == 1
    result = check(tmp_path, doc, "--ignore", "optimizer.betas")
    assert result.exit_code == 0, result.output
    assert "8 ignored" in result.stdout


def test_a_ramp_from_another_proxy_batch_differs_at_the_reference(tmp_path):
    doc = ramp_doc()
    doc["reference_batch_size"] = 2 * doc["reference_batch_size"]
    result = check(tmp_path, doc, "-f", "json")
    assert result.exit_code == 1
    fields = [f["field"] for f in json.loads(result.stdout)["targets"][0]["findings"]]
    assert fields == ["reference_batch_size"]


def test_recorded_rules_that_differ_get_a_note_naming_the_flag(tmp_path):
    result = check(tmp_path, ramp_doc("--beta-rule", "keep"))
    assert result.exit_code == 1  # the betas were kept; check's default moves them
    assert "--beta-rule keep" in result.stderr
    assert check(tmp_path, ramp_doc("--beta-rule", "keep"), "--beta-rule", "keep").exit_code == 0


def test_a_wider_deeper_target_is_rebuilt_from_the_document(tmp_path):
    doc = ramp_doc("--width", "1536", "--depth", "24")
    assert doc["target"]["width"] == 1536 and doc["target"]["depth"] == 24
    assert check(tmp_path, doc).exit_code == 0


@pytest.mark.parametrize(("edit", "named"), [
    (lambda d: d.update(stages=5), "stages:"),
    (lambda d: d["stages"].__setitem__(1, [1]), "stages[1]:"),
    (lambda d: d["stages"][1]["param_groups"]["hidden"].update(lr=-1), "stages[1].param_groups.hidden.lr:"),
    (lambda d: d["stages"][1]["param_groups"].update(hiden={}), "stages[1].param_groups: 'hiden'"),
    (lambda d: d.pop("target"), "target:"),
    (lambda d: d.update(reference_batch_size=True), "reference_batch_size:"),
    (lambda d: d["stages"][0].update(batch_size="x"), "stages[0].batch_size:"),
    (lambda d: d["target"].update(width=-3), "target.width:"),
    (lambda d: d["stages"][1].update(betas=[0.9]), "stages[1].betas[1]:"),
    (lambda d: d.update(stages=[]), "stages:"),
])
def test_a_bad_staged_target_is_one_line_naming_the_path(tmp_path, edit, named):
    doc = ramp_doc()
    edit(doc)
    result = check(tmp_path, doc)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_an_enormous_relative_error_is_printed_short(tmp_path):
    # A found lr of 1e300 used to print its relative error as a 300-digit percentage.
    doc = ramp_doc()
    doc["stages"][1]["param_groups"]["hidden"]["lr"] = 1e300
    result = check(tmp_path, doc)
    assert result.exit_code == 1
    import re

    assert "9.13e+304%" in result.stdout  # |1e300 − η| / η with η = 6e-4·√(10/3)
    assert not re.search(r"\d{20}", result.stdout)
