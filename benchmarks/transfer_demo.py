"""Learning-rate transfer across width with hpscale.torch: standard parametrization vs µP.

Run: ``python benchmarks/transfer_demo.py`` (31 minutes measured on 2 CPU cores shared with other
jobs, load average 3.4–4.3; ``--quick`` for a smoke run of seconds). Not run by CI. Needs the
torch and plot extras.

What it does. A nanoGPT-style transformer (tied embeddings, pre-LayerNorm blocks, head size 16,
no dropout) learns next-byte prediction on the Python standard library's own sources (found
offline through ``sysconfig``; the last tenth of the text is held out). At each width it trains
one short run per learning rate of a sweep, twice:

- **standard**: the proxy's hyperparameters used unchanged at every width (one lr for every
  group, init std 0.02 everywhere, no multipliers): what a script does without hpscale;
- **µP**: ``hpscale.transfer(proxy, width=W)`` applied with the four ``hpscale.torch`` calls
  (classify, param_groups, apply_init, apply_multipliers). The proxy (``PROXY``) is the smallest
  width with ``base_width`` = its width, so at that width both runs are the same run.

Each run uses the same batches, a linear warmup and cosine decay through ``LambdaLR`` (it
multiplies each group's own peak lr, so µP's per-group ratios survive), and is scored by the
loss on held-out batches at the end. The swept lr is the proxy's ``optimizer.lr`` (µP: the
embedding/vector/readout lr; the hidden lr is lr·W₀/W).

Optimal lr per width: the grid point with the lowest held-out loss, refined by the vertex of the
parabola through it and its two neighbours in log₂ lr (kept inside that bracket; a minimum on
the edge of the grid is reported as the edge and flagged). One seed per run.

First it runs ``hpscale.torch.coord_check`` on the same model (standard vs µP, lr ``--coord-lr``)
and prints both tables. ``--coord-check-only --muon`` runs the hybrid check instead: the hidden
matrices on ``torch.optim.Muon`` (lr ``MUON_LR`` under ``match_rms_adamw`` at the proxy width), the
rest on AdamW, under hpscale's plan and with the Muon lr and weight decay left at the proxy's
(unconverted); it prints both tables and writes ``coord_check_muon.png``. Writes ``benchmarks/figures/coord_check.png``, ``transfer_demo.json``
(every run) and ``transfer_demo.png`` (held-out loss vs lr per width for both parametrizations,
and the optimal lr vs width).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import multiprocessing
import os
import platform
import sys
import sysconfig
import time
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import hpscale  # noqa: E402
import hpscale.torch as hpt  # noqa: E402

HEAD_SIZE = 16
VOCAB = 256  # bytes


# ---------------------------------------------------------------------------------------------
# Data: the standard library's sources, as bytes
# ---------------------------------------------------------------------------------------------


def corpus(limit_bytes: int) -> bytes:
    """The first ``limit_bytes`` of the stdlib's ``.py`` files (sorted paths, tests excluded)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    chunks, size = [], 0
    for path in sorted(stdlib.rglob("*.py")):
        parts = set(path.relative_to(stdlib).parts)
        if parts & {"test", "tests", "site-packages", "idlelib", "lib2to3"}:
            continue
        data = path.read_bytes()
        chunks.append(data)
        size += len(data)
        if size >= limit_bytes:
            break
    return b"".join(chunks)[:limit_bytes]


def batches(data: torch.Tensor, count: int, batch: int, seq: int, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, len(data) - seq - 1, (count, batch), generator=g)
    return [torch.stack([data[s : s + seq + 1] for s in row.tolist()]) for row in starts]


