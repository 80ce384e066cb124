"""Issue 17 items 2, 3, 4 and 9: a generated target states only values ``check`` checks, offers
one ε, records its rules (and ``check`` names the flags they need), and small things a user sees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hpscale.cli import app
from hpscale.contract import recorded_rules

PROXY = """\
name: trust-proxy
model: {width: 256, base_width: 256, depth: 8, params: 6.3M}
data: {dataset_size: 2e9, batch_size: 524288, unit: tokens}
optimizer: {lr: 1e-2, weight_decay: 0.1, betas: [0.9, 0.95], eps: 1e-8}
init_std: 0.02
param_groups:
  vector: {weight_decay: 0.0}
"""


def _run(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture()
def proxy(tmp_path: Path) -> Path:
    path = tmp_path / "proxy.yaml"
    path.write_text(PROXY)
    return path


def _target(tmp_path: Path, proxy: Path, *options: str) -> Path:
    out = tmp_path / "target.yaml"
    result = _run("transfer", str(proxy), "--width", "1024", "--batch-size", "2M", *options,
                  "-f", "yaml", "-o", str(out))
    assert result.exit_code == 0, result.output
    return out


def _edit(path: Path, section: str | None, key: str, value: float) -> Path:
    header = [line for line in path.read_text().splitlines() if line.startswith("#")]
    data = yaml.safe_load(path.read_text())
    (data[section] if section else data)[key] = value
    edited = path.with_name(f"edited-{key}.yaml")
    edited.write_text("\n".join(header) + "\n" + yaml.safe_dump(data, sort_keys=False))
    return edited


def test_generated_target_matches(tmp_path, proxy):
    result = _run("check", str(proxy), str(_target(tmp_path, proxy)))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("section", "key", "factor", "zero"), [
    ("optimizer", "lr", 5.0, None),
    ("optimizer", "weight_decay", None, 0.5),
    (None, "init_std", 5.0, None),
    ("optimizer", "eps", 10.0, None),
])
def test_check_sees_every_run_level_edit(tmp_path, proxy, section, key, factor, zero):
    """Every group states its own value, so nothing inherits these: they were unchecked (17.2)."""
    target = _target(tmp_path, proxy)
    data = yaml.safe_load(target.read_text())
    old = (data[section] if section else data)[key]
    new = zero if factor is None else old * factor
    if zero is not None and old != 0:  # the embedding group has λ = 0 in this proxy? (vector has)
        new = old + zero
    result = _run("check", str(proxy), str(_edit(target, section, key, new)))
    assert result.exit_code == 1, result.output
    field = f"{section}.{key}" if section else key
    assert any(line.split()[:1] == [field] for line in result.stdout.splitlines()), result.stdout


def test_run_level_value_may_repeat_another_group(tmp_path, proxy):
    """A hand-written target may put the hidden group's lr at the run level: it is one of the
    predicted values, so it matches (and the JSON note says whose value it is)."""
    target = _target(tmp_path, proxy)
    data = yaml.safe_load(target.read_text())
    edited = _edit(target, "optimizer", "lr", data["param_groups"]["hidden"]["lr"])
    result = _run("check", str(proxy), str(edited), "-f", "json")
    assert result.exit_code == 0, result.output


def test_one_eps_after_a_width_change(tmp_path, proxy):
    """17.3: optimizer.eps is every group's ε (it was the ε before the width rule)."""
    target = _target(tmp_path, proxy)
    data = yaml.safe_load(target.read_text())
    groups = {g["eps"] for g in data["param_groups"].values()}
    assert groups == {data["optimizer"]["eps"]}
    assert data["optimizer"]["eps"] == pytest.approx(1e-8 / 4 / (2e6 / 524288) ** 0.5, rel=1e-9)  # 1/m · 1/√κ
    assert "optimizer.eps is every group's ε" in target.read_text()
    result = _run("transfer", str(proxy), "--width", "1024", "--batch-size", "2M", "-f", "json")
    contract = json.loads(result.stdout)
    assert {g["eps"] for g in contract["optimizer_groups"].values()} == {contract["optimizer"]["eps"]}


def test_header_says_when_group_eps_differ(tmp_path, proxy):
    """Depth transfer scales the residual blocks' ε only: the header must not claim one ε."""
    out = tmp_path / "deep.yaml"
    result = _run("transfer", str(proxy), "--depth", "32", "-f", "yaml", "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    data = yaml.safe_load(text)
    assert len({g["eps"] for g in data["param_groups"].values()}) > 1
    assert "the groups' ε differ" in text and "every group's ε" not in text


def test_total_steps_is_whole(proxy):
    result = _run("transfer", str(proxy), "--width", "1024", "--batch-size", "3000000", "-f", "json")
    contract = json.loads(result.stdout)
    for side in ("proxy", "target"):
        assert isinstance(contract[side]["total_steps"], int)
        assert contract[side]["total_steps"] == round(contract[side]["steps_per_epoch"])


def test_recorded_rules_are_read():
    assert recorded_rules("# x\n# rules: wd-width=sqrt readout=table3 eps-width=inverse\nname: x\n") == {
        "wd_width_rule": "sqrt", "readout_rule": "table3", "eps_width_rule": "inverse"}
    assert recorded_rules("name: x\n") == {}


def test_check_names_the_flag_a_recorded_rule_needs(tmp_path, proxy):
    """17.4: a target made with --wd-width-rule sqrt fails a plain check; the note names the flag."""
    target = _target(tmp_path, proxy, "--wd-width-rule", "sqrt")
    plain = _run("check", str(proxy), str(target))
    assert plain.exit_code == 1
    notes = [line for line in plain.stderr.splitlines() if "--wd-width-rule sqrt" in line]
    assert len(notes) == 1 and "wd-width=sqrt" in notes[0]
    matched = _run("check", str(proxy), str(target), "--wd-width-rule", "sqrt")
    assert matched.exit_code == 0, matched.output
    assert "--wd-width-rule" not in matched.stderr


def test_rule_names_are_not_cut_at_80_columns(tmp_path, proxy, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    target = _target(tmp_path, proxy, "--wd-width-rule", "sqrt", "--readout-rule", "table3")
    result = _run("check", str(proxy), str(target))
    assert result.exit_code == 1
    assert "…" not in result.stdout
    # Headings name the path on one line whatever its length (they are grepped); tables fit.
    assert max(len(line) for line in result.stdout.splitlines() if line[:1] not in "✓✗") <= 80


def test_fit_help_shows_the_plot_extra(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    result = _run("fit", "--help")
    assert "hpscale[plot]" in result.stdout


def test_explain_prints_plain_text():
    result = _run("explain", "wd-width")
    assert result.exit_code == 0
    assert "``" not in result.stdout and "timescale:" in result.stdout
