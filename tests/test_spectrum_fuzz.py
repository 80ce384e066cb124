"""Property tests of the checkpoint parsers (issue 10, item 15): any bytes, any header.

A scan of arbitrary input returns or raises ``InputError`` with one line — never another
exception. Seconds in the suite; ``tests/fuzz/fuzz_checkpoints.py`` (atheris) runs the same
contract for minutes.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spectrum_fixtures import gpt2_like, safetensors_bytes

from hpscale.checkpoints import scan_checkpoint
from hpscale.errors import InputError

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
VALID = safetensors_bytes(gpt2_like(8, 1, 1.0, vocab=16), "BF16")


def _npz() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, arr in list(gpt2_like(8, 1, 1.0, vocab=16).items())[:4]:
            npy = io.BytesIO()
            np.save(npy, arr.astype(np.float32))
            zf.writestr(name + ".npy", npy.getvalue())
    return buf.getvalue()


VALID_NPZ = _npz()


def contract(path: Path) -> None:
    try:
        scan_checkpoint(path)
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc)


edits = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255), st.sampled_from(["set", "cut", "insert"])),
                 max_size=6)


def mutate(data: bytes, changes: list[tuple[int, int, str]]) -> bytes:
    out = bytearray(data)
    for position, value, kind in changes:
        i = position % (len(out) + 1)
        if kind == "set" and i < len(out):
            out[i] = value
        elif kind == "cut":
            del out[i:i + value]
        else:
            out[i:i] = bytes([value])
    return bytes(out)


@SETTINGS
@given(changes=edits)
def test_mutated_safetensors(tmp_path: Path, changes: list[tuple[int, int, str]]) -> None:
    path = tmp_path / "m.safetensors"
    path.write_bytes(mutate(VALID, changes))
    contract(path)


@SETTINGS
@given(changes=edits)
def test_mutated_npz(tmp_path: Path, changes: list[tuple[int, int, str]]) -> None:
    path = tmp_path / "m.npz"
    path.write_bytes(mutate(VALID_NPZ, changes))
    contract(path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
entries = st.fixed_dictionaries({
    "dtype": st.sampled_from(["F32", "BF16", "F16", "F64", "I64", "X"]) | json_values,
    "shape": st.lists(st.integers(-1, 40), max_size=4) | json_values,
    "data_offsets": st.lists(st.integers(-1, 5000), min_size=2, max_size=2) | json_values,
})


@SETTINGS
@given(header=st.dictionaries(st.text(max_size=12), entries | json_values, max_size=5),
       data=st.binary(max_size=4096))
def test_arbitrary_safetensors_headers(tmp_path: Path, header: dict, data: bytes) -> None:
    raw = json.dumps(header).encode()
    path = tmp_path / "h.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    contract(path)


@SETTINGS
@given(index=json_values | st.fixed_dictionaries({"weight_map": st.dictionaries(st.text(max_size=12), json_values)}))
def test_arbitrary_index_files(tmp_path: Path, index: object) -> None:
    folder = tmp_path / "d"
    folder.mkdir(exist_ok=True)
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    (folder / "model-00001-of-00001.safetensors").write_bytes(VALID)
    contract(folder)


@pytest.mark.parametrize("config", [{"hidden_size": 8}, {"n_embd": None}, [], {"text_config": 3}])
def test_odd_configs(tmp_path: Path, config: object) -> None:
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "model.safetensors").write_bytes(VALID)
    contract(tmp_path)
