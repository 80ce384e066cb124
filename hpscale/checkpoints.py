"""Checkpoint readers that hand out one tensor at a time as a float numpy array.

Formats:

* **safetensors** — parsed here by hand: an 8-byte little-endian u64 header length N, N
  bytes of JSON ``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__":
  {...}}``, then the data; offsets are relative to the end of the header. Each tensor is
  memory-mapped on its own (``mmap`` of its page-aligned byte span + ``np.frombuffer``) and
  unmapped when the array is dropped, so a scan holds one tensor at a time. bfloat16 is
  decoded exactly: a bf16 value is the upper 16 bits of a float32, so uint16 → uint32,
  shift left 16, view as float32. (The ``safetensors`` package's numpy API cannot return
  bf16, and hpscale takes no dependency for a 60-line format.)
* **npz** — ``numpy.load(..., allow_pickle=False)`` returns a lazy ``NpzFile``: each
  member is decompressed only when indexed, one at a time. Shapes and dtypes are listed up
  front from each member's .npy header without reading the data. Object (pickled) members
  are refused.
* **PyTorch** ``.pt``/``.pth``/``.bin`` — only when torch is importable; loaded with
  ``torch.load(path, map_location="cpu", weights_only=True, mmap=True)`` (no arbitrary
  pickles; storage memory-mapped), nested state dicts flattened with dotted names.

Every problem with the file raises :class:`hpscale.errors.InputError` with one line.
"""

from __future__ import annotations

import importlib.util
import json
import math
import mmap
import os
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hpscale.core.spectrum import (
    UNMATCHED,
    Grouper,
    MatrixStats,
    TensorRecord,
    group_summary,
    matrix_stats,
)
from hpscale.errors import InputError, InputFileError

MAX_HEADER_BYTES = 100 * 1024 * 1024
"""A safetensors JSON header larger than this is refused (the format itself caps it at 100 MB)."""

# safetensors dtype → (numpy dtype of the stored bytes, item size). Decoded to float32/64.
_ST_FLOAT = {"F64": ("<f8", 8), "F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": ("<u2", 2)}
# Known safetensors dtypes that are not decoded: skipped with a warning.
_ST_OTHER = {
    "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "F4": 1, "F6_E2M3": 1, "F6_E3M2": 1,
    "I8": 1, "U8": 1, "I16": 2, "U16": 2, "I32": 4, "U32": 4, "I64": 8, "U64": 8, "BOOL": 1,
    "C64": 8,
}
TORCH_SUFFIXES = (".pt", ".pth", ".bin")


def bf16_to_float32(raw: np.ndarray) -> np.ndarray:
    """Exact bfloat16 → float32: bf16 bits are the top half of the float32 bits.

    ``raw`` holds the bf16 bit patterns as uint16; the result is a new float32 array of
    the same shape (NaN payloads and ±inf are kept bit-for-bit).
    """
    out = raw.astype(np.uint32)
    out <<= 16
    return out.view(np.float32)


@dataclass(frozen=True)
class TensorInfo:
    """Name, shape and stored dtype (format's own spelling) of one tensor."""

    name: str
    shape: tuple[int, ...]
    dtype: str


@dataclass
class Checkpoint:
    """An opened checkpoint: the tensors it can decode, and warnings about the others.

    ``read(name)`` returns a float32/float64 array; for safetensors F32/F64 it is a
    read-only view of a private memory map that is unmapped when the array is released.
    """

    path: Path
    format: str
    tensors: list[TensorInfo]
    warnings: list[str] = field(default_factory=list)
    _reader: Callable[[TensorInfo], np.ndarray] | None = None
    _closer: Callable[[], None] | None = None

    def read(self, info: TensorInfo) -> np.ndarray:
        assert self._reader is not None
        return self._reader(info)

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
            self._closer = None

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_path(path: Path) -> int:
    if not path.exists():
        raise InputFileError(f"{path}: not found: expected a checkpoint file")
    if path.is_dir():
        raise InputFileError(
            f"{path}: is a directory: expected a checkpoint file, e.g. {path / 'model.safetensors'}"
        )
    try:
        size = path.stat().st_size
        with path.open("rb"):
            pass
    except OSError as exc:
        raise InputFileError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    return size


