"""Start-up, bulk-check and ladder benchmarks for the performance targets (README: Performance).

Run: ``python benchmarks/bench_cli.py [--runs 11]``. Each command is timed as a fresh process
(wall time, median of ``--runs`` runs), and the commands of one comparison are interleaved run by
run, so machine load affects both sides alike. Targets:

1. start-up: ``transfer --format json`` ≤ 1.15 × F and the table ≤ 1.45 × F, where F is the wall
   time of ``benchmarks/floor_app.py`` doing the same job (a two-command Typer app that reads the
   YAML, validates a two-level pydantic model and prints one JSON line);
2. bulk check: ``check proxy`` with 1,000 targets ≤ 3 × the same command with one target;
3. ladder: 1,000 widths in one ``ladder`` call ≤ 2 × one ``transfer``.

Prints one line per target with the measured ratio and PASS/FAIL; exits 1 if any target fails.
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROXY = ROOT / "configs" / "llama-mup-w256.yaml"


def hpscale_cmd() -> list[str]:
    script = shutil.which("hpscale")
    return [script] if script else [sys.executable, "-m", "hpscale"]


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {' '.join(cmd)}\n"
                         f"{proc.stderr.decode()[-2000:]}")
    return elapsed


def compare(commands: dict[str, list[str]], runs: int) -> dict[str, float]:
    """Median wall time of each command, interleaved run by run (one warm-up run each)."""
    for cmd in commands.values():
        timed(cmd)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, cmd in commands.items():
            samples[name].append(timed(cmd))
    return {name: statistics.median(values) for name, values in samples.items()}


def make_targets(folder: Path, count: int) -> list[Path]:
    """``count`` target configs written by ``transfer --format yaml`` semantics (all pass check)."""
    import hpscale
    from hpscale.outputs.transfer import dumps_target_yaml

    proxy = hpscale.load_config(PROXY)
    paths = []
    for i in range(count):
        result = hpscale.transfer(proxy, width=256 * (1 + i % 32), batch_size=524_288 * (1 + i % 3),
                                  dataset_size=2e9 * (1 + i % 7))
        path = folder / f"target-{i:04d}.yaml"
        path.write_text(dumps_target_yaml(result))
        paths.append(path)
    return paths


def report(label: str, ratio: float, target: float, detail: str) -> bool:
    ok = ratio <= target
    print(f"{'PASS' if ok else 'FAIL'}  {label:<38} {ratio:5.2f}× (target ≤ {target:.2f}×)  {detail}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="timed runs per command (≥ 9)")
    args = parser.parse_args()
    runs = max(args.runs, 9)
    hp = hpscale_cmd()
    # Time hpscale as installed and run before: with bytecode written. (A shell that sets
    # PYTHONDONTWRITEBYTECODE would otherwise recompile every hpscale module on every run.)
    compileall.compile_dir(str(ROOT / "hpscale"), quiet=1)
    from importlib.metadata import version

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.platform()}")
    print("libraries: " + ", ".join(f"{name} {version(name)}" for name in ("typer", "rich", "pydantic", "pyyaml", "numpy")))
    print(f"command: {' '.join(hp)}; median of {runs} interleaved runs\n")
    results = []

    floor = [sys.executable, str(ROOT / "benchmarks" / "floor_app.py"), "transfer", str(PROXY), "--width", "4096"]
    base = [*hp, "transfer", str(PROXY), "--width", "4096"]
    t = compare({"F": floor, "json": [*base, "--format", "json"], "table": base}, runs)
    print(f"F = {t['F'] * 1e3:.1f} ms, json = {t['json'] * 1e3:.1f} ms, table = {t['table'] * 1e3:.1f} ms")
    results.append(report("start-up: transfer --format json", t["json"] / t["F"], 1.15, ""))
    results.append(report("start-up: transfer (table)", t["table"] / t["F"], 1.45, ""))

    with tempfile.TemporaryDirectory() as tmp:
        targets = make_targets(Path(tmp), 1000)
        check = [*hp, "check", str(PROXY)]
        t = compare({"one": [*check, str(targets[0]), "--format", "json"],
                     "thousand": [*check, *map(str, targets), "--format", "json"]}, runs)
        results.append(report("bulk check: 1,000 targets vs 1", t["thousand"] / t["one"], 3.0,
                              f"({t['one'] * 1e3:.0f} ms vs {t['thousand'] * 1e3:.0f} ms)"))

    widths = ",".join(str(256 * (i + 1)) for i in range(1000))
    t = compare({"transfer": [*base, "--format", "json"],
                 "ladder": [*hp, "ladder", str(PROXY), "--widths", widths, "--format", "json"]}, runs)
    results.append(report("ladder: 1,000 widths vs one transfer", t["ladder"] / t["transfer"], 2.0,
                          f"({t['transfer'] * 1e3:.0f} ms vs {t['ladder'] * 1e3:.0f} ms)"))
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
