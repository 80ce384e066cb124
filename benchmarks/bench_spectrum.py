"""Benchmark of ``hpscale spectrum`` on a sharded bf16 checkpoint against the I/O floor.

Run: ``python benchmarks/bench_spectrum.py [--gb 2] [--runs 3] [--keep DIR]``. Not a test:
timings depend on the machine and its load (printed before and after).

It writes a Hugging Face directory (``config.json``, 4 shards, ``model.safetensors.index.json``)
of about ``--gb`` GB of bf16 Gaussian matrices with LLaMA names and grouped-query attention
(width 2048, 16 heads of 128, 4 KV heads, MLP 5632, vocabulary 32000, untied head) — Gaussian
matrices have the flattest top a trained layer shows, the hardest case for σ_top. Then:

1. **floor**: the time to read every tensor once and convert it to float32 — written here
   independently of hpscale, as tightly as numpy allows: ``readinto`` into one reused buffer,
   then an exact bf16 → float32 widening into another reused buffer. (A naive floor with a
   fresh array per tensor, ``np.fromfile`` + ``astype``, is printed too; it is slower.)
2. **scan**: ``hpscale.checkpoints.scan_checkpoint(dir)`` in a fresh process: wall time,
   and peak memory above the process's baseline (``VmHWM``) against the largest tensor's
   float32 size.
3. **error**: σ of a few matrices (one of each shape) against ``numpy.linalg.svd`` in float64
   of the same bf16-decoded matrix.

Runs alternate floor and scan (page cache warm: the files were just written or read), median
of ``--runs``; then one cold-cache pair, where ``posix_fadvise(DONTNEED)`` drops the shards
from the page cache first (reads then come from the disk).

Targets (issue 12): scan ≤ 2 × floor; σ within 0.5 % on these flat-topped spectra; peak
memory ≤ 3 × the largest tensor.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

D, HEADS, KV_HEADS, FFN, VOCAB = 2048, 16, 4, 5632, 32000
HEAD = D // HEADS


def layer_shapes() -> dict[str, tuple[int, ...]]:
    kv = KV_HEADS * HEAD
    return {"input_layernorm.weight": (D,), "self_attn.q_proj.weight": (D, D),
            "self_attn.k_proj.weight": (kv, D), "self_attn.v_proj.weight": (kv, D),
            "self_attn.o_proj.weight": (D, D), "post_attention_layernorm.weight": (D,),
            "mlp.gate_proj.weight": (FFN, D), "mlp.up_proj.weight": (FFN, D), "mlp.down_proj.weight": (D, FFN)}


def build(folder: Path, gb: float, shards: int = 4, seed: int = 0) -> tuple[int, int]:
    """Write the checkpoint; return (tensors, bytes of the largest tensor as float32)."""
    per_layer = sum(int(np.prod(s)) for s in layer_shapes().values())
    embed = VOCAB * D
    layers = max(1, round((gb * 1e9 / 2 - 2 * embed) / per_layer))
    tensors: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (VOCAB, D)}
    for i in range(layers):
        for name, shape in layer_shapes().items():
            tensors[f"model.layers.{i}.{name}"] = shape
    tensors["model.norm.weight"] = (D,)
    tensors["lm_head.weight"] = (VOCAB, D)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({
        "model_type": "llama", "hidden_size": D, "num_hidden_layers": layers, "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS, "intermediate_size": FFN, "vocab_size": VOCAB,
        "tie_word_embeddings": False}))
    names = list(tensors)
    total = sum(int(np.prod(s)) * 2 for s in tensors.values())
    budget = total / shards
    groups: list[list[str]] = [[]]
    size = 0
    for name in names:
        nbytes = int(np.prod(tensors[name])) * 2
        if size + nbytes > budget * 1.05 and groups[-1] and len(groups) < shards:
            groups.append([])
            size = 0
        groups[-1].append(name)
        size += nbytes
    rng = np.random.default_rng(seed)
    weight_map = {}
    for index, group in enumerate(groups, 1):
        file = f"model-{index:05d}-of-{len(groups):05d}.safetensors"
        header: dict[str, object] = {"__metadata__": {"format": "pt"}}
        offset = 0
        for name in group:
            nbytes = int(np.prod(tensors[name])) * 2
            header[name] = {"dtype": "BF16", "shape": list(tensors[name]), "data_offsets": [offset, offset + nbytes]}
            offset += nbytes
        raw = json.dumps(header).encode()
        raw += b" " * (-len(raw) % 8)
        with (folder / file).open("wb") as fh:
            fh.write(struct.pack("<Q", len(raw)) + raw)
            for name in group:
                shape = tensors[name]
                a = rng.standard_normal(shape, dtype=np.float32) * 0.02 if len(shape) > 1 else np.ones(shape, np.float32)
                fh.write((a.view(np.uint32) >> 16).astype("<u2").tobytes())
                weight_map[name] = file
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total},
                                                                     "weight_map": weight_map}))
    return len(tensors), max(int(np.prod(s)) for s in tensors.values()) * 4


def _entries(folder: Path) -> list[tuple[Path, int, int]]:
    out = []
    for shard in sorted(folder.glob("model-*.safetensors")):
        with shard.open("rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(n))
        for name, entry in header.items():
            if name != "__metadata__":
                begin, end = entry["data_offsets"]
                out.append((shard, 8 + n + begin, end - begin))
    return sorted(out)


def floor_time(folder: Path) -> float:
    """Read every tensor once and widen bf16 → float32, with reused buffers."""
    entries = _entries(folder)
    largest = max(n for _, _, n in entries)
    raw = np.empty(largest // 2, dtype=np.uint16)
    out = np.empty(largest // 2, dtype=np.uint32)
    t0 = time.perf_counter()
    handles = {}
    for shard, offset, nbytes in entries:
        fh = handles.get(shard) or handles.setdefault(shard, open(shard, "rb", buffering=0))  # noqa: SIM115
        fh.seek(offset)
        view = memoryview(raw.view(np.uint8)[:nbytes])
        got = 0
        while got < nbytes:
            got += fh.readinto(view[got:])
        count = nbytes // 2
        np.left_shift(raw[:count], 16, out=out[:count], dtype=np.uint32)
    for fh in handles.values():
        fh.close()
    return time.perf_counter() - t0


def naive_floor_time(folder: Path) -> float:
    t0 = time.perf_counter()
    for shard, offset, nbytes in _entries(folder):
        raw = np.fromfile(shard, dtype="<u2", count=nbytes // 2, offset=offset)
        _ = (raw.astype(np.uint32) << 16).view(np.float32)
    return time.perf_counter() - t0


_CHILD = """
import json, sys, time
def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
import numpy as np
import hpscale.checkpoints
base = peak()
t0 = time.perf_counter()
scan = hpscale.checkpoints.scan_checkpoint(sys.argv[1], device=(sys.argv[2] or None), rtol=float(sys.argv[3]))
dt = time.perf_counter() - t0
sig = {r.name: (r.sigma, r.stats.error_estimate) for r in scan.records if r.stats}
print(json.dumps({"base": base, "peak": peak(), "seconds": dt, "sigma": sig, "warnings": scan.warnings}))
"""


def scan_child(folder: Path, device: str = "", rtol: float = 2.5e-3) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(folder), device, repr(rtol)], capture_output=True, text=True,
                         check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(out.stdout)


def drop_cache(folder: Path) -> None:
    for path in folder.iterdir():
        with path.open("rb") as fh:
            os.fsync(fh.fileno())  # dirty pages cannot be dropped
            os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def errors(folder: Path, sigma: dict[str, list[float]]) -> list[tuple[str, float, float]]:
    from hpscale.checkpoints import open_checkpoint

    wanted = ["model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight",
              "model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.down_proj.weight"]
    out = []
    with open_checkpoint(folder) as ck:
        for info in ck.tensors:
            if info.name in wanted:
                exact = float(np.linalg.svd(ck.read(info).astype(np.float64), compute_uv=False)[0])
                got, bound = sigma[info.name]
                out.append((info.name, (exact - got) / exact, bound))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=2.0, help="checkpoint size in GB (bf16)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--device", default="", help="also pass --device (torch) to the scan")
    ap.add_argument("--sigma-rtol", type=float, default=2.5e-3, help="the scan's --sigma-rtol")
    ap.add_argument("--keep", type=Path, help="build (or reuse) the checkpoint here instead of a temp dir")
    args = ap.parse_args()
    print(f"numpy {np.__version__}, cpus {os.cpu_count()}, load average {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp) / "llama-bf16"
        t0 = time.perf_counter()
        if not (folder / "model.safetensors.index.json").exists():
            build(folder, args.gb)
        shards = sorted(folder.glob("model-*.safetensors"))
        size = sum(p.stat().st_size for p in shards)
        largest = max(n for _, _, n in _entries(folder)) * 2
        print(f"checkpoint: {len(shards)} shards, {size / 1e9:.2f} GB bf16, largest tensor "
              f"{largest / 2**20:.0f} MiB as float32 (built in {time.perf_counter() - t0:.0f} s)")
        floor_time(folder)  # warm the page cache
        floors, scans, results = [], [], []
        for _ in range(args.runs):
            floors.append(floor_time(folder))
            result = scan_child(folder, args.device, args.sigma_rtol)
            scans.append(result["seconds"])
            results.append(result)
        naive = naive_floor_time(folder)
        floor, scan = statistics.median(floors), statistics.median(scans)
        print(f"warm cache: floor {floor:.2f} s (runs {', '.join(f'{f:.2f}' for f in floors)}; naive floor "
              f"{naive:.2f} s), scan {scan:.2f} s (runs {', '.join(f'{s:.2f}' for s in scans)}): "
              f"scan/floor = {scan / floor:.2f}  {'PASS' if scan <= 2 * floor else 'FAIL'} ≤ 2")
        drop_cache(folder)
        cold_floor = floor_time(folder)
        drop_cache(folder)
        cold = scan_child(folder, args.device, args.sigma_rtol)
        print(f"cold cache: floor {cold_floor:.2f} s, scan {cold['seconds']:.2f} s: scan/floor = "
              f"{cold['seconds'] / cold_floor:.2f}  {'PASS' if cold['seconds'] <= 2 * cold_floor else 'FAIL'} ≤ 2")
        used = max(r["peak"] - r["base"] for r in results)
        print(f"peak memory above baseline {used / 2**20:.0f} MiB = {used / largest:.2f} × the largest tensor "
              f"as float32  {'PASS' if used <= 3 * largest else 'FAIL'} ≤ 3")
        worst = 0.0
        for name, err, bound in errors(folder, results[0]["sigma"]):
            worst = max(worst, abs(err))
            print(f"  σ error {name}: {err * 100:+.3f} % below the exact σ (its own estimate {bound * 100:.3f} %)")
        print(f"σ error worst {worst * 100:.3f} % (--sigma-rtol {args.sigma_rtol:g})  "
              f"{'PASS' if worst <= 5e-3 else 'FAIL'} ≤ 0.5 %")
        if results[0]["warnings"]:
            print("scan warnings:", results[0]["warnings"])
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
