"""``hpscale plan``: the shipped laws evaluated at a planned run (hpscale/core/published.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hpscale.cli import app

ROOT = Path(__file__).resolve().parents[1]
LLAMA = str(ROOT / "configs" / "llama-mup-w256.yaml")
DEEPSEEK_7B = ("--width", "4096", "--depth", "30", "--tokens", "2T", "--seq-len", "4096")


def run(*args: str):
    return CliRunner(env={"COLUMNS": "80", "NO_COLOR": "1"}).invoke(app, ["plan", *args])


def plan_json(*args: str) -> dict:
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def by_name(doc: dict) -> dict:
    return {law["name"]: law for law in doc["laws"]}


def test_deepseek_7b_run_is_reproduced_and_flagged_beyond_its_range():
    # DeepSeek LLM (arXiv 2401.02954) Table 2: 7B (30 layers, d 4096, 4,096-token sequences, 2T
    # tokens) trained at lr 4.2e-4 with 2,304 sequences; M = 72·L·d² + 12·L·d·l_seq (§3.2).
    doc = plan_json(*DEEPSEEK_7B, "--extrapolate")
    m = 72 * 30 * 4096**2 + 12 * 30 * 4096 * 4096
    assert doc["request"]["flops_per_token"] == pytest.approx(m)
    deepseek = by_name(doc)["deepseek"]
    assert deepseek["lr"] == pytest.approx(4.2e-4, rel=0.03)
    assert deepseek["batch_size"]["sequences"] == pytest.approx(2304, rel=0.03)
    # Fitted on 1e17–2e19 FLOPs (§3.1): the 7B run lies C/2e19 beyond.
    (outside,) = deepseek["outside_range"]
    assert outside["quantity"] == "compute" and outside["beyond"] == pytest.approx(m * 2e12 / 2e19)


def test_compute_budget_replaces_m_times_d_and_spread_is_max_over_min():
    doc = plan_json("--params", "1B", "--tokens", "100B", "--compute", "1e19")
    laws = by_name(doc)
    assert laws["deepseek"]["lr"] == pytest.approx(0.3118 * 1e19**-0.125)
    assert laws["deepseek"]["batch_size"]["tokens"] == pytest.approx(0.2920 * 1e19**0.3271)
    assert laws["deepseek"]["outside_range"] == []  # 1e19 lies in 1e17–2e19
    # Step Law by hand at N = 1e9, D = 1e11 (the shipped constants): 1.7973·N^−0.7129·D^0.3075.
    assert laws["steplaw"]["lr"] == pytest.approx(1.7973 * 1e9**-0.7129 * 1e11**0.3075)
    assert laws["steplaw"]["batch_size"]["sequences"] == pytest.approx(0.5807 * 1e11**0.5709 / 2048)
    lrs = [laws["deepseek"]["lr"], laws["steplaw"]["lr"]]
    assert doc["spread"]["lr"] == pytest.approx(max(lrs) / min(lrs))


def test_yaml_is_the_json_contract():
    args = ("--params", "1B", "--tokens", "100B")
    assert yaml.safe_load(run(*args, "--format", "yaml").stdout) == plan_json(*args)


def test_proxy_transfer_is_shown_and_a_law_more_than_2x_away_is_flagged():
    doc = plan_json(*DEEPSEEK_7B, "--extrapolate", "--proxy", LLAMA, "--batch-size", "4M")
    transfer = doc["transfer"]
    assert transfer["batch_size"]["tokens"] == pytest.approx(4e6)
    flags = {(f["law"], f["hp"]): f["ratio"] for f in transfer["disagree"]}
    for law in doc["laws"]:
        for hp, value, ours in (("lr", law["lr"], transfer["lr"]),
                                ("batch_size", law["batch_size"]["tokens"], 4e6)):
            ratio = max(value / ours, ours / value)
            assert ((law["name"], hp) in flags) == (ratio > 2)
    table = run(*DEEPSEEK_7B, "--extrapolate", "--proxy", LLAMA, "--batch-size", "4M").stdout
    assert "transfer" in table and all(len(line) <= 80 for line in table.splitlines())


@pytest.mark.parametrize("args, field", [
    (("--params", "1B", "--tokens", "100B", "--law", "nosuchlaw"), "--law"),
    ((*DEEPSEEK_7B,), "--tokens"),  # outside every law's fitted range without --extrapolate
    (("--params", "1B"), "--tokens"),
    (("--tokens", "100B"), "--params"),
    (("--params", "-1", "--tokens", "100B"), "--params"),
])
def test_bad_input_is_one_line_exit_2(args, field):
    result = run(*args)
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and field in lines[0] and "Traceback" not in result.stderr
    if "nosuchlaw" in args:
        assert "deepseek" in lines[0] and "steplaw" in lines[0]


def test_model_size_from_a_config():
    doc = plan_json("--model", LLAMA, "--tokens", "2e9", "--seq-len", "2048")
    # configs/llama-mup-w256.yaml: 8 blocks of width 256 → N = 12·8·256², M = 72·8·256² + 12·8·256·2048.
    assert doc["request"]["non_embedding_params"] == 12 * 8 * 256**2
    assert doc["request"]["flops_per_token"] == 72 * 8 * 256**2 + 12 * 8 * 256 * 2048
    assert run("--model", LLAMA, "--params", "1B", "--tokens", "2e9").exit_code == 2
