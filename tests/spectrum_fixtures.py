"""Checkpoints with planted singular values, written the way Hugging Face and timm save them.

Every matrix is W = U·diag(s)·Vᵀ (U, V from QR of Gaussian matrices), so σ_top, ‖W‖_F and
the stable rank are known exactly. Used by the spectrum tests, the fuzz harness and the
README's examples (``python tests/spectrum_fixtures.py demo DIR`` writes the demo pair).
"""

from __future__ import annotations

import json
import struct
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np

_ST_NP = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8", "U8": "u1"}


def f32_to_bf16_bits(a: np.ndarray) -> np.ndarray:
    """float32 → bf16 bit patterns, round to nearest even (as torch does)."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def safetensors_bytes(tensors: Mapping[str, np.ndarray], dtype: str | Mapping[str, str] = "F32",
                      metadata: object = None) -> bytes:
    """A safetensors file: u64-LE header length, JSON header (padded to 8), raw LE data."""
    header: dict[str, object] = {"__metadata__": metadata if metadata is not None else {"format": "pt"}}
    blobs: list[bytes] = []
    offset = 0
    for name, arr in tensors.items():
        dt = dtype if isinstance(dtype, str) else dtype.get(name, "F32")
        if dt == "BF16":
            blob = f32_to_bf16_bits(arr).astype("<u2").tobytes()
        else:
            blob = np.ascontiguousarray(arr, dtype=_ST_NP[dt]).tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + b"".join(blobs)


def write_safetensors(path: Path, tensors: Mapping[str, np.ndarray],
                      dtype: str | Mapping[str, str] = "F32") -> Path:
    path.write_bytes(safetensors_bytes(tensors, dtype))
    return path


def planted(m: int, n: int, s: np.ndarray | list[float], seed: int = 0) -> np.ndarray:
    """m×n matrix with singular values ``s`` (descending, len ≤ min(m, n))."""
    rng = np.random.default_rng(seed)
    s = np.asarray(s, dtype=np.float64)
    k = len(s)
    u, _ = np.linalg.qr(rng.standard_normal((m, k)))
    v, _ = np.linalg.qr(rng.standard_normal((n, k)))
    return (u * s) @ v.T


def spectrum_of(seed: int, top: float, k: int = 24) -> np.ndarray:
    """A descending spectrum with a clear gap below ``top``."""
    rng = np.random.default_rng(seed)
    rest = np.sort(rng.uniform(0.05, 0.6, k - 1))[::-1] * top
    return np.concatenate([[top], rest])


def _m(shape: tuple[int, int], top: float, seed: int) -> np.ndarray:
    return planted(shape[0], shape[1], spectrum_of(seed, top, min(24, *shape)), seed)


def gpt2_like(width: int, depth: int, hidden_sigma: float, seed: int = 0, vocab: int = 200,
              lm_head: bool = False) -> dict[str, np.ndarray]:
    """GPT-2 names and Conv1D layout ((in, out)); c_attn's q, k, v columns each have
    σ_top = hidden_sigma, as does every other hidden matrix."""
    d = width
    rng = np.random.default_rng(seed)
    t: dict[str, np.ndarray] = {
        "transformer.wte.weight": _m((vocab, d), 1.5, seed),
        "transformer.wpe.weight": _m((32, d), 0.5, seed + 1),
    }
    for i in range(depth):
        p = f"transformer.h.{i}."
        base = seed * 1000 + i * 10
        t[p + "ln_1.weight"] = np.ones(d)
        t[p + "ln_1.bias"] = np.zeros(d)
        qkv = [_m((d, d), hidden_sigma, base + j) for j in range(3)]
        t[p + "attn.c_attn.weight"] = np.concatenate(qkv, axis=1)
        t[p + "attn.c_attn.bias"] = rng.standard_normal(3 * d) * 0.01
        t[p + "attn.c_proj.weight"] = _m((d, d), hidden_sigma, base + 3)
        t[p + "mlp.c_fc.weight"] = _m((d, 4 * d), hidden_sigma, base + 4)
        t[p + "mlp.c_proj.weight"] = _m((4 * d, d), hidden_sigma, base + 5)
        t[p + "mlp.c_proj.bias"] = np.zeros(d)
    t["transformer.ln_f.weight"] = np.ones(d)
    if lm_head:
        t["lm_head.weight"] = t["transformer.wte.weight"].copy()
    return t


def gpt2_config(width: int, depth: int, vocab: int = 200) -> dict[str, object]:
    return {"model_type": "gpt2", "n_embd": width, "n_layer": depth, "n_head": max(1, width // 16),
            "vocab_size": vocab}


def llama_like(width: int, depth: int, hidden_sigma: float | Mapping[str, float], seed: int = 0,
               heads: int = 4, kv_heads: int = 2, vocab: int = 256, tied: bool = False,
               ffn: int | None = None) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    """LLaMA/Mistral/Qwen names with grouped-query attention (k, v: kv_heads·head_dim rows).

    ``hidden_sigma`` is one σ for every hidden matrix, or a mapping role → σ (q, k, v, o,
    gate, up, down)."""
    d, f = width, ffn or 3 * width
    head = d // heads
    sig = hidden_sigma if isinstance(hidden_sigma, Mapping) else dict.fromkeys("q k v o gate up down".split(), hidden_sigma)
    t: dict[str, np.ndarray] = {"model.embed_tokens.weight": _m((vocab, d), 1.0, seed)}
    shapes = {"q": (d, d), "k": (kv_heads * head, d), "v": (kv_heads * head, d), "o": (d, d),
              "gate": (f, d), "up": (f, d), "down": (d, f)}
    where = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj",
             "o": "self_attn.o_proj", "gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj"}
    for i in range(depth):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = np.ones(d)
        for j, role in enumerate(shapes):
            t[p + where[role] + ".weight"] = _m(shapes[role], sig[role], seed * 1000 + i * 10 + j)
        t[p + "post_attention_layernorm.weight"] = np.ones(d)
    t["model.norm.weight"] = np.ones(d)
    if not tied:
        t["lm_head.weight"] = _m((vocab, d), 2.0, seed + 7)
    config = {"model_type": "llama", "hidden_size": d, "num_hidden_layers": depth,
              "num_attention_heads": heads, "num_key_value_heads": kv_heads, "vocab_size": vocab,
              "intermediate_size": f, "tie_word_embeddings": tied}
    return t, config


def moe_like(width: int, depth: int, experts: int, hidden_sigma: float, seed: int = 0,
             vocab: int = 128) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    """A MoE with experts stacked in 3-D tensors (E, 2f, d) and (E, d, f), as recent
    transformers versions store them; expert e's matrices have σ_top = hidden_sigma·(1 + e/10)."""
    d, f = width, 2 * width
    t, config = llama_like(width, depth, hidden_sigma, seed, vocab=vocab)
    for i in range(depth):
        p = f"model.layers.{i}.mlp."
        for role in ("gate_proj", "up_proj", "down_proj"):
            del t[p + role + ".weight"]
        t[p + "gate.weight"] = _m((experts, d), 0.3, seed + i)
        t[p + "experts.gate_up_proj"] = np.stack(
            [_m((2 * f, d), hidden_sigma * (1 + e / 10), seed * 100 + i * 10 + e) for e in range(experts)])
        t[p + "experts.down_proj"] = np.stack(
            [_m((d, f), hidden_sigma * (1 + e / 10), seed * 100 + i * 10 + e + 5) for e in range(experts)])
    config = {**config, "model_type": "qwen3_moe", "num_experts": experts}
    return t, config


