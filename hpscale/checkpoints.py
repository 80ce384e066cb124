"""Checkpoint readers: one tensor at a time, as float32/float64 numpy arrays, from files or
Hugging Face model directories; and the scan that groups and measures every tensor.

Formats:

* **safetensors** — parsed here: an 8-byte little-endian u64 header length N, N bytes of
  JSON ``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``,
  then the data; offsets are relative to the end of the header. Every field is checked
  before any data is read (types, at most 64 dimensions, sizes that match the offsets and
  the file, no overlapping spans, no duplicate names, a mapping ``__metadata__``). Tensors
  are read with ``readinto`` at their offset into a reused buffer — never memory-mapped, so
  a file truncated during a scan is a one-line error, not a SIGBUS. bfloat16 is decoded
  exactly: a bf16 value is the upper 16 bits of a float32 (uint16 → uint32 << 16); the raw
  bytes are read into the upper half of the float32 buffer and widened in place, so a bf16
  tensor needs no memory beyond its float32 copy. (The ``safetensors`` package's numpy API
  cannot return bf16, and hpscale takes no dependency for a small format.)
* **npz** — read with ``zipfile`` and ``numpy.lib.format`` (public APIs): each member's .npy
  header gives shape and dtype without reading data; the data is streamed into the buffer,
  never more than the header declares. Refused: encrypted members, compression other than
  stored/deflate, duplicate names, ``x`` beside ``x.npy``, a declared size the member's
  stored size cannot back, and deflated members that would expand more than
  :data:`MAX_NPZ_EXPANSION`× (float weights compress about 1.1×). Object members are skipped.
* **PyTorch** ``.pt``/``.pth``/``.bin`` — only when torch is importable; loaded with
  ``torch.load(path, map_location="cpu", weights_only=True, mmap=True)`` (no arbitrary
  pickles; storages memory-mapped, so one tensor at a time is in memory). The file's size
  is checked before each tensor; a ``.bin`` shard truncated *while one tensor is copied*
  can still fault — the one case a memory map cannot rule out (use safetensors).

A **directory** is read in the order transformers loads it: ``model.safetensors``, else
``model.safetensors.index.json`` (shards listed in ``weight_map``), else
``pytorch_model.bin``, else ``pytorch_model.bin.index.json``, else its single checkpoint
file; ``config.json`` (when present) gives width, depth, vocabulary, heads and tied
embeddings. A missing shard, a shard file the index does not list, and a tensor listed or
stored twice are errors naming it.

Only regular files are opened (a FIFO or device would block or never end). Every problem
raises :class:`hpscale.errors.InputError` with one line.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import json
import math
import os
import queue
import re
import stat
import threading
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from hpscale.core.spectrum import (
    MAX_NAME_CHARS,
    SIGMA_RTOL,
    UNMATCHED,
    Grouper,
    MatrixStats,
    ModelInfo,
    Placement,
    TensorRecord,
    group_summary,
    matrix_stats,
    records_for,
    tensor_matrices,
)
from hpscale.errors import InputError, InputFileError

SCHEMA_VERSION = 2
"""The version of the JSON contract of ``hpscale spectrum`` (scans and compares)."""
MAX_HEADER_BYTES = 100 * 1024 * 1024
"""A safetensors JSON header larger than this is refused (the format itself caps it at 100 MB)."""
MAX_JSON_BYTES = 64 * 1024 * 1024
"""config.json and index files larger than this are refused."""
MAX_DIMS = 64
"""Most dimensions a tensor may declare (torch and numpy allow 64)."""
MAX_NPZ_EXPANSION = 64
"""A deflated npz member may expand at most this many times (below :data:`NPZ_SMALL_BYTES`
any ratio is accepted): memory follows the file, not what it claims."""
NPZ_SMALL_BYTES = 16 * 1024 * 1024

# safetensors dtype → (numpy dtype of the stored bytes, item size). Decoded to float32/64.
_ST_FLOAT = {"F64": ("<f8", 8), "F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": ("<u2", 2)}
# Known safetensors dtypes that are not decoded: skipped with a warning.
_ST_OTHER = {
    "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "F4": 1, "F6_E2M3": 1, "F6_E3M2": 1,
    "I8": 1, "U8": 1, "I16": 2, "U16": 2, "I32": 4, "U32": 4, "I64": 8, "U64": 8, "BOOL": 1,
    "C64": 8,
}
_SUB_BYTE = ("F4", "F6_E2M3", "F6_E3M2")  # packed: no simple size check
TORCH_SUFFIXES = (".pt", ".pth", ".bin")
CHECKPOINT_SUFFIXES = (".safetensors", ".npz", *TORCH_SUFFIXES)
_SHARD = re.compile(r"^(.+)-(\d{5})-of-(\d{5})\.(safetensors|bin)$")
_CHUNK = 1 << 20  # elements per step of in-place widening


def bf16_to_float32(raw: np.ndarray) -> np.ndarray:
    """Exact bfloat16 → float32: bf16 bits are the top half of the float32 bits.

    ``raw`` holds the bf16 bit patterns as uint16; the result is a new float32 array of
    the same shape (NaN payloads and ±inf are kept bit-for-bit).
    """
    out = raw.astype(np.uint32)
    out <<= 16
    return out.view(np.float32)


def _widen_in_place(buffer: np.ndarray, count: int, kind: str) -> np.ndarray:
    """Widen ``count`` 16-bit values stored in bytes [2·count, 4·count) of ``buffer`` to
    float32 in bytes [0, 4·count). Ascending chunks never overwrite values not yet read
    (chunk [a, b) writes bytes < 4b ≤ 2·count + 2b); numpy buffers the overlap inside a
    chunk."""
    out = buffer[:4 * count].view(np.uint32 if kind == "BF16" else np.float32)
    src = buffer[2 * count:4 * count].view("<u2" if kind == "BF16" else "<f2")
    for start in range(0, count, _CHUNK):
        stop = min(count, start + _CHUNK)
        if kind == "BF16":
            np.left_shift(src[start:stop], 16, out=out[start:stop], dtype=np.uint32)
        else:
            out[start:stop] = src[start:stop]
    return out.view(np.float32)


@dataclass(frozen=True)
class TensorInfo:
    """Name, shape and stored dtype (the format's own spelling) of one tensor, and where it is.

    ``file`` is the file holding it (a shard of a directory); ``offset``/``nbytes`` locate it
    in a safetensors file; ``key`` is its npz member or torch state-dict key.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    file: Path = Path()
    offset: int = 0
    nbytes: int = 0
    key: str = ""

    @property
    def count(self) -> int:
        return math.prod(self.shape)

    @property
    def float_bytes(self) -> int:
        """Bytes of the decoded array (float64 stays float64, everything else float32)."""
        return self.count * (8 if self.dtype.rstrip("F") in ("F64", "float64", "<f8", ">f8") else 4)


def _stat(path: Path, what: str) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError:
        raise InputFileError(f"{path}: not found: expected a {what}") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot be read: {exc.strerror or exc}") from None


def _safe_open(path: Path, what: str = "checkpoint file") -> tuple[io.FileIO, int]:
    """Open a regular file for reading; refuse anything else without blocking on it."""
    st = _stat(path, what)
    if not stat.S_ISREG(st.st_mode):
        raise InputFileError(f"{path}: not a regular file (a FIFO, device or socket): expected a {what}")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):  # replaced between the two checks
        os.close(fd)
        raise InputFileError(f"{path}: not a regular file: expected a {what}")
    return io.FileIO(fd, "rb", closefd=True), st.st_size


