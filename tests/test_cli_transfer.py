"""`hpscale transfer` end to end: formats, streams, files, the shipped configs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hpscale.cli import app

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
LLAMA = ROOT / "configs" / "llama-mup-w256.yaml"
NANOGPT = ROOT / "configs" / "nanogpt-124m-proxy.yaml"
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_configs_are_shipped():
    assert len(CONFIGS) >= 3


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
@pytest.mark.parametrize("fmt", ["table", "json", "yaml"])
def test_every_shipped_config_transfers(config, fmt):
    result = run("transfer", str(config), "--width", "2048", "--format", fmt)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip()
    assert "Traceback" not in result.stderr


def test_json_contract_fields_and_values():
    result = run("transfer", str(NANOGPT), "--width", "3072", "--batch-size", "983040",
                 "--dataset-size", "36142328792", "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["schema_version"] == 1
    for key in ("hpscale_version", "proxy", "target", "ratios", "rules", "param_groups",
                "optimizer", "ema_decay", "timescales", "warnings", "weight_decay_width_alternatives"):
        assert key in data
    assert set(data["param_groups"]) == {"embedding", "hidden", "readout", "vector"}
    for values in data["param_groups"].values():
        assert set(values) >= {"lr", "weight_decay", "init_std", "multiplier"}
    assert data["ratios"] == {"width": 4, "batch": 2, "dataset": 4, "depth": None, "tokens_per_param": None}
    hidden = data["param_groups"]["hidden"]
    # η: 6e-4 · (1/4) · √2;  λ: 0.1 · 4 · √2 / 4 (timescale: m, √κ, 1/ν)
    assert hidden["lr"] == pytest.approx(6e-4 / 4 * 2**0.5)
    assert hidden["weight_decay"] == pytest.approx(0.1 * 2**0.5)
    assert hidden["init_std"] == pytest.approx(0.01)
    assert data["optimizer"]["betas"] == [pytest.approx(0.8), pytest.approx(0.9)]
    assert data["ema_decay"] is None
    # τ_epoch is kept: the worked 0.9066 of Wang & Aitchison at proxy and target.
    assert data["timescales"]["hidden"]["proxy"]["tau_epoch"] == pytest.approx(0.9066, abs=1e-4)
    assert data["timescales"]["hidden"]["target"]["tau_epoch"] == pytest.approx(0.9066, abs=1e-4)
    assert data["timescales"]["vector"]["target"]["tau_epoch"] is None


def test_json_is_byte_identical_across_runs():
    args = ("transfer", str(LLAMA), "--width", "4096", "--batch-size", "2M", "--format", "json")
    assert run(*args).stdout == run(*args).stdout


def test_warnings_go_to_stderr_and_json():
    result = run("transfer", str(LLAMA), "--width", "65536", "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert any("far extrapolation" in w for w in data["warnings"])
    assert "warning: far extrapolation" in result.stderr


def test_yaml_output_is_a_valid_config_and_chains(tmp_path):
    t1 = tmp_path / "t1.yaml"
    result = run("transfer", str(LLAMA), "--width", "1024", "--batch-size", "1M", "--format", "yaml",
                 "--output", str(t1))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert yaml.safe_load(t1.read_text())["model"]["width"] == 1024
    direct = json.loads(run("transfer", str(LLAMA), "--width", "4096", "--batch-size", "2M",
                            "--dataset-size", "8e9", "-f", "json").stdout)
    chained = json.loads(run("transfer", str(t1), "--width", "4096", "--batch-size", "2M",
                             "--dataset-size", "8e9", "-f", "json").stdout)
    for group, values in direct["param_groups"].items():
        for key, value in values.items():
            assert chained["param_groups"][group][key] == pytest.approx(value, rel=1e-9), (group, key)
    assert chained["optimizer"]["betas"] == pytest.approx(direct["optimizer"]["betas"], rel=1e-9)
    assert chained["optimizer"]["eps"] == pytest.approx(direct["optimizer"]["eps"], rel=1e-9)


def test_table_shows_factors_rules_and_the_three_width_rules():
    result = runner.invoke(app, ["transfer", str(LLAMA), "--width", "2048"], env={"COLUMNS": "120"})
    out = result.stdout
    for text in ("m = 8", "µP ×0.125", "timescale ×8", "mup-lr", "wd-width", "τ_epoch",
                 "sqrt", "constant", "0.5946", "1.682", "◀ chosen"):
        assert text in out, text
    assert "\x1b[" not in out  # not a terminal: no colour codes
    narrow = runner.invoke(app, ["transfer", str(LLAMA), "--width", "2048"], env={"COLUMNS": "80"}).stdout
    assert "mup-lr" not in narrow and "rule keys: --format json --derivation" in narrow


def test_si_suffixes():
    a = json.loads(run("transfer", str(NANOGPT), "--dataset-size", "300B", "-f", "json").stdout)
    assert a["target"]["dataset_size"] == 300_000_000_000


def test_python_dash_m_and_console_script():
    proc = subprocess.run([sys.executable, "-m", "hpscale", "transfer", str(LLAMA), "--width", "512",
                           "--format", "json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["target"]["width"] == 512


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and result.stdout.startswith("hpscale ")


def test_derivation_is_opt_in_and_multiplies_to_the_ratio():
    args = ("transfer", str(NANOGPT), "--width", "3072", "--batch-size", "983040", "--dataset-size", "18B",
            "--depth", "24", "--depth-rule", "depth-mup", "--format", "json")
    assert "factors" not in json.loads(run(*args).stdout)
    data = json.loads(run(*args, "--derivation").stdout)
    proxy = {"lr": 6e-4, "weight_decay": 0.1, "init_std": 0.02, "eps": 1e-8}
    for group in ("embedding", "hidden", "readout"):  # vector's proxy weight decay is 0
        for name, start in proxy.items():
            product = 1.0
            for factor in data["factors"][group][name]:
                product *= factor["value"]
            assert data["param_groups"][group][name] == pytest.approx(start * product, rel=1e-9), (group, name)
    axes = {f["axis"] for quantities in data["factors"].values() for fs in quantities.values() for f in fs}
    assert axes == {"width", "batch", "dataset", "depth"}


def test_failure_while_building_the_command_line_is_an_internal_error(monkeypatch, capsys):
    import hpscale.cli as cli

    def broken(only=None):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "build_app", broken)
    assert cli.main(["transfer", str(LLAMA)]) == 3
    captured = capsys.readouterr()
    assert captured.out == "" and "internal error: RuntimeError: boom" in captured.err
    assert "Traceback" not in captured.err


@pytest.mark.parametrize("command", ["transfer", "check", "ladder"])
def test_every_transferring_command_takes_every_rule_option(command):
    from hpscale.commands.options import RULE_OPTIONS

    help_text = run(command, "--help").stdout
    for name in RULE_OPTIONS:
        assert "--" + name.replace("_", "-") in help_text, (command, name)
