"""safetensors, parsed here (hpscale takes no dependency for a small format).

An 8-byte little-endian u64 header length N, N bytes of JSON ``{name: {"dtype", "shape",
"data_offsets": [begin, end]}, "__metadata__": {...}}``, then the data; offsets are
relative to the end of the header. Every field is checked before any data is read (types,
at most 64 dimensions, sizes that match the offsets and the file, no overlapping spans, no
duplicate names, a mapping ``__metadata__``). Tensors are read with ``readinto`` at their
offset into a reused buffer — never memory-mapped, so a file truncated during a scan is a
one-line error, not a SIGBUS. bfloat16 is decoded exactly: a bf16 value is the upper 16
bits of a float32 (uint16 → uint32 << 16); the raw bytes are read into the upper half of
the float32 buffer and widened in place, so a bf16 tensor needs no memory beyond its
float32 copy. (The ``safetensors`` package's numpy API cannot return bf16.)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hpscale.checkpoints.base import (
    MAX_DIMS,
    Format,
    Source,
    TensorInfo,
    check_backed,
    check_name,
    native_u16,
    parse_json,
    read_exact,
    safe_open,
    shown,
    skip_warning,
    widen_in_place,
)
from hpscale.errors import InputError, InputFileError

# safetensors dtype → (numpy dtype of the stored bytes, item size). Decoded to float32/64.
_ST_FLOAT = {"F64": ("<f8", 8), "F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": ("<u2", 2)}
# Known safetensors dtypes that are not decoded: skipped with a warning.
_ST_OTHER = {
    "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "F4": 1, "F6_E2M3": 1, "F6_E3M2": 1,
    "I8": 1, "U8": 1, "I16": 2, "U16": 2, "I32": 4, "U32": 4, "I64": 8, "U64": 8, "BOOL": 1,
    "C64": 8,
}
_SUB_BYTE = ("F4", "F6_E2M3", "F6_E3M2")  # packed: no simple size check

MAX_HEADER_BYTES = 100 * 1024 * 1024
"""A safetensors JSON header larger than this is refused (the format itself caps it at 100 MB)."""


class _Safetensors(Source):
    format = "safetensors"

    def __init__(self, path: Path) -> None:

        self.path = path
        self.fh, size = safe_open(path)
        try:
            self.size = size
            self.tensors, self.warnings = self._parse(size)
        except BaseException:
            self.fh.close()
            raise

    def _parse(self, size: int) -> tuple[list[TensorInfo], list[str]]:
        path, where = self.path, f"{self.path}: safetensors header"
        if size < 8:
            raise InputError(f"{where}: file is {size} bytes: need at least 8 (truncated?)")
        head = self.fh.read(8)
        n = int.from_bytes(head, "little")
        if n > MAX_HEADER_BYTES:
            raise InputError(f"{where}: not a safetensors file (its first 8 bytes are not a "
                             f"header length of at most {MAX_HEADER_BYTES} bytes)")
        if 8 + n > size:
            raise InputError(
                f"{where}: declares {n} bytes but the file has {size - 8} after the length "
                "(truncated, or not a safetensors file)"
            )
        raw = bytearray(n)
        read_exact(self.fh, memoryview(raw), path, "safetensors header")
        header = parse_json(bytes(raw), where)
        if not isinstance(header, dict):
            raise InputError(f"{where}: JSON {type(header).__name__}: expected an object")
        meta = header.get("__metadata__", {})
        if not isinstance(meta, dict):
            raise InputError(f"{where}: __metadata__ is a {type(meta).__name__}: expected an object")
        data_start = 8 + n
        data_len = size - data_start
        tensors: list[TensorInfo] = []
        skipped: dict[str, list[str]] = {}
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            check_name(name, where)
            label = f"{where}: tensor {shown(name)}"
            if not isinstance(entry, dict):
                raise InputError(f"{label}: entry is not an object")
            dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
            if not isinstance(dtype, str) or dtype not in _ST_FLOAT and dtype not in _ST_OTHER:
                allowed = ", ".join([*_ST_FLOAT, *_ST_OTHER])
                raise InputError(f"{label}: dtype {shown(dtype, 60)}: allowed {allowed}")
            if not (isinstance(shape, list) and len(shape) <= MAX_DIMS and all(
                    type(d) is int and 0 <= d < 2**63 for d in shape)):
                text = shown(shape, 60)
                raise InputError(f"{label}: shape {text}: expected a list of at most {MAX_DIMS} "
                                 "integers ≥ 0")
            if not (isinstance(offsets, list) and len(offsets) == 2
                    and all(type(o) is int for o in offsets) and 0 <= offsets[0] <= offsets[1]):
                raise InputError(f"{label}: data_offsets {shown(offsets, 60)}: expected [begin, end]")
            if offsets[1] > data_len:
                raise InputError(
                    f"{label} ends at byte {offsets[1]} of the data: the file has "
                    f"{data_len} data bytes (truncated?)"
                )
            itemsize = _ST_FLOAT[dtype][1] if dtype in _ST_FLOAT else _ST_OTHER[dtype]
            span = offsets[1] - offsets[0]
            if dtype not in _SUB_BYTE:
                check_backed(label, shape, dtype, itemsize, span, "its data_offsets span")
            info = TensorInfo(name, tuple(shape), dtype, path, data_start + offsets[0], span)
            if dtype not in _ST_FLOAT:
                skipped.setdefault(dtype, []).append(name)
            tensors.append(info)
        spans = sorted((t.offset, t.offset + t.nbytes, t.name) for t in tensors if t.nbytes)
        for (_, end, first), (begin, _, second) in zip(spans, spans[1:], strict=False):
            if begin < end:
                raise InputError(f"{where}: tensors {shown(first)} and "
                                 f"{shown(second)} overlap in data_offsets")
        self.skipped_names = {n for names in skipped.values() for n in names}
        tensors = [t for t in tensors if t.dtype in _ST_FLOAT]
        tensors.sort(key=lambda t: t.offset)
        return tensors, [skip_warning(d, names) for d, names in sorted(skipped.items())]

    def read_into(self, info: TensorInfo, buffer: np.ndarray, *, bf16_bits: bool = False) -> np.ndarray:
        count, dtype = info.count, info.dtype
        bits = bf16_bits and dtype == "BF16"
        if os.fstat(self.fh.fileno()).st_size < info.offset + info.nbytes:
            raise InputFileError(f"{self.path}: tensor {info.name!r}: the file is now shorter "
                                 "than its header says (truncated while being read?)")
        if dtype in ("F32", "F64") or bits:
            region = buffer[:info.nbytes]
        else:  # 16-bit: read into the upper half, widen in place
            region = buffer[2 * count:4 * count]
        self.fh.seek(info.offset)
        read_exact(self.fh, region.data, self.path, f"tensor {info.name!r}")
        if dtype == "F32":
            arr = region.view("<f4")
        elif dtype == "F64":
            arr = region.view("<f8")
        elif bits:
            arr = native_u16(region)
        else:
            arr = widen_in_place(buffer, count, dtype)
        return arr.reshape(info.shape)

    def close(self) -> None:
        self.fh.close()


def _sniff(path: Path, head: bytes, size: int) -> bool:
    """An 8-byte header length smaller than the file, then the JSON header's ``{``."""
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < size


FORMAT = Format("safetensors", (".safetensors",), _sniff, _Safetensors)