def _read_exact(fh: io.FileIO | Any, view: memoryview, path: Path, what: str) -> None:
    got = 0
    total = len(view)
    while got < total:
        n = fh.readinto(view[got:])
        if not n:
            raise InputFileError(
                f"{path}: {what}: the file ended after {got} of {total} bytes (truncated while being read?)"
            )
        got += n


def _read_json(path: Path, what: str) -> Any:
    fh, size = _safe_open(path, what)
    with fh:
        if size > MAX_JSON_BYTES:
            raise InputFileError(f"{path}: {size} bytes: at most {MAX_JSON_BYTES} accepted for a {what}")
        raw = fh.read(size + 1)
    return _parse_json(raw, f"{path}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


class _Duplicate(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _parse_json(raw: bytes, where: str) -> Any:

    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except _Duplicate as dup:
        raise InputError(f"{where}: key {_shown(dup.key)} appears twice") from None
    except RecursionError:
        raise InputError(f"{where}: JSON nested too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{where}: not valid JSON ({exc.__class__.__name__}): corrupt file?") from None


def _shown(name: object, limit: int = 80) -> str:
    """A name from a file as it goes into a message: repr, control characters escaped, cut."""
    from hpscale.text import printable

    text = printable(repr(name))
    return text if len(text) <= limit else text[:limit] + "…"


def _check_name(name: str, where: str) -> None:
    from hpscale.text import printable

    if len(name) > MAX_NAME_CHARS:
        raise InputError(f"{where}: tensor name of {len(name)} characters "
                         f"({printable(name[:40])}…): at most {MAX_NAME_CHARS}")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{where}: tensor name {_shown(name)} is not valid Unicode "
                         "(a lone surrogate)") from None


class _Source:
    """One checkpoint file: its tensors and how to read one into a buffer."""

    path: Path
    format: str
    tensors: list[TensorInfo]
    warnings: list[str]
    skipped_names: set[str] = set()  # stored but not decoded (integer dtypes, objects)

    def read_into(self, info: TensorInfo, buffer: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------------------------
# safetensors
# ---------------------------------------------------------------------------------------


class _Safetensors(_Source):
    format = "safetensors"

    def __init__(self, path: Path) -> None:

        self.path = path
        self.fh, size = _safe_open(path)
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
            raise InputError(f"{where}: declares {n} bytes: at most {MAX_HEADER_BYTES} accepted")
        if 8 + n > size:
            raise InputError(
                f"{where}: declares {n} bytes but the file has {size - 8} after the length "
                "(truncated, or not a safetensors file)"
            )
        raw = bytearray(n)
        _read_exact(self.fh, memoryview(raw), path, "safetensors header")
        header = _parse_json(bytes(raw), where)
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
            _check_name(name, where)
            label = f"{where}: tensor {_shown(name)}"
            if not isinstance(entry, dict):
                raise InputError(f"{label}: entry is not an object")
            dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
            if not isinstance(dtype, str) or dtype not in _ST_FLOAT and dtype not in _ST_OTHER:
                allowed = ", ".join([*_ST_FLOAT, *_ST_OTHER])
                raise InputError(f"{label}: dtype {_shown(dtype, 60)}: allowed {allowed}")
            if not (isinstance(shape, list) and len(shape) <= MAX_DIMS and all(
                    type(d) is int and 0 <= d < 2**63 for d in shape)):
                shown = _shown(shape, 60)
                raise InputError(f"{label}: shape {shown}: expected a list of at most {MAX_DIMS} "
                                 "integers ≥ 0")
            if not (isinstance(offsets, list) and len(offsets) == 2
                    and all(type(o) is int for o in offsets) and 0 <= offsets[0] <= offsets[1]):
                raise InputError(f"{label}: data_offsets {_shown(offsets, 60)}: expected [begin, end]")
            if offsets[1] > data_len:
                raise InputError(
                    f"{label} ends at byte {offsets[1]} of the data: the file has "
                    f"{data_len} data bytes (truncated?)"
                )
            itemsize = _ST_FLOAT[dtype][1] if dtype in _ST_FLOAT else _ST_OTHER[dtype]
            count = math.prod(shape)
            span = offsets[1] - offsets[0]
            if dtype not in _SUB_BYTE and count * itemsize != span:
                raise InputError(
                    f"{label}: shape {shape} × {itemsize} bytes = {count * itemsize}, but "
                    f"data_offsets span {span} bytes"
                )
            info = TensorInfo(name, tuple(shape), dtype, path, data_start + offsets[0], span)
            if dtype not in _ST_FLOAT:
                skipped.setdefault(dtype, []).append(name)
            tensors.append(info)
        spans = sorted((t.offset, t.offset + t.nbytes, t.name) for t in tensors if t.nbytes)
        for (_, end, first), (begin, _, second) in zip(spans, spans[1:], strict=False):
            if begin < end:
                raise InputError(f"{where}: tensors {_shown(first)} and "
                                 f"{_shown(second)} overlap in data_offsets")
        self.skipped_names = {n for names in skipped.values() for n in names}
        tensors = [t for t in tensors if t.dtype in _ST_FLOAT]
        tensors.sort(key=lambda t: t.offset)
        return tensors, [_skip_warning(d, names) for d, names in sorted(skipped.items())]

    def read_into(self, info: TensorInfo, buffer: np.ndarray) -> np.ndarray:
        count, dtype = info.count, info.dtype
        if os.fstat(self.fh.fileno()).st_size < info.offset + info.nbytes:
            raise InputFileError(f"{self.path}: tensor {info.name!r}: the file is now shorter "
                                 "than its header says (truncated while being read?)")
        if dtype in ("F32", "F64"):
            region = buffer[:info.nbytes]
        else:  # 16-bit: read into the upper half, widen in place
            region = buffer[2 * count:4 * count]
        self.fh.seek(info.offset)
        _read_exact(self.fh, region.data, self.path, f"tensor {info.name!r}")
        if dtype == "F32":
            arr = region.view("<f4")
        elif dtype == "F64":
            arr = region.view("<f8")
        else:
            arr = _widen_in_place(buffer, count, dtype)
        return arr.reshape(info.shape)

    def close(self) -> None:
        self.fh.close()


def _skip_warning(dtype: str, names: Sequence[str]) -> str:
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    if dtype == "object":
        return f"skipped {len(names)} object array(s) (pickles are refused): {shown}"
    return (
        f"skipped {len(names)} tensor(s) of dtype {dtype} (only float16, bfloat16, float32 "
        f"and float64 are analysed): {shown}"
    )


# ---------------------------------------------------------------------------------------
# npz
# ---------------------------------------------------------------------------------------


class _Npz(_Source):
    format = "npz"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fh, self.size = _safe_open(path)
        try:
            self.zf = zipfile.ZipFile(self.fh)
            self.tensors, self.warnings = self._parse()
        except InputError:
            self.fh.close()
            raise
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError,
                NotImplementedError, RuntimeError, KeyError, OverflowError) as exc:
            self.fh.close()
            raise InputError(f"{path}: not a readable npz archive: {_first_line(exc)}") from None

    def _parse(self) -> tuple[list[TensorInfo], list[str]]:
        from hpscale.text import printable

        path = self.path
        infos = self.zf.infolist()
        names = [i.filename for i in infos]
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise InputError(f"{path}: member {_shown(name)} appears twice in the archive")
            seen.add(name)
        tensors: list[TensorInfo] = []
        skipped: dict[str, list[str]] = {}
        other: list[str] = []
        for info in infos:
            member = info.filename
            if not member.endswith(".npy"):
                if member + ".npy" in seen:
                    raise InputError(f"{path}: members {_shown(member)} and "
                                     f"{_shown(member + '.npy')} both give the array "
                                     f"{_shown(member)}")
                if not member.endswith("/"):
                    other.append(member)
                continue
            label = f"{path}: member {_shown(member)}"
            if info.flag_bits & 0x1:
                raise InputError(f"{label}: encrypted: not supported")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise InputError(f"{label}: compression method {info.compress_type}: only stored "
                                 "and deflate are read (numpy writes those)")
            if info.compress_size > self.size:
                raise InputError(f"{label}: stored size {info.compress_size} exceeds the file ({self.size} bytes)")
            if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
                raise InputError(f"{label}: stored member of {info.file_size} bytes occupies "
                                 f"{info.compress_size}")
            if info.file_size > max(NPZ_SMALL_BYTES, MAX_NPZ_EXPANSION * info.compress_size):
                raise InputError(f"{label}: {info.compress_size} compressed bytes declare "
                                 f"{info.file_size}: more than {MAX_NPZ_EXPANSION}× expansion refused")
            name = member[:-len(".npy")]
            _check_name(name, str(path))
            shape, fortran, dtype, header_len = self._header(info, label)
            if dtype.hasobject or dtype.kind != "f" or dtype.itemsize not in (2, 4, 8):
                skipped.setdefault("object" if dtype.hasobject else dtype.str, []).append(name)
                continue
            nbytes = math.prod(shape) * dtype.itemsize
            if header_len + nbytes != info.file_size:
                raise InputError(f"{label}: shape {list(shape)} of {dtype.str} needs {nbytes} bytes, "
                                 f"the member holds {info.file_size - header_len}")
            tensors.append(TensorInfo(name, shape, dtype.str + ("F" if fortran else ""), path,
                                      header_len, nbytes, member))
        self.skipped_names = {n for names in skipped.values() for n in names}
        warnings = [_skip_warning(d, n) for d, n in sorted(skipped.items())]
        if other:
            warnings.append(f"ignored {len(other)} archive member(s) that are not .npy arrays: "
                            + ", ".join(printable(o) for o in other[:3]))
        return tensors, warnings

    def _header(self, info: zipfile.ZipInfo, label: str) -> tuple[tuple[int, ...], bool, np.dtype, int]:
        try:
            with self.zf.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
                elif version in ((2, 0), (3, 0)):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
                else:
                    raise ValueError(f"unknown .npy version {version}")
                header_len = fh.tell()
        except InputError:
            raise
        except Exception as exc:  # numpy raises ValueError/SyntaxError/TypeError on bad headers
            raise InputError(f"{label}: bad .npy header: {_first_line(exc)}") from None
        if len(shape) > MAX_DIMS or any(not isinstance(d, int) or d < 0 or d >= 2**63 for d in shape):
            raise InputError(f"{label}: shape {shape!r}: expected at most {MAX_DIMS} integers ≥ 0")
        return tuple(int(d) for d in shape), bool(fortran), np.dtype(dtype), header_len

    def read_into(self, info: TensorInfo, buffer: np.ndarray) -> np.ndarray:
        dtype = np.dtype(info.dtype.rstrip("F"))
        fortran = info.dtype.endswith("F")
        count = info.count
        half = dtype.itemsize == 2
        region = buffer[2 * count:4 * count] if half else buffer[:info.nbytes]
        what = f"member {info.key!r}"
        try:
            with self.zf.open(info.key) as fh:
                fh.read(info.offset)  # the .npy header
                _read_exact(fh, region.data, self.path, what)
                if fh.read(1):
                    raise InputError(f"{self.path}: {what}: holds more data than its header declares")
        except InputError:
            raise
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as exc:
            raise InputError(f"{self.path}: {what}: cannot be read: {_first_line(exc)}") from None
        if half:
            if dtype.byteorder == ">":
                region.view(">u2").byteswap(inplace=True)
            arr = _widen_in_place(buffer, count, "F16")
        else:
            arr = region.view(dtype)
            if not dtype.isnative:
                arr = arr.byteswap(inplace=True).view(dtype.newbyteorder("="))
        if fortran:
            return np.ascontiguousarray(arr.reshape(info.shape[::-1]).T)
        return arr.reshape(info.shape)

    def close(self) -> None:
        self.zf.close()
        self.fh.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ---------------------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------------------


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def _flatten_state(obj: object, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, object]]:
    if isinstance(obj, dict) and depth < 32:
        for k, v in obj.items():
            yield from _flatten_state(v, f"{prefix}{k}.", depth + 1)
    else:
        yield prefix[:-1], obj


