"""``transfer --law`` and ``check --law``: a fitted law replaces the rules on the axes it covers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import sweeps
import yaml
from typer.testing import CliRunner

import hpscale
from hpscale import InputError
from hpscale.cli import app

ROOT = Path(__file__).resolve().parents[1]
LLAMA = str(ROOT / "configs" / "llama-mup-w256.yaml")
SWEEP = str(ROOT / "configs" / "sweep-synthetic.csv")


def run(*args: str):
    return CliRunner(env={"COLUMNS": "100", "NO_COLOR": "1"}).invoke(app, list(args))


@pytest.fixture(scope="module")
def law_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("law") / "law.yaml"
    result = run("fit", SWEEP, "--by", "width", "--optimize", "lr,weight_decay", "--metric", "val/loss",
                 "--bootstrap", "200", "-o", str(path), "-f", "json")
    assert result.exit_code == 0, result.stderr
    return path


def test_law_replaces_the_width_rules_of_its_group_only(law_path):
    law = hpscale.load_law(law_path)
    a_lr, a_wd = law.terms["lr"].exponents["width"], law.terms["weight_decay"].exponents["width"]
    plain = hpscale.transfer(LLAMA, width=4096)
    fitted = hpscale.transfer(LLAMA, width=4096, law=law)
    hidden = fitted.groups["hidden"]
    assert hidden.lr.target == pytest.approx(0.01 * 16**a_lr)
    assert hidden.weight_decay.target == pytest.approx(0.1 * 16**a_wd)
    assert [f.rule for f in hidden.lr.factors] == ["law:sweep-synthetic", "sqrt-batch-lr"]
    assert hidden.lr.factors[0].axis == "width" and hidden.lr.factors[0].symbol == f"m^{a_lr:.3g}"
    for group in ("embedding", "readout", "vector"):  # µP rules differ per group: they stay
        assert fitted.groups[group] == plain.groups[group]
    # Everything downstream of the law is consistent: timescales use the law's η and λ.
    tau = hidden.timescales_target.tau_epoch
    assert tau == pytest.approx(524_288 / (hidden.lr.target * hidden.weight_decay.target * 2e9))
    # The three published width rules stay visible next to the law, none of them "chosen".
    assert {alt.rule: alt.weight_decay for alt in fitted.alternatives} == pytest.approx(
        {"timescale": 1.6, "sqrt": 0.4, "constant": 0.1})


def test_json_names_the_law_and_the_derivation_still_multiplies_out(law_path):
    result = run("transfer", LLAMA, "--width", "4096", "--law", str(law_path), "-f", "json", "--derivation")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    applied = {(a["hp"], a["axis"]): a for a in data["law"]["applied"]}
    assert set(applied) == {("lr", "width"), ("weight_decay", "width")}
    assert applied[("lr", "width")]["groups"] == ["hidden"]
    lo, hi = applied[("weight_decay", "width")]["ci"]
    assert lo < applied[("weight_decay", "width")]["exponent"] < hi
    assert len(data["law"]["sha256"]) == 64
    hidden = data["factors"]["hidden"]
    for hp, proxy in (("lr", 0.01), ("weight_decay", 0.1)):
        product = math.prod(factor["value"] for factor in hidden[hp])
        assert proxy * product == pytest.approx(data["param_groups"]["hidden"][hp])
    plain = json.loads(run("transfer", LLAMA, "--width", "4096", "-f", "json").stdout)
    assert plain["law"] is None


def test_table_shows_the_law_its_interval_and_the_published_rules(law_path):
    for columns in ("80", "120"):
        result = CliRunner(env={"COLUMNS": columns}).invoke(app, ["transfer", LLAMA, "--width", "4096", "--law",
                                                                   str(law_path)])
        assert result.exit_code == 0, result.stderr
        assert max(len(line) for line in result.stdout.splitlines()) <= int(columns)
        flat = " ".join(result.stdout.split())
        assert "Fitted law sweep-synthetic" in flat
        assert "timescale +1, √d +0.5, plain µP 0" in flat
        assert "not applied here: tau_epoch, tau_iter" in flat


def test_check_compares_under_the_law(law_path, tmp_path):
    target = tmp_path / "target.yaml"
    made = run("transfer", LLAMA, "--width", "4096", "--law", str(law_path), "-f", "yaml", "-o", str(target))
    assert made.exit_code == 0, made.stderr
    assert "# law: \"sweep-synthetic\"" in target.read_text(encoding="utf-8")
    under_law = run("check", LLAMA, str(target), "--law", str(law_path))
    assert under_law.exit_code == 0, under_law.stdout + under_law.stderr
    assert "under the fitted law sweep-synthetic" in under_law.stdout
    rules = run("check", LLAMA, str(target), "-f", "json")
    assert rules.exit_code == 1
    fields = {f["field"]: f["rules"] for f in json.loads(rules.stdout)["targets"][0]["findings"]}
    assert fields == {"param_groups.hidden.lr": ["mup-lr"], "param_groups.hidden.weight_decay": ["wd-width"]}
    law_json = json.loads(run("check", LLAMA, str(target), "--law", str(law_path), "-f", "json").stdout)["law"]
    assert law_json["name"] == "sweep-synthetic"
    # A finding under a law names the law as its rule.
    edited = tmp_path / "edited.yaml"
    data = yaml.safe_load(target.read_text(encoding="utf-8"))
    data["param_groups"]["hidden"]["lr"] *= 2
    edited.write_text(yaml.safe_dump(data), encoding="utf-8")
    finding = json.loads(run("check", LLAMA, str(edited), "--law", str(law_path), "-f", "json").stdout)
    assert finding["targets"][0]["findings"][0]["rules"] == ["law:sweep-synthetic"]


def test_batch_law_moves_every_group_and_params_law_replaces_width_and_depth(tmp_path):
    batch_law = tmp_path / "batch.yaml"
    path = sweeps.write_csv(sweeps.sqrt_kappa_world(seed=31), tmp_path / "batch.csv")
    assert run("fit", str(path), "--by", "batch_size", "--optimize", "lr", "--metric", "val/loss",
               "--bootstrap", "100", "-o", str(batch_law)).exit_code == 0
    a = hpscale.load_law(batch_law).terms["lr"].exponents["batch_size"]
    result = hpscale.transfer(LLAMA, batch_size=4 * 524_288, law=batch_law)
    for group in ("embedding", "hidden", "readout", "vector"):  # √κ is the same for every group
        factors = result.groups[group].lr.factors
        assert [f.rule for f in factors if f.axis == "batch"] == ["law:batch"]
        assert result.groups[group].lr.target == pytest.approx(0.01 * 4**a)
    # A law in params replaces the width (and depth) rules of its group with (P_t/P_p)^a.
    def optimum(axes):
        return {"lr": 1e-2 * (axes["params"] / 6.3e6) ** -0.5}

    rows = sweeps.sweep_rows([{"params": p} for p in (6.3e6, 2.5e7, 1e8)], {"lr": sweeps.grid(3e-3, 11, 2 ** 0.5)},
                             sweeps.bowl(optimum, {"lr": 0.05}), seed=32)
    params_law = tmp_path / "params.yaml"
    assert run("fit", str(sweeps.write_csv(rows, tmp_path / "params.csv")), "--by", "params", "--optimize", "lr",
               "--metric", "val/loss", "--bootstrap", "100", "-o", str(params_law)).exit_code == 0
    a = hpscale.load_law(params_law).terms["lr"].exponents["params"]
    moved = hpscale.transfer(LLAMA, width=1024, law=params_law)  # params ∝ W²: P_t/P_p = 16
    factors = moved.groups["hidden"].lr.factors
    assert [(f.rule, f.axis) for f in factors if f.rule.startswith("law")] == [("law:params", "params")]
    assert not any(f.axis == "width" for f in factors)
    assert moved.groups["hidden"].lr.target == pytest.approx(0.01 * 16**a)


def test_independent_convention_converts_the_coupled_law(law_path, tmp_path):
    config = yaml.safe_load(Path(LLAMA).read_text(encoding="utf-8"))
    config["optimizer"]["weight_decay_convention"] = "independent"
    config["optimizer"]["weight_decay"] = 1e-3  # λ_ind = η·λ = 0.01 · 0.1
    law = hpscale.load_law(law_path)
    result = hpscale.transfer(config, width=4096, law=law)
    hidden = result.groups["hidden"]
    coupled = hidden.weight_decay.target / hidden.lr.target
    assert coupled == pytest.approx(0.1 * 16 ** law.terms["weight_decay"].exponents["width"])


@pytest.mark.parametrize("content, needle", [
    ("kind: other\n", "kind: 'other': expected 'hpscale-law'"),
    ("kind: hpscale-law\nschema_version: 9\n", "schema_version: 9: this hpscale reads version 1"),
    ("kind: hpscale-law\nschema_version: 1\nhpscale_version: x\nname: n\ngroup: hidden\n"
     "laws: {lr: {of: value, exponents: {steps: -1}, exponent_ci: {steps: [-1.1, -0.9]}}}\n",
     "laws.lr: axis 'steps' has no ratio in a transfer"),
    ("kind: hpscale-law\nschema_version: 1\nhpscale_version: x\nname: n\ngroup: hidden\n"
     "laws: {lr: {of: value, exponents: {width: .nan}, exponent_ci: {width: [-1.1, -0.9]}}}\n",
     "laws.lr.exponents.width"),
])
def test_bad_law_files(tmp_path, content, needle):
    bad = tmp_path / "bad-law.yaml"
    bad.write_text(content, encoding="utf-8")
    result = run("transfer", LLAMA, "--width", "1024", "--law", str(bad))
    assert result.exit_code == 2 and result.stdout == ""
    assert needle in result.stderr
    with pytest.raises(InputError):
        hpscale.transfer(LLAMA, width=1024, law=bad)


def test_missing_law_file():
    result = run("check", LLAMA, LLAMA, "--law", "no-such-law.yaml")
    assert result.exit_code == 2 and result.stdout == "" and "no-such-law.yaml: no such file" in result.stderr


def test_far_extrapolation_of_a_law_is_a_warning(law_path):
    near = hpscale.transfer(LLAMA, width=4096, law=law_path)  # ×4 beyond the swept 128–1024
    assert not any("extrapolated" in w for w in near.warnings)
    far = hpscale.transfer(LLAMA, width=131_072, law=law_path)  # ×128 beyond
    assert any("target width 131072 is ×128 beyond the swept range 128–1024" in w for w in far.warnings)
