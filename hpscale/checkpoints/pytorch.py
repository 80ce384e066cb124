"""PyTorch ``.pt``/``.pth``/``.bin`` files, only when torch is importable.

Loaded with ``torch.load(path, map_location="cpu", weights_only=True, mmap=True)`` (no
arbitrary pickles; storages memory-mapped, so one tensor at a time is in memory). The
file's size is checked before each tensor; a ``.bin`` shard truncated *while one tensor is
copied* can still fault — the one case a memory map cannot rule out (use safetensors).
"""

from __future__ import annotations

import importlib.util
import math
import os
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from hpscale.checkpoints.base import (
    Format,
    Source,
    TensorInfo,
    check_backed,
    check_name,
    first_line,
    safe_open,
    shown,
    skip_warning,
)
from hpscale.errors import InputError, InputFileError

TORCH_SUFFIXES = (".pt", ".pth", ".bin")


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def _flatten_state(obj: object, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, object]]:
    if isinstance(obj, dict) and depth < 32:
        for k, v in obj.items():
            yield from _flatten_state(v, f"{prefix}{k}.", depth + 1)
    else:
        yield prefix[:-1], obj


class _Torch(Source):
    format = "torch"

    def __init__(self, path: Path) -> None:
        self.path = path
        if not torch_available():
            raise InputError(
                f"{path}: PyTorch checkpoint: torch is not installed; install torch "
                "(pip install 'hpscale[torch]'), or convert the checkpoint to .safetensors"
            )
        import torch  # optional dependency

        fh, self.size = safe_open(path)
        fh.close()
        legacy = not zipfile.is_zipfile(path)  # pre-1.6 files cannot be memory-mapped
        try:
            with warnings.catch_warnings():  # torch warns about legacy files: one line is ours
                warnings.simplefilter("ignore")
                state = torch.load(path, map_location="cpu", weights_only=True, mmap=not legacy)
        except Exception as exc:  # torch raises many types for bad files; report one line
            kind = "a legacy (non-zip) file that " if legacy else ""
            raise InputError(f"{path}: {kind}cannot be loaded by torch (weights_only=True): "
                             f"{first_line(exc)}") from None
        self.by_name: dict[str, Any] = {}
        skipped: dict[str, list[str]] = {}
        seen_storage: dict[tuple[int, int, tuple[int, ...]], str] = {}
        self.aliases: dict[str, str] = {}
        floats = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
        for name, value in _flatten_state(state):
            if not isinstance(value, torch.Tensor):
                continue
            check_name(name, str(path))
            if value.dtype in floats:
                _check_storage(f"{path}: tensor {shown(name)}", value)
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
        self.warnings = [skip_warning(d, names) for d, names in sorted(skipped.items())]
        self.skipped_names = {n for names in skipped.values() for n in names}

    def read_into(self, info: TensorInfo, buffer: np.ndarray, *, bf16_bits: bool = False) -> np.ndarray:
        import torch

        if os.stat(self.path).st_size < self.size:
            raise InputFileError(f"{self.path}: tensor {info.name!r}: the file shrank while being read")
        t = self.by_name[info.name].detach()
        bits = bf16_bits and t.dtype == torch.bfloat16
        if bits:
            out = buffer[:info.nbytes].view(np.int16)
            t = t.view(torch.int16)
        else:
            out = buffer[:info.float_bytes].view(np.float64 if t.dtype == torch.float64 else np.float32)
        try:
            torch.from_numpy(out).copy_(t.reshape(-1))
        except RuntimeError as exc:
            raise InputError(f"{self.path}: tensor {info.name!r}: cannot be read: {first_line(exc)}") from None
        return (out.view(np.uint16) if bits else out).reshape(info.shape)

    def close(self) -> None:
        self.by_name.clear()


def _check_storage(label: str, value: Any) -> None:
    """Refuse a tensor whose shape and strides reach past the storage behind it, or that
    claims more elements than the storage holds (a stride-0 view of 16 floats declared
    100000×100000): memory follows the file, not what a pickle claims."""
    shape = tuple(int(d) for d in value.shape)
    strides = tuple(int(s) for s in value.stride())
    itemsize = value.element_size()
    available = value.untyped_storage().nbytes()
    reach = None
    if math.prod(shape):
        last = int(value.storage_offset()) + sum((d - 1) * s for d, s in zip(shape, strides, strict=True))
        reach = (last + 1) * itemsize
        if min(strides, default=0) < 0 or int(value.storage_offset()) < 0:
            reach = available + 1
    check_backed(label, shape, str(value.dtype).replace("torch.", ""), itemsize, available,
                 "its storage", exact=False, reach=reach)


def _sniff(path: Path, head: bytes, size: int) -> bool:
    """A zip archive holding a ``data.pkl`` (torch's zip format since 1.6)."""
    if head[:4] != b"PK\x03\x04":
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return False
    return any(n.endswith("data.pkl") for n in names)


FORMAT = Format("torch", TORCH_SUFFIXES, _sniff, _Torch)