class _Torch(_Source):
    format = "torch"

    def __init__(self, path: Path) -> None:
        self.path = path
        if not torch_available():
            raise InputError(
                f"{path}: PyTorch checkpoint: torch is not installed; install torch "
                "(pip install 'hpscale[torch]'), or convert the checkpoint to .safetensors"
            )
        import torch  # optional dependency

        fh, self.size = _safe_open(path)
        fh.close()
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception as exc:  # torch raises many types for bad files; report one line
            try:  # legacy (non-zip) torch files cannot be memory-mapped
                state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception:
                raise InputError(f"{path}: cannot be loaded by torch (weights_only=True): "
                                 f"{_first_line(exc)}") from None
        self.by_name: dict[str, Any] = {}
        skipped: dict[str, list[str]] = {}
        seen_storage: dict[tuple[int, int, tuple[int, ...]], str] = {}
        self.aliases: dict[str, str] = {}
        floats = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
        for name, value in _flatten_state(state):
            if not isinstance(value, torch.Tensor):
                continue
            _check_name(name, str(path))
            if value.dtype in floats:
                key = (value.untyped_storage().data_ptr(), int(value.storage_offset()),
                       tuple(int(d) for d in value.shape))
                if key in seen_storage and value.numel():
                    self.aliases[name] = seen_storage[key]  # a tied weight saved twice
                seen_storage.setdefault(key, name)
                self.by_name[name] = value
            else:
                skipped.setdefault(str(value.dtype).replace("torch.", ""), []).append(name)
        self.tensors = [
            TensorInfo(n, tuple(int(d) for d in t.shape), str(t.dtype).replace("torch.", ""), path,
                       0, int(t.numel()) * t.element_size(), n)
            for n, t in self.by_name.items()
        ]
        self.warnings = [_skip_warning(d, names) for d, names in sorted(skipped.items())]
        self.skipped_names = {n for names in skipped.values() for n in names}

    def read_into(self, info: TensorInfo, buffer: np.ndarray) -> np.ndarray:
        import torch

        if os.stat(self.path).st_size < self.size:
            raise InputFileError(f"{self.path}: tensor {info.name!r}: the file shrank while being read")
        t = self.by_name[info.name].detach()
        dtype = np.float64 if t.dtype == torch.float64 else np.float32
        out = buffer[:info.float_bytes].view(dtype)
        try:
            torch.from_numpy(out).copy_(t.reshape(-1))
        except RuntimeError as exc:
            raise InputError(f"{self.path}: tensor {info.name!r}: cannot be read: {_first_line(exc)}") from None
        return out.reshape(info.shape)

    def close(self) -> None:
        self.by_name.clear()


