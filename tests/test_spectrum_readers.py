"""Checkpoint readers: formats, Hugging Face directories, and hostile or broken files.

Every bad file must give one ``InputError`` line (exit 2), never a crash, a hang, or memory
beyond what the file can back (issue 10: items 3, 4, 5, 8, 12).
"""

from __future__ import annotations

import json
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from spectrum_fixtures import (
    f32_to_bf16_bits,
    gpt2_config,
    gpt2_like,
    llama_like,
    planted,
    safetensors_bytes,
    spectrum_of,
    write_hf_dir,
    write_safetensors,
)

from hpscale.checkpoints import (
    bf16_to_float32,
    open_checkpoint,
    read_model_config,
    scan_checkpoint,
    torch_available,
)
from hpscale.errors import InputError

needs_torch = pytest.mark.skipif(not torch_available(), reason="torch not installed")


def one_line_error(path: Path, match: str) -> str:
    with pytest.raises(InputError, match=match) as info:
        scan_checkpoint(path)
    message = str(info.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------------------ formats


def test_bf16_conversion_is_exact_on_known_bits() -> None:
    bits = np.array([0x3F80, 0xBF80, 0x4049, 0x0000, 0x8000, 0x7F80, 0xFF80, 0x0001, 0x7F7F], dtype=np.uint16)
    got = bf16_to_float32(bits)
    assert got.dtype == np.float32
    assert got[:7].tolist() == [1.0, -1.0, 3.140625, 0.0, -0.0, np.inf, -np.inf]
    assert np.signbit(got[4])
    assert got[7] == np.float32(2.0**-133)  # smallest bf16 subnormal
    assert got[8] == np.float32(3.3895313892515355e38)  # largest finite bf16


@pytest.mark.parametrize("dtype", ["BF16", "F16", "F32", "F64"])
def test_reader_decodes_every_float_dtype_exactly(tmp_path: Path, dtype: str) -> None:
    w = planted(40, 50, [1.0, 0.5]).astype(np.float32)
    path = write_safetensors(tmp_path / "b.safetensors", {"x.weight": w, "y.weight": w * 2}, dtype)
    with open_checkpoint(path) as ck:
        got = [ck.read(t) for t in ck.tensors]
    for source, array in zip((w, w * 2), got, strict=True):
        if dtype == "BF16":
            expected = (f32_to_bf16_bits(source).astype(np.uint32) << 16).view(np.float32)
        else:
            expected = source.astype({"F16": np.float16, "F32": np.float32, "F64": np.float64}[dtype])
        assert array.dtype == (np.float64 if dtype == "F64" else np.float32)
        assert np.array_equal(array, expected.astype(array.dtype))


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_bf16_read_as_bits_is_the_stored_tensor(tmp_path: Path, fmt: str) -> None:
    """``bf16_bits=True``: a bf16 tensor comes back as its uint16 bit patterns in the first
    ``nbytes`` of the buffer (what the scan hands the core); other dtypes are decoded as ever."""
    if fmt == "bin":
        pytest.importorskip("torch")
    w = planted(40, 50, [1.0, 0.5]).astype(np.float32)
    folder = write_hf_dir(tmp_path / fmt, {"x.weight": w}, None, dtype="BF16", fmt=fmt)
    with open_checkpoint(folder) as ck:
        info = ck.tensors[0]
        assert info.is_bf16 and info.read_bytes(bf16_bits=True) == info.nbytes == w.size * 2
        buffer = np.zeros(info.read_bytes(bf16_bits=True), dtype=np.uint8)
        bits = ck.read_into(info, buffer, bf16_bits=True)
        assert bits.dtype == np.uint16 and bits.shape == (40, 50) and np.shares_memory(bits, buffer)
        assert np.array_equal(bits, f32_to_bf16_bits(w))
        assert np.array_equal(ck.read(info), (bits.astype(np.uint32) << 16).view(np.float32))
    path = write_safetensors(tmp_path / "h.safetensors", {"x.weight": w}, "F16")
    with open_checkpoint(path) as ck:
        info = ck.tensors[0]
        assert not info.is_bf16 and info.read_bytes(bf16_bits=True) == info.float_bytes
        got = ck.read_into(info, np.empty(info.float_bytes, np.uint8), bf16_bits=True)
        assert got.dtype == np.float32 and np.array_equal(got, w.astype(np.float16).astype(np.float32))


@pytest.mark.parametrize(("dtype", "rel"), [("F32", 1e-4), ("F16", 2e-3), ("BF16", 1e-2), ("F64", 1e-6)])
def test_scan_gives_planted_sigma_for_each_dtype(tmp_path: Path, dtype: str, rel: float) -> None:
    s = spectrum_of(1, 2.5, 40)
    conv = planted(32, 27, [1.25, 0.5, 0.25], seed=2).reshape(32, 3, 3, 3)
    path = write_safetensors(tmp_path / f"m_{dtype}.safetensors",
                             {"h.0.mlp.c_fc.weight": planted(196, 256, s, seed=1), "conv1.weight": conv,
                              "h.0.ln_1.weight": np.ones(96)}, dtype)
    rec = {r.name: r for r in scan_checkpoint(path).records}
    assert rec["h.0.mlp.c_fc.weight"].sigma == pytest.approx(2.5, rel=rel)
    assert rec["h.0.mlp.c_fc.weight"].stats.frobenius == pytest.approx(float(np.linalg.norm(s)), rel=rel)
    assert rec["conv1.weight"].group == "hidden" and rec["conv1.weight"].sigma == pytest.approx(1.25, rel=rel)
    assert rec["h.0.ln_1.weight"].group == "vector" and rec["h.0.ln_1.weight"].stats is None


def test_npz_reader_fp16_fortran_and_big_endian(tmp_path: Path) -> None:
    w = planted(80, 120, spectrum_of(4, 3.0, 30), seed=4)
    path = tmp_path / "ck.npz"
    np.savez(path, **{"model.layers.0.mlp.up_proj.weight": w.astype(np.float16),
                      "model.layers.0.mlp.down_proj.weight": np.asfortranarray(w.T.astype(">f4")),
                      "model.norm.weight": np.ones(80, np.float32), "step": np.array([7], np.int64)})
    scan = scan_checkpoint(path)
    rec = {r.name: r for r in scan.records}
    assert scan.format == "npz"
    assert rec["model.layers.0.mlp.up_proj.weight"].sigma == pytest.approx(3.0, rel=2e-3)
    assert rec["model.layers.0.mlp.down_proj.weight"].sigma == pytest.approx(3.0, rel=1e-5)
    with open_checkpoint(path) as ck:
        down = next(t for t in ck.tensors if t.name.endswith("down_proj.weight"))
        assert np.array_equal(ck.read(down), w.T.astype(np.float32))
    assert "step" not in rec and any("int64" in w or "<i8" in w for w in scan.warnings)


def test_safetensors_skips_integer_tensors_with_warning(tmp_path: Path) -> None:
    path = write_safetensors(tmp_path / "i.safetensors",
                             {"position_ids": np.arange(8).reshape(1, 8), "fc1.weight": planted(40, 60, [1.0])},
                             {"position_ids": "I64", "fc1.weight": "F32"})
    scan = scan_checkpoint(path)
    assert [r.name for r in scan.records] == ["fc1.weight"]
    assert any("I64" in w and "position_ids" in w for w in scan.warnings)


@needs_torch
def test_torch_bin_file_and_bin_shards(tmp_path: Path) -> None:
    tensors, config = llama_like(32, 2, 1.5)
    folder = write_hf_dir(tmp_path / "bin", tensors, config, shards=2, dtype="BF16", fmt="bin")
    scan = scan_checkpoint(folder)
    assert scan.format == "torch, 2 shards"
    q = next(r for r in scan.records if r.name == "model.layers.1.self_attn.q_proj.weight")
    assert q.sigma == pytest.approx(1.5, rel=1e-2)
    single = write_hf_dir(tmp_path / "one", tensors, config, fmt="bin")
    assert len(scan_checkpoint(single).records) == len(scan.records)


@needs_torch
def test_torch_tied_storage_reported_once(tmp_path: Path) -> None:
    import torch

    emb = torch.randn(64, 16)
    torch.save({"transformer.wte.weight": emb, "lm_head.weight": emb,
                "transformer.h.0.mlp.c_fc.weight": torch.randn(16, 64)}, tmp_path / "tied.bin")
    scan = scan_checkpoint(tmp_path / "tied.bin")
    assert "lm_head.weight" not in [r.name for r in scan.records]
    assert any("same storage" in n for n in scan.notes)


def test_pt_without_torch_or_garbage(tmp_path: Path) -> None:
    pt = tmp_path / "model.pt"
    pt.write_bytes(b"\x80\x02garbage")
    with pytest.raises(InputError, match="torch is not installed" if not torch_available() else "cannot be loaded"):
        open_checkpoint(pt)


# ------------------------------------------------------------------------------ directories


def test_directory_single_file_with_config(tmp_path: Path) -> None:
    folder = write_hf_dir(tmp_path / "g", gpt2_like(32, 2, 1.0), gpt2_config(32, 2, vocab=200))
    scan = scan_checkpoint(folder)
    assert scan.format == "safetensors directory"
    assert (scan.model.width, scan.model.depth, scan.model.vocab_size, scan.model.tied) == (32, 2, 200, None)


def test_directory_prefers_safetensors_over_bin(tmp_path: Path) -> None:
    folder = write_hf_dir(tmp_path / "d", gpt2_like(32, 1, 1.0), None)
    (folder / "pytorch_model.bin").write_bytes(b"not read")
    assert scan_checkpoint(folder).format == "safetensors directory"


def test_config_json_values(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "llava", "text_config": {"hidden_size": 64, "num_hidden_layers": 3,
                                                                       "vocab_size": 100}}))
    info = read_model_config(path)
    assert (info.width, info.depth, info.vocab_size, info.tied) == (64, 3, 100, None)
    for bad, field in [({"hidden_size": "64"}, "hidden_size"), ({"hidden_size": True}, "hidden_size"),
                       ({"n_layer": -1}, "n_layer"), ({"tie_word_embeddings": "yes"}, "tie_word_embeddings")]:
        path.write_text(json.dumps(bad))
        with pytest.raises(InputError, match=field):
            read_model_config(path)
    path.write_text("[" * 5000 + "]" * 5000)
    with pytest.raises(InputError, match="nested too deeply|JSON object"):
        read_model_config(path)


