"""``hpscale check``: transfer → YAML → check passes; one value off fails naming field and rule.

Also the ecosystem hooks that ship with it: ``hpscale schema`` (and the committed schema file),
``.pre-commit-hooks.yaml``, shell completion, NO_COLOR.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hpscale.cli import app
from hpscale.core.check import DEFAULT_RTOL, compare
from hpscale.core.rules import RuleChoices

REPO = Path(__file__).resolve().parents[1]

PROXY_YAML = """\
name: check-proxy
model: {width: 256, base_width: 256, depth: 8, params: 6.3M}
data: {dataset_size: 2e9, batch_size: 524288, unit: tokens}
optimizer:
  lr: 1e-2
  weight_decay: 0.1
  betas: [0.9, 0.95]
  eps: 1e-8
init_std: 0.02
ema_decay: 0.999
param_groups:
  vector: {weight_decay: 0.0}
"""

#: (label, transfer scale options, rule options) — each combination must round-trip.
CASES = [
    ("width", ["--width", "2048"], []),
    ("width+batch+data", ["--width", "1024", "--batch-size", "1M", "--dataset-size", "8e9"], []),
    ("depth", ["--width", "512", "--depth", "16"], ["--depth-rule", "depth-mup"]),
    ("sqrt+table3+inverse", ["--width", "1024", "--batch-size", "2M"],
     ["--wd-width-rule", "sqrt", "--readout-rule", "table3", "--eps-width-rule", "inverse"]),
    ("power-lines+exponential", ["--width", "1024", "--batch-size", "4M", "--dataset-size", "20e9"],
     ["--tau-rule", "power-lines", "--beta-rule", "exponential"]),
    ("smaller", ["--width", "128", "--batch-size", "262144"], ["--wd-width-rule", "constant"]),
]

runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def proxy(tmp_path: Path) -> Path:
    path = tmp_path / "proxy.yaml"
    path.write_text(PROXY_YAML)
    return path


def make_target(proxy: Path, tmp_path: Path, name: str, *args: str) -> Path:
    out = tmp_path / name
    result = run("transfer", proxy, *args, "--format", "yaml", "--output", out)
    assert result.exit_code == 0, result.stderr
    return out


def edit(path: Path, change) -> None:
    """Apply ``change`` to the parsed YAML and write it back (comments are not needed)."""
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


# --------------------------------------------------------------------------------------------
# The loop: transfer → yaml → check
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("label, scale, rules", CASES, ids=[c[0] for c in CASES])
def test_transfer_output_passes_check(proxy, tmp_path, label, scale, rules):
    target = make_target(proxy, tmp_path, "target.yaml", *scale, *rules)
    result = run("check", proxy, target, *rules)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "all" in result.stdout and "1 of 1 targets match" in result.stdout


def test_one_value_off_by_half_fails_naming_field_and_rule(proxy, tmp_path):
    target = make_target(proxy, tmp_path, "target.yaml", "--width", "2048")
    edit(target, lambda d: d["param_groups"]["hidden"].update(
        weight_decay=d["param_groups"]["hidden"]["weight_decay"] * 1.5))
    result = run("check", proxy, target)
    assert result.exit_code == 1
    assert "param_groups.hidden.weight_decay" in result.stdout
    assert "wd-width" in result.stdout
    assert "50.00%" in result.stdout
    assert f"✗ {target}: 1 of 27 stated values differ" in result.stdout  # 23 per-group and run values + optimizer.lr, weight_decay, eps, init_std
    # only that field is reported
    assert "param_groups.hidden.lr" not in result.stdout


def test_wrong_betas_are_flagged_by_the_batch_rule(proxy, tmp_path):
    target = make_target(proxy, tmp_path, "target.yaml", "--batch-size", "2097152")  # κ = 4
    edit(target, lambda d: d["optimizer"].update(betas=[0.9, 0.95]))  # forgot to rescale
    report = json.loads(run("check", proxy, target, "--format", "json").stdout)
    fields = {f["field"]: f for f in report["targets"][0]["findings"]}
    assert set(fields) == {"optimizer.betas[0]", "optimizer.betas[1]"}
    assert fields["optimizer.betas[0]"]["rules"] == ["sqrt-batch-beta"]
    assert fields["optimizer.betas[0]"]["expected"] == pytest.approx(0.6)


def test_multiple_targets_in_order_json_schema(proxy, tmp_path):
    good = make_target(proxy, tmp_path, "target-good.yaml", "--width", "1024")
    bad = make_target(proxy, tmp_path, "target-bad.yaml", "--width", "1024")
    edit(bad, lambda d: d["param_groups"]["readout"].update(multiplier=1.0))
    result = run("check", proxy, good, bad, "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert list(report) == ["schema_version", "hpscale_version", "rtol", "rules", "law", "ok", "targets"]
    assert report["schema_version"] == 1 and report["ok"] is False
    assert report["rtol"] == DEFAULT_RTOL
    assert report["rules"]["wd_width_rule"] == "timescale"
    assert [t["path"] for t in report["targets"]] == [str(good), str(bad)]
    first, second = report["targets"]
    assert set(first) == {"path", "ok", "findings", "checked", "ignored", "warnings"}
    assert first["ok"] is True and first["findings"] == [] and first["checked"] > 15
    assert second["ok"] is False
    (finding,) = second["findings"]
    assert set(finding) == {"field", "source", "expected", "found", "rel_error", "rules", "status", "note"}
    assert finding["field"] == "param_groups.readout.multiplier"
    assert finding["expected"] == 0.25 and finding["found"] == 1
    assert finding["rel_error"] == 3 and finding["status"] == "mismatch"
    assert finding["rules"] == ["mup-multiplier"]


def test_all_targets_ok_exit_zero_json(proxy, tmp_path):
    a = make_target(proxy, tmp_path, "a.yaml", "--width", "512")
    b = make_target(proxy, tmp_path, "b.yaml", "--width", "4096", "--batch-size", "1M")
    result = run("check", proxy, a, b, "-f", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["ok"] is True


def test_rtol_decides(proxy, tmp_path):
    target = make_target(proxy, tmp_path, "t.yaml", "--width", "1024")
    edit(target, lambda d: d["param_groups"]["hidden"].update(lr=d["param_groups"]["hidden"]["lr"] * 1.005))
    assert run("check", proxy, target).exit_code == 0
    assert run("check", proxy, target, "--rtol", "1e-3").exit_code == 1
    assert run("check", proxy, target, "--rtol", "0").exit_code == 1


def test_expected_zero_needs_zero(proxy, tmp_path):
    """A proxy weight decay of 0 (the vector group) predicts 0 at every scale; a non-zero target
    value is an infinite relative error."""
    target = make_target(proxy, tmp_path, "t.yaml", "--width", "1024", "--wd-width-rule", "sqrt")
    assert run("check", proxy, target, "--wd-width-rule", "sqrt").exit_code == 0
    result = run("check", proxy, target, "--format", "json")  # default rule: timescale
    assert result.exit_code == 1
    findings = {f["field"]: f for f in json.loads(result.stdout)["targets"][0]["findings"]}
    assert "param_groups.hidden.weight_decay" in findings
    edit(target, lambda d: d["param_groups"]["vector"].update(weight_decay=1e-3))
    result = run("check", proxy, target, "--wd-width-rule", "sqrt", "--format", "json")
    (finding,) = json.loads(result.stdout)["targets"][0]["findings"]
    assert finding["field"] == "param_groups.vector.weight_decay"
    assert finding["expected"] == 0 and finding["rel_error"] is None


def test_every_rule_choice_passes_the_identity(proxy):
    """A proxy checked against itself matches under every rule choice (issue: sqrt broke it)."""

    from hpscale.core.rules import CHOICES

    for name, allowed in CHOICES.items():
        for value in allowed:
            flag = "--" + name.replace("_", "-")
            result = run("check", proxy, proxy, flag, value)
            assert result.exit_code == 0, (flag, value, result.stdout, result.stderr)


def test_global_values_name_their_source(proxy, tmp_path):
    """A target that only states optimizer.lr is blamed for the hidden group, at optimizer.lr."""
    target = tmp_path / "t.yaml"
    target.write_text(PROXY_YAML.replace("{width: 256,", "{width: 1024,"))
    report = json.loads(run("check", proxy, target, "-f", "json").stdout)
    findings = {f["field"]: f for f in report["targets"][0]["findings"]}
    assert findings["param_groups.hidden.lr"]["source"] == "optimizer.lr"
    assert findings["param_groups.hidden.lr"]["note"] == "stated as optimizer.lr"
    assert findings["param_groups.hidden.weight_decay"]["source"] == "optimizer.weight_decay"
    assert findings["param_groups.hidden.init_std"]["rules"] == ["mup-init"]
    # base_width stated at 256 → readout multiplier 256/1024 = 0.25 is what the rule predicts
    assert "param_groups.readout.multiplier" not in findings
    assert "param_groups.embedding.lr" not in findings


def test_unstated_defaults_are_not_compared(proxy, tmp_path):
    text = PROXY_YAML.replace("  betas: [0.9, 0.95]\n", "").replace("  eps: 1e-8\n", "")
    text = text.replace("batch_size: 524288", "batch_size: 1048576").replace("ema_decay: 0.999\n", "")
    target = tmp_path / "t.yaml"
    target.write_text(text)
    report = json.loads(run("check", proxy, target, "-f", "json").stdout)
    fields = {f["field"] for f in report["targets"][0]["findings"]}
    assert not any("betas" in f or f.endswith(".eps") or f == "ema_decay" for f in fields)


def test_target_ema_without_proxy_ema_is_a_finding(tmp_path):
    proxy = tmp_path / "proxy.yaml"
    proxy.write_text(PROXY_YAML.replace("ema_decay: 0.999\n", ""))
    target = tmp_path / "t.yaml"
    target.write_text(PROXY_YAML)
    result = run("check", proxy, target)
    assert result.exit_code == 1
    assert "ema_decay" in result.stdout and "the proxy has no ema_decay" in result.stdout


def test_ema_off_is_flagged(proxy, tmp_path):
    target = make_target(proxy, tmp_path, "t.yaml", "--batch-size", "2097152")
    edit(target, lambda d: d.update(ema_decay=0.999))  # forgot ρ → ρ^κ
    result = run("check", proxy, target)
    assert result.exit_code == 1
    assert "ema_decay" in result.stdout and "ema-decay" in result.stdout


def test_independent_target_of_coupled_proxy(proxy, tmp_path):
    """Weight decay is compared in the target's own convention (λ_ind = η·λ per group)."""
    target = make_target(proxy, tmp_path, "t.yaml", "--width", "1024")

    def to_independent(d):
        d["optimizer"]["weight_decay_convention"] = "independent"
        for values in d["param_groups"].values():
            values["weight_decay"] = values["weight_decay"] * values["lr"]
        d["optimizer"]["weight_decay"] = d["param_groups"]["embedding"]["weight_decay"]

    edit(target, to_independent)
    assert run("check", proxy, target).exit_code == 0
    edit(target, lambda d: d["param_groups"]["hidden"].update(weight_decay=0.1))  # coupled number left in
    result = run("check", proxy, target, "-f", "json")
    (finding,) = json.loads(result.stdout)["targets"][0]["findings"]
    assert finding["field"] == "param_groups.hidden.weight_decay"
    assert "coupled-to-independent" in finding["rules"]