# ---------------------------------------------------------------------------------------
# Files and directories
# ---------------------------------------------------------------------------------------


def _sniff(path: Path) -> str:
    """Format from the suffix, else from the first bytes."""
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return "safetensors"
    if suffix == ".npz":
        return "npz"
    if suffix in TORCH_SUFFIXES:
        return "torch"
    fh, size = _safe_open(path)
    with fh:
        head = fh.read(9)
    if head[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
            names = []
        return "torch" if any(n.endswith("data.pkl") for n in names) else "npz"
    if len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < size:
        return "safetensors"
    raise InputError(
        f"{path}: not a checkpoint: expected .safetensors, .npz or .pt/.pth/.bin "
        "(PyTorch, needs torch), or a Hugging Face model directory"
    )


def _open_file(path: Path) -> _Source:
    fmt = _sniff(path)
    if fmt == "safetensors":
        return _Safetensors(path)
    if fmt == "npz":
        return _Npz(path)
    return _Torch(path)


_WIDTH_KEYS = ("hidden_size", "n_embd", "d_model", "dim", "embed_dim")
_DEPTH_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers", "depth")
_HEAD_KEYS = ("num_attention_heads", "n_head", "num_heads", "n_heads")
_KV_KEYS = ("num_key_value_heads", "n_kv_heads", "num_kv_heads")


def read_model_config(path: Path) -> ModelInfo:
    """Width, depth, vocabulary, heads and tied embeddings from a Hugging Face ``config.json``.

    Keys (first present wins): width ``hidden_size``/``n_embd``/``d_model``/``dim``/
    ``embed_dim``; depth ``num_hidden_layers``/``n_layer``/``num_layers``/``n_layers``/
    ``depth``; ``vocab_size``; heads ``num_attention_heads``/``n_head``/…;
    ``num_key_value_heads``; ``head_dim``; ``model_type``. A multimodal config's
    ``text_config`` is read when the top level has no width. ``tied`` is
    ``tie_word_embeddings`` or None when absent (transformers then ties, its
    ``PretrainedConfig`` default; the scan assumes so only when no readout tensor is stored).
    """

    data = _read_json(path, "config.json")
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")
    source = data
    if not any(k in data for k in _WIDTH_KEYS) and isinstance(data.get("text_config"), dict):
        source = {**data["text_config"], **{k: v for k, v in data.items() if k == "tie_word_embeddings"}}

    def integer(keys: Sequence[str]) -> int | None:
        for key in keys:
            if key in source and source[key] is not None:
                value = source[key]
                if type(value) is not int or not 0 < value < 2**31:
                    raise InputError(f"{path}: {key}: {_shown(value, 40)}: expected a positive integer")
                return value
        return None

    tied = data.get("tie_word_embeddings")
    if tied is not None and not isinstance(tied, bool):
        raise InputError(f"{path}: tie_word_embeddings: {_shown(tied, 40)}: expected true or false")
    model_type = source.get("model_type", data.get("model_type"))
    return ModelInfo(
        width=integer(_WIDTH_KEYS),
        depth=integer(_DEPTH_KEYS),
        vocab_size=integer(("vocab_size",)),
        num_heads=integer(_HEAD_KEYS),
        num_kv_heads=integer(_KV_KEYS),
        head_dim=integer(("head_dim",)),
        tied=tied,
        model_type=model_type if isinstance(model_type, str) else None,
        source="config.json",
    )


@dataclass
class Checkpoint:
    """An opened checkpoint (a file or a model directory): its tensors and how to read them.

    ``read(info)`` returns a new float32/float64 array; ``read_into(info, buffer)`` decodes
    into ``buffer`` (a uint8 array of at least ``info.float_bytes``) and returns a view.
    """

    path: Path
    format: str
    tensors: list[TensorInfo]
    warnings: list[str] = field(default_factory=list)
    model: ModelInfo = field(default_factory=ModelInfo)
    files: list[Path] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    _sources: dict[Path, _Source] = field(default_factory=dict)

    def read_into(self, info: TensorInfo, buffer: np.ndarray) -> np.ndarray:
        return self._sources[info.file].read_into(info, buffer)

    def read(self, info: TensorInfo) -> np.ndarray:
        return self.read_into(info, np.empty(max(info.float_bytes, 1), dtype=np.uint8)).copy()

    def close(self) -> None:
        for source in self._sources.values():
            source.close()
        self._sources.clear()

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Open a checkpoint file or model directory for one-tensor-at-a-time reading.

    InputError (one line) on any problem: see the module docstring for what is checked.
    """
    p = Path(path)
    if stat.S_ISDIR(_stat(p, "checkpoint file or model directory").st_mode):
        return _open_directory(p)
    source = _open_file(p)
    return Checkpoint(p, source.format, list(source.tensors), list(source.warnings), ModelInfo(),
                      [p], dict(getattr(source, "aliases", {})), {p: source})


def _open_directory(folder: Path) -> Checkpoint:
    from hpscale.text import printable

    try:
        entries = sorted(os.listdir(folder))
    except OSError as exc:
        raise InputFileError(f"{folder}: cannot be listed: {exc.strerror or exc}") from None
    model = read_model_config(folder / "config.json") if "config.json" in entries else ModelInfo()
    indexes = [e for e in entries if e.endswith((".safetensors.index.json", ".bin.index.json"))]
    chosen: str
    for preferred in ("model.safetensors", "model.safetensors.index.json",
                      "pytorch_model.bin", "pytorch_model.bin.index.json"):  # transformers' order
        if preferred in entries:
            chosen = preferred
            break
    else:
        safetensor_indexes = [e for e in indexes if e.endswith(".safetensors.index.json")]
        singles = [e for e in entries if e.endswith(CHECKPOINT_SUFFIXES) and not _SHARD.match(e)]
        candidates = safetensor_indexes or indexes or singles
        if len(candidates) != 1:
            found = ", ".join(printable(c) for c in candidates[:5]) or "none"
            raise InputFileError(
                f"{folder}: a model directory needs model.safetensors, a *.safetensors.index.json "
                f"or pytorch_model.bin (or exactly one checkpoint file); found: {found}"
            )
        chosen = candidates[0]
    if chosen.endswith(".index.json"):
        return _open_sharded(folder, chosen, entries, model)
    source = _open_file(folder / chosen)
    try:
        return Checkpoint(folder, f"{source.format} directory", list(source.tensors),
                          list(source.warnings), model, [source.path],
                          dict(getattr(source, "aliases", {})), {source.path: source})
    except BaseException:
        source.close()
        raise


def _open_sharded(folder: Path, index_name: str, entries: list[str], model: ModelInfo) -> Checkpoint:

    index_path = folder / index_name
    data = _read_json(index_path, "index file")
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise InputError(f"{index_path}: weight_map: expected an object of tensor name → shard file")
    shards = sorted(set(weight_map.values()))
    for shard in shards:
        if shard != os.path.basename(shard) or shard in ("", ".", "..") or "\\" in shard:
            raise InputError(f"{index_path}: shard {_shown(shard)}: expected a file name in "
                             "the same directory")
        if shard not in entries:
            example = next(n for n, s in weight_map.items() if s == shard)
            raise InputFileError(f"{folder / shard}: missing shard (the index lists it for "
                                 f"{_shown(example)} and others)")
    kind = "safetensors" if index_name.endswith(".safetensors.index.json") else "bin"
    listed = set(shards)
    for entry in entries:
        match = _SHARD.match(entry)
        if match and match.group(4) == kind and entry not in listed:
            raise InputFileError(f"{folder / entry}: a shard the index {index_name} does not list "
                                 "(left over from another save?)")
    sources: dict[Path, _Source] = {}
    try:
        tensors: list[TensorInfo] = []
        warnings: list[str] = []
        aliases: dict[str, str] = {}
        stored_in: dict[str, str] = {}
        for shard in shards:
            source = _open_file(folder / shard)
            sources[source.path] = source
            warnings += [f"{shard}: {w}" for w in source.warnings]
            aliases.update(getattr(source, "aliases", {}))
            for info in source.tensors:
                if info.name in stored_in:
                    raise InputError(f"{folder}: tensor {_shown(info.name)} is stored twice: "
                                     f"in {stored_in[info.name]} and {shard}")
                stored_in[info.name] = shard
                mapped = weight_map.get(info.name)
                if mapped is None:
                    raise InputError(f"{folder / shard}: tensor {_shown(info.name)} is not "
                                     f"listed in {index_name}")
                if mapped != shard:
                    raise InputError(f"{folder}: tensor {_shown(info.name)}: the index maps "
                                     f"it to {mapped}, but it is stored in {shard}")
                tensors.append(info)
        decoded = {t.name for t in tensors}
        stored_other = _names_in_warnings(sources)
        for name, shard in weight_map.items():
            if name not in decoded and name not in stored_other:
                raise InputError(f"{folder / shard}: tensor {_shown(name)} is listed in "
                                 f"{index_name} but the shard does not contain it")
        fmt = sources[folder / shards[0]].format if shards else "safetensors"
        return Checkpoint(folder, f"{fmt}, {len(shards)} shards", tensors, warnings, model,
                          [folder / s for s in shards], aliases, sources)
    except BaseException:
        for source in sources.values():
            source.close()
        raise


def _names_in_warnings(sources: dict[Path, _Source]) -> set[str]:
    """Names of tensors a source skipped (integer dtypes…): stored, but not decoded."""
    names: set[str] = set()
    for source in sources.values():
        names |= source.skipped_names
    return names


# ---------------------------------------------------------------------------------------
# Scan
# ---------------------------------------------------------------------------------------


@dataclass
class Scan:
    """Every tensor of one checkpoint with its group and statistics, plus warnings and notes.

    ``notes`` are informational lines (tied embeddings, tensors grouped by shape); warnings
    are problems (non-finite tensors, skipped dtypes, unmatched names).
    """

    path: Path
    format: str
    records: list[TensorRecord]
    warnings: list[str]
    model: ModelInfo = field(default_factory=ModelInfo)
    notes: list[str] = field(default_factory=list)
    files: int = 1
    bytes_read: int = 0

    def to_json_dict(self) -> dict[str, object]:
        """The JSON contract of ``hpscale spectrum --format json`` for one checkpoint."""
        return {"schema_version": SCHEMA_VERSION, "mode": "scan", **self._fields(), "warnings": list(self.warnings)}

    def _fields(self) -> dict[str, object]:
        """The scan's own fields (a compare holds two of them under ``proxy`` and ``target``)."""
        m = self.model
        return {
            "checkpoint": str(self.path),
            "format": self.format,
            "files": self.files,
            "model": {"width": m.width, "depth": m.depth, "vocab_size": m.vocab_size,
                      "tied_embeddings": m.tied, "model_type": m.model_type, "source": m.source},
            "tensors": [r.to_json() for r in self.records],
            "groups": group_summary(self.records),
            "notes": list(self.notes),
        }


def resolve_device(device: str | None) -> Any:
    """None (numpy on the CPU) or a ``torch.device`` that exists here; InputError otherwise."""
    if device is None:
        return None
    from hpscale.extras import require

    torch = require("torch", "--device")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"--device: {device!r}: not a torch device ({_first_line(exc)}); "
                         "e.g. cpu, cuda, cuda:1") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device: {device!r}: no CUDA device is available to torch")
    if dev.type not in ("cpu", "cuda") and not hasattr(torch, dev.type):
        raise InputError(f"--device: {device!r}: unsupported device type")
    return dev


