"""Benchmark of σ_top (``hpscale spectrum``'s core) on LLaMA-7B-shaped bf16 layers against the read-once floor.

Run: ``python benchmarks/bench_spectrum.py [--runs 3] [--scale 1.0] [--keep DIR]``. Not a test:
timings depend on the machine and its load (``uptime``'s load averages are printed before and
after). Figures with their machine and load go in ``benchmarks/README.md``.

It writes two single-file safetensors checkpoints, each one LLaMA-7B decoder layer in bf16
(q, k, v, o 4096×4096; gate, up 11008×4096; down 4096×11008; 404 MB; ``--scale`` shrinks every
side, e.g. 0.5 for a quarter of the bytes):

- **realistic**: every matrix is W = U·diag(s)·Vᵀ with planted singular values — a power-law
  bulk sᵢ ∝ (1 + i/50)^−½ (flat near its top, as trained layers are) below a few outliers per
  role, two of them near-degenerate (σ1/σ2 = 1.007 in ``up_proj`` and ``down_proj``). U and V
  are Kronecker products of two random orthogonal matrices (exactly orthogonal and dense, and
  cheap to apply); with a Gaussian random start the Krylov iteration sees only the spectrum, so
  its behaviour does not depend on which orthogonal U, V are used. The exact σ_top is the
  planted s₁ (bf16 rounding of the entries moves it by ~1e-5 relative: its first-order change
  u₁ᵀ·E·v₁ averages the rounding errors E over the whole matrix).
- **gaussian**: i.i.d. N(0, 0.02²) entries — the flattest top a weight matrix has, the worst
  case. The exact σ_top is a reference run of the same core at rtol 1e-5 with a block of 16
  from another seed (certified within 1e-5 of a singular value; σ is a lower bound).

Measured, interleaved in one process (floor, method, floor, method, … for both checkpoints),
page cache warm, median of ``--runs``:

1. **floor**: read every tensor once from the file into one reused buffer and widen bf16 to
   float32 once into another — independent of hpscale, as tight as numpy allows.
2. **method**: read every matrix's raw bf16 bytes into one reused buffer (``readinto``, as the
   scan reads) and run ``hpscale.core.sigma.matrix_stats(bits, stored="bf16")`` — σ_top, ‖W‖_F
   and stable rank with bf16 tiles widened per pass — at the default ``--sigma-rtol`` and at
   0.5 %.
3. **command**: ``scan_checkpoint(path, rtol=…)``, what ``hpscale spectrum`` runs: its reader
   (bf16 read as bits by a prefetch thread into two reused buffers), grouping and the same core.
4. **memory**: the method's peak private allocations (``tracemalloc``: numpy arrays and Python
   objects) beyond the reused read buffer, against the largest tensor's float32 size; and the
   command's, its two read buffers included.

Targets (issue 23): realistic ≤ 2.5× the floor and Gaussian ≤ 6×, both at ≤ 0.5 % worst σ error;
peak private memory ≤ 0.25× the largest tensor's float32 size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hpscale.checkpoints import scan_checkpoint  # noqa: E402
from hpscale.core.sigma import SIGMA_RTOL, matrix_stats, top_singular_value  # noqa: E402

D, FFN = 4096, 11008  # LLaMA-7B
#: Outliers per role, as multiples of the bulk's top singular value (realistic checkpoint).
OUTLIERS = {"q_proj": [3.0, 2.2, 1.8], "k_proj": [2.5, 2.0], "v_proj": [], "o_proj": [1.5],
            "gate_proj": [2.0, 1.6], "up_proj": [2.0, 2.0 / 1.007, 1.5], "down_proj": [2.5, 2.5 / 1.007]}


def layer_shapes(scale: float) -> dict[str, tuple[int, int]]:
    d, f = (max(64, int(round(x * scale / 64)) * 64) for x in (D, FFN))
    prefix = "model.layers.0."
    return {prefix + "self_attn.q_proj.weight": (d, d), prefix + "self_attn.k_proj.weight": (d, d),
            prefix + "self_attn.v_proj.weight": (d, d), prefix + "self_attn.o_proj.weight": (d, d),
            prefix + "mlp.gate_proj.weight": (f, d), prefix + "mlp.up_proj.weight": (f, d),
            prefix + "mlp.down_proj.weight": (d, f)}


def _factors(n: int) -> tuple[int, int]:
    a = max(k for k in range(1, int(n ** 0.5) + 1) if n % k == 0)
    return a, n // a


def _orthogonal(k: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((k, k)))
    return (q * np.sign(np.diag(r))).astype(np.float32)


def _kron_left(a: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(A ⊗ B)·X without forming A ⊗ B."""
    x = x.reshape(a.shape[0], b.shape[0], -1)
    x = np.einsum("jb,abn->ajn", b, x, optimize=True)
    return np.einsum("ia,ajn->ijn", a, x, optimize=True).reshape(a.shape[0] * b.shape[0], -1)