# ---------------------------------------------------------------------------------------------
# Model: nanoGPT's layout
# ---------------------------------------------------------------------------------------------


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.c_attn, self.c_proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.c_fc, self.mlp_proj = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)
        self.heads = width // HEAD_SIZE

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, HEAD_SIZE).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, d)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self, width: int, depth: int, seq: int) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(VOCAB, width), nn.Embedding(seq, width)
        self.blocks = nn.ModuleList(Block(width) for _ in range(depth))
        self.ln_f = nn.LayerNorm(width)
        self.lm_head = nn.Linear(width, VOCAB, bias=False)
        self.wte.weight = self.lm_head.weight  # tied, as in nanoGPT

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def proxy_config(width: int, lr: float, args: argparse.Namespace) -> dict:
    """The proxy run: µP base width = the proxy's width; nanoGPT's weight decay and betas."""
    tokens_per_step = args.batch * args.seq
    return {
        "name": f"stdlib-bytes-w{width}",
        "model": {"width": width, "base_width": width, "depth": args.depth},
        "data": {"dataset_size": tokens_per_step * args.steps, "batch_size": tokens_per_step},
        "optimizer": {"lr": lr, "weight_decay": 0.1, "betas": [0.9, 0.95], "eps": 1e-8},
        "init_std": 0.02,
        "param_groups": {"vector": {"weight_decay": 0.0}, "embedding": {"weight_decay": 0.0}},
    }


#: The Muon section of the hybrid coordinate check's proxy (tests/test_torch_muon.py's values).
MUON = {"lr": 0.02, "weight_decay": 0.1, "momentum": 0.95, "convention": "match_rms_adamw"}


# ---------------------------------------------------------------------------------------------
# One run
# ---------------------------------------------------------------------------------------------