def _natural(name: str) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", name))


def _tie(ckpt: Checkpoint, placements: dict[str, Placement], notes: list[str], warnings: list[str]) -> set[str]:
    """Mark the tied input embedding; return names of tensors not to read (tied duplicates)."""
    model = ckpt.model
    tok = [n for n, p in placements.items() if p.group == "embedding" and p.role == "tok_embed" and p.layer is None]
    heads = [n for n, p in placements.items() if p.group == "readout" and p.role == "readout" and p.layer is None]
    shapes = {t.name: t.shape for t in ckpt.tensors}
    skip: set[str] = set()
    if len(tok) != 1:
        return skip
    emb = tok[0]
    aliased = [h for h in heads if ckpt.aliases.get(h) == emb or ckpt.aliases.get(emb) == h]
    if aliased or (heads and model.tied and len(heads) == 1 and shapes[heads[0]] == shapes[emb]):
        for h in aliased or heads:
            skip.add(h)
            why = "the same storage" if aliased else "config.json tie_word_embeddings"
            notes.append(f"{h} is tied to {emb} ({why}): reported once, as the embedding")
        placements[emb] = replace(placements[emb], tied=True, role="tok_embed (tied)")
    elif not heads:
        if model.tied is False:
            warnings.append(f"config.json says tie_word_embeddings is false, but no readout tensor "
                            f"was found; {emb} is reported as the input embedding only")
        else:
            placements[emb] = replace(placements[emb], tied=True, role="tok_embed (tied)")
            source = "config.json" if model.tied else "no readout tensor found"
            notes.append(f"{emb} serves as input embedding and readout (tied: {source})")
    return skip


