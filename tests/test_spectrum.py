"""Tests of ``hpscale spectrum``: σ_top, readers, grouping, compare mode and the CLI.

Checkpoints are written here with planted singular values (W = U·diag(s)·Vᵀ, U and V from
QR of Gaussian matrices), so the expected σ_top, ‖W‖_F and stable rank are known exactly.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from hpscale.checkpoints import bf16_to_float32, open_checkpoint, scan_checkpoint
from hpscale.commands.spectrum import spectrum_command
from hpscale.core.spectrum import (
    Grouper,
    as_matrix,
    compare,
    layer_role,
    matrix_stats,
    rule_predictions,
    top_singular_value,
    verdict,
)
from hpscale.errors import InputError

# ------------------------------------------------------------------------------ helpers

_ST_NP = {"F32": "<f4", "F16": "<f2", "F64": "<f8"}


def f32_to_bf16_bits(a: np.ndarray) -> np.ndarray:
    """float32 → bf16 bit patterns, round to nearest even (as torch does)."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def write_safetensors(
    path: Path, tensors: dict[str, np.ndarray], dtype: str | dict[str, str] = "F32"
) -> Path:
    """Minimal safetensors writer: u64-LE header length, JSON header, raw little-endian data."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    blobs: list[bytes] = []
    offset = 0
    for name, arr in tensors.items():
        dt = dtype if isinstance(dtype, str) else dtype.get(name, "F32")
        if dt == "BF16":
            blob = f32_to_bf16_bits(arr).astype("<u2").tobytes()
        elif dt in _ST_NP:
            blob = np.ascontiguousarray(arr, dtype=_ST_NP[dt]).tobytes()
        else:  # integer dtypes for the skip test
            blob = np.ascontiguousarray(arr, dtype={"I64": "<i8", "U8": "u1"}[dt]).tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)  # the format pads the header to 8 bytes
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))
    return path


def planted(m: int, n: int, s: np.ndarray | list[float], seed: int = 0) -> np.ndarray:
    """m×n matrix with singular values ``s`` (descending, len ≤ min(m, n))."""
    rng = np.random.default_rng(seed)
    s = np.asarray(s, dtype=np.float64)
    k = len(s)
    u, _ = np.linalg.qr(rng.standard_normal((m, k)))
    v, _ = np.linalg.qr(rng.standard_normal((n, k)))
    return (u * s) @ v.T


def spectrum_of(seed: int, top: float, k: int = 48) -> np.ndarray:
    """A descending spectrum with a clear gap below ``top``."""
    rng = np.random.default_rng(seed)
    rest = np.sort(rng.uniform(0.05, 0.6, k - 1))[::-1] * top
    return np.concatenate([[top], rest])


def gpt2_like(width: int, depth: int, hidden_sigma: float, seed: int = 0) -> dict[str, np.ndarray]:
    """GPT-2-named tensors; every hidden matrix has σ_top = hidden_sigma exactly."""
    d = width
    rng = np.random.default_rng(seed)
    t: dict[str, np.ndarray] = {
        "transformer.wte.weight": planted(200, d, spectrum_of(seed, 1.5, 24), seed),
        "transformer.wpe.weight": planted(32, d, spectrum_of(seed + 1, 0.5, 24), seed + 1),
    }
    for i in range(depth):
        p = f"transformer.h.{i}."
        t[p + "ln_1.weight"] = np.ones(d)
        for j, (name, shape) in enumerate(
            [("attn.c_attn", (d, 3 * d)), ("attn.c_proj", (d, d)),
             ("mlp.c_fc", (d, 4 * d)), ("mlp.c_proj", (4 * d, d))]
        ):
            sd = seed * 1000 + i * 10 + j
            t[p + name + ".weight"] = planted(*shape, spectrum_of(sd, hidden_sigma, 24), sd)
            t[p + name + ".bias"] = rng.standard_normal(shape[1]) * 0.01
    t["transformer.ln_f.weight"] = np.ones(d)
    return t


def make_app() -> typer.Typer:
    from hpscale.cli import guarded

    app = typer.Typer(pretty_exceptions_enable=False)
    app.command()(guarded(spectrum_command))
    return app


runner = CliRunner()


def run(*args: str | Path):
    return runner.invoke(make_app(), [str(a) for a in args])


# ------------------------------------------------------------------------------ σ_top


@pytest.mark.parametrize("shape", [(120, 300), (300, 120), (200, 200)])
def test_krylov_matches_svd_on_planted_spectrum(shape: tuple[int, int]) -> None:
    w = planted(*shape, spectrum_of(3, 7.0, 100), seed=3)
    res = top_singular_value(w.astype(np.float32), method="krylov")
    assert res.converged and res.method == "krylov"
    assert res.sigma == pytest.approx(7.0, rel=1e-4)


def test_krylov_on_gaussian_near_flat_top() -> None:
    w = np.random.default_rng(5).standard_normal((256, 1024)).astype(np.float32)
    ref = np.linalg.svd(w.astype(np.float64), compute_uv=False)[0]
    res = top_singular_value(w, method="krylov")
    assert abs(res.sigma - ref) / ref < 1e-3


def test_krylov_block_variant_and_exact_invariant_subspace() -> None:
    w = planted(100, 150, [3.0, 2.0, 1.0])  # rank 3: Krylov space exhausts in a few steps
    for block in (1, 4):
        res = top_singular_value(w, method="krylov", block=block)
        assert res.sigma == pytest.approx(3.0, rel=1e-9)
        assert res.converged


def test_zero_and_degenerate_matrices() -> None:
    assert top_singular_value(np.zeros((100, 700), np.float32), method="krylov").sigma == 0.0
    assert top_singular_value(np.zeros((0, 5))).sigma == 0.0
    st = matrix_stats(np.zeros((3, 4), np.float32))
    assert st.sigma_max == 0.0 and st.stable_rank is None


def test_matrix_stats_frobenius_and_stable_rank() -> None:
    s = np.array([4.0, 3.0, 2.0, 1.0])
    st = matrix_stats(planted(64, 300, s).astype(np.float32))
    assert st.sigma_max == pytest.approx(4.0, rel=1e-4)
    assert st.frobenius == pytest.approx(math.sqrt(30.0), rel=1e-5)
    assert st.stable_rank == pytest.approx(30.0 / 16.0, rel=1e-3)


def test_nonfinite_gives_none() -> None:
    w = np.ones((50, 60), np.float32)
    w[3, 4] = np.nan
    st = matrix_stats(w)
    assert not st.finite and st.sigma_max is None and st.frobenius is None


def test_as_matrix_reshapes_conv_and_squeezes() -> None:
    assert as_matrix((64, 3, 7, 7)) == (64, 147)
    assert as_matrix((1, 197, 768)) == (197, 768)
    assert as_matrix((1, 1, 768)) is None
    assert as_matrix((768,)) is None
    assert as_matrix(()) is None


# ------------------------------------------------------------------------------ readers


def test_bf16_conversion_is_exact_on_known_bits() -> None:
    bits = np.array([0x3F80, 0xBF80, 0x4049, 0x0000, 0x8000, 0x7F80, 0xFF80, 0x0001, 0x7F7F],
                    dtype=np.uint16)
    got = bf16_to_float32(bits)
    assert got.dtype == np.float32
    expected = [1.0, -1.0, 3.140625, 0.0, -0.0, np.inf, -np.inf]
    assert got[:7].tolist() == expected
    assert np.signbit(got[4])
    assert got[7] == np.float32(2.0**-133)  # smallest bf16 subnormal
    assert got[8] == np.float32(3.3895313892515355e38)  # largest finite bf16
    nan = bf16_to_float32(np.array([0x7FC1], np.uint16))
    assert np.isnan(nan[0]) and nan.view(np.uint32)[0] == 0x7FC10000


@pytest.mark.parametrize(("dtype", "rel"), [("F32", 1e-4), ("F16", 2e-3), ("BF16", 1e-2), ("F64", 1e-6)])
def test_safetensors_dtypes_give_planted_sigma(tmp_path: Path, dtype: str, rel: float) -> None:
    s = spectrum_of(1, 2.5, 40)
    w = planted(96, 256, s, seed=1)
    conv = planted(32, 3 * 3 * 3, [1.25, 0.5, 0.25], seed=2).reshape(32, 3, 3, 3)
    path = write_safetensors(tmp_path / f"m_{dtype}.safetensors",
                             {"h.0.mlp.c_fc.weight": w, "conv1.weight": conv, "h.0.ln_1.weight": np.ones(96)},
                             dtype)
    scan = scan_checkpoint(path)
    rec = {r.name: r for r in scan.records}
    st = rec["h.0.mlp.c_fc.weight"].stats
    assert st is not None and st.sigma_max == pytest.approx(2.5, rel=rel)
    assert st.frobenius == pytest.approx(float(np.linalg.norm(s)), rel=rel)
    assert rec["conv1.weight"].group == "hidden"
    assert rec["conv1.weight"].sigma == pytest.approx(1.25, rel=rel)
    assert rec["h.0.ln_1.weight"].group == "vector" and rec["h.0.ln_1.weight"].stats is None


def test_bf16_reader_matches_exact_rounding(tmp_path: Path) -> None:
    w = planted(40, 50, [1.0, 0.5]).astype(np.float32)
    path = write_safetensors(tmp_path / "b.safetensors", {"x.weight": w}, "BF16")
    with open_checkpoint(path) as ck:
        got = ck.read(ck.tensors[0])
    expected = (f32_to_bf16_bits(w).astype(np.uint32) << 16).view(np.float32)
    assert got.dtype == np.float32 and np.array_equal(got, expected)


def test_npz_reader(tmp_path: Path) -> None:
    w = planted(80, 120, spectrum_of(4, 3.0, 30), seed=4)
    path = tmp_path / "ck.npz"
    np.savez(path, **{"model.layers.0.mlp.up_proj.weight": w.astype(np.float16),
                      "model.norm.weight": np.ones(80, np.float32),
                      "step": np.array([7], np.int64)})
    scan = scan_checkpoint(path)
    rec = {r.name: r for r in scan.records}
    assert scan.format == "npz"
    assert rec["model.layers.0.mlp.up_proj.weight"].sigma == pytest.approx(3.0, rel=2e-3)
    assert "step" not in rec and any("int64" in w or "<i8" in w for w in scan.warnings)


def test_safetensors_skips_integer_tensors_with_warning(tmp_path: Path) -> None:
    path = write_safetensors(tmp_path / "i.safetensors",
                             {"position_ids": np.arange(8).reshape(1, 8), "fc1.weight": planted(40, 60, [1.0])},
                             {"position_ids": "I64", "fc1.weight": "F32"})
    scan = scan_checkpoint(path)
    assert [r.name for r in scan.records] == ["fc1.weight"]
    assert any("I64" in w and "position_ids" in w for w in scan.warnings)


def _valid_bytes(tmp_path: Path) -> bytes:
    return write_safetensors(tmp_path / "ok.safetensors", {"fc1.weight": np.ones((4, 4))}).read_bytes()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b[:5], "need at least 8"),
        (lambda b: b[: len(b) - 10], "truncated"),
        (lambda b: struct.pack("<Q", 10**12) + b[8:], "at most"),
        (lambda b: struct.pack("<Q", len(b)) + b[8:], "truncated"),
        (lambda b: b[:8] + b"{not json" + b[17:], "not valid JSON"),
        (lambda b: b.replace(b'"F32"', b'"X99"'), "dtype 'X99'"),
        (lambda b: b.replace(b"[4, 4]", b"[4, 5]"), "data_offsets span"),
    ],
)
def test_corrupt_safetensors_raise_input_error(tmp_path: Path, mutate, message: str) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(mutate(_valid_bytes(tmp_path)))
    with pytest.raises(InputError, match=message) as info:
        open_checkpoint(bad)
    assert "\n" not in str(info.value)


def test_not_a_checkpoint_missing_directory_and_torch(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello world, not a checkpoint")
    with pytest.raises(InputError, match="not a checkpoint"):
        open_checkpoint(junk)
    with pytest.raises(InputError, match="not found"):
        open_checkpoint(tmp_path / "missing.safetensors")
    with pytest.raises(InputError, match="is a directory"):
        open_checkpoint(tmp_path)
    fake_zip = tmp_path / "x.npz"
    fake_zip.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(InputError, match="npz"):
        open_checkpoint(fake_zip)
    pt = tmp_path / "model.pt"
    pt.write_bytes(b"\x80\x02garbage")
    from hpscale.checkpoints import torch_available

    if not torch_available():
        with pytest.raises(InputError, match="torch is not installed"):
            open_checkpoint(pt)


# ------------------------------------------------------------------------------ grouping


@pytest.mark.parametrize(
    ("name", "shape", "group"),
    [
        ("transformer.wte.weight", (50257, 768), "embedding"),
        ("transformer.wpe.weight", (1024, 768), "embedding"),
        ("transformer.h.0.attn.c_attn.weight", (768, 2304), "hidden"),
        ("transformer.h.0.attn.c_proj.weight", (768, 768), "hidden"),
        ("transformer.h.11.mlp.c_fc.weight", (768, 3072), "hidden"),
        ("transformer.h.0.attn.c_attn.bias", (2304,), "vector"),
        ("transformer.h.0.attn.bias", (1, 1, 1024, 1024), "vector"),  # causal-mask buffer
        ("transformer.ln_f.weight", (768,), "vector"),
        ("lm_head.weight", (50257, 768), "readout"),
        ("model.embed_tokens.weight", (32000, 4096), "embedding"),
        ("model.layers.3.self_attn.q_proj.weight", (4096, 4096), "hidden"),
        ("model.layers.3.self_attn.o_proj.weight", (4096, 4096), "hidden"),
        ("model.layers.3.mlp.gate_proj.weight", (11008, 4096), "hidden"),
        ("model.layers.3.mlp.down_proj.weight", (4096, 11008), "hidden"),
        ("model.layers.3.input_layernorm.weight", (4096,), "vector"),
        ("model.norm.weight", (4096,), "vector"),
        ("patch_embed.proj.weight", (768, 3, 16, 16), "embedding"),
        ("pos_embed", (1, 197, 768), "embedding"),
        ("cls_token", (1, 1, 768), "vector"),  # one non-size-1 axis: no σ
        ("blocks.0.attn.qkv.weight", (2304, 768), "hidden"),
        ("blocks.0.attn.proj.weight", (768, 768), "hidden"),
        ("blocks.0.mlp.fc2.weight", (768, 3072), "hidden"),
        ("head.weight", (1000, 768), "readout"),
        ("some.custom.matrix", (10, 10), "unmatched"),
    ],
)
def test_default_grouping(name: str, shape: tuple[int, ...], group: str) -> None:
    assert Grouper().group_of(name, shape) == group


def test_user_patterns_first_and_validation() -> None:
    g = Grouper.from_specs(["readout=^some\\.custom", "hidden=wte"])
    assert g.group_of("some.custom.matrix", (10, 10)) == "readout"
    assert g.group_of("transformer.wte.weight", (100, 10)) == "hidden"
    for bad, msg in [("nogroup", "GROUP=REGEX"), ("middle=x", "allowed"), ("hidden=(", "regex")]:
        with pytest.raises(InputError, match=msg):
            Grouper.from_specs([bad])


def test_layer_role() -> None:
    assert layer_role("transformer.h.11.attn.c_attn.weight") == "transformer.h.*.attn.c_attn.weight"
    assert layer_role("model.layers.3.mlp.up_proj.weight") == "model.layers.*.mlp.up_proj.weight"
    assert layer_role("fc1.weight") == "fc1.weight"


# ------------------------------------------------------------------------------ compare


def test_rule_predictions_worked_example() -> None:
    p = rule_predictions(8.0)
    assert p["timescale"] == pytest.approx(0.5946, abs=1e-4)
    assert p["sqrt"] == pytest.approx(1.0)
    assert p["constant"] == pytest.approx(1.6818, abs=1e-4)


def test_verdict_tolerance_and_none() -> None:
    pred = rule_predictions(8.0)
    assert verdict(1.05, pred, 0.1).rule == "sqrt"
    v = verdict(1.3, pred, 0.1)
    assert v.rule is None and v.closest == "constant" and "none of the three" in v.message
    small = verdict(1.0, rule_predictions(1.2), 0.1)
    assert small.rule is None and small.closest == "sqrt" and not small.distinguishable
    assert "no verdict" in small.message
    both = verdict(1.09, rule_predictions(2.0), 0.1)  # 1.0 and 1.189 both within 10 %
    assert both.rule == "sqrt" and both.also_within == ("constant",)


@pytest.mark.parametrize(("factor", "rule"), [(1.0, "sqrt"), (4.0**-0.25, "timescale"), (4.0**0.25, "constant")])
def test_compare_identifies_rule(tmp_path: Path, factor: float, rule: str) -> None:
    proxy = write_safetensors(tmp_path / "p.safetensors", gpt2_like(64, 2, 2.0, seed=1))
    target = write_safetensors(tmp_path / "t.safetensors", gpt2_like(256, 2, 2.0 * factor, seed=2), "BF16")
    c = compare(scan_checkpoint(proxy).records, scan_checkpoint(target).records)
    assert c.pairing == "name"
    assert c.width_ratio == pytest.approx(4.0)
    assert c.groups["hidden"]["median_ratio"] == pytest.approx(factor, rel=1e-2)
    assert c.verdict.rule == rule


def test_compare_different_depth_pairs_by_layer_role(tmp_path: Path) -> None:
    proxy = write_safetensors(tmp_path / "p.safetensors", gpt2_like(32, 2, 1.0, seed=1))
    target = write_safetensors(tmp_path / "t.safetensors", gpt2_like(256, 3, 1.0 * 8**-0.25, seed=2))
    c = compare(scan_checkpoint(proxy).records, scan_checkpoint(target).records)
    assert c.pairing == "layer-role"
    assert {p.name for p in c.pairs if p.group == "hidden"} == {
        "transformer.h.*.attn.c_attn.weight", "transformer.h.*.attn.c_proj.weight",
        "transformer.h.*.mlp.c_fc.weight", "transformer.h.*.mlp.c_proj.weight"}
    assert c.width_ratio == pytest.approx(8.0)
    assert c.verdict.rule == "timescale"


def test_compare_none_fits() -> None:
    from hpscale.core.spectrum import MatrixStats, TensorRecord

    def rec(name: str, shape: tuple[int, int], s: float) -> TensorRecord:
        return TensorRecord(name, shape, "F32", "hidden", MatrixStats(s, s, 1.0, True, True))

    c = compare([rec("a.fc1.weight", (64, 256), 1.0)], [rec("a.fc1.weight", (512, 2048), 3.0)])
    assert c.width_ratio == pytest.approx(8.0)
    assert c.verdict.rule is None and "none of the three rules fits" in c.verdict.message


def _config(path: Path, width: int, lr: float, wd: float) -> Path:
    path.write_text(
        f"model:\n  width: {width}\n"
        "data:\n  dataset_size: 1000000000\n  batch_size: 100000\n"
        f"optimizer:\n  lr: {lr}\n  weight_decay: {wd}\n"
    )
    return path


def test_compare_with_configs_cli(tmp_path: Path) -> None:
    pytest.importorskip("hpscale.core.compose")
    proxy = write_safetensors(tmp_path / "p.safetensors", gpt2_like(64, 2, 2.0, seed=1))
    target = write_safetensors(tmp_path / "t.safetensors", gpt2_like(256, 2, 2.0, seed=2), "BF16")
    pc = _config(tmp_path / "p.yaml", 64, 0.01, 0.1)
    tc = _config(tmp_path / "t.yaml", 256, 0.0025, 0.2)  # µP η/4, sqrt rule λ·√4
    result = run(proxy, "--compare", target, "--proxy-config", pc, "--target-config", tc, "-f", "json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)["compare"]
    assert out["width_ratio_source"] == "the configs' model.width"
    assert out["hidden_lr_ratio"] == pytest.approx(0.25)
    assert out["configured_hidden_ratio"] == pytest.approx(1.0)
    assert out["verdict"]["rule"] == "sqrt"


# ------------------------------------------------------------------------------ CLI


def test_cli_json_schema(tmp_path: Path) -> None:
    path = write_safetensors(tmp_path / "m.safetensors", {**gpt2_like(32, 1, 1.5), "odd.matrix": np.eye(5) * 2})
    result = run(path, "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["schema_version"] == 1 and doc["mode"] == "scan"
    names = {t["name"]: t for t in doc["tensors"]}
    for t in doc["tensors"]:
        assert {"name", "shape", "group", "sigma_max", "frobenius", "stable_rank", "dtype"} <= set(t)
    assert names["transformer.h.0.mlp.c_fc.weight"]["sigma_max"] == pytest.approx(1.5, rel=1e-4)
    assert names["transformer.h.0.ln_1.weight"]["sigma_max"] is None
    assert names["odd.matrix"]["group"] == "unmatched"
    assert any("odd.matrix" in w for w in doc["warnings"])
    assert "warning: " in result.stderr and "odd.matrix" in result.stderr
    assert doc["groups"]["hidden"]["with_sigma"] == 4


def test_cli_table_and_compare_table(tmp_path: Path) -> None:
    proxy = write_safetensors(tmp_path / "p.safetensors", gpt2_like(64, 2, 2.0, seed=1))
    target = write_safetensors(tmp_path / "t.safetensors", gpt2_like(256, 2, 2.0, seed=2))
    r1 = run(proxy)
    assert r1.exit_code == 0 and "c_attn" in r1.stdout and "median σ_top" in r1.stdout
    r2 = run(proxy, "--compare", target)
    assert r2.exit_code == 0, r2.stderr
    assert "consistent with the sqrt rule" in r2.stdout


def test_cli_nonfinite_is_null_not_nan(tmp_path: Path) -> None:
    w = planted(40, 50, [1.0])
    w[0, 0] = np.inf
    path = write_safetensors(tmp_path / "n.safetensors", {"fc1.weight": w})
    result = run(path, "-f", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["tensors"][0]["sigma_max"] is None
    assert "NaN or inf" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["{dir}/missing.safetensors"],
        ["{dir}"],
        ["{dir}/junk.bin.txt"],
        ["{dir}/trunc.safetensors"],
        ["{dir}/ok.safetensors", "--format", "yaml"],
        ["{dir}/ok.safetensors", "--group", "bogus=x"],
        ["{dir}/ok.safetensors", "--proxy-config", "{dir}/p.yaml"],
    ],
)
def test_cli_bad_input_exit_2_one_line(tmp_path: Path, args: list[str]) -> None:
    write_safetensors(tmp_path / "ok.safetensors", {"fc1.weight": np.ones((4, 4))})
    (tmp_path / "junk.bin.txt").write_text("junk")
    (tmp_path / "trunc.safetensors").write_bytes((tmp_path / "ok.safetensors").read_bytes()[:-9])
    result = run(*[a.format(dir=tmp_path) for a in args])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_command_module_imports_light() -> None:
    import subprocess
    import sys

    code = ("import sys, hpscale.commands.spectrum; "
            "print(any(m in sys.modules for m in ('numpy', 'rich')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
