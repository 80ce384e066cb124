"""What every checkpoint format shares: the tensor record, safe opening and reading of
regular files, strict JSON, names as they go into messages, and the reader interface
(:class:`Source`) that each format module implements.

Only regular files are opened (a FIFO or device would block or never end). Every problem
raises :class:`hpscale.errors.InputError` with one line.
"""

from __future__ import annotations

import io
import json
import math
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpscale.core.spectrum import MAX_NAME_CHARS
from hpscale.core.widen import widen_bf16, widen_f16
from hpscale.errors import InputError, InputFileError

MAX_JSON_BYTES = 64 * 1024 * 1024
"""config.json and index files larger than this are refused."""
MAX_DIMS = 64
"""Most dimensions a tensor may declare (torch and numpy allow 64)."""

_CHUNK = 1 << 20  # elements per step of in-place widening


def bf16_to_float32(raw: np.ndarray) -> np.ndarray:
    """Exact bfloat16 → float32: bf16 bits are the top half of the float32 bits.

    ``raw`` holds the bf16 bit patterns as uint16; the result is a new float32 array of
    the same shape (NaN payloads and ±inf are kept bit-for-bit).
    """
    return widen_bf16(raw, np.empty(raw.shape, dtype=np.float32))


def native_u16(region: np.ndarray) -> np.ndarray:
    """Little-endian 16-bit words (a file's bytes) as native uint16, swapped in place on a
    big-endian host: the widenings of ``hpscale.core.widen`` read native uint16."""
    words = region.view("<u2")
    return words if words.dtype.isnative else words.byteswap(inplace=True).view(np.uint16)


def widen_in_place(buffer: np.ndarray, count: int, kind: str) -> np.ndarray:
    """Widen ``count`` 16-bit values stored in bytes [2·count, 4·count) of ``buffer`` to
    float32 in bytes [0, 4·count). Ascending chunks never overwrite values not yet read
    (chunk [a, b) writes bytes < 4b ≤ 2·count + 2b); numpy buffers the overlap inside a
    chunk."""
    out = buffer[:4 * count].view(np.float32)
    src = native_u16(buffer[2 * count:4 * count])
    scratch = np.empty(min(count, _CHUNK) if kind != "BF16" else 0, dtype=np.uint32)
    for start in range(0, count, _CHUNK):
        stop = min(count, start + _CHUNK)
        if kind == "BF16":
            widen_bf16(src[start:stop], out[start:stop])
        else:  # exact, ~2× numpy's float16 cast (hpscale.core.widen)
            widen_f16(src[start:stop], out[start:stop], scratch[:stop - start])
    return out


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
    def is_bf16(self) -> bool:
        """Stored as bfloat16 (``read_into(..., bf16_bits=True)`` returns its bit patterns)."""
        return self.dtype in ("BF16", "bfloat16")

    def read_bytes(self, bf16_bits: bool) -> int:
        """Bytes of buffer ``read_into`` needs: the stored bytes for bf16 read as bits, else
        :attr:`float_bytes`."""
        return self.nbytes if bf16_bits and self.is_bf16 else self.float_bytes

    @property
    def float_bytes(self) -> int:
        """Bytes of the decoded array (float64 stays float64, everything else float32)."""
        return self.count * (8 if self.dtype.rstrip("F") in ("F64", "float64", "<f8", ">f8") else 4)


def stat_path(path: Path, what: str) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError:
        raise InputFileError(f"{path}: not found: expected a {what}") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot be read: {exc.strerror or exc}") from None


def safe_open(path: Path, what: str = "checkpoint file") -> tuple[io.FileIO, int]:
    """Open a regular file for reading; refuse anything else without blocking on it."""
    st = stat_path(path, what)
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


def read_exact(fh: io.FileIO | Any, view: memoryview, path: Path, what: str) -> None:
    got = 0
    total = len(view)
    while got < total:
        n = fh.readinto(view[got:])
        if not n:
            raise InputFileError(
                f"{path}: {what}: the file ended after {got} of {total} bytes (truncated while being read?)"
            )
        got += n


def read_json(path: Path, what: str) -> Any:
    fh, size = safe_open(path, what)
    with fh:
        if size > MAX_JSON_BYTES:
            raise InputFileError(f"{path}: {size} bytes: at most {MAX_JSON_BYTES} accepted for a {what}")
        raw = fh.read(size + 1)
    return parse_json(raw, f"{path}")


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


MAX_INT_DIGITS = 400
"""Longest integer literal read from a JSON file (every field's range is far below it;
Python refuses to convert more than 4,300 digits)."""


