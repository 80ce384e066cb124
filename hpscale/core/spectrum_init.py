"""Do a checkpoint's hidden matrices still look like their random initialisation?

Pure (no I/O, no printing); part of ``hpscale.core.spectrum`` (map there). The σ_top law that
``spectrum --compare`` judges a pair by (Fan et al. 2025, arXiv 2510.15262: σ_top ≈
C·√(η/λ)·d^0.75) describes trained, steady-state weights. A matrix of i.i.d. entries — what
every common initialisation draws (normal, truncated normal, uniform; µP only changes the
std) — has its σ_top at the edge of the Marchenko–Pastur law instead, fixed by its shape and
std alone; a pair of such checkpoints can then match any rule's predicted ratio by accident.
:func:`init_check` measures how far each side's hidden matrices sit above that edge, and
``compare`` gives no verdict when either side has not left it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .spectrum_records import TensorRecord, _median

INIT_EDGE_MARGIN = 0.10
"""A side looks untrained when its hidden matrices' median σ_top is at most (1 + this) times
the i.i.d. edge (:func:`iid_sigma_edge`). The edge is an upper bound in expectation for
Gaussian entries and the limit for any i.i.d. entries (see there); at the sizes people train
(sides ≥ 64) σ_top fluctuates about it by a few per cent (Tracy–Widom, relative scale
≈ n^(−2/3)), and the median over a model's hidden matrices narrows that further. Trained
weights develop outliers far above the bulk edge (Martin & Mahoney 2021, JMLR 22(165),
"Implicit self-regularization in deep neural networks"); 10 % is clear of the first and well
below the second."""


def iid_sigma_edge(rows: int, cols: int, std: float) -> float:
    """σ_top of a rows×cols matrix of i.i.d. entries with mean 0 and standard deviation std.

    Formula: σ_edge = std·(√rows + √cols).

    - For Gaussian entries this bounds the expectation: E σ_max ≤ std·(√rows + √cols) (Gordon's
      inequality; Davidson & Szarek 2001, "Local operator theory, random matrices and Banach
      spaces", Handbook of the Geometry of Banach Spaces vol. 1, Thm II.13), with
      P(σ_max ≥ std·(√rows + √cols + t)) ≤ exp(−t²/2).
    - For any i.i.d. entries with finite fourth moment it is the limit as rows/cols → y > 0
      (Yin, Bai & Krishnaiah 1988, Probab. Theory Relat. Fields 78, "On the limit of the largest
      eigenvalue of the large dimensional sample covariance matrix": λ_max(WᵀW)/rows →
      std²·(1 + √(cols/rows))², the upper edge of the Marchenko–Pastur law).

    ``std`` is the entries' standard deviation, e.g. 0.02 for GPT-2's init, 1/√fan_in for µP's
    hidden matrices.
    """
    return std * (math.sqrt(rows) + math.sqrt(cols))


def edge_ratio(record: TensorRecord) -> float | None:
    """σ_top / :func:`iid_sigma_edge` of one matrix, with the std estimated from the matrix
    itself as ‖W‖_F/√(rows·cols) (the RMS entry; the mean of an init is 0). Equivalently
    √(rows·cols/(√rows + √cols)² / stable rank): the ratio says the same as the stable rank,
    normalised by the shape. None without a finite σ_top and ‖W‖_F > 0."""
    st, shape = record.stats, record.matrix_shape
    if st is None or shape is None or st.sigma_max is None or not st.frobenius:
        return None
    rows, cols = shape
    std = st.frobenius / math.sqrt(rows * cols)
    edge = iid_sigma_edge(rows, cols, std)
    return st.sigma_max / edge if edge > 0 and math.isfinite(st.sigma_max / edge) else None


@dataclass(frozen=True)
class InitCheck:
    """The median :func:`edge_ratio` of each side's hidden matrices, and which sides look
    untrained (median ≤ ``threshold``)."""

    proxy: float | None
    target: float | None
    threshold: float

    @property
    def untrained(self) -> tuple[str, ...]:
        return tuple(side for side, v in (("proxy", self.proxy), ("target", self.target))
                     if v is not None and v <= self.threshold)

    def to_json_dict(self) -> dict[str, object]:
        return {"proxy_hidden_edge_ratio": self.proxy, "target_hidden_edge_ratio": self.target,
                "threshold": self.threshold, "untrained": list(self.untrained)}

    def message(self) -> str:
        sides = " and ".join(self.untrained)
        values = ", ".join(f"{side} {getattr(self, side):.3g}×" for side in self.untrained)
        return (f"no verdict: the {sides} hidden matrices still look like their random "
                f"initialisation (median σ_top at {values} the σ_top of an i.i.d. matrix of the same "
                f"shape and std; trained weights sit above {self.threshold:.2g}×); the σ_top law "
                "describes trained, steady-state weights")


def init_check(proxy: Sequence[TensorRecord], target: Sequence[TensorRecord],
               margin: float = INIT_EDGE_MARGIN) -> InitCheck:
    """Median :func:`edge_ratio` over each side's hidden matrices (None without any)."""

    def median(records: Sequence[TensorRecord]) -> float | None:
        ratios = [r for r in (edge_ratio(x) for x in records if x.group == "hidden") if r is not None]
        return _median(ratios) if ratios else None

    return InitCheck(median(proxy), median(target), 1.0 + margin)
