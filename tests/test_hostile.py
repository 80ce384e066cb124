"""Hostile input and faults (issue 10): no crash, no hang, no unbounded memory, exit 2.

Each case here failed before its fix: a FIFO that blocked, a device read without end, an
``--output`` that lost the file's mode or replaced a symbolic link, a SIGTERM that left a
temporary file, a closed stdout reported as a finding, Click's multi-line usage boxes, ladders
that grew to gigabytes, and extreme but finite numbers that overflowed into ``inf``.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpscale.cli import app

ROOT = Path(__file__).resolve().parents[1]
LLAMA = ROOT / "configs" / "llama-mup-w256.yaml"
runner = CliRunner()


def hpscale(*args: object, cwd: Path | None = None, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hpscale", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=timeout, **kwargs)


def one_error(done: subprocess.CompletedProcess[str] | object, *needles: str) -> None:
    stdout, stderr = done.stdout, done.stderr  # type: ignore[attr-defined]
    code = getattr(done, "returncode", getattr(done, "exit_code", None))
    assert code == 2, (code, stdout, stderr)
    assert stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    for needle in needles:
        assert needle in stderr, (needle, stderr)


# ---------------------------------------------------------------------------------------------
# Only regular files are read
# ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_config_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    done = hpscale("transfer", fifo, timeout=20)  # a wait on the FIFO would end in TimeoutExpired
    one_error(done, "not a regular file")
    # In check, one such target used to block the whole batch.
    done = hpscale("check", LLAMA, fifo, LLAMA, timeout=20)
    one_error(done, "not a regular file")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_is_refused_not_read_without_end():
    one_error(hpscale("transfer", "/dev/zero", timeout=20), "/dev/zero: not a regular file")


def test_dash_reads_standard_input():
    done = hpscale("transfer", "-", "--width", "512", "-f", "json", input=LLAMA.read_text())
    assert done.returncode == 0, done.stderr
    assert '"width": 512' in done.stdout
    one_error(hpscale("transfer", "-", input=LLAMA.read_text().replace("\n  width: 256", "\n  width: 0")),
              "<stdin>: model.width: must be a positive whole number")


# ---------------------------------------------------------------------------------------------
# --output
# ---------------------------------------------------------------------------------------------


def test_output_keeps_the_mode_of_an_existing_file_and_the_umask_of_a_new_one(tmp_path):
    existing = tmp_path / "existing.json"
    existing.write_text("old")
    existing.chmod(0o664)
    assert runner.invoke(app, ["transfer", str(LLAMA), "-f", "json", "-o", str(existing)]).exit_code == 0
    assert stat.S_IMODE(existing.stat().st_mode) == 0o664 and existing.read_text() != "old"
    old = os.umask(0o027)
    try:
        fresh = tmp_path / "fresh.json"
        assert runner.invoke(app, ["transfer", str(LLAMA), "-f", "json", "-o", str(fresh)]).exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o640


def test_output_writes_through_a_symbolic_link(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    assert runner.invoke(app, ["transfer", str(LLAMA), "-f", "json", "-o", str(link)]).exit_code == 0
    assert link.is_symlink() and '"schema_version"' in real.read_text()


@pytest.mark.parametrize("where, needle", [
    ("newdir/", "names a folder"),
    ("missing/out.json", "does not exist"),
    ("/proc/hpscale-out.json", "/proc/hpscale-out.json"),
    ("/dev/null", "not a regular file"),
])
def test_output_refuses_paths_it_cannot_write(tmp_path, where, needle):
    result = runner.invoke(app, ["transfer", str(LLAMA), "-f", "json", "-o", where])
    one_error(result, "--output", needle)
    assert not (tmp_path / "newdir").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into a read-only folder")
def test_output_into_an_unwritable_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    one_error(runner.invoke(app, ["transfer", str(LLAMA), "-o", str(folder / "x.json")]), "cannot write")


def test_sigterm_during_a_write_leaves_no_temporary_file(tmp_path):
    """A ladder streamed to --output is killed while it writes: neither the output nor a
    `*.tmp` may remain (3 of 600 kills left one before)."""
    out = tmp_path / "ladder.json"
    widths = ",".join(str(256 * (i + 1)) for i in range(60))
    proc = subprocess.Popen([sys.executable, "-m", "hpscale", "ladder", str(LLAMA), "--widths", widths,
                             "--batch-sizes", widths.replace("256", "1024"), "--product", "--max-rows", "5000",
                             "-f", "json", "-o", str(out)], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(tmp_path.glob(".ladder.json.*.tmp")):
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    assert code in (0, 143), proc.stderr.read() if proc.stderr else ""
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    assert (code == 0) == out.exists()


# ---------------------------------------------------------------------------------------------
# stdout and the command line
# ---------------------------------------------------------------------------------------------


def test_stdout_closed_early_is_neither_a_finding_nor_a_bug():
    widths = ",".join(str(256 * (i + 1)) for i in range(2000))
    cmd = f"{sys.executable} -m hpscale ladder {LLAMA} --widths {widths} -f json | head -c1 > /dev/null"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, timeout=60)
    assert done.returncode == 141, done.stderr
    assert "Traceback" not in done.stderr and "error" not in done.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_stdout_is_an_error_not_a_bug():
    done = subprocess.run(["bash", "-c", f"{sys.executable} -m hpscale transfer {LLAMA} -f json > /dev/full"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.strip() == "error: stdout: cannot write the result: No space left on device"


@pytest.mark.parametrize("args, needle", [
    (["transfer", str(LLAMA), "--foo"], "--foo"),  # Click's own wording varies between releases
    (["check", str(LLAMA), str(LLAMA), "--jobs", "abc"], "--jobs: expected a whole number ≥ 0"),
    (["transfer"], "missing argument"),
    (["nosuch"], "no such command 'nosuch'"),
    (["transfer", str(LLAMA), "--tau-exponent", "x"], "--tau-exponent: expected a number"),
    (["--show-completion", "zsh"], "--show-completion takes no shell name"),
])
def test_usage_errors_are_one_line(args, needle):
    """Click's usage errors were a multi-line box."""
    one_error(hpscale(*args), needle)