def schedule(steps: int, warmup: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def train(width: int, lr: float, parametrization: str, args: argparse.Namespace,
          train_batches: list[torch.Tensor], val_batches: list[torch.Tensor]) -> dict:
    torch.manual_seed(args.seed)
    model = GPT(width, args.depth, args.seq)
    proxy = proxy_config(args.widths[0], lr, args)
    # standard: the proxy's numbers at every width; µP: the proxy transferred to this width.
    plan = hpscale.transfer(proxy, width=width if parametrization == "µP" else args.widths[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tied-weights note, once per run
        hpt.classify(model)
        optimizer = torch.optim.AdamW(hpt.param_groups(model, plan))
        hpt.apply_init(model, plan, vectors="reset")  # plain torch: biases 0, gains 1
        handles = hpt.apply_multipliers(model, plan)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule(args.steps, args.steps // 10))
    losses = []
    diverged = False
    for step in range(args.steps):
        idx = train_batches[step]
        loss = F.cross_entropy(model(idx[:, :-1]).reshape(-1, VOCAB), idx[:, 1:].reshape(-1))
        if not torch.isfinite(loss):
            diverged = True
            break
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    val = math.nan
    if not diverged:
        model.eval()
        with torch.no_grad():
            val = sum(F.cross_entropy(model(b[:, :-1]).reshape(-1, VOCAB), b[:, 1:].reshape(-1)).item()
                      for b in val_batches) / len(val_batches)
    for handle in handles:
        handle.remove()
    return {"width": width, "lr": lr, "parametrization": parametrization,
            "val_loss": val if math.isfinite(val) else None,
            "train_loss_last": sum(losses[-10:]) / max(1, len(losses[-10:])) if losses else None,
            "hidden_lr": plan.groups["hidden"].lr.target}


# ---------------------------------------------------------------------------------------------
# Optimum per width
# ---------------------------------------------------------------------------------------------


def optimum(points: list[tuple[float, float | None]]) -> tuple[float | None, bool]:
    """(optimal lr, on the grid's edge) from (lr, held-out loss) points; diverged runs are skipped.

    The best grid point, refined by the vertex of the parabola through it and its neighbours in
    x = log₂ lr (clamped to the bracket); an edge minimum is returned as is with ``True``.
    """
    finite = sorted((lr, loss) for lr, loss in points if loss is not None)
    if not finite:
        return None, False
    best = min(range(len(finite)), key=lambda i: finite[i][1])
    if best in (0, len(finite) - 1):
        return finite[best][0], True
    (x0, y0), (x1, y1), (x2, y2) = ((math.log2(lr), loss) for lr, loss in finite[best - 1 : best + 2])
    denominator = (x0 - x1) * (x0 - x2) * (x1 - x2)
    a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / denominator
    b = (x2 * x2 * (y0 - y1) + x1 * x1 * (y2 - y0) + x0 * x0 * (y1 - y2)) / denominator
    vertex = -b / (2 * a) if a > 0 else x1
    return 2 ** min(max(vertex, x0), x2), False


# ---------------------------------------------------------------------------------------------
# Figure
# ---------------------------------------------------------------------------------------------


def figure(runs: list[dict], widths: list[int], machine: str):
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13.5, 4.2), layout="constrained")
    axes = fig.subplots(1, 3)
    colours = colormaps["viridis"]
    optima: dict[str, list[tuple[int, float, bool]]] = {"standard": [], "µP": []}
    for ax, parametrization in zip(axes[:2], ("standard", "µP"), strict=True):
        for i, width in enumerate(widths):
            points = sorted((r["lr"], r["val_loss"]) for r in runs
                            if r["width"] == width and r["parametrization"] == parametrization)
            colour = colours(i / max(1, len(widths) - 1))
            xs = [lr for lr, loss in points if loss is not None]
            ys = [loss for _, loss in points if loss is not None]
            ax.plot(xs, ys, marker="o", markersize=3, color=colour, label=f"W = {width}")
            lr_star, edge = optimum(points)
            if lr_star is not None:
                optima[parametrization].append((width, lr_star, edge))
                ax.axvline(lr_star, color=colour, linewidth=0.8, linestyle=":")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("lr (the proxy's optimizer.lr)")
        ax.set_ylabel("held-out loss (nats/byte)")
        ax.set_title(f"{parametrization}: loss vs lr per width")
        finite = [r["val_loss"] for r in runs if r["val_loss"] is not None]
        if finite:
            low = min(finite)
            ax.set_ylim(low - 0.05, low + 1.2)
        ax.legend(fontsize=7)
    ax = axes[2]
    for parametrization, marker in (("standard", "s"), ("µP", "o")):
        points = optima[parametrization]
        ax.plot([w for w, _, _ in points], [lr for _, lr, _ in points], marker=marker, label=parametrization)
        for w, lr, edge in points:
            if edge:
                ax.annotate("grid edge", (w, lr), fontsize=6, textcoords="offset points", xytext=(3, 3))
    base = widths[0]
    standard = dict((w, lr) for w, lr, _ in optima["standard"])
    if base in standard:  # the µP prediction for the standard run's lr: ∝ 1/W (hidden group)
        ax.plot(widths, [standard[base] * base / w for w in widths], color="gray", linestyle="--",
                linewidth=0.8, label="∝ 1/W (µP's hidden-lr rule)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("width W")
    ax.set_ylabel("optimal lr")
    ax.set_title("optimal lr vs width")
    ax.legend(fontsize=7)
    fig.suptitle(f"hpscale.torch transfer demo: byte-level GPT on the Python stdlib sources ({machine})",
                 fontsize=9)
    return fig


def coordinate_check(args: argparse.Namespace, batch: torch.Tensor) -> None:
    """The coordinate check of the same model, standard vs µP, at the demo's widths: prints each
    layer's slope of log |x_t − x_0| vs log width and writes ``coord_check.png``."""
    from hpscale.plots.coord_check import figure as coord_figure

    def make(width: int) -> GPT:
        return GPT(width, args.depth, args.seq)

    inputs = (batch[:, :-1], batch[:, 1:])
    proxy = proxy_config(args.widths[0], args.coord_lr, args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        standard = hpt.coord_check(make, args.widths, inputs, lr=args.coord_lr, steps=3)
        mup = hpt.coord_check(make, args.widths, inputs, plan=proxy, steps=3)
    for check in (standard, mup):
        print(check.table("change"), end="\n\n")
    args.out.mkdir(parents=True, exist_ok=True)
    coord_figure([standard, mup], metric="change").savefig(args.out / "coord_check.png", dpi=100)


def muon_coordinate_check(args: argparse.Namespace, batch: torch.Tensor) -> None:
    """The hybrid coordinate check (Muon for the hidden matrices, AdamW for the rest) of the same
    model: hpscale's plan vs the Muon lr and weight decay left at the proxy's at every width."""
    from hpscale.plots.coord_check import figure as coord_figure

    def make(width: int) -> GPT:
        return GPT(width, args.depth, args.seq)

    proxy = {**proxy_config(args.widths[0], args.coord_lr, args), "muon": dict(MUON)}

    def unconverted(width: int) -> dict:
        at = hpscale.transfer(proxy, width=width).to_json_dict()
        at["optimizer_groups"]["hidden"].update(lr=MUON["lr"], weight_decay=MUON["weight_decay"])
        return at

    inputs = (batch[:, :-1], batch[:, 1:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        planned = hpt.coord_check(make, args.widths, inputs, plan=proxy, steps=3)
        left = hpt.coord_check(make, args.widths, inputs, plan=unconverted, steps=3)
    for title, check in (("hpscale's plan", planned), ("Muon lr left unconverted", left)):
        print(title, check.table("change"), sep="\n", end="\n\n")
        hidden = sorted(s for layer, s in check.change_slopes.items()
                        if any(r.layer == layer and r.group == "hidden" for r in check.records))
        print(f"hidden change slopes: {hidden[0]:+.2f} … {hidden[-1]:+.2f} (median "
              f"{hidden[len(hidden) // 2]:+.2f}, {len(hidden)} layers)", end="\n\n")
    args.out.mkdir(parents=True, exist_ok=True)
    titled = [dataclasses.replace(left, parametrization="Muon lr unconverted"),
              dataclasses.replace(planned, parametrization="hpscale's plan (Muon)")]
    coord_figure(titled, metric="change").savefig(args.out / "coord_check_muon.png", dpi=100)


def data_batches(args: argparse.Namespace) -> tuple[list[torch.Tensor], list[torch.Tensor], int]:
    """The training batches (one per step, the same for every run) and the held-out batches."""
    text = corpus(args.corpus_bytes)
    data = torch.frombuffer(bytearray(text), dtype=torch.uint8).long()
    split = int(0.9 * len(data))
    return (batches(data[:split], args.steps, args.batch, args.seq, args.seed),
            batches(data[split:], args.val_batches, args.batch, args.seq, args.seed + 1), len(text))


_WORKER: dict = {}


def _init_worker(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    train_batches, val_batches, _ = data_batches(args)
    _WORKER.update(args=args, train=train_batches, val=val_batches)


def _run_task(task: tuple[int, str, float]) -> dict:
    width, parametrization, lr = task
    t0 = time.perf_counter()
    run = train(width, lr, parametrization, _WORKER["args"], _WORKER["train"], _WORKER["val"])
    run["seconds"] = round(time.perf_counter() - t0, 2)
    return run


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--lrs", type=float, nargs="+",
                        default=[2.0**e for e in range(-11, -3)])  # 2^-11 … 2^-4
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--corpus-bytes", type=int, default=4_000_000)
    parser.add_argument("--val-batches", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=2,
                        help="runs in parallel, one thread each (OpenMP threads that share busy cores "
                        "with other programs spin and slow down 20×; processes degrade gracefully)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "figures")
    parser.add_argument("--coord-lr", type=float, default=2.0**-6,
                        help="lr of the coordinate check (standard: every group; µP: the proxy's)")
    parser.add_argument("--coord-check-only", action="store_true", help="only the coordinate check")
    parser.add_argument("--muon", action="store_true",
                        help="with --coord-check-only: the hybrid Muon + AdamW coordinate check instead")
    parser.add_argument("--quick", action="store_true", help="tiny settings, a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.widths, args.lrs, args.steps, args.corpus_bytes = [32, 64], [2.0**-9, 2.0**-7, 2.0**-5], 20, 300_000
    torch.set_num_threads(1)

    train_batches, val_batches, size = data_batches(args)
    load = os.getloadavg()[0]
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, {args.jobs} runs in parallel, load {load:.1f} at start"
    print(f"corpus: {size:,} bytes of {sysconfig.get_paths()['stdlib']}; {machine}", flush=True)

    if args.coord_check_only and args.muon:
        muon_coordinate_check(args, train_batches[0])
        return
    coordinate_check(args, train_batches[0])
    if args.coord_check_only:
        return

    # Largest widths first, so the parallel runs finish together. At the proxy's width µP is the
    # same run as standard (base_width = width): it is run once and recorded for both.
    tasks = [(width, parametrization, lr) for width in sorted(args.widths, reverse=True)
             for parametrization in ("standard", "µP") for lr in args.lrs
             if not (width == args.widths[0] and parametrization == "µP")]
    runs, start = [], time.perf_counter()
    context = multiprocessing.get_context("spawn")  # no fork after torch's thread pool started
    with context.Pool(args.jobs, initializer=_init_worker, initargs=(args,)) as pool:
        for run in pool.imap_unordered(_run_task, tasks):
            runs.append(run)
            if run["width"] == args.widths[0]:
                runs.append(dict(run, parametrization="µP"))
            loss = "diverged" if run["val_loss"] is None else f"{run['val_loss']:.4f}"
            print(f"W={run['width']:<4} {run['parametrization']:<8} lr={run['lr']:<10.3g} held-out "
                  f"{loss:>8}  ({run['seconds']:.1f} s)", flush=True)
    runs.sort(key=lambda r: (r["width"], r["parametrization"], r["lr"]))
    elapsed = time.perf_counter() - start
    load_end = os.getloadavg()[0]

    print(f"\n{'width':>6}  {'standard lr*':>12}  {'µP lr*':>10}   (lr* = the proxy lr with the lowest held-out loss)")
    summary = []
    for width in args.widths:
        row = {"width": width}
        for parametrization in ("standard", "µP"):
            points = [(r["lr"], r["val_loss"]) for r in runs
                      if r["width"] == width and r["parametrization"] == parametrization]
            lr_star, edge = optimum(points)
            row[parametrization] = {"lr": lr_star, "grid_edge": edge,
                                    "loss": min((p[1] for p in points if p[1] is not None), default=None)}
        summary.append(row)
        cells = [f"{row[p]['lr']:.3g}{'*' if row[p]['grid_edge'] else ''}" if row[p]["lr"] else "—"
                 for p in ("standard", "µP")]
        print(f"{width:>6}  {cells[0]:>12}  {cells[1]:>10}")
    print(f"\n{len(runs)} runs in {elapsed / 60:.1f} min; load average {load:.1f} at start, "
          f"{load_end:.1f} at the end ({os.cpu_count()} CPUs)")

    args.out.mkdir(parents=True, exist_ok=True)
    record = {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
              "machine": machine, "minutes": round(elapsed / 60, 1), "load_start": load,
              "load_end": load_end, "summary": summary, "runs": runs}
    (args.out / "transfer_demo.json").write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    fig = figure(runs, args.widths, f"{machine}, {elapsed / 60:.0f} min")
    fig.savefig(args.out / "transfer_demo.png", dpi=110)
    print(f"wrote {args.out / 'transfer_demo.json'} and {args.out / 'transfer_demo.png'}")


if __name__ == "__main__":
    main()
