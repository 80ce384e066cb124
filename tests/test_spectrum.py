"""Tests of ``hpscale spectrum``: σ_top, grouping, pairing, compare and the CLI.

Checkpoints are written with planted singular values (``spectrum_fixtures``), so the
expected σ_top, ‖W‖_F and stable rank are known exactly. Readers and hostile files are in
``test_spectrum_readers.py``.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import typer
from spectrum_fixtures import (
    gpt2_config,
    gpt2_like,
    llama_like,
    moe_like,
    planted,
    spectrum_of,
    write_hf_dir,
    write_safetensors,
)
from typer.testing import CliRunner

import hpscale
from hpscale.checkpoints import scan_checkpoint
from hpscale.commands.spectrum import spectrum_command
from hpscale.core.namepattern import NamePattern
from hpscale.core.spectrum import (
    SIGMA_RTOL,
    Grouper,
    MatrixStats,
    ModelInfo,
    Prediction,
    TensorRecord,
    as_matrix,
    compare,
    layer_role,
    matrix_stats,
    pair_records,
    top_singular_value,
    verdict,
)
from hpscale.errors import InputError


def _has(module: str) -> bool:
    from hpscale.extras import available

    return available(module)


needs_torch = pytest.mark.skipif(not _has("torch"), reason="torch not installed")
needs_matplotlib = pytest.mark.skipif(not _has("matplotlib"), reason="matplotlib not installed")


def make_app() -> typer.Typer:
    from hpscale.cli import guarded

    app = typer.Typer(pretty_exceptions_enable=False)
    app.command()(guarded(spectrum_command))
    return app


runner = CliRunner()


def run(*args: str | Path, columns: int = 100):
    return runner.invoke(make_app(), [str(a) for a in args], env={"COLUMNS": str(columns)})


# ------------------------------------------------------------------------------ σ_top


@pytest.mark.parametrize("shape", [(150, 300), (300, 150), (200, 200)])
def test_block_krylov_matches_planted_gap(shape: tuple[int, int]) -> None:
    w = planted(*shape, spectrum_of(3, 7.0, 100), seed=3).astype(np.float32)
    res = top_singular_value(w, method="block")
    assert res.converged and res.method == "block-lanczos"
    assert top_singular_value(w, method="lanczos") == res  # the old name still works
    # a lower bound, within its certified error (the gap-theorem bound, on this clear top)
    assert 0 <= 1 - res.sigma / 7.0 <= res.error_estimate * (1 + 1e-6)
    assert res.error_estimate <= SIGMA_RTOL


@pytest.mark.parametrize("shape", [(256, 1024), (600, 600)])
def test_block_krylov_gaussian_flat_top_within_half_percent(shape: tuple[int, int]) -> None:
    w = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
    ref = np.linalg.svd(w.astype(np.float64), compute_uv=False)[0]
    res = top_singular_value(w, method="block")
    assert res.converged
    assert 0 <= (ref - res.sigma) / ref < 5e-3  # a lower bound, within 0.5 %
    assert res.error_estimate <= 2.5e-3


def test_direct_path_and_degenerate_matrices() -> None:
    w = planted(64, 500, [3.0, 1.0])
    assert top_singular_value(w).method == "direct"
    assert top_singular_value(w).sigma == pytest.approx(3.0, rel=1e-12)
    assert top_singular_value(np.zeros((300, 700), np.float32), method="block").sigma == 0.0
    assert top_singular_value(np.zeros((0, 5))).sigma == 0.0
    st = matrix_stats(np.zeros((3, 4), np.float32))
    assert st.sigma_max == 0.0 and st.stable_rank is None


def test_invariant_subspace_stops_exactly() -> None:
    w = planted(300, 400, [3.0, 2.0, 1.0])  # rank 3: the block Krylov space closes on pass 2
    res = top_singular_value(w, method="block")
    assert res.sigma == pytest.approx(3.0, rel=1e-9) and res.steps <= 2 and res.converged


def test_matrix_stats_frobenius_and_stable_rank() -> None:
    s = np.array([4.0, 3.0, 2.0, 1.0])
    st = matrix_stats(planted(200, 300, s).astype(np.float32))
    assert st.sigma_max == pytest.approx(4.0, rel=1e-4)
    assert st.frobenius == pytest.approx(math.sqrt(30.0), rel=1e-5)
    assert st.stable_rank == pytest.approx(30.0 / 16.0, rel=1e-3)


@pytest.mark.parametrize(("dtype", "scale"), [(np.float32, 1e19), (np.float32, 1e-30),
                                              (np.float64, 1e-200), (np.float64, 1e200)])
def test_extreme_scales_give_exact_sigma_and_stable_rank(dtype: type, scale: float) -> None:
    base = planted(200, 240, [4.0, 3.0, 2.0, 1.0])
    st = matrix_stats((base * scale).astype(dtype))
    assert st.finite and st.sigma_max == pytest.approx(4.0 * scale, rel=1e-4)
    assert st.frobenius == pytest.approx(math.sqrt(30.0) * scale, rel=1e-4)
    assert st.stable_rank == pytest.approx(30.0 / 16.0, rel=1e-3)


def test_nonfinite_gives_none() -> None:
    w = np.ones((50, 60), np.float32)
    w[3, 4] = np.nan
    st = matrix_stats(w)
    assert not st.finite and st.sigma_max is None and st.frobenius is None


@needs_torch
def test_torch_path_matches_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from hpscale.core import sigma

    monkeypatch.setattr(sigma, "_CPU_TENSORS_ON_HOST_TILES", False)  # the accelerator's path, on the CPU

    w = planted(300, 500, spectrum_of(4, 2.5, 60), seed=4).astype(np.float32)
    st_np, st_t = matrix_stats(w), matrix_stats(torch.from_numpy(w))
    assert st_t.sigma_max == pytest.approx(st_np.sigma_max, rel=1e-5)
    assert st_t.frobenius == pytest.approx(st_np.frobenius, rel=1e-5)
    big = matrix_stats(torch.from_numpy(w * np.float32(1e19)))
    assert 0 <= 1 - big.sigma_max / 2.5e19 <= big.error_estimate * (1 + 1e-6)
    assert big.error_estimate <= SIGMA_RTOL


def test_as_matrix_reshapes_conv_and_squeezes() -> None:
    assert as_matrix((64, 3, 7, 7)) == (64, 147)
    assert as_matrix((1, 197, 768)) == (197, 768)
    assert as_matrix((1, 1, 768)) is None
    assert as_matrix((768,)) is None
    assert as_matrix(()) is None


# ------------------------------------------------------------------------------ grouping

LLAMA = ModelInfo(width=4096, depth=32, vocab_size=32000, num_heads=32, num_kv_heads=8, model_type="llama")
GPT2 = ModelInfo(width=768, depth=12, vocab_size=50257, num_heads=12, model_type="gpt2")


@pytest.mark.parametrize(
    ("name", "shape", "group", "role"),
    [
        # LLaMA / Mistral / Qwen / Gemma (GQA: k, v have 8 heads of 128)
        ("model.embed_tokens.weight", (32000, 4096), "embedding", "tok_embed"),
        ("model.layers.3.self_attn.q_proj.weight", (4096, 4096), "hidden", "q"),
        ("model.layers.3.self_attn.k_proj.weight", (1024, 4096), "hidden", "k"),
        ("model.layers.3.self_attn.v_proj.weight", (1024, 4096), "hidden", "v"),
        ("model.layers.3.self_attn.o_proj.weight", (4096, 4096), "hidden", "o"),
        ("model.layers.3.mlp.gate_proj.weight", (11008, 4096), "hidden", "gate"),
        ("model.layers.3.mlp.up_proj.weight", (11008, 4096), "hidden", "up"),
        ("model.layers.3.mlp.down_proj.weight", (4096, 11008), "hidden", "down"),
        ("model.layers.3.input_layernorm.weight", (4096,), "vector", "vector"),
        ("model.layers.3.self_attn.q_proj.bias", (4096,), "vector", "vector"),  # Qwen2
        ("model.norm.weight", (4096,), "vector", "vector"),
        ("lm_head.weight", (32000, 4096), "readout", "readout"),
        # Meta LLaMA originals, Mixtral experts and router
        ("layers.0.attention.wq.weight", (4096, 4096), "hidden", "q"),
        ("layers.0.attention.wo.weight", (4096, 4096), "hidden", "o"),
        ("layers.0.feed_forward.w1.weight", (11008, 4096), "hidden", "gate"),
        ("layers.0.feed_forward.w2.weight", (4096, 11008), "hidden", "down"),
        ("layers.0.feed_forward.w3.weight", (11008, 4096), "hidden", "up"),
        ("output.weight", (32000, 4096), "readout", "readout"),
        ("model.layers.0.block_sparse_moe.gate.weight", (8, 4096), "hidden", "router"),
        ("model.layers.0.block_sparse_moe.experts.3.w1.weight", (14336, 4096), "hidden", "gate (experts)"),
        ("model.layers.0.mlp.shared_expert.down_proj.weight", (4096, 11008), "hidden", "down"),
        # GPT-2 (Conv1D)
        ("transformer.wte.weight", (50257, 768), "embedding", "tok_embed"),
        ("transformer.wpe.weight", (1024, 768), "embedding", "pos_embed"),
        ("transformer.h.0.attn.c_attn.weight", (768, 2304), "hidden", "qkv"),
        ("transformer.h.0.attn.c_proj.weight", (768, 768), "hidden", "o"),
        ("transformer.h.11.mlp.c_fc.weight", (768, 3072), "hidden", "up"),
        ("transformer.h.11.mlp.c_proj.weight", (3072, 768), "hidden", "down"),
        ("transformer.h.0.attn.bias", (1, 1, 1024, 1024), "vector", "vector"),  # causal-mask buffer
        ("transformer.h.0.ln_1.weight", (768,), "vector", "vector"),
        # GPT-NeoX / Pythia
        ("gpt_neox.embed_in.weight", (50304, 512), "embedding", "tok_embed"),
        ("gpt_neox.layers.2.attention.query_key_value.weight", (1536, 512), "hidden", "qkv"),
        ("gpt_neox.layers.2.attention.dense.weight", (512, 512), "hidden", "o"),
        ("gpt_neox.layers.2.mlp.dense_h_to_4h.weight", (2048, 512), "hidden", "up"),
        ("gpt_neox.layers.2.mlp.dense_4h_to_h.weight", (512, 2048), "hidden", "down"),
        ("embed_out.weight", (50304, 512), "readout", "readout"),
        # OLMo-1 (hf_olmo)
        ("model.transformer.wte.weight", (50304, 2048), "embedding", "tok_embed"),
        ("model.transformer.blocks.0.att_proj.weight", (6144, 2048), "hidden", "qkv"),
        ("model.transformer.blocks.0.attn_out.weight", (2048, 2048), "hidden", "o"),
        ("model.transformer.blocks.0.ff_proj.weight", (16384, 2048), "hidden", "up_gate"),
        ("model.transformer.blocks.0.ff_out.weight", (2048, 8192), "hidden", "down"),
        ("model.transformer.ff_out.weight", (50304, 2048), "readout", "readout"),
        # Phi-2, Phi-3
        ("model.layers.0.self_attn.dense.weight", (2560, 2560), "hidden", "o"),
        ("model.layers.0.mlp.fc1.weight", (10240, 2560), "hidden", "up"),
        ("model.layers.0.mlp.fc2.weight", (2560, 10240), "hidden", "down"),
        ("model.layers.0.self_attn.qkv_proj.weight", (9216, 3072), "hidden", "qkv"),
        ("model.layers.0.mlp.gate_up_proj.weight", (16384, 3072), "hidden", "gate_up"),
        # BERT
        ("bert.embeddings.word_embeddings.weight", (30522, 768), "embedding", "tok_embed"),
        ("bert.embeddings.token_type_embeddings.weight", (2, 768), "embedding", "type_embed"),
        ("bert.encoder.layer.5.attention.self.query.weight", (768, 768), "hidden", "q"),
        ("bert.encoder.layer.5.attention.self.key.weight", (768, 768), "hidden", "k"),
        ("bert.encoder.layer.5.attention.output.dense.weight", (768, 768), "hidden", "o"),
        ("bert.encoder.layer.5.intermediate.dense.weight", (3072, 768), "hidden", "up"),
        ("bert.encoder.layer.5.output.dense.weight", (768, 3072), "hidden", "down"),
        ("bert.pooler.dense.weight", (768, 768), "hidden", "pooler"),
        ("cls.predictions.decoder.weight", (30522, 768), "readout", "readout"),
        # timm ViT
        ("patch_embed.proj.weight", (768, 3, 16, 16), "embedding", "patch_embed"),
        ("pos_embed", (1, 197, 768), "embedding", "pos_embed"),
        ("cls_token", (1, 1, 768), "vector", "vector"),
        ("blocks.0.attn.qkv.weight", (2304, 768), "hidden", "qkv"),
        ("blocks.0.attn.proj.weight", (768, 768), "hidden", "o"),
        ("blocks.0.mlp.fc1.weight", (3072, 768), "hidden", "up"),
        ("blocks.0.mlp.fc2.weight", (768, 3072), "hidden", "down"),
        ("head.weight", (1000, 768), "readout", "readout"),
        # T5
        ("encoder.block.0.layer.0.SelfAttention.q.weight", (512, 512), "hidden", "q"),
        ("encoder.block.0.layer.1.DenseReluDense.wo.weight", (512, 2048), "hidden", "down"),
        ("shared.weight", (32128, 512), "embedding", "tok_embed"),
    ],
)
def test_default_grouping(name: str, shape: tuple[int, ...], group: str, role: str) -> None:
    info = GPT2 if name.startswith("transformer.") else LLAMA
    placement = Grouper(model=info).place(name, shape)
    assert (placement.group, placement.role) == (group, role)
    assert placement.grouped_by in ("name", "vector")


def test_layers_experts_and_splits() -> None:
    g = Grouper(model=LLAMA)
    p = g.place("model.layers.17.block_sparse_moe.experts.3.w2.weight", (4096, 14336))
    assert (p.layer, p.stack, p.indices) == (17, "model.layers", (17, 3))
    qkv = g.place("model.layers.0.self_attn.qkv_proj.weight", (6144, 4096))  # GQA: 4096 + 2·1024
    assert qkv.split is not None and qkv.split.sizes == (4096, 1024, 1024)
    c_attn = Grouper(model=GPT2).place("transformer.h.0.attn.c_attn.weight", (768, 2304))
    assert c_attn.transposed and c_attn.split is not None and c_attn.split.axis == 1
    neox = Grouper(model=ModelInfo(width=512, num_heads=8, model_type="gpt_neox")).place(
        "gpt_neox.layers.0.attention.query_key_value.weight", (1536, 512))
    assert neox.split is not None and neox.split.heads == 8 and neox.split.sizes == (64, 64, 64)
    falcon = Grouper(model=ModelInfo(width=512, num_heads=8, model_type="falcon")).place(
        "transformer.h.0.self_attention.query_key_value.weight", (1536, 512))
    assert falcon.split is None  # a different fused layout: left whole, role qkv


def test_shape_heuristic_and_unmatched() -> None:
    g = Grouper().for_tensors([(512, 512), (2048, 512), (512, 2048), (10, 512), (512, 7)])
    assert g.model.width == 512 and g.model.source == "tensor shapes"
    mixer = g.place("backbone.layers.0.mixer.in_proj.weight", (2048, 512))
    assert (mixer.group, mixer.role, mixer.grouped_by) == ("hidden", "in_proj", "shape")
    assert g.place("score_head_x.weight", (10, 512)).group == "readout"  # fan-in d
    assert g.place("odd.matrix", (5, 7)).group == "unmatched"


def test_user_patterns_first_validation_and_linear_time() -> None:
    g = Grouper.from_specs(["readout=^some\\.custom", "hidden=wte"])
    assert g.group_of("some.custom.matrix", (10, 10)) == "readout"
    assert g.group_of("transformer.wte.weight", (100, 10)) == "hidden"
    for bad, msg in [("nogroup", "GROUP=REGEX"), ("middle=x", "allowed"), ("hidden=(", "regex"),
                     ("hidden=(?=x)", "regex"), ("hidden=a{500}", "regex")]:
        with pytest.raises(InputError, match=msg):
            Grouper.from_specs([bad])
    # The backtracking case: \w*norm\w* on a long name is one pass here.
    assert not NamePattern(r"\w*norm\w*").search("a" * 200_000)
    assert NamePattern(r"(a|a)*b$").search("a" * 100_000 + "b")
    with pytest.raises(InputError, match="at most 1024"):
        Grouper().place("x" * 2000, (4, 4))


@pytest.mark.parametrize("pattern", [r"\.mixer\.in_proj\.weight$", r"^(model|transformer)\.", r"[^.]+_proj",
                                     r"h\.\d+\.", r"(ab){2,3}c?", r"x{,2}y", r"\bword", r"a|b|"])
def test_namepattern_agrees_with_re(pattern: str) -> None:
    try:
        compiled = NamePattern(pattern)
    except ValueError:
        assert pattern == r"\bword"  # \b is outside the supported subset: refused, not misread
        return
    rng = np.random.default_rng(0)
    for _ in range(400):
        text = "".join(rng.choice(list("abxyhmodel_.012pro")) for _ in range(rng.integers(0, 14)))
        assert compiled.search(text) == bool(re.search(pattern, text)), (pattern, text)


def test_layer_role() -> None:
    assert layer_role("transformer.h.11.attn.c_attn.weight") == "transformer.h.*.attn.c_attn.weight"
    assert layer_role("model.layers.3.mlp.experts.7.w1.weight") == "model.layers.*.mlp.experts.*.w1.weight"
    assert layer_role("fc1.weight") == "fc1.weight"


# ------------------------------------------------------------------------------ scans


def test_gpt2_conv1d_fused_qkv_parts_have_planted_sigma(tmp_path: Path) -> None:
    path = write_hf_dir(tmp_path / "g", gpt2_like(64, 2, 2.0), gpt2_config(64, 2))
    scan = scan_checkpoint(path)
    parts = {r.name: r for r in scan.records if "c_attn.weight" in r.name}
    assert sorted(parts) == [f"transformer.h.{i}.attn.c_attn.weight[{p}]" for i in (0, 1) for p in "kqv"]
    for rec in parts.values():
        assert rec.sigma == pytest.approx(2.0, rel=1e-4) and rec.matrix_shape == (64, 64)
    fc = next(r for r in scan.records if r.name == "transformer.h.0.mlp.c_fc.weight")
    assert fc.matrix_shape == (256, 64)  # Conv1D (in, out) reported as (out, in)
    assert scan.model.width == 64 and scan.model.source == "config.json"


def test_neox_per_head_qkv_split(tmp_path: Path) -> None:
    d, heads = 64, 4
    head = d // heads
    q, k, v = (planted(d, d, [s, 0.1], seed=i) for i, s in enumerate((1.0, 2.0, 3.0)))
    fused = np.stack([q.reshape(heads, head, d), k.reshape(heads, head, d), v.reshape(heads, head, d)], 1)
    config = {"model_type": "gpt_neox", "hidden_size": d, "num_attention_heads": heads, "num_hidden_layers": 1}
    path = write_hf_dir(tmp_path / "n", {"gpt_neox.layers.0.attention.query_key_value.weight":
                                         fused.reshape(3 * d, d)}, config)
    sig = {r.part: r.sigma for r in scan_checkpoint(path).records}
    assert sig == {"q": pytest.approx(1.0, rel=1e-6), "k": pytest.approx(2.0, rel=1e-6),
                   "v": pytest.approx(3.0, rel=1e-6)}


def test_gqa_llama_sharded_bf16(tmp_path: Path) -> None:
    tensors, config = llama_like(64, 3, 1.5, heads=4, kv_heads=1)
    path = write_hf_dir(tmp_path / "l", tensors, config, shards=3, dtype="BF16")
    scan = scan_checkpoint(path)
    assert scan.format == "safetensors, 3 shards" and scan.files == 3
    k = next(r for r in scan.records if r.name == "model.layers.1.self_attn.k_proj.weight")
    assert k.matrix_shape == (16, 64) and k.role == "k" and k.sigma == pytest.approx(1.5, rel=1e-2)
    assert {r.group for r in scan.records} == {"embedding", "hidden", "readout", "vector"}
    assert not scan.warnings and not scan.notes


def test_moe_stacked_experts_one_matrix_each(tmp_path: Path) -> None:
    tensors, config = moe_like(32, 2, experts=4, hidden_sigma=1.0)
    scan = scan_checkpoint(write_hf_dir(tmp_path / "m", tensors, config))
    down = [r for r in scan.records if r.tensor == "model.layers.1.mlp.experts.down_proj"]
    assert [r.name[-3:] for r in down] == ["[0]", "[1]", "[2]", "[3]"]
    assert [r.sigma for r in down] == pytest.approx([1.0, 1.1, 1.2, 1.3], rel=1e-6)
    assert {r.role for r in down} == {"down (experts)"}
    router = next(r for r in scan.records if r.tensor == "model.layers.0.mlp.gate.weight")
    assert (router.group, router.role) == ("hidden", "router")  # one rule: hpscale.core.roles


@pytest.mark.parametrize("with_head", [True, False])
def test_tied_embeddings_reported_once(tmp_path: Path, with_head: bool) -> None:
    tensors = gpt2_like(32, 1, 1.0, lm_head=with_head)
    config = {**gpt2_config(32, 1), "tie_word_embeddings": True}
    scan = scan_checkpoint(write_hf_dir(tmp_path / "t", tensors, config))
    names = [r.name for r in scan.records]
    assert "lm_head.weight" not in names
    wte = next(r for r in scan.records if r.name == "transformer.wte.weight")
    assert wte.tied and wte.role == "tok_embed (tied)" and wte.group == "embedding"
    assert any("tied" in n for n in scan.notes)


def test_head_kept_when_config_does_not_say_tied(tmp_path: Path) -> None:
    scan = scan_checkpoint(write_hf_dir(tmp_path / "t", gpt2_like(32, 1, 1.0, lm_head=True), gpt2_config(32, 1)))
    assert {"lm_head.weight", "transformer.wte.weight"} <= {r.name for r in scan.records}
    assert not any(r.tied for r in scan.records)


def test_untied_config_without_head_warns(tmp_path: Path) -> None:
    tensors, config = llama_like(32, 1, 1.0, tied=True)
    config["tie_word_embeddings"] = False
    scan = scan_checkpoint(write_hf_dir(tmp_path / "u", tensors, config))
    assert any("tie_word_embeddings is false" in w for w in scan.warnings)


def test_unknown_names_grouped_by_shape_with_a_note(tmp_path: Path) -> None:
    tensors, config = llama_like(32, 1, 1.0)
    tensors["model.layers.0.mixer.in_proj.weight"] = planted(64, 32, [1.0])
    scan = scan_checkpoint(write_hf_dir(tmp_path / "s", tensors, config))
    rec = next(r for r in scan.records if r.tensor == "model.layers.0.mixer.in_proj.weight")
    assert (rec.group, rec.grouped_by) == ("hidden", "shape")
    assert len([n for n in scan.notes if "grouped by shape" in n]) == 1


def test_progress_hooks_count_matrices_and_bytes(tmp_path: Path) -> None:
    tensors, config = llama_like(32, 2, 1.0)
    seen: list[tuple[int, int]] = []
    opened: list[tuple[int, int]] = []
    scan_checkpoint(write_hf_dir(tmp_path / "p", tensors, config, dtype="BF16"),
                    on_open=lambda n, b: opened.append((n, b)), on_tensor=lambda i, b, name: seen.append((i, b)))
    matrices = [a for a in tensors.values() if a.ndim == 2]
    assert opened == [(len(matrices), sum(a.size * 2 for a in matrices))]
    assert [i for i, _ in seen] == list(range(1, len(matrices) + 1)) and seen[-1][1] == opened[0][1]


@needs_torch
@pytest.mark.parametrize("dtype", ["F32", "BF16"])
@pytest.mark.parametrize("torch_on_cpu", [False, True])
def test_device_cpu_gives_the_numpy_sigmas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dtype: str,
                                           torch_on_cpu: bool) -> None:
    """``--device cpu`` runs the numpy tiles (the same σ to the bit); the torch path it takes on
    an accelerator, forced here on the CPU, gives the same σ to rounding (bf16 handed to it as
    a bfloat16 tensor)."""
    from hpscale.core import sigma

    monkeypatch.setattr(sigma, "_CPU_TENSORS_ON_HOST_TILES", not torch_on_cpu)
    tensors, config = llama_like(64, 1, 1.5)
    path = write_hf_dir(tmp_path / "d", tensors, config, dtype=dtype)
    a, b = scan_checkpoint(path), scan_checkpoint(path, device="cpu")
    sig_a = [r.sigma for r in a.records if r.stats]
    sig_b = [r.sigma for r in b.records if r.stats]
    assert len(sig_a) == 9
    if torch_on_cpu:
        assert sig_a == pytest.approx(sig_b, rel=1e-5)
    else:
        assert sig_a == sig_b


# ------------------------------------------------------------------------------ compare


def test_verdict_tolerance_and_none() -> None:
    pred = {"timescale": 8**-0.25, "sqrt": 1.0, "constant": 8**0.25}
    assert verdict(1.05, pred, 0.1).rule == "sqrt"
    v = verdict(1.3, pred, 0.1)
    assert v.rule is None and v.closest == "constant" and "none of the three" in v.message and v.short == "none"
    close = {"timescale": 1.2**-0.25, "sqrt": 1.0, "constant": 1.2**0.25}
    small = verdict(1.0, close, 0.1)
    assert small.rule is None and small.closest == "sqrt" and not small.distinguishable and small.short == "?"
    both = verdict(1.09, {"timescale": 2**-0.25, "sqrt": 1.0, "constant": 2**0.25}, 0.1)
    assert both.rule == "sqrt" and both.also_within == ("constant",)
    assert verdict(None, pred, 0.1).short == "—"


def _records(depth: int, sigma: float, width: int, prefix: str = "model.layers") -> list[TensorRecord]:
    out = []
    for i in range(depth):
        for role, shape in (("q", (width, width)), ("up", (3 * width, width))):
            name = f"{prefix}.{i}.{'self_attn.q_proj' if role == 'q' else 'mlp.up_proj'}.weight"
            out.append(TensorRecord(name, shape, "F32", "hidden", MatrixStats(sigma * (1 + i / 100), 1.0, 1.0, True, True),
                                    tensor=name, role=role, layer=i, stack=prefix, indices=(i,), matrix_shape=shape))
    return out


def test_pairing_by_relative_depth() -> None:
    pairing, pairs, only = pair_records(_records(2, 1.0, 8), _records(4, 2.0, 32))
    assert pairing == "relative depth" and not only
    q = [(p.proxy.split(".")[2], p.target.split(".")[2]) for p in pairs if p.role == "q"]
    assert q == [("0", "0"), ("0", "1"), ("1", "2"), ("1", "3")]
    same, pairs2, _ = pair_records(_records(3, 1.0, 8), _records(3, 1.0, 8))
    assert same == "name" and all(p.proxy == p.target for p in pairs2)
    shallower, pairs3, _ = pair_records(_records(4, 1.0, 8), _records(2, 1.0, 8))
    assert [(p.proxy.split(".")[2], p.target.split(".")[2]) for p in pairs3 if p.role == "q"] == [
        ("0", "0"), ("1", "0"), ("2", "1"), ("3", "1")]


def _flat(m: float) -> Prediction:
    return Prediction({"timescale": m**-0.25, "sqrt": 1.0, "constant": m**0.25}, 1 / m, "test")


def test_compare_rows_per_role_and_overflow_free() -> None:
    proxy = _records(2, 1e-300, 8)
    target = _records(2, 1e300, 32)
    c = compare(proxy, target, predict=_flat)
    assert c.width_ratio == pytest.approx(4.0)
    assert all(p.ratio is None for p in c.pairs)
    assert any("outside the float range" in w for w in c.warnings)
    text = json.dumps(c.to_json_dict(), allow_nan=False)  # would raise on inf/nan
    assert "Infinity" not in text
    assert [(r.group, r.role) for r in c.rows] == [("hidden", None), ("hidden", "q"), ("hidden", "up")]


@pytest.mark.parametrize(("factor", "rule"), [(1.0, "sqrt"), (4.0**-0.25, "timescale"), (4.0**0.25, "constant")])
def test_compare_identifies_rule_from_files(tmp_path: Path, factor: float, rule: str) -> None:
    proxy = write_safetensors(tmp_path / "p.safetensors", gpt2_like(32, 2, 2.0, seed=1))
    target = write_hf_dir(tmp_path / "t", gpt2_like(128, 4, 2.0 * factor, seed=2), gpt2_config(128, 4),
                          shards=2, dtype="BF16")
    result = hpscale.compare_checkpoints(proxy, target)
    c = result.comparison
    assert c.pairing == "relative depth" and c.width_ratio == pytest.approx(4.0)
    assert c.groups["hidden"]["median_ratio"] == pytest.approx(factor, rel=1e-2)
    assert c.verdict.rule == rule
    q_row = next(r for r in c.rows if r.role == "q")
    assert q_row.pairs == 4 and q_row.verdict is not None and q_row.verdict.rule == rule


def test_nanogpt_pair_with_configs_gets_timescale(tmp_path: Path) -> None:
    """Issue 9 item 1: m = 4, κ = 2, ν = 4, a pair that followed timescale exactly."""
    proxy_yaml = Path(__file__).resolve().parents[1] / "configs" / "nanogpt-124m-proxy.yaml"
    transfer = hpscale.transfer(proxy_yaml, width=3072, batch_size=983040, dataset_size=36142328792)
    expected = {alt.rule: alt.sigma_top_ratio for alt in transfer.alternatives}
    assert expected == pytest.approx({"timescale": 2**0.5, "sqrt": 2.0, "constant": 2**1.5})
    proxy = write_safetensors(tmp_path / "p.safetensors", gpt2_like(32, 2, 1.0, seed=1))
    target = write_safetensors(tmp_path / "t.safetensors", gpt2_like(128, 2, 2**0.5, seed=2))
    result = hpscale.compare_checkpoints(proxy, target, proxy_config=proxy_yaml,
                                         target_config=transfer.to_target_config())
    c = result.comparison
    assert c.predicted == pytest.approx(expected)
    assert c.width_ratio == pytest.approx(4.0) and c.verdict.rule == "timescale"
    assert c.configured == pytest.approx(2**0.5)
    assert c.lr_ratio == pytest.approx(transfer.groups["hidden"].lr.target / transfer.groups["hidden"].lr.proxy)


def test_compare_moe_different_expert_counts_uses_layer_medians(tmp_path: Path) -> None:
    p_t, p_c = moe_like(16, 1, experts=2, hidden_sigma=1.0)
    t_t, t_c = moe_like(32, 1, experts=4, hidden_sigma=2.0)
    result = hpscale.compare_checkpoints(write_hf_dir(tmp_path / "p", p_t, p_c), write_hf_dir(tmp_path / "t", t_t, t_c))
    down = [p for p in result.comparison.pairs if p.role == "down (experts)"]
    assert len(down) == 1  # one pair per layer: median of 2 experts vs median of 4
    assert down[0].sigma_proxy == pytest.approx(1.05) and down[0].sigma_target == pytest.approx(2.3)


# ------------------------------------------------------------------------------ CLI


def test_cli_scan_json_contract(tmp_path: Path) -> None:
    path = write_safetensors(tmp_path / "m.safetensors", {**gpt2_like(32, 1, 1.5), "odd.matrix": np.eye(5) * 2})
    result = run(path, "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["schema_version"] == 2 and doc["mode"] == "scan" and doc["files"] == 1
    names = {t["name"]: t for t in doc["tensors"]}
    for t in doc["tensors"]:
        assert {"name", "tensor", "part", "expert", "shape", "dtype", "group", "role", "layer", "grouped_by",
                "tied", "matrix_shape", "sigma_max", "frobenius", "stable_rank"} == set(t)
    assert names["transformer.h.0.mlp.c_fc.weight"]["sigma_max"] == pytest.approx(1.5, rel=1e-4)
    assert names["transformer.h.0.attn.c_attn.weight[k]"]["part"] == "k"
    assert names["transformer.h.0.ln_1.weight"]["sigma_max"] is None
    assert names["odd.matrix"]["group"] == "unmatched"
    assert any("odd.matrix" in w for w in doc["warnings"]) and "warning: " in result.stderr
    assert doc["groups"]["hidden"]["with_sigma"] == 6
    assert doc["model"]["source"] == "tensor shapes"


def test_cli_csv_scan_and_compare(tmp_path: Path) -> None:
    proxy = write_safetensors(tmp_path / "p.safetensors", gpt2_like(32, 2, 2.0, seed=1))
    target = write_safetensors(tmp_path / "t.safetensors", gpt2_like(64, 2, 2.0, seed=2))
    scan = run(proxy, "-f", "csv")
    assert scan.exit_code == 0
    lines = scan.stdout.splitlines()
    assert lines[0] == "tensor,part,expert,group,role,layer,shape,matrix_shape,dtype,sigma_max,frobenius,stable_rank,grouped_by"
    assert any(line.startswith("transformer.h.1.attn.c_attn.weight,v,,hidden,v,1,32x96,32x32,F32,") for line in lines)
    pairs = run(proxy, "--compare", target, "-f", "csv")
    assert pairs.exit_code == 0
    head, *rows = pairs.stdout.splitlines()
    assert head == "group,role,key,proxy,target,sigma_proxy,sigma_target,ratio" and len(rows) == 14


@pytest.mark.parametrize("columns", [80, 120])
def test_cli_tables_fit_the_terminal(tmp_path: Path, columns: int) -> None:
    proxy = write_hf_dir(tmp_path / "p", gpt2_like(32, 2, 2.0, seed=1), gpt2_config(32, 2))
    target = write_hf_dir(tmp_path / "t", gpt2_like(128, 4, 2.0, seed=2), gpt2_config(128, 4), shards=2)
    for args in ([proxy], [proxy, "--compare", target]):
        result = run(*args, columns=columns)
        assert result.exit_code == 0, result.stderr
        for line in result.stdout.splitlines():
            assert len(line) <= columns and line == line.rstrip()
    assert "consistent with the sqrt rule" in result.stdout.replace("\n", " ")


def test_cli_escapes_control_characters_in_names(tmp_path: Path) -> None:
    path = write_safetensors(tmp_path / "e.safetensors", {"evil\x1b]0;pwned\x07.fc1.weight": planted(40, 60, [1.0])})
    for fmt in ("table", "csv"):
        result = run(path, "-f", fmt)
        assert result.exit_code == 0 and "\x1b" not in result.stdout + result.stderr
        assert "\\x1b" in result.stdout


@pytest.mark.parametrize("shape", [(40, 50), (300, 400)])  # the direct path and the iteration
def test_cli_nonfinite_is_null_not_nan(tmp_path: Path, shape: tuple[int, int]) -> None:
    w = planted(*shape, [1.0])
    w[0, 0] = np.inf
    path = write_safetensors(tmp_path / "n.safetensors", {"fc1.weight": w})
    result = run(path, "-f", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["tensors"][0]["sigma_max"] is None
    assert "NaN or inf" in result.stderr
    assert "Warning" not in result.stderr and len(result.stderr.strip().splitlines()) == 1  # hpscale's line only


@needs_matplotlib
def test_cli_plot_writes_png_and_svg(tmp_path: Path) -> None:
    proxy = write_safetensors(tmp_path / "p.safetensors", gpt2_like(32, 2, 2.0, seed=1))
    target = write_safetensors(tmp_path / "t.safetensors", gpt2_like(64, 3, 2.0, seed=2))
    result = run(proxy, "--compare", target, "--plot", tmp_path / "fig")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "fig" / "spectrum.png").stat().st_size > 1000
    assert (tmp_path / "fig" / "spectrum.svg").read_text().startswith("<?xml")


@pytest.mark.parametrize(
    "args",
    [
        ["{dir}/missing.safetensors"],
        ["{dir}/empty"],
        ["{dir}/junk.bin.txt"],
        ["{dir}/trunc.safetensors"],
        ["{dir}/ok.safetensors", "--format", "yaml"],
        ["{dir}/ok.safetensors", "--group", "bogus=x"],
        ["{dir}/ok.safetensors", "--group", "hidden=(?<=x)"],
        ["{dir}/ok.safetensors", "--proxy-config", "{dir}/p.yaml"],
        ["{dir}/ok.safetensors", "--tolerance", "1.5"],
        ["{dir}/ok.safetensors", "--device", "cuda:7"],
        ["{dir}/ok.safetensors", "--device", "nonsense"],
        ["{dir}/ok.safetensors", "--plot", "{dir}/ok.safetensors"],
        ["{dir}/ok.safetensors", "-o", "{dir}/ok.safetensors"],
        ["{dir}/ok.safetensors", "--sigma-rtol", "0"],
    ],
)
def test_cli_bad_input_exit_2_one_line(tmp_path: Path, args: list[str]) -> None:
    write_safetensors(tmp_path / "ok.safetensors", {"fc1.weight": np.ones((4, 4))})
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk.bin.txt").write_text("junk")
    (tmp_path / "trunc.safetensors").write_bytes((tmp_path / "ok.safetensors").read_bytes()[:-9])
    result = run(*[a.format(dir=tmp_path) for a in args])
    assert result.exit_code == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_cli_help_has_consistent_metavars() -> None:
    result = runner.invoke(make_app(), ["--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0
    for metavar in ("CHECKPOINT", "TARGET", "FILE", "GROUP=REGEX", "REL", "DEVICE", "table|json|csv", "DIR"):
        assert metavar in result.stdout


def test_command_module_imports_light() -> None:
    import subprocess
    import sys

    code = ("import sys, hpscale.commands.spectrum; "
            "print(any(m in sys.modules for m in ('numpy', 'rich', 'torch', 'matplotlib')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------------ untrained weights


def _init_only(width: int, depth: int, seed: int, uniform: bool = False) -> dict[str, np.ndarray]:
    """GPT-2 names, µP-style init only (no training): hidden std 1/√fan_in, embeddings 0.02."""
    rng = np.random.default_rng(seed)

    def draw(shape: tuple[int, int], fan_in: int) -> np.ndarray:
        if uniform:  # torch nn.Linear's default: U(−1/√fan_in, 1/√fan_in)
            return rng.uniform(-1, 1, shape) / math.sqrt(fan_in)
        return rng.standard_normal(shape) / math.sqrt(fan_in)

    d = width
    t = {"transformer.wte.weight": rng.standard_normal((200, d)) * 0.02,
         "transformer.wpe.weight": rng.standard_normal((32, d)) * 0.02}
    for i in range(depth):
        p = f"transformer.h.{i}."
        t[p + "attn.c_attn.weight"] = draw((d, 3 * d), d)  # Conv1D: (in, out)
        t[p + "attn.c_proj.weight"] = draw((d, d), d)
        t[p + "mlp.c_fc.weight"] = draw((d, 4 * d), d)
        t[p + "mlp.c_proj.weight"] = draw((4 * d, d), 4 * d)
    return t


@pytest.mark.parametrize("uniform", [False, True])
def test_compare_gives_no_verdict_on_init_only_checkpoints(tmp_path: Path, uniform: bool) -> None:
    proxy = write_safetensors(tmp_path / "p.safetensors", _init_only(64, 2, 1, uniform))
    target = write_safetensors(tmp_path / "t.safetensors", _init_only(256, 2, 2, uniform))
    result = run(proxy, "--compare", target, "--format", "json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)["compare"]
    v, init = out["verdict"], out["initialisation"]
    assert v["untrained"] is True and v["rule"] is None and v["consistent"] is False
    assert v["message"].startswith("no verdict: the proxy and target hidden matrices still look like")
    assert init["untrained"] == ["proxy", "target"] and init["threshold"] == pytest.approx(1.1)
    # i.i.d. entries: σ_top sits at (slightly below) std·(√rows + √cols)
    assert 0.9 < init["proxy_hidden_edge_ratio"] <= 1.02 and 0.9 < init["target_hidden_edge_ratio"] <= 1.02
    assert all(r["fits"] is None for r in out["rows"])
    withheld = [line for line in result.stderr.splitlines() if "still look like their random" in line]
    assert len(withheld) == 1 and withheld[0].startswith("note: no verdict: the proxy and target")
    csv = run(proxy, "--compare", target, "--format", "csv")  # CSV has no verdict column: stderr says it
    assert csv.exit_code == 0 and csv.stderr.count("still look like their random") == 1
    table = run(proxy, "--compare", target, columns=100)
    assert "init" in table.stdout and "verdict: no verdict: the proxy and target" in " ".join(table.stdout.split())


def test_compare_withholds_the_verdict_when_one_side_is_untrained(tmp_path: Path) -> None:
    proxy = write_safetensors(tmp_path / "p.safetensors", gpt2_like(32, 2, 2.0, seed=1))  # "trained"
    target = write_safetensors(tmp_path / "t.safetensors", _init_only(128, 2, 2))
    out = json.loads(run(proxy, "--compare", target, "--format", "json").stdout)["compare"]
    assert out["initialisation"]["untrained"] == ["target"]
    assert out["initialisation"]["proxy_hidden_edge_ratio"] > 1.3  # planted tops: well above
    assert out["verdict"]["untrained"] and out["verdict"]["rule"] is None


def test_trained_pairs_keep_their_verdict_and_report_the_edge_ratio(tmp_path: Path) -> None:
    proxy = write_safetensors(tmp_path / "p.safetensors", gpt2_like(32, 2, 1.0, seed=1))
    target = write_safetensors(tmp_path / "t.safetensors", gpt2_like(128, 2, 2**0.5, seed=2))
    out = json.loads(run(proxy, "--compare", target, "--format", "json").stdout)["compare"]
    assert out["initialisation"]["untrained"] == [] and out["verdict"]["untrained"] is False
    assert out["verdict"]["rule"] is not None


def test_iid_sigma_edge_formula() -> None:
    from hpscale.core.spectrum import iid_sigma_edge

    assert iid_sigma_edge(100, 400, 0.5) == pytest.approx(0.5 * (10 + 20))
    w = np.random.default_rng(0).standard_normal((800, 1600)) * 0.02
    sigma = np.linalg.svd(w, compute_uv=False)[0]
    assert sigma <= iid_sigma_edge(800, 1600, 0.02) and sigma > 0.97 * iid_sigma_edge(800, 1600, 0.02)
