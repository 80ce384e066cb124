"""The Hugging Face model-directory layout: which files a directory's weights are in, the
shard index, and ``config.json``.

A **directory** is read in the order transformers loads it: ``model.safetensors``, else
``model.safetensors.index.json`` (shards listed in ``weight_map``), else
``pytorch_model.bin``, else ``pytorch_model.bin.index.json``, else its single checkpoint
file; ``config.json`` (when present) gives width, depth, vocabulary, heads and tied
embeddings. A missing shard, a shard file the index does not list, and a tensor listed or
stored twice are errors naming it.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hpscale.checkpoints.base import (
    Source,
    TensorInfo,
    read_json,
    shown,
    stat_path,
)
from hpscale.checkpoints.registry import CHECKPOINT_SUFFIXES, open_file
from hpscale.core.spectrum import ModelInfo
from hpscale.errors import InputError, InputFileError

_SHARD = re.compile(r"^(.+)-(\d{5})-of-(\d{5})\.(safetensors|bin)$")

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

    data = read_json(path, "config.json")
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
                    raise InputError(f"{path}: {key}: {shown(value, 40)}: expected a positive integer")
                return value
        return None

    tied = data.get("tie_word_embeddings")
    if tied is not None and not isinstance(tied, bool):
        raise InputError(f"{path}: tie_word_embeddings: {shown(tied, 40)}: expected true or false")
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
    into ``buffer`` (a uint8 array of at least ``info.read_bytes(bf16_bits)``) and returns a
    view (with ``bf16_bits=True``, a bfloat16 tensor as its uint16 bit patterns).
    """

    path: Path
    format: str
    tensors: list[TensorInfo]
    warnings: list[str] = field(default_factory=list)
    model: ModelInfo = field(default_factory=ModelInfo)
    files: list[Path] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    _sources: dict[Path, Source] = field(default_factory=dict)

    def read_into(self, info: TensorInfo, buffer: np.ndarray, *, bf16_bits: bool = False) -> np.ndarray:
        source = self._sources.get(info.file)
        if source is None:  # a shard: opened as it is read, one at a time (open-file limit)
            self.close()
            source = self._sources[info.file] = open_file(info.file)
        return source.read_into(info, buffer, bf16_bits=bf16_bits)

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
    if not isinstance(path, str | os.PathLike):
        raise InputError(f"path: {shown(path, 40)}: expected a checkpoint file or model "
                         "directory (a str or os.PathLike)")
    p = Path(path)
    if stat.S_ISDIR(stat_path(p, "checkpoint file or model directory").st_mode):
        return _open_directory(p)
    source = open_file(p)
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
    source = open_file(folder / chosen)
    try:
        return Checkpoint(folder, f"{source.format} directory", list(source.tensors),
                          list(source.warnings), model, [source.path],
                          dict(getattr(source, "aliases", {})), {source.path: source})
    except BaseException:
        source.close()
        raise


def _open_sharded(folder: Path, index_name: str, entries: list[str], model: ModelInfo) -> Checkpoint:

    index_path = folder / index_name
    data = read_json(index_path, "index file")
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise InputError(f"{index_path}: weight_map: expected an object of tensor name → shard file")
    shards = sorted(set(weight_map.values()))
    for shard in shards:
        if shard != os.path.basename(shard) or shard in ("", ".", "..") or "\\" in shard:
            raise InputError(f"{index_path}: shard {shown(shard)}: expected a file name in "
                             "the same directory")
        if shard not in entries:
            example = next(n for n, s in weight_map.items() if s == shard)
            raise InputFileError(f"{folder / shard}: missing shard (the index lists it for "
                                 f"{shown(example)} and others)")
    kind = "safetensors" if index_name.endswith(".safetensors.index.json") else "bin"
    listed = set(shards)
    for entry in entries:
        match = _SHARD.match(entry)
        if match and match.group(4) == kind and entry not in listed:
            raise InputFileError(f"{folder / entry}: a shard the index {index_name} does not list "
                                 "(left over from another save?)")
    tensors: list[TensorInfo] = []
    warnings: list[str] = []
    aliases: dict[str, str] = {}
    stored_in: dict[str, str] = {}
    stored_other: set[str] = set()
    fmt = "safetensors"
    for shard in shards:  # each shard is listed, then closed: it is reopened when read
        source = open_file(folder / shard)
        try:
            if shard == shards[0]:
                fmt = source.format
            stored_other |= source.skipped_names
            warnings += [f"{shard}: {w}" for w in source.warnings]
            aliases.update(getattr(source, "aliases", {}))
            for info in source.tensors:
                if info.name in stored_in:
                    raise InputError(f"{folder}: tensor {shown(info.name)} is stored twice: "
                                     f"in {stored_in[info.name]} and {shard}")
                stored_in[info.name] = shard
                mapped = weight_map.get(info.name)
                if mapped is None:
                    raise InputError(f"{folder / shard}: tensor {shown(info.name)} is not "
                                     f"listed in {index_name}")
                if mapped != shard:
                    raise InputError(f"{folder}: tensor {shown(info.name)}: the index maps "
                                     f"it to {mapped}, but it is stored in {shard}")
                tensors.append(info)
        finally:
            source.close()
    decoded = {t.name for t in tensors}
    for name, shard in weight_map.items():
        if name not in decoded and name not in stored_other:
            raise InputError(f"{folder / shard}: tensor {shown(name)} is listed in "
                             f"{index_name} but the shard does not contain it")
    return Checkpoint(folder, f"{fmt}, {len(shards)} shards", tensors, warnings, model,
                      [folder / s for s in shards], aliases)