# ---------------------------------------------------------------------------------------------
# Time and memory follow the input, not what it claims
# ---------------------------------------------------------------------------------------------


def test_a_ladder_over_the_row_limit_is_refused_before_anything_is_built():
    forty = ",".join(str(256 * (i + 1)) for i in range(40))
    one_error(hpscale("ladder", LLAMA, "--widths", forty, "--batch-sizes", forty.replace("256", "4096"),
                      "--dataset-sizes", forty.replace("256", "99999999"), "--depths", forty.replace("256", "8"),
                      "--product"), "--max-rows: the ladder has 2,560,000 rows (40 × 40 × 40 × 40)")


# ---------------------------------------------------------------------------------------------
# Extreme but finite numbers
# ---------------------------------------------------------------------------------------------


BASE = "model: {width: 256, depth: 8}\ndata: {dataset_size: 2e9, batch_size: 524288}\n"


@pytest.mark.parametrize("text, args, needle", [
    (BASE + "optimizer: {lr: 1e-2, weight_decay: 1e308, weight_decay_convention: independent}\n", [],
     "in the independent convention removes 100 % or more"),
    ("model: {width: 256}\ndata: {dataset_size: 1e-310, batch_size: 1e20}\noptimizer: {lr: 1e-2, weight_decay: 0.1}\n",
     [], "data.dataset_size: must be at least 1"),
    ("model: {width: 256}\ndata: {dataset_size: 1e301, batch_size: 1e300}\n"
     "optimizer: {lr: 1e-2, weight_decay: 0.1, warmup_steps: 1e18}\n", ["--batch-size", "1", "--beta-rule", "keep"],
     "optimizer.warmup_steps"),
    (BASE + "optimizer: {lr: 5e-324, weight_decay: 0.1}\n", [], "param_groups."),
])
def test_overflow_inside_a_rule_is_an_input_error(tmp_path, text, args, needle):
    config = tmp_path / "c.yaml"
    config.write_text(text)
    for fmt in ("table", "json"):
        result = runner.invoke(app, ["transfer", str(config), *args, "-f", fmt])
        assert result.exit_code == 2 and result.stdout == "", (result.stdout, result.stderr)
        assert needle in result.stderr and "inf" not in result.stderr.replace("info", "")


@pytest.mark.parametrize("args", [
    ["--weight-decay", "1e-300", "--tau-iter", "1e-300", "--solve", "lr"],
    ["--lr", "1e-300", "--weight-decay", "1e-300"],
    ["--lr", "1e300", "--tau-epoch", "1e-300", "--batch-size", "1e300", "--dataset-size", "1e301"],
    ["--lr", "1", "--weight-decay", "1", "--batch-size", "1e-300", "--dataset-size", "1e300"],
    ["--lr", "1e-300", "--weight-decay", "1e-10", "--batch-size", "1", "--dataset-size", "1e300", "--epochs", "1e-300"],
])
def test_timescale_never_prints_inf_or_nan(args):
    for fmt in ("table", "json"):
        result = runner.invoke(app, ["timescale", *args, "-f", fmt])
        assert result.exit_code in (0, 2), result.stderr
        text = result.stdout.lower()
        assert "inf" not in text and "nan" not in text, result.stdout


def test_control_characters_from_a_config_never_reach_the_terminal(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(LLAMA.read_text().replace("name: llama-mup-w256", 'name: "\\e[2J\\e]0;pwned\\a \\u202eevil\\x9b"'))
    for args in (["transfer", str(config)], ["ladder", str(config), "--widths", "512"],
                 ["transfer", str(config), "-f", "yaml"], ["transfer", str(config), "-f", "json"],
                 ["ladder", str(config), "--widths", "512", "-f", "json"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.stderr
        for char in ("\x1b", "\x07", "\u202e", "\x9b"):
            assert char not in result.stdout, (args, char)
    bad = tmp_path / "bad.yaml"
    bad.write_text('model: {width: 256, "\\e[2Jk": 1}\n')
    result = runner.invoke(app, ["transfer", str(bad)])
    assert result.exit_code == 2 and "\x1b" not in result.stderr and "\\x1b[2Jk" in result.stderr
