"""Coverage-guided fuzzing of the checkpoint parsers with atheris (issue 10, item 15).

Run for minutes (not part of the suite)::

    pip install atheris
    python tests/fuzz/fuzz_checkpoints.py -max_total_time=600 -rss_limit_mb=2048 -timeout=20 CORPUS_DIR

Each input becomes a safetensors file, an npz archive or a sharded Hugging Face directory
(the first byte picks which) on a RAM disk, and is scanned. The contract: the scan returns,
or raises ``InputError`` with exactly one line; any other exception, a crash, a hang
(``-timeout``) or memory beyond ``-rss_limit_mb`` is a finding. An empty ``CORPUS_DIR`` is
seeded with valid files from ``tests/spectrum_fixtures.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with atheris.instrument_imports():
    import hpscale.checkpoints
    import hpscale.core.spectrum
    from hpscale.errors import InputError

ROOT = Path(tempfile.mkdtemp(prefix="hpscale-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))


def seeds(corpus: Path) -> None:
    """Valid inputs to start from: one per mode."""
    import io
    import zipfile

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
    corpus.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate((b"\0" + st, b"\1" + buf.getvalue(), b"\2" + index + b"\0\0\0\0" + st)):
        (corpus / f"seed{i}").write_bytes(data)


def write_input(data: bytes) -> Path:
    mode, body = (data[0] % 3 if data else 0), data[1:]
    target = ROOT / "case"
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    if mode == 0:
        target = ROOT / "case.safetensors"
        target.write_bytes(body)
    elif mode == 1:
        target = ROOT / "case.npz"
        target.write_bytes(body)
    else:
        index, _, shard = body.partition(b"\0\0\0\0")
        target.mkdir()
        (target / "model.safetensors.index.json").write_bytes(index)
        (target / "model-00001-of-00001.safetensors").write_bytes(shard)
        (target / "config.json").write_text('{"model_type": "gpt2", "n_embd": 8, "n_layer": 1}')
    return target


def TestOneInput(data: bytes) -> None:  # noqa: N802 — atheris' name
    for leftover in (ROOT / "case.safetensors", ROOT / "case.npz"):
        if leftover.exists():
            leftover.unlink()
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