def test_warnings_go_to_stderr_for_tables_and_into_json(proxy, tmp_path):
    target = make_target(proxy, tmp_path, "t.yaml", "--width", "65536")  # m = 256: far extrapolation
    result = run("check", proxy, target)
    assert result.exit_code == 0
    assert "warning:" in result.stderr and "far extrapolation" in result.stderr
    assert "far extrapolation" not in result.stdout
    report = json.loads(run("check", proxy, target, "-f", "json").stdout)
    assert any("far extrapolation" in w for w in report["targets"][0]["warnings"])


def test_check_output_file_and_exit_code(proxy, tmp_path):
    target = make_target(proxy, tmp_path, "t.yaml", "--width", "1024")
    edit(target, lambda d: d["param_groups"]["hidden"].update(lr=1.0))
    out = tmp_path / "report.json"
    result = run("check", proxy, target, "-f", "json", "-o", out)
    assert result.exit_code == 1 and result.stdout == ""
    assert json.loads(out.read_text())["ok"] is False
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_compare_api_is_pure(proxy):
    from hpscale.loader import load_config

    config = load_config(proxy)
    report = compare(config, config, RuleChoices(), 0.01)
    assert report.ok and report.findings == () and len(report.comparisons) >= 20
    assert all(c.rel_error == 0 for c in report.comparisons)