def planted(rows: int, cols: int, s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """W = U·diag(s)·Vᵀ, U = Qa⊗Qb (rows×rows), V = Qc⊗Qd (cols×cols), random orthogonal factors."""
    core = np.zeros((rows, cols), np.float32)
    core[np.arange(len(s)), np.arange(len(s))] = s
    w = _kron_left(*(_orthogonal(k, rng) for k in _factors(rows)), core)
    return np.ascontiguousarray(_kron_left(*(_orthogonal(k, rng) for k in _factors(cols)), w.T.copy()).T)


def realistic_spectrum(r: int, outliers: list[float], rng: np.random.Generator) -> np.ndarray:
    bulk = (1 + np.arange(r) / 50) ** -0.5 * (1 + 0.002 * rng.standard_normal(r))
    s = np.sort(bulk)[::-1] * 0.02 * np.sqrt(r)
    s[:len(outliers)] = np.asarray(outliers) * s[0]
    return np.sort(s)[::-1].astype(np.float32)


def _bf16(a: np.ndarray) -> np.ndarray:
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")  # round to nearest even


def build(path: Path, kind: str, scale: float, seed: int) -> dict[str, float]:
    """Write one layer; return the exact σ_top per tensor (realistic: the planted s₁)."""
    rng = np.random.default_rng(seed)
    header: dict[str, object] = {"__metadata__": {"format": "pt", "kind": kind}}
    blobs, truth, offset = [], {}, 0
    for name, (rows, cols) in layer_shapes(scale).items():
        if kind == "realistic":
            s = realistic_spectrum(min(rows, cols), OUTLIERS[name.split(".")[-2]], rng)
            w, truth[name] = planted(rows, cols, s, rng), float(s[0])
        else:
            w = rng.standard_normal((rows, cols), dtype=np.float32) * np.float32(0.02)
        blob = _bf16(w).tobytes()
        header[name] = {"dtype": "BF16", "shape": [rows, cols], "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", len(raw)) + raw)
        for blob in blobs:
            fh.write(blob)
    return truth


