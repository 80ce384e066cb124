"""Forked workers give exactly the sequential result, errors included."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpscale.cli import app
from hpscale.errors import InputError
from hpscale.parallel import PARALLEL_MIN_ITEMS, ordered_map, worker_count

ROOT = Path(__file__).resolve().parents[1]
LLAMA = ROOT / "configs" / "llama-mup-w256.yaml"
runner = CliRunner()
needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")


def square_plus(shared: int, item: int) -> int:
    if item == -1:
        raise InputError(f"item {item} refused")
    return item * item + shared


@needs_fork
@pytest.mark.parametrize("workers", [2, 3, 7])
def test_ordered_map_matches_sequential(workers):
    items = list(range(101))
    assert ordered_map(square_plus, items, workers, 5) == [i * i + 5 for i in items]


@needs_fork
def test_first_error_in_input_order_is_raised_from_a_child():
    items = list(range(50)) + [-1] + list(range(49))
    with pytest.raises(InputError, match="item -1 refused"):
        ordered_map(square_plus, items, 2, 0)


def test_worker_count():
    assert worker_count(1, 10_000) == 1
    assert worker_count(4, 3) == 3
    assert worker_count(0, PARALLEL_MIN_ITEMS - 1) == 1
    with pytest.raises(InputError, match="--jobs"):
        worker_count(-1, 10)


@needs_fork
def test_check_with_workers_matches_one_process(tmp_path):
    targets = []
    for width in (512, 1024, 2048, 4096):
        path = tmp_path / f"t{width}.yaml"
        result = runner.invoke(app, ["transfer", str(LLAMA), "--width", str(width), "-f", "yaml", "-o", str(path)])
        assert result.exit_code == 0, result.stderr
        targets.append(str(path))
    text = (tmp_path / "t2048.yaml").read_text().replace("hidden: {lr: 0.00125,", "hidden: {lr: 0.002,")
    (tmp_path / "t2048.yaml").write_text(text)
    one = runner.invoke(app, ["check", str(LLAMA), *targets, "-f", "json", "-j", "1"])
    two = runner.invoke(app, ["check", str(LLAMA), *targets, "-f", "json", "-j", "2"])
    assert one.exit_code == two.exit_code == 1
    assert one.stdout == two.stdout
    assert "param_groups.hidden.lr" in two.stdout


@needs_fork
@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_ladder_with_workers_matches_one_process(fmt):
    widths = ",".join(str(256 * i) for i in range(1, 41))
    one = runner.invoke(app, ["ladder", str(LLAMA), "--widths", widths, "-f", fmt, "-j", "1"])
    two = runner.invoke(app, ["ladder", str(LLAMA), "--widths", widths, "-f", fmt, "-j", "2"])
    assert one.exit_code == two.exit_code == 0
    assert one.stdout == two.stdout and one.stderr == two.stderr


def test_jobs_beyond_the_cpus_are_capped_and_said():
    """-j 5000 forked 5,000 processes and died of EMFILE (exit 3)."""
    result = runner.invoke(app, ["ladder", str(LLAMA), "--widths", "512,1024", "-f", "json", "-j", "5000"])
    assert result.exit_code == 0
    assert f"--jobs: 5000 is more than the {os.cpu_count()} CPUs here; using {os.cpu_count()}" in result.stderr
    bad = runner.invoke(app, ["ladder", str(LLAMA), "--widths", "512", "-j", "abc"])
    assert bad.exit_code == 2 and bad.stderr == "error: --jobs: expected a whole number ≥ 0 (0 = automatic), found 'abc'\n"


@needs_fork
def test_ladder_error_in_a_later_chunk_names_the_row():
    sizes = ",".join(["1M"] * 30 + ["16M"] + ["1M"] * 9)  # κ = 32: β1 = 0.9 has no linear rule
    result = runner.invoke(app, ["ladder", str(LLAMA), "--batch-sizes", sizes, "-f", "json", "-j", "2"])
    assert result.exit_code == 2 and result.stdout == ""
    assert "target 31" in result.stderr and "optimizer.betas[0]" in result.stderr


def _die_on_seven(shared, item):
    if item == 7:
        os.kill(os.getpid(), 9)
    return item


@needs_fork
def test_a_worker_that_dies_is_named_not_an_eof_error():
    with pytest.raises(RuntimeError, match=r"worker process \d+ died \(killed by signal 9\)"):
        ordered_map(_die_on_seven, list(range(10)), 2, None)
