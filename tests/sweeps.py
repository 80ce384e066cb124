"""Synthetic sweeps from known laws plus noise: the worlds ``hpscale fit`` is tested in.

Each world is a loss surface whose optimum moves with scale exactly as one published rule says;
a sweep samples it on a grid (one run per setting, Gaussian noise on the metric), marks runs
above a learning-rate multiple of the optimum as diverged, and returns rows as a W&B export
would name them (``Name``, ``State``, ``model.width``, ``optimizer.lr``, ``val/loss``).

``python tests/sweeps.py`` rewrites ``configs/sweep-synthetic.csv`` (the README's sweep),
``python tests/sweeps.py muon`` ``configs/sweep-muon-synthetic.csv`` (docs/muon.md's).
"""

from __future__ import annotations

import csv
import itertools
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = {"width": "model.width", "depth": "model.depth", "params": "model.params",
           "batch_size": "data.batch_size", "dataset_size": "data.dataset_size",
           "lr": "optimizer.lr", "weight_decay": "optimizer.weight_decay"}

Loss = Callable[[Mapping[str, float], Mapping[str, float]], float]


def sweep_rows(
    cells: Sequence[Mapping[str, float]],
    grids: Mapping[str, Sequence[float]],
    loss: Loss,
    *,
    noise: float = 0.003,
    seed: int = 0,
    diverged: Callable[[Mapping[str, float], Mapping[str, float]], bool] | None = None,
    constant: Mapping[str, float] | None = None,
) -> list[dict[str, object]]:
    """One row per (cell, grid point): loss(axes, hps) + N(0, noise²); diverged runs crash."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    names = list(grids)
    for axes in cells:
        for values in itertools.product(*(grids[name] for name in names)):
            hps = dict(zip(names, values, strict=True))
            row: dict[str, object] = {"Name": f"run-{len(rows):04d}"}
            crashed = diverged is not None and diverged(axes, hps)
            row["State"] = "crashed" if crashed else "finished"
            for key, value in {**axes, **(constant or {}), **hps}.items():
                row[COLUMNS.get(key, key)] = value
            metric = loss(axes, hps) + rng.normal(0.0, noise)
            row["val/loss"] = "" if crashed else round(metric, 6)
            rows.append(row)
    return rows


def bowl(optimum: Callable[[Mapping[str, float]], Mapping[str, float]], curvature: Mapping[str, float],
         base: Callable[[Mapping[str, float]], float] = lambda axes: 3.0) -> Loss:
    """loss = base(axes) + Σ_hp c_hp·(ln hp − ln hp*(axes))²: a quadratic bowl in log hp."""

    def loss(axes: Mapping[str, float], hps: Mapping[str, float]) -> float:
        best = optimum(axes)
        return base(axes) + sum(curvature[hp] * math.log(hps[hp] / best[hp]) ** 2 for hp in hps)

    return loss


def grid(centre: float, steps: int, ratio: float = 2.0) -> list[float]:
    """``steps`` values spaced by ``ratio`` around ``centre`` (odd counts are centred)."""
    return [centre * ratio ** (k - (steps - 1) / 2) for k in range(steps)]


# --- the worlds ------------------------------------------------------------------------------

def mup_world(seed: int = 0, *, exponent: float = -1.0, noise: float = 0.003,
              widths: Sequence[int] = (128, 256, 512, 1024), diverge_at: float | None = 4.0,
              lrs: Sequence[float] | None = None) -> list[dict[str, object]]:
    """Hidden η* = 1e-2·(W/256)^exponent (µP: −1); runs above ``diverge_at``·η* crash."""
    def optimum(axes: Mapping[str, float]) -> dict[str, float]:
        return {"lr": 1e-2 * (axes["width"] / 256) ** exponent}

    return sweep_rows([{"width": w} for w in widths], {"lr": lrs or grid(4e-3, 13, 2 ** 0.5)},
                      bowl(optimum, {"lr": 0.05}, lambda axes: 3.5 - 0.1 * math.log(axes["width"])),
                      noise=noise, seed=seed,
                      diverged=None if diverge_at is None else
                      (lambda axes, hps: hps["lr"] > diverge_at * optimum(axes)["lr"]))


def sqrt_d_world(seed: int = 0, *, noise: float = 0.003) -> list[dict[str, object]]:
    """µP η = 1e-2·256/W fixed per cell, λ* = 0.1·√(W/256) (Fan et al.'s √d rule)."""
    def optimum(axes: Mapping[str, float]) -> dict[str, float]:
        return {"weight_decay": 0.1 * math.sqrt(axes["width"] / 256)}

    rows = []
    for w in (256, 512, 1024, 2048):
        rows += sweep_rows([{"width": w}], {"weight_decay": grid(0.2, 9, 2 ** 0.5)},
                           bowl(optimum, {"weight_decay": 0.03}), noise=noise, seed=seed * 7919 + w,
                           constant={"lr": 1e-2 * 256 / w})
    for index, row in enumerate(rows):
        row["Name"] = f"run-{index:04d}"
    return rows


def sqrt_kappa_world(seed: int = 0, *, noise: float = 0.003) -> list[dict[str, object]]:
    """η* = 3e-4·√(B/65,536) (Malladi et al.'s square-root rule) at batch sizes 64K–1M."""
    def optimum(axes: Mapping[str, float]) -> dict[str, float]:
        return {"lr": 3e-4 * math.sqrt(axes["batch_size"] / 65_536)}

    return sweep_rows([{"batch_size": b} for b in (65_536, 262_144, 1_048_576)],
                      {"lr": grid(6e-4, 11, 2 ** 0.5)}, bowl(optimum, {"lr": 0.04}), noise=noise, seed=seed,
                      diverged=lambda axes, hps: hps["lr"] > 5 * optimum(axes)["lr"])


def tau_world(seed: int = 0, *, noise: float = 0.003, tau: float = 0.5,
              datasets: Sequence[float] = (1e9, 4e9, 16e9)) -> list[dict[str, object]]:
    """τ_epoch* = B/(η*·λ*·N) constant (Wang & Aitchison): η* = 3e-3 at every dataset size N,
    loss = 3 + 0.04·ln²(η/η*) + 0.03·ln²(τ/τ*), a joint 2-D bowl in (ln η, ln λ)."""
    batch = 524_288.0

    def loss(axes: Mapping[str, float], hps: Mapping[str, float]) -> float:
        t = batch / (hps["lr"] * hps["weight_decay"] * axes["dataset_size"])
        return 3.0 + 0.04 * math.log(hps["lr"] / 3e-3) ** 2 + 0.03 * math.log(t / tau) ** 2

    return sweep_rows([{"dataset_size": n} for n in datasets],
                      {"lr": grid(3e-3, 7, 2.0), "weight_decay": grid(0.1, 15, 2 ** 0.5)}, loss,
                      noise=noise, seed=seed, constant={"batch_size": batch})


def readme_world(seed: int = 0) -> list[dict[str, object]]:
    """The shipped sweep: µP LLaMA-style proxies at widths 128–1024, hidden lr × weight decay.

    Planted laws: η* = 1e-2·(256/W) (µP), λ* = 0.1·√(W/256) (√d); runs above 4·η* crash;
    loss = 3.6 − 0.12·ln(W/128) + 0.05·ln²(η/η*) + 0.02·ln²(λ/λ*) + N(0, 0.003²).
    """
    def optimum(axes: Mapping[str, float]) -> dict[str, float]:
        width = axes["width"]
        return {"lr": 1e-2 * 256 / width, "weight_decay": 0.1 * math.sqrt(width / 256)}

    rows = sweep_rows([{"width": w} for w in (128, 256, 512, 1024)],
                      {"lr": grid(4e-3, 9, 2.0), "weight_decay": grid(0.1, 7, 2.0)},
                      bowl(optimum, {"lr": 0.05, "weight_decay": 0.02},
                           lambda axes: 3.6 - 0.12 * math.log(axes["width"] / 128)),
                      noise=0.003, seed=seed, constant={"batch_size": 524_288, "dataset_size": 2_000_000_000},
                      diverged=lambda axes, hps: hps["lr"] > 4 * optimum(axes)["lr"])
    rows[-1]["State"] = "running"  # a run still in progress: counted, not fitted
    rows[-1]["val/loss"] = ""
    return rows


def muon_world(seed: int = 0, *, exponent: float = 0.0, noise: float = 0.003) -> list[dict[str, object]]:
    """A Muon proxy's matrix lr swept across widths, the optimum moving as W^exponent: 0 is what
    the spectral width rule predicts for an ``original`` (or ``unit_rms_norm``) trainer's lr.

    Planted law: η* = 0.02·(W/768)^exponent; runs above 8·η* crash;
    loss = 3.4 − 0.1·ln(W/256) + 0.05·ln²(η/η*) + N(0, noise²).
    """
    def optimum(axes: Mapping[str, float]) -> dict[str, float]:
        return {"lr": 0.02 * (axes["width"] / 768) ** exponent}

    return sweep_rows([{"width": w} for w in (256, 512, 1024, 2048)], {"lr": grid(0.02, 9, 2.0)},
                      bowl(optimum, {"lr": 0.05}, lambda axes: 3.4 - 0.1 * math.log(axes["width"] / 256)),
                      noise=noise, seed=seed, constant={"batch_size": 524_288, "dataset_size": 1_000_000_000},
                      diverged=lambda axes, hps: hps["lr"] > 8 * optimum(axes)["lr"])


def write_csv(rows: Sequence[Mapping[str, object]], path: Path, comment: Sequence[str] = ()) -> Path:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with open(path, "w", newline="", encoding="utf-8") as stream:
        for line in comment:
            stream.write(f"# {line}\n")
        writer = csv.DictWriter(stream, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


README_COMMENT = (
    "SYNTHETIC sweep, not real training runs: made by tests/sweeps.py (readme_world, seed 0).",
    "Planted laws: hidden lr* = 1e-2 * (256/width) (muP), weight_decay* = 0.1 * sqrt(width/256)",
    "(Fan et al. sqrt(d) rule); loss = 3.6 - 0.12 ln(width/128) + 0.05 ln^2(lr/lr*)",
    "+ 0.02 ln^2(wd/wd*) + N(0, 0.003^2); runs above 4 lr* crash. Columns as a W&B export names them.",
)

MUON_COMMENT = (
    "SYNTHETIC sweep, not real training runs: made by tests/sweeps.py (muon_world, seed 0).",
    "A Muon proxy's matrix lr (torch.optim.Muon, adjust_lr_fn original) across widths.",
    "Planted law: lr* = 0.02 at every width (the spectral rule under original);",
    "loss = 3.4 - 0.1 ln(width/256) + 0.05 ln^2(lr/lr*) + N(0, 0.003^2); runs above 8 lr* crash.",
)

if __name__ == "__main__":
    # python tests/sweeps.py [muon]: the README's sweep, or the Muon sweep of docs/muon.md.
    if sys.argv[1:] == ["muon"]:
        target = write_csv(muon_world(), ROOT / "configs" / "sweep-muon-synthetic.csv", MUON_COMMENT)
    else:
        target = write_csv(readme_world(), ROOT / "configs" / "sweep-synthetic.csv", README_COMMENT)
    print(f"wrote {target}", file=sys.stderr)