def _short_list(names: Sequence[str], limit: int = 5) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _measure(array: np.ndarray, placement: Placement, device: Any, rtol: float) -> list[
        tuple[str | None, int | None, tuple[int, int], MatrixStats]]:
    out = []
    for label, expert, matrix in tensor_matrices(array, placement):
        if device is not None:
            import torch

            matrix = torch.from_numpy(np.ascontiguousarray(matrix)).to(device)
        stats = matrix_stats(matrix, rtol=rtol)
        out.append((label, expert, (int(matrix.shape[0]), int(matrix.shape[1])), stats))
    return out


def scan_checkpoint(
    path: str | os.PathLike[str],
    grouper: Grouper | None = None,
    *,
    device: str | None = None,
    rtol: float = SIGMA_RTOL,
    on_open: Callable[[int, int], None] | None = None,
    on_tensor: Callable[[int, int, str], None] | None = None,
    prefetch: bool = True,
) -> Scan:
    """Group every tensor and measure σ_top, ‖W‖_F and stable rank of each matrix.

    Vectors are listed without statistics and never read. The matrices are read in file
    order by a second thread into two reused buffers while this thread computes on the
    previous one (``prefetch``), so reading overlaps the linear algebra and peak memory is
    about twice the largest tensor's float32 size. ``device`` ("cpu", "cuda", …) runs the
    linear algebra through torch on that device. ``on_open(matrices, bytes)`` is called once
    the tensors to read are known, ``on_tensor(done, bytes_done, name)`` after each.
    """
    dev = resolve_device(device)
    grouper = grouper or Grouper()
    with open_checkpoint(path) as ckpt:
        if not ckpt.tensors:
            raise InputError(f"{ckpt.path}: no float16/bfloat16/float32/float64 tensors found")
        grouper = grouper.for_tensors([t.shape for t in ckpt.tensors], ckpt.model if ckpt.model.source != "none" else None)
        placements = {t.name: grouper.place(t.name, t.shape) for t in ckpt.tensors}
        warnings = list(ckpt.warnings)
        notes: list[str] = []
        skip = _tie(ckpt, placements, notes, warnings)
        work = [t for t in ckpt.tensors if placements[t.name].group != "vector" and t.name not in skip]
        stats_of = _run(ckpt, work, placements, dev, rtol, on_open, on_tensor, prefetch)
        records: list[TensorRecord] = []
        for info in sorted(ckpt.tensors, key=lambda t: _natural(t.name)):
            if info.name in skip:
                continue
            records += records_for(info.name, info.shape, info.dtype, placements[info.name],
                                   stats_of.get(info.name, []))
        _scan_notes(records, placements, grouper.model, notes, warnings)
        return Scan(ckpt.path, ckpt.format, records, warnings, grouper.model, notes,
                    len(ckpt.files), sum(t.nbytes for t in work))


