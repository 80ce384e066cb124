"""Benchmark of ``hpscale fit``: 100,000 runs with 1,000 bootstrap resamples (README: Performance).

Run: ``python benchmarks/bench_fit.py [--runs 3] [--cells 625] [--dims 2]``. It writes a synthetic
W&B-style sweep (``--cells`` cells over width × depth × batch size × dataset size, each a grid of
``lr`` × ``weight_decay`` runs, 100,000 runs in all by default) to a temporary folder, then times,
as fresh processes (wall time, median of ``--runs``, interleaved):

1. ``hpscale fit sweep.csv --by width,depth,batch_size,dataset_size --optimize lr,weight_decay
   --bootstrap 1000 --format json`` (reading, 625 joint 2-D fits, 1,000 resamples of each, the
   laws, verdicts, JSON), and
2. one plain ``hpscale transfer configs/llama-mup-w256.yaml --width 4096``.

Prints wall and CPU time (user + system of the process) of both and their ratios, and the machine's
load average: the wall time depends on other load, the CPU time much less.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cli import hpscale_cmd  # noqa: E402


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds user + system) of one fresh process. CPU time is what the
    process itself used, so it depends less on other load than wall time does."""
    import resource
    import subprocess

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {' '.join(cmd)}\n"
                         f"{proc.stderr.decode()[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def write_sweep(path: Path, cells: int, runs: int, dims: int, seed: int = 0) -> int:
    """A sweep of ``cells`` cells with ``runs // cells`` runs each; returns the runs written."""
    import numpy as np

    rng = np.random.default_rng(seed)
    per_cell = runs // cells
    side = 10 if dims == 2 else 1  # weight decays per cell; the rest of the cell is lr values
    lr_steps = per_cell // side
    axes_values = {"width": [256, 512, 1024, 2048, 4096], "depth": [4, 8, 12, 16, 24],
                   "batch_size": [131072, 262144, 524288, 1048576, 2097152],
                   "dataset_size": [1e9, 2e9, 4e9, 8e9, 16e9]}
    grid = [dict(zip(axes_values, combo, strict=True)) for combo in
            np.array(np.meshgrid(*axes_values.values(), indexing="ij")).reshape(4, -1).T.tolist()][:cells]
    written = 0
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(["Name", "State", "model.width", "model.depth", "data.batch_size", "data.dataset_size",
                         "optimizer.lr", "optimizer.weight_decay", "val/loss"])
        for axes in grid:
            lr_opt = 1e-2 * 256 / axes["width"] * math.sqrt(axes["batch_size"] / 524288)
            wd_opt = 0.1 * math.sqrt(axes["width"] / 256)
            lrs = lr_opt * 2.0 ** (np.arange(lr_steps) - lr_steps / 2)
            wds = wd_opt * 2.0 ** (np.arange(side) - side / 2) if dims == 2 else [wd_opt]
            for lr in lrs:
                for wd in wds:
                    loss = 3.0 + 0.05 * math.log(lr / lr_opt) ** 2 + 0.02 * math.log(wd / wd_opt) ** 2 \
                        + rng.normal(0, 0.003)
                    crashed = lr > 4 * lr_opt
                    writer.writerow([f"run-{written}", "crashed" if crashed else "finished", axes["width"],
                                     axes["depth"], axes["batch_size"], f"{axes['dataset_size']:g}",
                                     f"{lr:.6g}", f"{wd:.6g}", "" if crashed else f"{loss:.6f}"])
                    written += 1
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed repetitions (median)")
    parser.add_argument("--total", type=int, default=100_000, help="runs in the sweep")
    parser.add_argument("--cells", type=int, default=625, help="cells (≤ 625)")
    parser.add_argument("--dims", type=int, default=2, choices=(1, 2), help="swept hyperparameters per cell")
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        sweep = Path(folder) / "sweep.csv"
        written = write_sweep(sweep, args.cells, args.total, args.dims)
        optimize = "lr,weight_decay" if args.dims == 2 else "lr"
        fit_cmd = [*hpscale_cmd(), "fit", str(sweep), "--by", "width,depth,batch_size,dataset_size",
                   "--optimize", optimize, "--metric", "val/loss", "--bootstrap", str(args.bootstrap), "-f", "json"]
        transfer_cmd = [*hpscale_cmd(), "transfer", str(ROOT / "configs" / "llama-mup-w256.yaml"), "--width", "4096"]
        timed(fit_cmd)
        timed(transfer_cmd)
        fits, transfers = [], []
        for _ in range(args.runs):
            fits.append(timed(fit_cmd))
            transfers.append(timed(transfer_cmd))
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    print(f"sweep: {written:,} runs in {args.cells} cells ({args.dims}-D), {args.bootstrap:,} resamples")
    for label, index in (("wall", 0), ("CPU", 1)):
        fit_time = statistics.median(t[index] for t in fits)
        transfer_time = statistics.median(t[index] for t in transfers)
        print(f"{label:4s} hpscale fit {fit_time:6.2f} s (median of {args.runs}: "
              f"{', '.join(f'{t[index]:.2f}' for t in fits)}); one transfer {transfer_time:.3f} s; "
              f"ratio {fit_time / transfer_time:.1f}×")
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