def entries(path: Path) -> list[tuple[str, int, int, tuple[int, int]]]:
    with path.open("rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(n))
    return sorted((name, 8 + n + e["data_offsets"][0], e["data_offsets"][1] - e["data_offsets"][0], tuple(e["shape"]))
                  for name, e in header.items() if name != "__metadata__")


def _read(fh: object, offset: int, view: memoryview) -> None:
    fh.seek(offset)  # type: ignore[attr-defined]
    got = 0
    while got < len(view):
        got += fh.readinto(view[got:])  # type: ignore[attr-defined]


def floor_time(path: Path) -> float:
    """Read every tensor once into a reused buffer and widen bf16 → float32 into another."""
    es = entries(path)
    largest = max(nbytes for _, _, nbytes, _ in es)
    raw = np.empty(largest // 2, dtype=np.uint16)
    out = np.empty(largest // 2, dtype=np.uint32)
    t0 = time.perf_counter()
    with path.open("rb", buffering=0) as fh:
        for _, offset, nbytes, _ in es:
            _read(fh, offset, memoryview(raw.view(np.uint8)[:nbytes]))
            np.left_shift(raw[:nbytes // 2], 16, out=out[:nbytes // 2], dtype=np.uint32)
    return time.perf_counter() - t0


def method(path: Path, rtol: float, buffer: np.ndarray) -> tuple[float, dict[str, object]]:
    """Read each matrix's raw bf16 into ``buffer`` and measure it; (seconds, stats per name)."""
    out = {}
    t0 = time.perf_counter()
    with path.open("rb", buffering=0) as fh:
        for name, offset, nbytes, shape in entries(path):
            bits = buffer[:nbytes // 2]
            _read(fh, offset, memoryview(bits.view(np.uint8)))
            out[name] = matrix_stats(bits.reshape(shape), stored="bf16", rtol=rtol)
    return time.perf_counter() - t0, out


def command(path: Path, rtol: float) -> tuple[float, dict[str, object]]:
    """``hpscale spectrum``'s scan of the file; (seconds, stats per name)."""
    t0 = time.perf_counter()
    scan = scan_checkpoint(path, rtol=rtol)
    return time.perf_counter() - t0, {r.name: r.stats for r in scan.records if r.stats is not None}


def profile(path: Path, rtol: float, buffer: np.ndarray) -> str:
    """Where the method's time goes: reading, the passes over W (G·X on row tiles) and the rest
    (the Rayleigh–Ritz step: orthogonalisation, the projected eigenproblems, the stopping rule).
    Wraps the core's private pass operator, so it is a benchmark aid, not an API."""
    from hpscale.core import sigma_passes as sigma

    spent = {"pass": 0.0, "count": 0}
    call = sigma.HostTiles.__call__

    def timed(self: object, x: np.ndarray) -> np.ndarray:
        t = time.perf_counter()
        try:
            return call(self, x)  # type: ignore[arg-type]
        finally:
            spent["pass"] += time.perf_counter() - t
            spent["count"] += 1

    sigma.HostTiles.__call__ = timed  # type: ignore[method-assign]
    try:
        read = 0.0
        t0 = time.perf_counter()
        with path.open("rb", buffering=0) as fh:
            for _, offset, nbytes, shape in entries(path):
                bits = buffer[:nbytes // 2]
                t = time.perf_counter()
                _read(fh, offset, memoryview(bits.view(np.uint8)))
                read += time.perf_counter() - t
                matrix_stats(bits.reshape(shape), stored="bf16", rtol=rtol)
        total = time.perf_counter() - t0
    finally:
        sigma.HostTiles.__call__ = call  # type: ignore[method-assign]
    rest = total - read - spent["pass"]
    return (f"total {total:.3f} s = read {read:.3f} + {spent['count']} passes {spent['pass']:.3f} "
            f"({spent['pass'] / max(1, spent['count']) * 1e3:.1f} ms each, all matrices) + the rest {rest:.3f} "
            f"at rtol {rtol:.2%}")


def reference(path: Path) -> dict[str, float]:
    """Gaussian checkpoint: σ_top of each matrix at rtol 1e-5, block 16, another seed."""
    out = {}
    with path.open("rb", buffering=0) as fh:
        for name, offset, nbytes, shape in entries(path):
            bits = np.empty(nbytes // 2, dtype=np.uint16)
            _read(fh, offset, memoryview(bits.view(np.uint8)))
            out[name] = top_singular_value(bits.reshape(shape), stored="bf16", rtol=1e-5, block=16, seed=99,
                                           max_passes=400).sigma
    return out


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0, help="shrink every side (1.0: LLaMA-7B shapes)")
    ap.add_argument("--keep", type=Path, help="build (or reuse) the checkpoints here instead of a temp dir")
    ap.add_argument("--profile", action="store_true", help="also split the method's time: passes vs the rest")
    args = ap.parse_args()
    print(f"numpy {np.__version__}, cpus {os.cpu_count()}, {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        truth: dict[str, dict[str, float]] = {}
        t0 = time.perf_counter()
        for seed, kind in enumerate(("realistic", "gaussian")):
            path = folder / f"{kind}-{args.scale:g}.safetensors"
            cache = path.with_suffix(".truth.json")
            if not cache.exists():
                truth[kind] = build(path, kind, args.scale, seed)
                if kind == "gaussian":
                    truth[kind] = reference(path)
                cache.write_text(json.dumps(truth[kind]))
            truth[kind] = json.loads(cache.read_text())
        paths = {kind: folder / f"{kind}-{args.scale:g}.safetensors" for kind in truth}
        es = entries(paths["realistic"])
        largest = max(nbytes for _, _, nbytes, _ in es)
        print(f"checkpoints: {', '.join(f'{k} {p.stat().st_size / 1e6:.0f} MB' for k, p in paths.items())} bf16, "
              f"largest tensor {largest * 2 / 2**20:.0f} MiB as float32 (ready in {time.perf_counter() - t0:.0f} s)")
        buffer = np.empty(largest // 2, dtype=np.uint16)
        rtols = (SIGMA_RTOL, 5e-3)
        times: dict[tuple[str, str], list[float]] = {}
        loads: dict[tuple[str, str], list[float]] = {}
        stats: dict[tuple[str, float], dict[str, object]] = {}
        for _ in range(args.runs):
            for kind, path in paths.items():
                floor_time(path)  # back into the page cache: other processes on a shared machine evict it
                times.setdefault((kind, "floor"), []).append(floor_time(path))
                for rtol in rtols:
                    for how in ("method", "command"):
                        dt, stats[(kind, rtol, how)] = (method(path, rtol, buffer) if how == "method"
                                                        else command(path, rtol))
                        times.setdefault((kind, f"{rtol:g}", how), []).append(dt)
                        loads.setdefault((kind, f"{rtol:g}", how), []).append(os.getloadavg()[0])
        print(f"after the timed runs: {load()}")
        print(f"{'checkpoint':<10} {'rtol':>6} {'':<7} {'floor s':>8} {'time s':>7} {'ratio':>6} {'passes':>12} "
              f"{'worst σ err':>11} {'load (1 min)':>12}")
        for kind in paths:
            floor = statistics.median(times[(kind, "floor")])
            for rtol in rtols:
                for how in ("method", "command"):
                    sec = statistics.median(times[(kind, f"{rtol:g}", how)])
                    st = stats[(kind, rtol, how)]
                    passes = sorted(s.passes for s in st.values())  # type: ignore[attr-defined]
                    worst = max((truth[kind][n] - s.sigma_max) / truth[kind][n]  # type: ignore[attr-defined]
                                for n, s in st.items())
                    seen = loads[(kind, f"{rtol:g}", how)]
                    print(f"{kind:<10} {rtol:>6.2%} {how:<7} {floor:>8.3f} {sec:>7.3f} {sec / floor:>5.2f}× "
                          f"{f'{passes[0]}–{passes[-1]} (med {statistics.median(passes):g})':>12} {worst:>10.3%} "
                          f"{f'{min(seen):.2f}–{max(seen):.2f}':>12}")
        if args.profile:
            for kind, path in paths.items():
                print(f"profile, {kind}: {profile(path, SIGMA_RTOL, buffer)}")
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        for path in paths.values():
            method(path, SIGMA_RTOL, buffer)
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        print(f"peak private allocations of the method beyond its read buffer: {peak / 2**20:.1f} MiB = "
              f"{peak / (largest * 2):.3f}× the largest tensor as float32 (the reused bf16 read buffer: "
              f"{buffer.nbytes / (largest * 2):.2f}×)")
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        for path in paths.values():
            command(path, SIGMA_RTOL)
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        print(f"peak allocations of the command, its two read buffers included: {peak / 2**20:.1f} MiB = "
              f"{peak / (largest * 2):.3f}× the largest tensor as float32")
    print(f"end: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
