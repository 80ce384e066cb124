"""The scan: group every tensor of an opened checkpoint and measure each matrix, reading
the next tensor on a second thread while this one is measured."""

from __future__ import annotations

import functools
import os
import queue
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from hpscale.checkpoints.base import TensorInfo, first_line
from hpscale.checkpoints.layout import Checkpoint, open_checkpoint
from hpscale.core.spectrum import (
    SIGMA_RTOL,
    UNMATCHED,
    Grouper,
    MatrixStats,
    ModelInfo,
    Placement,
    TensorRecord,
    matrix_stats,
    records_for,
    tensor_matrices,
)
from hpscale.core.spectrum_result import Scan
from hpscale.errors import InputError


def resolve_device(device: str | None) -> Any:
    """None (numpy on the CPU) or a ``torch.device`` that exists here; InputError otherwise."""
    if device is None:
        return None
    from hpscale.extras import require

    torch = require("torch", "--device")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"--device: {device!r}: not a torch device ({first_line(exc)}); "
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
        stored = "bf16" if matrix.dtype == np.uint16 else None  # bit patterns, widened per tile
        if device is not None:
            matrix, stored = _on_device(matrix, stored, device), None
        stats = matrix_stats(matrix, rtol=rtol, stored=stored)
        out.append((label, expert, (int(matrix.shape[0]), int(matrix.shape[1])), stats))
    return out


def _on_device(matrix: np.ndarray, stored: str | None, device: Any) -> Any:
    """The matrix as a torch tensor on ``device``: bf16 bit patterns as a bfloat16 tensor."""
    import torch

    dense = np.ascontiguousarray(matrix)
    if stored:
        return torch.from_numpy(dense.view(np.int16)).view(torch.bfloat16).to(device)
    return torch.from_numpy(dense).to(device)


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
    previous one (``prefetch``), so reading overlaps the linear algebra. bfloat16 tensors are
    read as their bit patterns and widened a row tile at a time on every pass (never whole);
    float16 ones are widened once as they are read (``hpscale.core.widen.widen_f16`` costs
    ~3.6× the bf16 shift per tile: on a Gaussian 11008×4096, widening once and 16 float32
    passes took 310 ms, float16 tiles widened per pass 470 ms). So peak memory is about twice
    the largest tensor as read (bf16: its stored size; float16: its float32 size). ``device``
    ("cuda", …) runs the linear algebra through torch on that device ("cpu" runs the numpy
    tiles, as without it). ``on_open(matrices, bytes)`` is called once
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
    size = max(t.read_bytes(bf16_bits=True) for t in work)
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
            yield info, ckpt.read_into(info, buffers[0], bf16_bits=True), lambda: None
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
                ready.put((info, ckpt.read_into(info, buffer, bf16_bits=True), buffer))
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