def _run(ckpt: Checkpoint, work: list[TensorInfo], placements: dict[str, Placement], device: Any,
         rtol: float, on_open: Callable[[int, int], None] | None,
         on_tensor: Callable[[int, int, str], None] | None, prefetch: bool) -> dict[str, list[Any]]:
    total_bytes = sum(t.nbytes for t in work)
    if on_open is not None:
        on_open(len(work), total_bytes)
    results: dict[str, list[Any]] = {}
    if not work:
        return results
    size = max(t.float_bytes for t in work)
    buffers = [np.empty(size, dtype=np.uint8) for _ in range(2 if prefetch else 1)]
    done_bytes = 0
    for index, (info, array, release) in enumerate(_pipeline(ckpt, work, buffers), 1):
        try:
            results[info.name] = _measure(array, placements[info.name], device, rtol)
        finally:
            del array
            release()
        done_bytes += info.nbytes
        if on_tensor is not None:
            on_tensor(index, done_bytes, info.name)
    return results


def _pipeline(ckpt: Checkpoint, work: list[TensorInfo], buffers: list[np.ndarray]) -> Iterator[
        tuple[TensorInfo, np.ndarray, Callable[[], None]]]:
    """Yield (info, array, release) in order; with two buffers a thread reads the next
    tensor while the caller works on the current one (numpy, BLAS and file reads release
    the GIL). ``release()`` hands the buffer back."""
    if len(buffers) == 1:
        for info in work:
            yield info, ckpt.read_into(info, buffers[0]), lambda: None
        return
    free: queue.Queue[np.ndarray | None] = queue.Queue()
    ready: queue.Queue[Any] = queue.Queue()
    for buffer in buffers:
        free.put(buffer)
    stop = threading.Event()

    def reader() -> None:
        try:
            for info in work:
                buffer = free.get()
                if stop.is_set() or buffer is None:
                    return
                ready.put((info, ckpt.read_into(info, buffer), buffer))
            ready.put(None)
        except BaseException as exc:  # handed to the caller's thread
            ready.put(exc)

    thread = threading.Thread(target=reader, name="hpscale-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            info, array, buffer = item
            yield info, array, functools.partial(free.put, buffer)
    finally:
        stop.set()
        free.put(None)
        thread.join()


def _scan_notes(records: list[TensorRecord], placements: dict[str, Placement], model: ModelInfo,
                notes: list[str], warnings: list[str]) -> None:
    by_shape = [n for n, p in placements.items() if p.grouped_by == "shape"]
    if by_shape:
        width = f"width {model.width} from {model.source}" if model.width else "no width"
        notes.append(
            f"{len(by_shape)} tensor name(s) not known to the built-in rules, grouped by shape "
            f"({width}; set --group GROUP=REGEX to override): "
            + _short_list([f"{n} → {placements[n].group}" for n in sorted(by_shape, key=_natural)], 3)
        )
    unmatched = sorted({r.tensor for r in records if r.group == UNMATCHED}, key=_natural)
    if unmatched:
        warnings.append(
            f"{len(unmatched)} matrix name(s) match no rule and no shape, reported as "
            "'unmatched' and left out of comparisons (add --group GROUP=REGEX): " + _short_list(unmatched)
        )
    nonfinite = [r.name for r in records if r.stats is not None and not r.stats.finite]
    if nonfinite:
        warnings.append(f"{len(nonfinite)} matrix(es) hold NaN or inf, σ reported as null: "
                        + _short_list(nonfinite))
    unconverged = [r.name for r in records if r.stats is not None and r.stats.finite and not r.stats.converged]
    if unconverged:
        warnings.append(f"σ_top did not reach its tolerance for {len(unconverged)} matrix(es) "
                        "(the value is a lower bound): " + _short_list(unconverged))


@dataclass
class CheckpointComparison:
    """A proxy scan, a target scan and their :class:`~hpscale.core.spectrum.Comparison`
    (what ``hpscale.compare_checkpoints`` returns); ``warnings`` gathers all three's."""

    proxy: Scan
    target: Scan
    comparison: Any
    warnings: list[str] = field(default_factory=list)

    def to_json_dict(self) -> dict[str, object]:
        """The JSON contract of ``hpscale spectrum --compare --format json``."""
        return {"schema_version": SCHEMA_VERSION, "mode": "compare", "proxy": self.proxy._fields(),
                "target": self.target._fields(), "compare": self.comparison.to_json(),
                "warnings": list(self.warnings)}