def write_hf_dir(folder: Path, tensors: Mapping[str, np.ndarray], config: Mapping[str, object] | None,
                 *, shards: int = 1, dtype: str = "F32", fmt: str = "safetensors") -> Path:
    """A Hugging Face model directory: config.json plus model.safetensors, or ``shards``
    files model-0000i-of-0000n.safetensors with model.safetensors.index.json (``fmt="bin"``:
    pytorch_model*.bin via torch.save)."""
    folder.mkdir(parents=True, exist_ok=True)
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))
    names = list(tensors)
    chunks = [names[i::shards] for i in range(shards)]
    stem, ext = ("model", "safetensors") if fmt == "safetensors" else ("pytorch_model", "bin")
    weight_map: dict[str, str] = {}
    for index, chunk in enumerate(chunks, 1):
        file = f"{stem}.{ext}" if shards == 1 else f"{stem}-{index:05d}-of-{shards:05d}.{ext}"
        part = {n: tensors[n] for n in chunk}
        if fmt == "safetensors":
            write_safetensors(folder / file, part, dtype)
        else:
            import torch

            tdtype = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}[dtype]
            torch.save({n: torch.from_numpy(np.asarray(a, dtype=np.float32)).to(tdtype) for n, a in part.items()},
                       folder / file)
        weight_map.update(dict.fromkeys(chunk, file))
    if shards > 1:
        (folder / f"{stem}.{ext}.index.json").write_text(
            json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map}))
    return folder


def write_demo(folder: Path) -> None:
    """The README's pair: GPT-2-named proxy (width 128, 4 layers) and a target at width 512,
    8 layers, bf16, 2 shards, whose hidden σ_top is 1.414× the proxy's — the ratio the
    timescale rule predicts for the nanoGPT configs' m = 4, κ = 2, ν = 4 — and configs."""
    folder.mkdir(parents=True, exist_ok=True)
    write_hf_dir(folder / "proxy", gpt2_like(128, 4, 2.0, seed=1, vocab=512), gpt2_config(128, 4, 512))
    write_hf_dir(folder / "target", gpt2_like(512, 8, 2.0 * 2**0.5, seed=2, vocab=512),
                 gpt2_config(512, 8, 512), shards=2, dtype="BF16")
    write_safetensors(folder / "proxy.safetensors", gpt2_like(128, 4, 2.0, seed=1, vocab=512))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "demo":
        raise SystemExit("usage: python tests/spectrum_fixtures.py demo DIR")
    write_demo(Path(sys.argv[2]))