def _sniff(path: Path, size: int) -> str:
    """Format from the suffix, else from the first bytes."""
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return "safetensors"
    if suffix == ".npz":
        return "npz"
    if suffix in TORCH_SUFFIXES:
        return "torch"
    with path.open("rb") as fh:
        head = fh.read(9)
    if head[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError):
            names = []
        if any(n.endswith("data.pkl") for n in names):
            return "torch"
        return "npz"
    if len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < size:
        return "safetensors"
    raise InputError(
        f"{path}: not a checkpoint: expected .safetensors, .npz or .pt/.pth/.bin "
        "(PyTorch, needs torch)"
    )


def open_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Open a checkpoint for one-tensor-at-a-time reading; InputError on any problem."""
    p = Path(path)
    size = _check_path(p)
    fmt = _sniff(p, size)
    if fmt == "safetensors":
        return _open_safetensors(p, size)
    if fmt == "npz":
        return _open_npz(p)
    return _open_torch(p)


# ---------------------------------------------------------------------------------------
# safetensors
# ---------------------------------------------------------------------------------------


def _open_safetensors(path: Path, size: int) -> Checkpoint:
    where = f"{path}: safetensors header"
    if size < 8:
        raise InputError(f"{where}: file is {size} bytes: need at least 8 (truncated?)")
    with path.open("rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        if n > MAX_HEADER_BYTES:
            raise InputError(f"{where}: declares {n} bytes: at most {MAX_HEADER_BYTES} accepted")
        if 8 + n > size:
            raise InputError(
                f"{where}: declares {n} bytes but the file has {size - 8} after the length "
                "(truncated, or not a safetensors file)"
            )
        raw = fh.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{where}: not valid JSON ({exc.__class__.__name__}): corrupt file?") from None
    if not isinstance(header, dict):
        raise InputError(f"{where}: JSON {type(header).__name__}: expected an object")
    data_start = 8 + n
    data_len = size - data_start
    tensors: list[TensorInfo] = []
    spans: dict[str, tuple[int, int, str]] = {}
    skipped: dict[str, list[str]] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict):
            raise InputError(f"{where}: tensor {name!r}: entry is not an object")
        dtype = entry.get("dtype")
        shape = entry.get("shape")
        offsets = entry.get("data_offsets")
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise InputError(f"{where}: tensor {name!r} shape {shape!r}: expected a list of ints ≥ 0")
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(isinstance(o, int) for o in offsets)
            and 0 <= offsets[0] <= offsets[1]
        ):
            raise InputError(f"{where}: tensor {name!r} data_offsets {offsets!r}: expected [begin, end]")
        if offsets[1] > data_len:
            raise InputError(
                f"{where}: tensor {name!r} ends at byte {offsets[1]} of the data: the file has "
                f"{data_len} data bytes (truncated?)"
            )
        if dtype in _ST_FLOAT:
            itemsize = _ST_FLOAT[dtype][1]
        elif dtype in _ST_OTHER:
            itemsize = _ST_OTHER[dtype]
        else:
            allowed = ", ".join([*_ST_FLOAT, *_ST_OTHER])
            raise InputError(f"{where}: tensor {name!r} dtype {dtype!r}: allowed {allowed}")
        count = math.prod(shape)
        if dtype not in ("F4", "F6_E2M3", "F6_E3M2"):  # sub-byte types pack; no simple check
            if count * itemsize != offsets[1] - offsets[0]:
                raise InputError(
                    f"{where}: tensor {name!r}: shape {shape} × {itemsize} bytes = "
                    f"{count * itemsize}, but data_offsets span {offsets[1] - offsets[0]} bytes"
                )
        if dtype not in _ST_FLOAT:
            skipped.setdefault(dtype, []).append(name)
            continue
        info = TensorInfo(name, tuple(shape), dtype)
        tensors.append(info)
        spans[name] = (data_start + offsets[0], offsets[1] - offsets[0], dtype)
    warnings = [_skip_warning(dtype, names) for dtype, names in sorted(skipped.items())]

    def read(info: TensorInfo) -> np.ndarray:
        start, length, dtype = spans[info.name]
        np_dtype = np.dtype(_ST_FLOAT[dtype][0])
        if length == 0:
            return np.zeros(info.shape, np.float32 if dtype != "F64" else np.float64)
        base = start - start % mmap.ALLOCATIONGRANULARITY
        try:
            with path.open("rb") as fh:
                mm = mmap.mmap(
                    fh.fileno(), start - base + length, access=mmap.ACCESS_READ, offset=base
                )
        except (OSError, ValueError) as exc:
            raise InputFileError(f"{path}: tensor {info.name!r}: cannot map: {exc}") from None
        # The array keeps the mmap alive; the map is released with the last view.
        arr = np.frombuffer(mm, dtype=np_dtype, count=length // np_dtype.itemsize, offset=start - base)
        arr = arr.reshape(info.shape)
        if dtype == "BF16":
            return bf16_to_float32(arr)
        if dtype == "F16":
            return arr.astype(np.float32)
        return arr

    return Checkpoint(path, "safetensors", tensors, warnings, read)


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


def _npy_header(zf: zipfile.ZipFile, member: str) -> tuple[tuple[int, ...], np.dtype]:
    with zf.open(member) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    return tuple(int(d) for d in shape), np.dtype(dtype)


def _open_npz(path: Path) -> Checkpoint:
    try:
        zf = zipfile.ZipFile(path)
        members = [m for m in zf.namelist() if m.endswith(".npy")]
        headers = {m: _npy_header(zf, m) for m in members}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise InputError(f"{path}: not a readable npz archive: {exc}") from None
    tensors: list[TensorInfo] = []
    skipped: dict[str, list[str]] = {}
    for member, (shape, dtype) in headers.items():
        name = member[: -len(".npy")]
        if dtype.kind == "f" and dtype.itemsize in (2, 4, 8):
            tensors.append(TensorInfo(name, shape, dtype.name))
        else:
            label = "object" if dtype.hasobject else dtype.str
            skipped.setdefault(label, []).append(name)
    zf.close()
    warnings = [_skip_warning(d, names) for d, names in sorted(skipped.items())]
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable npz archive: {exc}") from None

    def read(info: TensorInfo) -> np.ndarray:
        try:
            arr = npz[info.name]
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise InputError(f"{path}: member {info.name!r}: cannot be read: {exc}") from None
        return arr.astype(np.float32) if arr.dtype == np.float16 else arr

    return Checkpoint(path, "npz", tensors, warnings, read, npz.close)


# ---------------------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------------------


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def _flatten_state(obj: object, prefix: str = "") -> Iterator[tuple[str, object]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _flatten_state(v, f"{prefix}{k}.")
    else:
        yield prefix[:-1], obj


def _open_torch(path: Path) -> Checkpoint:
    if not torch_available():
        raise InputError(
            f"{path}: PyTorch checkpoint: torch is not installed; install torch, or convert "
            "the checkpoint to .safetensors (or .npz)"
        )
    import torch  # optional dependency

    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # torch raises many types for bad files; report one line
        try:  # legacy (non-zip) torch files cannot be memory-mapped
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"{path}: cannot be loaded by torch (weights_only=True): {first}") from None
    tensors_by_name: dict[str, object] = {}
    skipped: dict[str, list[str]] = {}
    for name, value in _flatten_state(state):
        if not isinstance(value, torch.Tensor):
            continue
        if value.is_floating_point() and value.dtype in (
            torch.float16, torch.bfloat16, torch.float32, torch.float64
        ):
            tensors_by_name[name] = value
        else:
            skipped.setdefault(str(value.dtype).replace("torch.", ""), []).append(name)
    tensors = [
        TensorInfo(n, tuple(int(d) for d in t.shape), str(t.dtype).replace("torch.", ""))  # type: ignore[attr-defined]
        for n, t in tensors_by_name.items()
    ]
    warnings = [_skip_warning(d, names) for d, names in sorted(skipped.items())]

    def read(info: TensorInfo) -> np.ndarray:
        t = tensors_by_name[info.name].detach()  # type: ignore[attr-defined]
        if t.dtype != torch.float64:
            t = t.to(torch.float32)
        return t.contiguous().numpy()

    return Checkpoint(path, "torch", tensors, warnings, read, tensors_by_name.clear)


# ---------------------------------------------------------------------------------------
# Scan
# ---------------------------------------------------------------------------------------


@dataclass
class Scan:
    """Every tensor of one checkpoint with its group and statistics, plus warnings."""

    path: Path
    format: str
    records: list[TensorRecord]
    warnings: list[str]

    def to_json(self) -> dict[str, object]:
        return {
            "checkpoint": str(self.path),
            "format": self.format,
            "tensors": [r.to_json() for r in self.records],
            "groups": group_summary(self.records),
        }


def _measure(ckpt: Checkpoint, info: TensorInfo) -> MatrixStats:
    # A function of its own so the array (and its memory map) is released on return,
    # before the next tensor is read: peak memory stays at about one tensor.
    return matrix_stats(ckpt.read(info))


def scan_checkpoint(
    path: str | os.PathLike[str],
    grouper: Grouper | None = None,
    on_tensor: Callable[[int, int, str], None] | None = None,
    on_open: Callable[[int], None] | None = None,
) -> Scan:
    """Group every tensor and measure σ_top, ‖W‖_F and stable rank of each matrix.

    Vectors (group ``vector``) are listed without statistics and without being read.
    ``on_open(total)`` is called once the tensor list is known and ``on_tensor(done,
    total, name)`` after each tensor (progress display). Warnings: unmatched names (one
    line listing them), non-finite tensors, non-converged σ, skipped dtypes.
    """
    grouper = grouper or Grouper()
    with open_checkpoint(path) as ckpt:
        warnings = list(ckpt.warnings)
        records: list[TensorRecord] = []
        total = len(ckpt.tensors)
        if total == 0:
            raise InputError(f"{ckpt.path}: no float16/bfloat16/float32/float64 tensors found")
        if on_open is not None:
            on_open(total)
        unmatched: list[str] = []
        nonfinite: list[str] = []
        unconverged: list[str] = []
        for i, info in enumerate(ckpt.tensors, 1):
            group = grouper.group_of(info.name, info.shape)
            stats = None
            if group != "vector":
                stats = _measure(ckpt, info)
                if not stats.finite:
                    nonfinite.append(info.name)
                elif not stats.converged:
                    unconverged.append(info.name)
            if group == UNMATCHED:
                unmatched.append(info.name)
            records.append(TensorRecord(info.name, info.shape, info.dtype, group, stats))
            if on_tensor is not None:
                on_tensor(i, total, info.name)
        if unmatched:
            warnings.append(
                f"{len(unmatched)} matrix name(s) match no group pattern, reported as "
                f"'unmatched' and left out of comparisons (add --group GROUP=REGEX): "
                + _short_list(unmatched)
            )
        if nonfinite:
            warnings.append(
                f"{len(nonfinite)} tensor(s) hold NaN or inf, σ reported as null: "
                + _short_list(nonfinite)
            )
        if unconverged:
            warnings.append(
                f"σ_top did not reach the 1e-3 residual for {len(unconverged)} tensor(s) "
                "(value is a lower bound): " + _short_list(unconverged)
            )
        return Scan(ckpt.path, ckpt.format, records, warnings)


def _short_list(names: Sequence[str], limit: int = 5) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more