def _sharded(tmp_path: Path) -> Path:
    tensors, config = llama_like(32, 2, 1.0)
    return write_hf_dir(tmp_path / "s", tensors, config, shards=2)


def _index(folder: Path) -> dict:
    return json.loads((folder / "model.safetensors.index.json").read_text())


def test_missing_shard(tmp_path: Path) -> None:
    folder = _sharded(tmp_path)
    (folder / "model-00002-of-00002.safetensors").unlink()
    one_line_error(folder, "model-00002-of-00002.safetensors: missing shard")


def test_shard_not_listed_in_index(tmp_path: Path) -> None:
    folder = _sharded(tmp_path)
    (folder / "model-00003-of-00003.safetensors").write_bytes(b"")
    one_line_error(folder, "model-00003-of-00003.safetensors: a shard the index")


def test_tensor_listed_twice_in_index(tmp_path: Path) -> None:
    folder = _sharded(tmp_path)
    text = (folder / "model.safetensors.index.json").read_text()
    first = next(iter(_index(folder)["weight_map"]))
    doubled = text.replace('"weight_map": {', f'"weight_map": {{"{first}": "model-00002-of-00002.safetensors", ', 1)
    (folder / "model.safetensors.index.json").write_text(doubled)
    one_line_error(folder, f"{first}.*appears twice")


