"""Checkpoint readers: one tensor at a time, as float32/float64 numpy arrays, from files or
Hugging Face model directories; and the scan that groups and measures every tensor.

One room per job:

* :mod:`~hpscale.checkpoints.base` — the tensor record, safe file opening, strict JSON and
  the reader interface (``Source``) and format record (``Format``) every format implements;
* one module per format — :mod:`~hpscale.checkpoints.safetensors`,
  :mod:`~hpscale.checkpoints.npz`, :mod:`~hpscale.checkpoints.pytorch` (``.pt``/``.pth``/
  ``.bin``, needs torch) — each behind a line of :mod:`~hpscale.checkpoints.registry`,
  which matches a file to its format (suffix, else first bytes);
* :mod:`~hpscale.checkpoints.layout` — the Hugging Face directory layout (which file,
  the shard index, ``config.json``) and :class:`Checkpoint`, the opened file or directory;
* :mod:`~hpscale.checkpoints.scan` — the threaded scan.

The results (:class:`Scan`, :class:`CheckpointComparison`) and their JSON contract live with
the other results, in :mod:`hpscale.core.spectrum_result`. Every problem raises
:class:`hpscale.errors.InputError` with one line. The names below are the public face;
import them from here.
"""

from __future__ import annotations

from hpscale.checkpoints.base import (
    MAX_DIMS,
    MAX_JSON_BYTES,
    TensorInfo,
    bf16_to_float32,
)
from hpscale.checkpoints.layout import Checkpoint, open_checkpoint, read_model_config
from hpscale.checkpoints.npz import MAX_NPZ_EXPANSION, NPZ_SMALL_BYTES
from hpscale.checkpoints.pytorch import TORCH_SUFFIXES, torch_available
from hpscale.checkpoints.registry import CHECKPOINT_SUFFIXES, FORMATS
from hpscale.checkpoints.safetensors import MAX_HEADER_BYTES
from hpscale.checkpoints.scan import resolve_device, scan_checkpoint
from hpscale.core.spectrum_result import SCHEMA_VERSION, CheckpointComparison, Scan

__all__ = [
    "CHECKPOINT_SUFFIXES",
    "FORMATS",
    "MAX_DIMS",
    "MAX_HEADER_BYTES",
    "MAX_JSON_BYTES",
    "MAX_NPZ_EXPANSION",
    "NPZ_SMALL_BYTES",
    "SCHEMA_VERSION",
    "TORCH_SUFFIXES",
    "Checkpoint",
    "CheckpointComparison",
    "Scan",
    "TensorInfo",
    "bf16_to_float32",
    "open_checkpoint",
    "read_model_config",
    "resolve_device",
    "scan_checkpoint",
    "torch_available",
]
