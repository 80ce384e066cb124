"""Every table fits the terminal: no line wider than COLUMNS, no trailing spaces (80 and 120)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from hpscale.cli import app

ROOT = Path(__file__).resolve().parents[1]
NANOGPT = str(ROOT / "configs" / "nanogpt-124m-proxy.yaml")
LLAMA = str(ROOT / "configs" / "llama-mup-w256.yaml")
VIT = str(ROOT / "configs" / "vit-s16-ema.yaml")

COMMANDS = {
    "transfer": ["transfer", NANOGPT, "--width", "3072", "--batch-size", "983040", "--dataset-size", "36B"],
    "transfer-depth-power-lines": ["transfer", NANOGPT, "--depth", "48", "--dataset-size", "90B",
                                   "--tau-rule", "power-lines"],
    "transfer-ema": ["transfer", VIT, "--batch-size", "4096"],
    "ladder": ["ladder", LLAMA, "--widths", "512,1024,2048,4096", "--batch-sizes", "0.5M,1M,1M,2M",
               "--dataset-sizes", "10B,20B,40B,80B", "--depths", "8,16,16,32"],
    "explain-list": ["explain"],
    "explain-rule": ["explain", "power-lines"],
    "timescale": ["timescale", "--config", NANOGPT, "--tau-epoch", "1", "--solve", "lr"],
}


@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_tables_fit_the_terminal(name, columns):
    result = CliRunner().invoke(app, COMMANDS[name], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines, "no output"
    too_wide = [line for line in lines if cell_len(line) > columns]
    assert not too_wide, too_wide[:3]
    assert not [line for line in lines if line != line.rstrip()], "trailing spaces"


@pytest.mark.parametrize("columns", [80, 120])
def test_check_findings_table_fits(tmp_path, monkeypatch, columns):
    # The heading line names the target path on one line whatever its length (so `grep ✗` finds
    # it); a short relative path keeps this test about the table.
    monkeypatch.chdir(tmp_path)
    target = Path("t.yaml")
    runner = CliRunner()
    runner.invoke(app, ["transfer", NANOGPT, "--batch-size", "983040", "-f", "yaml", "-o", str(target)])
    target.write_text(target.read_text().replace("betas: [0.8, 0.9]", "betas: [0.9, 0.95]"))
    result = runner.invoke(app, ["check", NANOGPT, str(target)], env={"COLUMNS": str(columns)})
    assert result.exit_code == 1
    assert all(cell_len(line) <= columns and line == line.rstrip() for line in result.stdout.splitlines())


def test_help_paragraphs_are_not_cut_mid_sentence():
    """`check --help` printed "…more than --rtol, 2 / on a usage / or input error": the
    docstring's own line breaks."""
    result = CliRunner().invoke(app, ["check", "--help"], env={"COLUMNS": "200"})
    flat = " ".join(result.stdout.split())
    assert "1 if any value differs by more than --rtol, 2 on a usage or input error" in flat
    assert "differs by more than --rtol, 2 on a usage\n" not in result.stdout