def test_tensor_stored_in_two_shards(tmp_path: Path) -> None:
    folder = _sharded(tmp_path)
    index = _index(folder)
    name = next(n for n, s in index["weight_map"].items() if s.startswith("model-00001"))
    extra = {name: planted(32, 32, [1.0]) if "proj" in name else np.ones(32)}
    shard2 = folder / "model-00002-of-00002.safetensors"
    with open_checkpoint(shard2) as ck:
        tensors = {t.name: ck.read(t) for t in ck.tensors}
    write_safetensors(shard2, {**tensors, **extra})
    one_line_error(folder, "stored twice")


def test_index_maps_to_the_wrong_shard_or_lists_a_missing_tensor(tmp_path: Path) -> None:
    folder = _sharded(tmp_path)
    index = _index(folder)
    name, shard = next(iter(index["weight_map"].items()))
    other = "model-00002-of-00002.safetensors" if shard.startswith("model-00001") else "model-00001-of-00002.safetensors"
    index["weight_map"][name] = other
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    one_line_error(folder, "the index maps it to")
    index["weight_map"][name] = shard
    index["weight_map"]["ghost.weight"] = shard
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    one_line_error(folder, "ghost.weight.*does not contain it")


@pytest.mark.parametrize("shard", ["../escape.safetensors", "/etc/passwd", "sub/x.safetensors"])
def test_index_shard_must_be_a_file_in_the_directory(tmp_path: Path, shard: str) -> None:
    folder = _sharded(tmp_path)
    index = _index(folder)
    index["weight_map"]["x.weight"] = shard
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    one_line_error(folder, "expected a file name in the same directory")


