"""Spectral diagnostics of weight matrices: σ_top, grouping, proxy/target pairing and compare.

Pure: numpy arrays (or torch tensors for ``device``) in, numbers out; no file access, no
printing. Readers live in ``hpscale.checkpoints``; the CLI in ``hpscale.commands.spectrum``.

Why σ_top: Fan et al. (2025, arXiv 2510.15262) show that under AdamW the top singular value
of a trained weight matrix settles at σ_top ≈ C·√(η/λ)·d^0.75, with η the learning rate, λ
the (PyTorch-style, lr-coupled) weight decay and d the width. The predicted ratio
target/proxy is ``hpscale.core.rules.sigma_top_ratio``; the η and λ ratios it takes come from
the same composition ``transfer`` uses (``hpscale.core.compose``), so batch and dataset
changes are included. The caller passes a ``predict(m)`` function (see :func:`compare`).

This module is the public face; the work lives in five modules, each importable on its own
(no import circles: sigma ← spectrum_groups ← spectrum_records ← spectrum_init ← spectrum_pairs):

- ``hpscale.core.sigma``: σ_top of one matrix (:func:`top_singular_value`, the block Krylov
  method over row tiles) and :func:`matrix_stats` (σ_top, ‖W‖_F, stable rank), on numpy
  arrays, bf16/f16 bit patterns, or torch tensors on any device;
- ``hpscale.core.spectrum_groups``: ``Grouper().place(name, shape)`` → :class:`Placement`
  (group, sublayer role, layer index, how to cut the tensor into matrices);
  ``Grouper.for_tensors(shapes, model)`` infers the width from the shapes when no
  ``ModelInfo`` is known; ``Grouper.from_specs(["hidden=REGEX"])`` adds user patterns;
  :func:`tensor_matrices` cuts one tensor into its matrices (fused q/k/v, stacked experts);
- ``hpscale.core.spectrum_records``: :func:`records_for` turns one tensor's results into
  :class:`TensorRecord` rows and :func:`group_summary` summarises them — what
  ``hpscale.checkpoints.scan_checkpoint`` does per tensor of a file;
- ``hpscale.core.spectrum_init``: :func:`init_check` — do a checkpoint's hidden matrices
  still sit at the σ_top of an i.i.d. matrix of their shape and std (untrained)?
- ``hpscale.core.spectrum_pairs``: :func:`pair_records`, :func:`verdict`, :func:`compare`.

``hpscale.torch.spectrum`` uses the same grouping and core.
"""

from __future__ import annotations

from .sigma import (
    SIGMA_RTOL,
    MatrixStats,
    SigmaTop,
    as_matrix,
    matrix_stats,
    top_singular_value,
)
from .spectrum_groups import (
    GROUPS,
    MAX_NAME_CHARS,
    UNMATCHED,
    Grouper,
    ModelInfo,
    Placement,
    Split,
    tensor_matrices,
)
from .spectrum_init import INIT_EDGE_MARGIN, InitCheck, edge_ratio, iid_sigma_edge, init_check
from .spectrum_pairs import (
    Comparison,
    Pair,
    Prediction,
    RatioRow,
    Verdict,
    compare,
    infer_width_ratio,
    pair_records,
    ratio_rows,
    verdict,
)
from .spectrum_records import TensorRecord, group_summary, layer_role, records_for

__all__ = [
    "GROUPS", "INIT_EDGE_MARGIN", "InitCheck", "MAX_NAME_CHARS", "SIGMA_RTOL", "UNMATCHED", "Comparison", "Grouper", "MatrixStats",
    "ModelInfo", "Pair", "Placement", "Prediction", "RatioRow", "SigmaTop", "Split", "TensorRecord",
    "Verdict", "as_matrix", "compare", "edge_ratio", "group_summary", "iid_sigma_edge", "infer_width_ratio", "init_check", "layer_role",
    "matrix_stats", "pair_records", "ratio_rows", "records_for", "tensor_matrices",
    "top_singular_value", "verdict",
]
