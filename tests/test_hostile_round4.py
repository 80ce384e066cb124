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