class _HugeInt:
    """An integer literal longer than :data:`MAX_INT_DIGITS`, kept unconverted."""

    def __init__(self, text: str) -> None:
        self.digits = len(text.lstrip("-"))


def _parse_int(text: str) -> int | _HugeInt:
    return _HugeInt(text) if len(text) > MAX_INT_DIGITS else int(text)


def _find_huge(value: Any, at: str = "", depth: int = 0) -> tuple[str, _HugeInt] | None:
    """The first over-long integer in a parsed document and its dotted field path."""
    if isinstance(value, _HugeInt):
        return at or "(top level)", value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if depth < 64:
            found = _find_huge(item, f"{at}.{key}" if at else str(key), depth + 1)
            if found is not None:
                return found
    return None


def parse_json(raw: bytes, where: str) -> Any:
    """Strict JSON: no duplicate keys, bounded nesting, integers of at most
    :data:`MAX_INT_DIGITS` digits (each refusal one line naming ``where`` and the field)."""
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_int=_parse_int)
    except _Duplicate as dup:
        raise InputError(f"{where}: key {shown(dup.key)} appears twice") from None
    except RecursionError:
        raise InputError(f"{where}: JSON nested too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{where}: not valid JSON ({exc.__class__.__name__}): corrupt file?") from None
    huge = _find_huge(data)
    if huge is not None:
        field, value = huge
        raise InputError(f"{where}: {shown(field)}: an integer of {value.digits} digits: "
                         f"at most {MAX_INT_DIGITS} accepted")
    return data


def check_backed(label: str, shape: Sequence[int], what: str, itemsize: int, available: int,
                 holder: str, *, exact: bool = True, reach: int | None = None) -> None:
    """Refuse a tensor whose declared shape needs more bytes than the data behind it (or,
    with ``exact``, other than it): every format checks this before reading, so memory is
    bounded by the file. ``reach`` is the byte just past the furthest element a strided
    view touches (torch), checked against ``available`` too."""
    needed = math.prod(shape) * itemsize
    if needed != available if exact else needed > available:
        raise InputError(f"{label}: shape {list(shape)} of {what} needs {needed} bytes, "
                         f"{holder} holds {available}")
    if reach is not None and reach > available:
        raise InputError(f"{label}: shape {list(shape)} with strides reaching byte {reach}: "
                         f"{holder} holds {available}")


def shown(name: object, limit: int = 80) -> str:
    """A name from a file as it goes into a message (``hpscale.text.shown``)."""
    from hpscale.text import shown as _shown

    return _shown(name, limit)


def check_name(name: str, where: str) -> None:
    from hpscale.text import printable

    if len(name) > MAX_NAME_CHARS:
        raise InputError(f"{where}: tensor name of {len(name)} characters "
                         f"({printable(name[:40])}…): at most {MAX_NAME_CHARS}")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{where}: tensor name {shown(name)} is not valid Unicode "
                         "(a lone surrogate)") from None


class Source:
    """One checkpoint file: its tensors and how to read one into a buffer."""

    path: Path
    format: str
    tensors: list[TensorInfo]
    warnings: list[str]
    skipped_names: set[str] = set()  # stored but not decoded (integer dtypes, objects)

    def read_into(self, info: TensorInfo, buffer: np.ndarray, *,
                  bf16_bits: bool = False) -> np.ndarray:  # pragma: no cover
        """Decode one tensor into ``buffer`` (uint8, at least ``info.read_bytes(bf16_bits)``)
        and return a view: float32 (float64 stays float64), or, with ``bf16_bits``, a bfloat16
        tensor as its uint16 bit patterns, never widened (``hpscale spectrum`` widens them a
        tile at a time: ``hpscale.core.sigma_passes.HostTiles``)."""
        raise NotImplementedError

    def close(self) -> None:
        pass


def skip_warning(dtype: str, names: Sequence[str]) -> str:
    listed = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    if dtype == "object":
        return f"skipped {len(names)} object array(s) (pickles are refused): {listed}"
    return (
        f"skipped {len(names)} tensor(s) of dtype {dtype} (only float16, bfloat16, float32 "
        f"and float64 are analysed): {listed}"
    )


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass(frozen=True)


class Format:
    """One checkpoint format, as the registry (:mod:`hpscale.checkpoints.registry`) sees it.

    ``suffixes`` claim a file by its name (lower case, with the dot); otherwise
    ``sniff(path, head, size)`` decides from the file's first 9 bytes ``head`` and its
    ``size``. ``open(path)`` returns the :class:`Source` that lists and reads its tensors.
    """

    name: str
    suffixes: tuple[str, ...]
    sniff: Callable[[Path, bytes, int], bool]
    open: Callable[[Path], Source]
