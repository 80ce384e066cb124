"""One record per analysed matrix of a checkpoint, and the per-group summary of a scan.

Pure (no I/O, no printing); part of ``hpscale.core.spectrum`` (map there).
:func:`records_for` turns one tensor's statistics into :class:`TensorRecord` rows;
:func:`group_summary` summarises them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .sigma import MatrixStats
from .spectrum_groups import GROUPS, UNMATCHED, Placement


@dataclass(frozen=True)
class TensorRecord:
    """One analysed matrix (or one vector, listed without statistics).

    ``name`` is what tables show: the tensor name, plus ``[q]`` for a part of a fused tensor
    and ``[3]`` for expert 3 of a stacked one. ``tensor`` is the stored name, ``shape`` the
    stored shape, ``matrix_shape`` the analysed (out, in) matrix (Conv1D transposed back).
    ``stats`` is None for vectors. The fields after ``stats`` were added with Hugging Face
    directories; they default so that older callers keep working.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    group: str
    stats: MatrixStats | None = None
    tensor: str = ""
    role: str = ""
    part: str | None = None
    expert: int | None = None
    layer: int | None = None
    stack: str | None = None
    indices: tuple[int, ...] = ()
    matrix_shape: tuple[int, int] | None = None
    grouped_by: str = "name"
    tied: bool = False

    @property
    def sigma(self) -> float | None:
        return self.stats.sigma_max if self.stats is not None else None

    def to_json_dict(self) -> dict[str, object]:
        st = self.stats
        return {
            "name": self.name,
            "tensor": self.tensor or self.name,
            "part": self.part,
            "expert": self.expert,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "group": self.group,
            "role": self.role,
            "layer": self.layer,
            "grouped_by": self.grouped_by,
            "tied": self.tied,
            "matrix_shape": list(self.matrix_shape) if self.matrix_shape else None,
            "sigma_max": _finite_or_none(st.sigma_max) if st else None,
            "frobenius": _finite_or_none(st.frobenius) if st else None,
            "stable_rank": _finite_or_none(st.stable_rank) if st else None,
        }


def _finite_or_none(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def records_for(name: str, shape: Sequence[int], dtype: str, placement: Placement,
                stats: Sequence[tuple[str | None, int | None, tuple[int, int], MatrixStats | None]]) -> list[TensorRecord]:
    """The records of one tensor: one per matrix in ``stats`` (label, expert, shape, stats),
    or one vector record when ``stats`` is empty."""
    base = dict(shape=tuple(int(d) for d in shape), dtype=dtype, group=placement.group, tensor=name,
                layer=placement.layer, stack=placement.stack, indices=placement.indices,
                grouped_by=placement.grouped_by, tied=placement.tied)
    if not stats:
        return [TensorRecord(name=name, role=placement.role, **base)]  # type: ignore[arg-type]
    out = []
    for label, expert, shape2, st in stats:
        suffix = ",".join(str(x) for x in (expert, label) if x is not None)
        role = label if label is not None else placement.role
        if expert is not None and placement.group == "hidden" and "(experts)" not in role:
            role = f"{role} (experts)"
        mshape = (shape2[1], shape2[0]) if placement.transposed else shape2
        indices = placement.indices + ((expert,) if expert is not None else ())
        out.append(TensorRecord(name=f"{name}[{suffix}]" if suffix else name, stats=st, role=role,
                                part=label, expert=expert, matrix_shape=mshape,
                                **{**base, "indices": indices}))  # type: ignore[arg-type]
    return out


def _median(values: Sequence[float]) -> float:
    return float(np.median(np.asarray(values, dtype=np.float64)))


def group_summary(records: Iterable[TensorRecord]) -> dict[str, dict[str, object]]:
    """Per group: matrices (records), those with a σ, and the median σ_top."""
    out: dict[str, dict[str, object]] = {}
    by: dict[str, list[TensorRecord]] = {}
    for r in records:
        by.setdefault(r.group, []).append(r)
    for group in (*GROUPS, UNMATCHED):
        rs = by.get(group, [])
        if not rs:
            continue
        sig = [r.sigma for r in rs if r.sigma is not None]
        out[group] = {
            "tensors": len(rs),
            "with_sigma": len(sig),
            "sigma_max_median": _median(sig) if sig else None,
        }
    return out


def layer_role(name: str) -> str:
    """Name with every integer component replaced by ``*``: ``transformer.h.3.attn.c_attn.weight``
    → ``transformer.h.*.attn.c_attn.weight``. Linear in the name's length."""
    return ".".join("*" if c.isdigit() else c for c in name.split("."))
