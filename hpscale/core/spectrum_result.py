"""The results of ``hpscale spectrum``: one checkpoint's scan and a proxy/target
comparison, with their JSON contract (pure: no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpscale.core.spectrum import ModelInfo, TensorRecord, group_summary

SCHEMA_VERSION = 2
"""The version of the JSON contract of ``hpscale spectrum`` (scans and compares)."""


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
            "tensors": [r.to_json_dict() for r in self.records],
            "groups": group_summary(self.records),
            "notes": list(self.notes),
        }


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
                "target": self.target._fields(), "compare": self.comparison.to_json_dict(),
                "warnings": list(self.warnings)}
