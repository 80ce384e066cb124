"""The vocabulary a transfer and a fitted law share: a run's scale, the ratios between two
scales, and one multiplicative factor of a hyperparameter.

A leaf of the core: the composition (``compose``) and fitted laws (``law``) both build on these
types, and neither is needed to define them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True)
class Scale:
    """The scale of one run. ``batch_size`` and ``dataset_size`` share one unit."""

    width: int
    batch_size: float
    dataset_size: float
    depth: int | None = None
    params: float | None = None


class Ratios(NamedTuple):
    """The target's scale over the proxy's, per axis (``None``: the axis is not transferred)."""

    width: float  # m
    batch: float  # κ
    dataset: float  # ν
    depth: float | None  # m_L
    tokens_per_param: float | None  # TPP_t / TPP_p (power-lines only)


class Factor(NamedTuple):
    """One multiplicative step: ``value`` from rule ``rule`` along ``axis``, shown as ``symbol``."""

    rule: str
    axis: str
    symbol: str
    value: float
