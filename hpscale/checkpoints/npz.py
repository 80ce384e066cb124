"""npz archives, read with ``zipfile`` and ``numpy.lib.format`` (public APIs).

Each member's .npy header gives shape and dtype without reading data; the data is streamed
into the buffer, never more than the header declares. Refused: encrypted members,
compression other than stored/deflate, duplicate names, ``x`` beside ``x.npy``, a declared
size the member's stored size cannot back, and deflated members that would expand more
than :data:`MAX_NPZ_EXPANSION`× (float weights compress about 1.1×). Object members are
skipped.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np

from hpscale.checkpoints.base import (
    MAX_DIMS,
    Format,
    Source,
    TensorInfo,
    check_backed,
    check_name,
    first_line,
    read_exact,
    safe_open,
    shown,
    skip_warning,
    widen_in_place,
)
from hpscale.errors import InputError

MAX_NPZ_EXPANSION = 64
"""A deflated npz member may expand at most this many times (below :data:`NPZ_SMALL_BYTES`
any ratio is accepted): memory follows the file, not what it claims."""
NPZ_SMALL_BYTES = 16 * 1024 * 1024


class _Npz(Source):
    format = "npz"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fh, self.size = safe_open(path)
        try:
            self.zf = zipfile.ZipFile(self.fh)
            self.tensors, self.warnings = self._parse()
        except InputError:
            self.fh.close()
            raise
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError,
                NotImplementedError, RuntimeError, KeyError, OverflowError) as exc:
            self.fh.close()
            raise InputError(f"{path}: not a readable npz archive: {first_line(exc)}") from None

    def _parse(self) -> tuple[list[TensorInfo], list[str]]:
        from hpscale.text import printable

        path = self.path
        infos = self.zf.infolist()
        names = [i.filename for i in infos]
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise InputError(f"{path}: member {shown(name)} appears twice in the archive")
            seen.add(name)
        tensors: list[TensorInfo] = []
        skipped: dict[str, list[str]] = {}
        other: list[str] = []
        for info in infos:
            member = info.filename
            if not member.endswith(".npy"):
                if member + ".npy" in seen:
                    raise InputError(f"{path}: members {shown(member)} and "
                                     f"{shown(member + '.npy')} both give the array "
                                     f"{shown(member)}")
                if not member.endswith("/"):
                    other.append(member)
                continue
            label = f"{path}: member {shown(member)}"
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
            check_name(name, str(path))
            shape, fortran, dtype, header_len = self._header(info, label)
            if dtype.hasobject or dtype.kind != "f" or dtype.itemsize not in (2, 4, 8):
                skipped.setdefault("object" if dtype.hasobject else dtype.str, []).append(name)
                continue
            nbytes = math.prod(shape) * dtype.itemsize
            check_backed(label, shape, dtype.str, dtype.itemsize, info.file_size - header_len,
                         "the member")
            tensors.append(TensorInfo(name, shape, dtype.str + ("F" if fortran else ""), path,
                                      header_len, nbytes, member))
        self.skipped_names = {n for names in skipped.values() for n in names}
        warnings = [skip_warning(d, n) for d, n in sorted(skipped.items())]
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
            raise InputError(f"{label}: bad .npy header: {first_line(exc)}") from None
        if len(shape) > MAX_DIMS or any(not isinstance(d, int) or d < 0 or d >= 2**63 for d in shape):
            raise InputError(f"{label}: shape {shape!r}: expected at most {MAX_DIMS} integers ≥ 0")
        return tuple(int(d) for d in shape), bool(fortran), np.dtype(dtype), header_len

    def read_into(self, info: TensorInfo, buffer: np.ndarray, *, bf16_bits: bool = False) -> np.ndarray:
        del bf16_bits  # .npy has no bfloat16
        dtype = np.dtype(info.dtype.rstrip("F"))
        fortran = info.dtype.endswith("F")
        count = info.count
        half = dtype.itemsize == 2
        region = buffer[2 * count:4 * count] if half else buffer[:info.nbytes]
        what = f"member {info.key!r}"
        try:
            with self.zf.open(info.key) as fh:
                fh.read(info.offset)  # the .npy header
                read_exact(fh, region.data, self.path, what)
                if fh.read(1):
                    raise InputError(f"{self.path}: {what}: holds more data than its header declares")
        except InputError:
            raise
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as exc:
            raise InputError(f"{self.path}: {what}: cannot be read: {first_line(exc)}") from None
        if half:
            if dtype.byteorder == ">":
                region.view(">u2").byteswap(inplace=True)
            arr = widen_in_place(buffer, count, "F16")
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


def _sniff(path: Path, head: bytes, size: int) -> bool:
    """A zip archive (torch's zip files are claimed first, by their ``data.pkl``)."""
    return head[:4] == b"PK\x03\x04"


FORMAT = Format("npz", (".npz",), _sniff, _Npz)