def test_directory_without_a_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    one_line_error(tmp_path, "a model directory needs model.safetensors")


# ------------------------------------------------------------------------------ hostile files


def _valid(tmp_path: Path) -> bytes:
    return safetensors_bytes({"fc1.weight": np.ones((4, 4)), "fc2.weight": np.ones((4, 4))})


def _with_header(header: object, data: bytes = b"\0" * 128) -> bytes:
    return _raw_header(json.dumps(header).encode(), data)


def _raw_header(raw: bytes, data: bytes = b"\0" * 128) -> bytes:
    return struct.pack("<Q", len(raw)) + raw + data


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (lambda b: b[:5], "need at least 8"),
        (lambda b: b[: len(b) - 10], "truncated"),
        (lambda b: struct.pack("<Q", 10**12) + b[8:], "at most"),
        (lambda b: struct.pack("<Q", len(b)) + b[8:], "truncated"),
        (lambda b: b[:8] + b"{not json" + b[17:], "not valid JSON"),
        (lambda b: b.replace(b'"F32"', b'"X99"', 1), "dtype 'X99'"),
        (lambda b: b.replace(b"[4, 4]", b"[4, 5]", 1), "data_offsets span"),
        # issue 10 item 8
        (lambda b: _raw_header(b'{"x":' + b"[" * 1000 + b"]" * 1000 + b"}"), "nested too deeply|not an object"),
        (lambda b: _raw_header(b'{"x":' + b'{"y":' * 100_000 + b"1" + b"}" * 100_001), "nested too deeply"),
        (lambda b: _with_header({"a": {"dtype": ["F32"], "shape": [1], "data_offsets": [0, 4]}}), "dtype"),
        (lambda b: _with_header({"a": {"dtype": "F32", "shape": [1] * 65, "data_offsets": [0, 4]}}), "at most 64"),
        (lambda b: _with_header({"a": {"dtype": "F32", "shape": [2**64, 1], "data_offsets": [0, 4]}}), "shape"),
        (lambda b: _with_header({"a\ud800b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}),
         "lone surrogate"),
        # issue 10 item 12
        (lambda b: b.replace(b'"fc2.weight"', b'"fc1.weight"'), "appears twice"),
        (lambda b: _with_header({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                                 "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}), "overlap"),
        (lambda b: _with_header({"a": {"dtype": "F32", "shape": [True, 2], "data_offsets": [0, 8]}}), "shape"),
        (lambda b: _with_header({"__metadata__": ["x"], "a": {"dtype": "F32", "shape": [1],
                                                              "data_offsets": [0, 4]}}), "__metadata__"),
        (lambda b: _with_header({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, True]}}), "data_offsets"),
        (lambda b: _with_header({"x" * 5000: {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}), "at most 1024"),
        (lambda b: _with_header([1, 2]), "expected an object"),
    ],
)
def test_hostile_safetensors_one_line(tmp_path: Path, content, message: str) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(content(_valid(tmp_path)))
    one_line_error(bad, message)


def test_truncated_while_scanning_is_an_error_not_sigbus(tmp_path: Path) -> None:
    path = write_safetensors(tmp_path / "t.safetensors", {f"h.{i}.fc1.weight": planted(64, 64, [1.0], i) for i in range(3)})
    with open_checkpoint(path) as ck:
        os.truncate(path, path.stat().st_size - 100)
        ck.read(ck.tensors[0])
        with pytest.raises(InputError, match="truncated"):
            ck.read(ck.tensors[-1])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_and_devices_are_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "x.safetensors"
    os.mkfifo(fifo)
    one_line_error(fifo, "not a regular file")
    if os.path.exists("/dev/zero"):
        one_line_error(Path("/dev/zero"), "not a regular file")
    folder = tmp_path / "dir"
    folder.mkdir()
    os.mkfifo(folder / "model.safetensors")
    one_line_error(folder, "not a regular file")


def _npz_with(tmp_path: Path, members: dict[str, bytes], compress: int = zipfile.ZIP_STORED) -> Path:
    path = tmp_path / "x.npz"
    with zipfile.ZipFile(path, "w", compression=compress) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _npy(arr: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def test_npz_bombs_and_lies_refused(tmp_path: Path) -> None:
    # 32 MiB of deflated zeros in ~32 KB (the case is 4 GiB in 4 MB): refused before any
    # allocation, the 64× expansion bound does not depend on the size
    header = _npy(np.zeros((0,), np.float32))  # a real header, then patch its shape
    fake = header.replace(b"(0,)", b"(4096, 2048)").replace(b"  ", b"", 4)
    fake = fake[:10] + fake[10:].ljust(len(header) - 10)[: len(header) - 10]
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("w.npy", "w", force_zip64=True) as fh:
            fh.write(fake)
            chunk = b"\0" * (1 << 22)
            for _ in range(8):
                fh.write(chunk)
    one_line_error(path, "expansion refused|needs")
    # a header declaring more data than the member holds
    path = _npz_with(tmp_path, {"w.npy": _npy(np.ones((4, 4), np.float32))[:-16]})
    one_line_error(path, "needs 64 bytes, the member holds 48")


def test_npz_encrypted_unknown_compression_and_same_name(tmp_path: Path) -> None:
    path = _npz_with(tmp_path, {"w.npy": _npy(np.ones((4, 4), np.float32))})
    raw = bytearray(path.read_bytes())
    central = raw.rfind(b"PK\x01\x02")
    raw[central + 8] |= 0x1  # general-purpose flag bit 0: encrypted
    (tmp_path / "enc.npz").write_bytes(bytes(raw))
    one_line_error(tmp_path / "enc.npz", "encrypted")
    raw = bytearray(path.read_bytes())
    raw[central + 10:central + 12] = (99).to_bytes(2, "little")
    (tmp_path / "method.npz").write_bytes(bytes(raw))
    one_line_error(tmp_path / "method.npz", "compression method 99")
    path = _npz_with(tmp_path, {"w.npy": _npy(np.ones((4, 4), np.float32)), "w": _npy(np.zeros((4, 4), np.float32))})
    one_line_error(path, "both give the array")


def test_npz_duplicate_members_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.npz"
    with pytest.warns(UserWarning), zipfile.ZipFile(path, "w") as zf:
        zf.writestr("w.npy", _npy(np.ones((4, 4), np.float32)))
        zf.writestr("w.npy", _npy(np.zeros((4, 4), np.float32)))
    one_line_error(path, "appears twice")


def test_not_a_checkpoint_and_missing(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello world, not a checkpoint")
    one_line_error(junk, "not a checkpoint")
    one_line_error(tmp_path / "missing.safetensors", "not found")
    fake_zip = tmp_path / "x.npz"
    fake_zip.write_bytes(b"PK\x03\x04garbage")
    one_line_error(fake_zip, "npz")


def test_bin_shards_without_torch_say_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hpscale.checkpoints as readers

    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "pytorch_model.bin").write_bytes(b"PK\x03\x04 not read")
    monkeypatch.setattr(readers.pytorch, "torch_available", lambda: False)
    message = one_line_error(folder, "torch is not installed")
    assert "pip install 'hpscale[torch]'" in message
