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