def test_unit_mismatch_is_an_input_error(proxy, tmp_path):
    target = tmp_path / "t.yaml"
    target.write_text(PROXY_YAML.replace("unit: tokens", "unit: samples"))
    result = run("check", proxy, target)
    assert result.exit_code == 2 and result.stdout == ""
    assert "data.unit" in result.stderr and str(target) in result.stderr


def test_table_has_no_trailing_spaces(proxy, tmp_path):
    target = make_target(proxy, tmp_path, "t.yaml", "--width", "1024")
    edit(target, lambda d: d["param_groups"]["hidden"].update(lr=1.0))
    out = run("check", proxy, target).stdout
    assert all(line == line.rstrip() for line in out.splitlines())
    assert "param_groups.hidden.lr" in out and "mup-lr" in out


# --------------------------------------------------------------------------------------------
# Ecosystem: schema, pre-commit, completion, NO_COLOR
# --------------------------------------------------------------------------------------------


def test_schema_command_prints_json_schema():
    result = run("schema")
    assert result.exit_code == 0 and result.stderr == ""
    schema = json.loads(result.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert set(schema["required"]) == {"model", "data", "optimizer"}
    assert schema["additionalProperties"] is False
    lr = schema["$defs"]["OptimizerSection"]["properties"]["lr"]
    assert {"type": "string"} .items() <= lr["anyOf"][1].items()  # "6e-4" is a valid lr


@pytest.mark.skipif(bool(os.environ.get("HPSCALE_OLDEST_DEPS")),
                    reason="the shipped schema is written by the newest pydantic; older releases "
                    "spell the same schema differently (.ci/run's oldest-releases job)")
def test_shipped_schema_file_is_in_sync():
    """configs/*.yaml point editors at configs/hpscale-config.schema.json: regenerate it with
    ``hpscale schema --output configs/hpscale-config.schema.json`` when the config model changes."""
    shipped = (REPO / "configs" / "hpscale-config.schema.json").read_text()
    assert shipped == run("schema").stdout


def test_configs_validate_against_the_schema():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(run("schema").stdout)
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted((REPO / "configs").glob("*.yaml")):
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
        assert errors == [], path
        assert path.read_text().startswith("# yaml-language-server: $schema=hpscale-config.schema.json")
    assert list(validator.iter_errors({"model": {"width": 0}}))  # the schema does constrain


def test_pre_commit_hook_definition():
    """The shipped hook runs the whole check on every change (proxy or target): the proxy and the
    targets come from `args`, so changed file names are not passed."""
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    (hook,) = [h for h in hooks if h["id"] == "hpscale-check"]
    assert hook["entry"] == "hpscale check"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False


def test_shell_completion_needs_no_shell_name():
    """`--show-completion zsh` printed the bash script: the option takes no value, it works with
    the shell it runs from (Typer's detection), so a shell name is refused, saying why."""
    import contextlib
    import io

    from hpscale.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--show-completion", "zsh"])
    assert code == 2 and out.getvalue() == ""
    assert "takes no shell name ('zsh')" in err.getvalue()


@pytest.mark.parametrize("no_color", [False, True])
def test_no_color_is_respected(proxy, tmp_path, monkeypatch, no_color):
    from hpscale.core.check import compare as compare_
    from hpscale.loader import load_config
    from hpscale.outputs.check import render_table

    target = make_target(proxy, tmp_path, "t.yaml", "--width", "1024")
    edit(target, lambda d: d["param_groups"]["hidden"].update(lr=1.0))
    report = compare_(load_config(proxy), load_config(target))
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    text = render_table([("t.yaml", report)], 0.01, color=True)  # as on a terminal
    colour = re.search(r"\x1b\[[0-9;]*3[0-7]m", text)
    assert (colour is None) == no_color


def test_json_path_does_not_import_rich(proxy, tmp_path):
    import subprocess

    target = make_target(proxy, tmp_path, "t.yaml", "--width", "1024")
    code = (
        "import sys; from hpscale.cli import main; "
        f"code = main(['check', {str(proxy)!r}, {str(target)!r}, '-f', 'json']); "
        "sys.stderr.write(str(code) + ' ' + str(any(m.startswith('rich') for m in sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stderr.strip() == "0 False"


def test_warmup_steps_round_trip_and_findings(tmp_path):
    proxy = tmp_path / "proxy.yaml"
    proxy.write_text(PROXY_YAML.replace("  eps: 1e-8\n", "  eps: 1e-8\n  warmup_steps: 1000\n"))
    target = make_target(proxy, tmp_path, "t.yaml", "--batch-size", "1572864")  # κ = 3
    assert yaml.safe_load(target.read_text())["optimizer"]["warmup_steps"] == 333
    assert run("check", proxy, target).exit_code == 0  # 333 is within half a step of 333.3
    edit(target, lambda d: d["optimizer"].update(warmup_steps=1000))
    result = run("check", proxy, target, "--format", "json")
    assert result.exit_code == 1
    finding = json.loads(result.stdout)["targets"][0]["findings"][0]
    assert finding["field"] == "optimizer.warmup_steps" and finding["rules"] == ["warmup-samples"]


def test_warmup_in_target_without_proxy_warmup_is_unpredicted(proxy, tmp_path):
    target = make_target(proxy, tmp_path, "t.yaml", "--width", "512")
    edit(target, lambda d: d["optimizer"].update(warmup_steps=100))
    result = run("check", proxy, target, "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["targets"][0]["findings"][0]["status"] == "unpredicted"


def test_deeper_target_without_residual_multiplier_is_a_finding(proxy, tmp_path):
    """Depth 8 → 32 changes the residual multiplier (× m_L^−α): a target that leaves it at the
    default 1.0 must not pass."""
    target = make_target(proxy, tmp_path, "deep.yaml", "--depth", "32")
    assert run("check", proxy, target).exit_code == 0
    edit(target, lambda d: d["model"].pop("residual_multiplier"))
    report = json.loads(run("check", proxy, target, "-f", "json").stdout)
    (finding,) = report["targets"][0]["findings"]
    assert finding["field"] == "model.residual_multiplier"
    assert finding["expected"] == 0.25 and finding["found"] == 1


def test_round_trip_of_a_decay_close_to_one(tmp_path):
    """ρ = 0.99999999999 with a third of the batch: the YAML must carry enough digits of 1 − ρ
    for check to pass (it failed as "expected 1, found 1")."""
    proxy = tmp_path / "p.yaml"
    proxy.write_text(PROXY_YAML.replace("ema_decay: 0.999\n", "ema_decay: 0.99999999999\n"))
    target = make_target(proxy, tmp_path, "t.yaml", "--batch-size", str(524288 / 4))
    result = run("check", proxy, target)
    assert result.exit_code == 0, result.stdout
    edit(target, lambda d: d.update(ema_decay=0.999999999995))
    result = run("check", proxy, target)
    assert result.exit_code == 1
    assert "1 − 5e-12" in result.stdout and "1 − 2.5e-12" in result.stdout  # never "1" and "1"


def test_round_trip_of_a_decay_close_to_zero(tmp_path):
    """ρ = 0.5 with 64× the batch: ρ^κ = 0.5^64 ≈ 5.4e-20 must stay positive in the YAML (1 − (1 − ρ)
    rounded it to 0, which the config schema refuses); found by the property test."""
    proxy = tmp_path / "p.yaml"
    proxy.write_text(PROXY_YAML.replace("ema_decay: 0.999\n", "ema_decay: 0.5\n"))
    target = make_target(proxy, tmp_path, "t.yaml", "--batch-size", str(524288 * 64), "--beta-rule", "exponential")
    assert yaml.safe_load(target.read_text())["ema_decay"] == pytest.approx(0.5**64, rel=1e-11)
    assert run("check", proxy, target, "--beta-rule", "exponential").exit_code == 0


def test_ignore_fields_set_by_policy(proxy, tmp_path):
    """A team that keeps β and ε fixed when the batch grows: --ignore (or the keep rules)."""
    target = make_target(proxy, tmp_path, "t.yaml", "--batch-size", "2097152")
    edit(target, lambda d: (d["optimizer"].update(betas=[0.9, 0.95], eps=1e-8),
                            [g.update(eps=1e-8) for g in d["param_groups"].values()]))
    assert run("check", proxy, target).exit_code == 1
    result = run("check", proxy, target, "--ignore", "optimizer.betas", "--ignore", "*eps")
    assert result.exit_code == 0, result.stdout
    assert "7 ignored" in result.stdout  # 4 group ε, 2 β, and optimizer.eps no group inherits
    assert run("check", proxy, target, "--beta-rule", "keep", "--eps-batch-rule", "keep").exit_code == 0
    bad = run("check", proxy, target, "--ignore", "optimizer.beta")
    assert bad.exit_code == 2 and "--ignore: 'optimizer.beta' matches no field" in bad.stderr
