"""Coverage-guided fuzzing of the checkpoint parsers with atheris (issue 10, item 15; issue 18).

Run for minutes (not part of the suite)::

    pip install atheris
    python tests/fuzz/fuzz_checkpoints.py -max_total_time=600 -rss_limit_mb=2048 -timeout=20 CORPUS_DIR

The first byte of an input picks what it becomes on a RAM disk; the rest is its body, cut into
parts at ``SEP`` (four zero bytes) where a mode needs several:

0. a safetensors file;
1. an npz archive;
2. a sharded safetensors directory (index ``SEP`` shard);
3. a PyTorch ``.bin`` file, the body as it is (a zip archive, mostly refused by its checksums);
4. a PyTorch ``.bin`` file rebuilt from parts (``data.pkl`` ``SEP`` storage 0 ``SEP`` storage 1 …)
   into a valid zip archive laid out as ``torch.save`` lays it out, so that the fuzzed pickle and
   storages reach torch's weights-only unpickler and hpscale's shape/stride checks;
5. a Hugging Face model directory (``config.json`` ``SEP`` ``pytorch_model.bin.index.json``
   ``SEP`` the ``.bin`` parts of mode 4): an empty index part means a single
   ``pytorch_model.bin``, otherwise the index and one shard ``pytorch_model-00001-of-00001.bin``;
   an empty config part means no ``config.json``.

Each is scanned (``hpscale.checkpoints.scan_checkpoint``). The contract: the scan returns, or
raises ``InputError`` with exactly one line; any other exception, a crash, a hang (``-timeout``)
or memory beyond ``-rss_limit_mb`` is a finding. An empty ``CORPUS_DIR`` is seeded with one
valid input per mode built from ``tests/spectrum_fixtures.py``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with atheris.instrument_imports():
    import hpscale.checkpoints
    import hpscale.checkpoints.layout
    import hpscale.checkpoints.pytorch
    import hpscale.core.spectrum
    from hpscale.errors import InputError

ROOT = Path(tempfile.mkdtemp(prefix="hpscale-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
SEP = b"\0\0\0\0"
MODES = 6
CONFIG = {"model_type": "gpt2", "n_embd": 8, "n_layer": 1, "vocab_size": 16, "n_head": 2}


def torch_parts(tensors: dict) -> list[bytes]:
    """``torch.save`` of ``tensors``, cut into the parts mode 4 rebuilds: data.pkl, storages."""
    import torch

    buf = io.BytesIO()
    torch.save({n: torch.from_numpy(a.astype("float32")) for n, a in tensors.items()}, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zf:
        entries = {i.filename.split("/", 1)[1]: zf.read(i) for i in zf.infolist()}
    storages = sorted((n for n in entries if n.startswith("data/")), key=lambda n: int(n[5:]))
    return [entries["data.pkl"], *(entries[n] for n in storages)]


def torch_zip(parts: list[bytes]) -> bytes:
    """A zip archive in torch's layout from ``[data.pkl, storage 0, storage 1, …]``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", parts[0] if parts else b"")
        zf.writestr("archive/byteorder", "little")
        zf.writestr("archive/version", "3\n")
        for i, storage in enumerate(parts[1:]):
            zf.writestr(f"archive/data/{i}", storage)
    return buf.getvalue()


def seeds(corpus: Path) -> None:
    """Valid inputs to start from: one per mode."""
    import numpy as np
    from spectrum_fixtures import gpt2_like, safetensors_bytes

    tensors = gpt2_like(8, 1, 1.0, vocab=16)
    st = safetensors_bytes(tensors, "BF16")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, arr in list(tensors.items())[:4]:
            npy = io.BytesIO()
            np.save(npy, arr.astype(np.float32))
            zf.writestr(name + ".npy", npy.getvalue())
    index = json.dumps({"weight_map": dict.fromkeys(tensors, "model-00001-of-00001.safetensors")}).encode()
    small = dict(list(tensors.items())[:6])
    parts = torch_parts(small)
    bin_index = json.dumps({"weight_map": dict.fromkeys(small, "pytorch_model-00001-of-00001.bin")}).encode()
    config = json.dumps(CONFIG).encode()
    corpus.mkdir(parents=True, exist_ok=True)
    bodies = (b"\0" + st, b"\1" + buf.getvalue(), b"\2" + index + SEP + st,
              b"\3" + torch_zip(parts), b"\4" + SEP.join(parts),
              b"\5" + SEP.join([config, b"", *parts]), b"\5" + SEP.join([config, bin_index, *parts]))
    for i, data in enumerate(bodies):
        (corpus / f"seed{i}").write_bytes(data)


def write_input(data: bytes) -> Path:
    mode, body = (data[0] % MODES if data else 0), data[1:]
    for leftover in ROOT.iterdir():
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover)
        else:
            leftover.unlink()
    if mode in (0, 1, 3, 4):
        target = ROOT / ("case" + (".safetensors", ".npz", "", ".bin", ".bin")[mode])
        target.write_bytes(torch_zip(body.split(SEP)) if mode == 4 else body)
        return target
    target = ROOT / "case"
    target.mkdir()
    if mode == 2:
        index, _, shard = body.partition(SEP)
        (target / "model.safetensors.index.json").write_bytes(index)
        (target / "model-00001-of-00001.safetensors").write_bytes(shard)
        (target / "config.json").write_text(json.dumps(CONFIG))
        return target
    config, index, *parts = [*body.split(SEP), b""][:2] + body.split(SEP)[2:]
    if config:
        (target / "config.json").write_bytes(config)
    if index:
        (target / "pytorch_model.bin.index.json").write_bytes(index)
        (target / "pytorch_model-00001-of-00001.bin").write_bytes(torch_zip(parts))
    else:
        (target / "pytorch_model.bin").write_bytes(torch_zip(parts))
    return target


def TestOneInput(data: bytes) -> None:  # noqa: N802 — atheris' name
    path = write_input(data)
    try:
        hpscale.checkpoints.scan_checkpoint(path)
    except InputError as exc:
        message = str(exc)
        if "\n" in message or not message:
            raise AssertionError(f"error message is not one line: {message!r}") from None


def main() -> None:
    corpus = next((Path(a) for a in sys.argv[1:] if not a.startswith("-")), None)
    if corpus is not None and (not corpus.exists() or not any(corpus.iterdir())):
        seeds(corpus)
    atheris.Setup(sys.argv, TestOneInput)
    try:
        atheris.Fuzz()
    finally:
        shutil.rmtree(ROOT, ignore_errors=True)


if __name__ == "__main__":
    main()
