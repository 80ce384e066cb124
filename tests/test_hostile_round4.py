"""Hostile input, round 4 (hostile4): defects found by fuzzing the ``.bin`` reader and Hugging
Face directories (``tests/fuzz/fuzz_checkpoints.py``), and by probing the newest surfaces —
``ramp``, ``plan``, staged ``check``, Muon configs, law files, trainer formats, ``--output`` —
and the integer fields of configs and the command line. Each test asserts hpscale's own
contract: exit 2, one ``error:`` line naming the field and what is allowed, nothing on stdout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from spectrum_fixtures import write_safetensors

from hpscale.checkpoints import scan_checkpoint
from hpscale.cli import main

ROOT = Path(__file__).resolve().parents[1]
LLAMA = str(ROOT / "configs" / "llama-mup-w256.yaml")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def one_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run ``hpscale ARGS``: exit 2, nothing on stdout, exactly one ``error:`` line (returned)."""
    code, out, err = run(capsys, *args)
    lines = err.splitlines()
    assert code == 2, (code, out, err)
    assert out == ""
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


# --- checkpoints (fuzz_checkpoints.py) ------------------------------------------------------

def test_an_empty_matrix_has_zero_norms_not_a_crash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 0×8 matrix (found by fuzzing a .bin pickle): σ_top and ‖·‖_F are 0, stable rank none."""
    path = tmp_path / "empty.safetensors"
    write_safetensors(path, {"h.0.mlp.c_fc.weight": np.zeros((0, 8), np.float32)})
    (record,) = scan_checkpoint(path).records
    assert (record.stats.sigma_max, record.stats.frobenius, record.stats.stable_rank) == (0.0, 0.0, None)
    code, out, _ = run(capsys, "spectrum", str(path), "--format", "json")
    assert code == 0 and '"shape": [\n        0,' in out


# --- integers: honest bounds (hpscale.limits) -------------------------------------------------

def _config(tmp_path: Path, old: str, new: str) -> str:
    text = Path(LLAMA).read_text()
    assert old in text
    path = tmp_path / "proxy.yaml"
    path.write_text(text.replace(old, new, 1))
    return str(path)


@pytest.mark.parametrize(("old", "new", "field"), [
    ("width: 256 ", "width: 1e300 ", "model.width"),
    ("width: 256 ", "width: 4294967296 ", "model.width"),
    ("base_width: 256 ", "base_width: 1e15 ", "model.base_width"),
    ("depth: 8 ", "depth: 1e9 ", "model.depth"),
    ("batch_size: 524_288", "batch_size: 1e30", "data.batch_size"),
    ("batch_size: 524_288", "batch_size: 2.5", "data.batch_size"),
    ("dataset_size: 2e9", "dataset_size: 1e300", "data.dataset_size"),
    ("  depth: 8 ", "  depth: 8\n  params: 1e300\n ", "model.params"),
    ("  eps: 1e-8", "  eps: 1e-8\n  warmup_steps: 1e300", "optimizer.warmup_steps"),
])
def test_a_config_integer_beyond_any_real_run_is_refused_with_its_range(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, field: str) -> None:
    line = one_error(capsys, "transfer", _config(tmp_path, old, new))
    assert f"{field}: must be a " in line and "number from " in line and "found" in line


@pytest.mark.parametrize(("old", "new"), [("width: 256 ", "width: 256.0 "), ("width: 256 ", "width: 1Mi "),
                                          ("depth: 8 ", "depth: 100000 "), ("depth: 8 ", "depth: 8.0 ")])
def test_whole_numbers_written_as_floats_and_the_bounds_themselves_are_accepted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str) -> None:
    code, _, err = run(capsys, "transfer", _config(tmp_path, old, new), "--format", "json")
    assert code == 0, err


@pytest.mark.parametrize(("args", "flag"), [
    (["transfer", LLAMA, "--width", "1e20"], "--width"),
    (["transfer", LLAMA, "--depth", "1e6"], "--depth"),
    (["transfer", LLAMA, "--dataset-size", "1e300"], "--dataset-size"),
    (["transfer", LLAMA, "--batch-size", "2.5"], "--batch-size"),
    (["ladder", LLAMA, "--depths", "8,1e300"], "--depths"),
    (["ladder", LLAMA, "--widths", "512,1e20"], "--widths"),
    (["timescale", "--lr", "1e-3", "--weight-decay", "0.1", "--batch-size", "512", "--dataset-size", "1e6",
      "--total-steps", "2.5"], "--total-steps"),
    (["plan", "--params", "1B", "--tokens", "100B", "--seq-len", "2.5"], "--seq-len"),
    (["plan", "--params", "1B", "--tokens", "100B", "--seq-len", "1e300"], "--seq-len"),
    (["plan", "--width", "1e300", "--depth", "24", "--tokens", "100B"], "--width"),  # was exit 3
    (["plan", "--params", "1e300", "--tokens", "100B", "--extrapolate"], "--params"),  # was exit 3
    (["ramp", LLAMA, "--batch-size", "2M", "--ramp", "stages:0=524288.5,1B=2M"], "--ramp"),
    (["transfer", str(ROOT / "configs" / "nanogpt-124m-proxy.yaml"), "-f", "hf", "--seq-len", "1024",
      "--world-size", "1e9"], "--world-size"),
])
def test_a_cli_integer_beyond_any_real_run_is_refused_with_its_range(
        capsys: pytest.CaptureFixture[str], args: list[str], flag: str) -> None:
    line = one_error(capsys, *args)
    assert line.startswith(f"error: {flag}: ") and "number from" in line, line


def test_the_api_refuses_the_same_bounds() -> None:
    import hpscale
    from hpscale.errors import InputError

    with pytest.raises(InputError, match=r"^width: must be a whole number from 1 to"):
        hpscale.transfer(LLAMA, width=1e300)


def test_plan_refuses_a_batch_size_it_would_ignore(capsys: pytest.CaptureFixture[str]) -> None:
    line = one_error(capsys, "plan", "--params", "1B", "--tokens", "100B", "--batch-size", "0.5")
    assert line.startswith("error: --batch-size: ") and "--proxy" in line


def test_plan_transfers_a_samples_proxy_to_whole_samples(capsys: pytest.CaptureFixture[str]) -> None:
    """1e9 tokens / 3 per sequence is not whole: the proxy is transferred to the rounded count."""
    code, out, err = run(capsys, "plan", "--width", "384", "--depth", "12", "--tokens", "1e9", "--seq-len", "3",
                         "--proxy", str(ROOT / "configs" / "vit-s16-ema.yaml"), "--extrapolate", "-f", "json")
    assert code == 0 and '"transfer"' in out, err


# --- probes of the newest surfaces ------------------------------------------------------------

LAW = (ROOT / "hpscale" / "laws" / "deepseek.yaml").read_text()
HYBRID = (ROOT / "configs" / "nanochat-hybrid.yaml").read_text()


def _law(tmp_path: Path, old: str, new: str) -> str:
    assert old in LAW
    path = tmp_path / "law.yaml"
    path.write_text(LAW.replace(old, new, 1))
    return str(path)


@pytest.mark.parametrize("coefficient", ["-1", "0"])
def test_a_law_coefficient_that_is_not_positive_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], coefficient: str) -> None:
    """plan took log(coefficient): exit 3 (math domain error)."""
    law = _law(tmp_path, "coefficient: 0.3118", f"coefficient: {coefficient}")
    line = one_error(capsys, "plan", "--params", "1B", "--tokens", "100B", "--law", law, "--extrapolate")
    assert "laws.lr.coefficient: " in line and "> 0" in line


def test_a_law_whose_value_overflows_is_refused_naming_the_law(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """c = 1e300 with exponents 10: e^1169 overflowed (exit 3, OverflowError)."""
    law = _law(tmp_path, "coefficient: 0.3118", "coefficient: 1e300")
    path = Path(law)
    path.write_text(path.read_text().replace("exponents: {params: -0.125, dataset_size: -0.125}",
                                             "exponents: {params: 10, dataset_size: 10}", 1)
                    .replace("exponent_ci: {params: [-0.125, -0.125], dataset_size: [-0.125, -0.125]}",
                             "exponent_ci: {params: [10, 10], dataset_size: [10, 10]}", 1))
    line = one_error(capsys, "plan", "--params", "1B", "--tokens", "100B", "--law", law, "--extrapolate")
    assert "laws.lr: " in line and "floating-point range" in line and "inf" not in line


def test_a_law_name_of_5000_characters_is_refused_not_echoed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    law = _law(tmp_path, "name: deepseek", "name: " + "x" * 5000)
    line = one_error(capsys, "transfer", LLAMA, "--law", law)
    assert "name: " in line and "100 characters" in line and len(line) < 400


def test_a_5000_character_format_value_is_not_echoed_whole(capsys: pytest.CaptureFixture[str]) -> None:
    line = one_error(capsys, "transfer", LLAMA, "--format", "a" * 5000)
    assert line.startswith("error: --format: ") and len(line) < 300


@pytest.mark.parametrize("value", ["'yes'", "1", "'true'"])
def test_muon_nesterov_takes_true_or_false_only(tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str) -> None:
    path = tmp_path / "hybrid.yaml"
    path.write_text(HYBRID.replace("momentum: 0.95", f"momentum: 0.95\n  nesterov: {value}", 1))
    line = one_error(capsys, "transfer", str(path))
    assert "muon.nesterov: expected true or false" in line


def _ramp(tmp_path: Path, capsys: pytest.CaptureFixture[str], edit) -> str:  # noqa: ANN001
    import json

    code, out, _ = run(capsys, "ramp", LLAMA, "--batch-size", "2M", "--ramp", "linear:0.1", "-f", "json")
    assert code == 0
    doc = json.loads(out)
    edit(doc)
    path = tmp_path / "ramp.json"
    path.write_text(json.dumps(doc))
    return str(path)


@pytest.mark.parametrize(("edit", "needle"), [
    (lambda d: d.__setitem__("schema_version", 99), "schema_version: 99"),
    (lambda d: d.__setitem__("schema_version", True), "schema_version: true"),
    (lambda d: d["stages"][2].__setitem__("start", 0), "stages[2].start"),
    (lambda d: d["stages"][1].__setitem__("start", -5), "stages[1].start"),
    (lambda d: d["stages"][0].__setitem__("start", 7), "stages[0].start"),
    (lambda d: d.pop("stages"), "stages: expected a list"),  # was four errors about config fields
])
def test_a_staged_target_that_is_no_ramp_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], edit,  # noqa: ANN001
                                                     needle: str) -> None:
    line = one_error(capsys, "check", LLAMA, _ramp(tmp_path, capsys, edit))
    assert needle in line, line


def test_a_float_literal_beyond_float_range_is_refused_not_shown_as_inf(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "proxy.yaml"
    path.write_text(Path(LLAMA).read_text().replace("lr: 1e-2 ", "lr: " + "9" * 400 + ".0 ", 1))
    line = one_error(capsys, "transfer", str(path))
    assert "optimizer.lr: " in line and "floating-point range" in line and "inf" not in line


@pytest.mark.parametrize("args", [
    ["ramp", LLAMA, "--batch-size", "2M", "--ramp", "linear:0.1"],
    ["transfer", str(ROOT / "configs" / "nanogpt-124m-proxy.yaml"), "-f", "hf", "--seq-len", "1024"],
])
@pytest.mark.parametrize("where", ["/dev/null", "/proc/self/x", "INPUT"])
def test_an_unusable_output_is_the_only_line_no_warning_first(
        capsys: pytest.CaptureFixture[str], args: list[str], where: str) -> None:
    """The ramp's β warnings and the exporter's notes were printed before the --output error."""
    target = args[1] if where == "INPUT" else where
    line = one_error(capsys, *args, "-o", target)
    assert line.startswith("error: --output: ")
