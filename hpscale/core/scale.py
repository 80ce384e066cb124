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


def estimated_params(width: float, depth: float | None) -> float | None:
    """Non-embedding transformer parameters ≈ 12·L·W² (Kaplan et al. 2020, arXiv 2001.08361)."""
    return None if depth is None else 12.0 * depth * width**2


def params_of(scale: Scale) -> float | None:
    """The scale's stated parameter count, else ``estimated_params`` of its width and depth."""
    return scale.params if scale.params is not None else estimated_params(scale.width, scale.depth)


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


class Axis(NamedTuple):
    """One transfer axis, declared once for the composition, the JSON derivation and fitted laws.

    ``name`` is what a ``Factor``'s ``axis`` says; ``symbol`` the ratio's symbol; ``ratio_field``
    the ``Ratios`` field holding target/proxy (``None``: no ratio of its own); ``law_axis`` the
    sweep column a fitted law names it by, which is also the ``Scale`` field of the target's
    value (``None``: no law moves it); ``per_group`` whether the rules' factors along it differ
    between parameter groups (a law fitted on one group then replaces them in that group only);
    ``replaces``: the rule axes whose factors a law factor along it replaces.
    """

    name: str
    symbol: str
    ratio_field: str | None
    law_axis: str | None
    per_group: bool
    replaces: tuple[str, ...]


#: The derived axis TPP = dataset_size / params (Power Lines' tokens per parameter): its column
#: name in a sweep (``hpscale.core.sweep``) and the axis optimizers' ``fit_lines`` name.
TOKENS_PER_PARAM = "tokens_per_param"


#: Every axis, in the order fitted laws list them.
AXES: dict[str, Axis] = {
    "width": Axis("width", "m", "width", "width", True, ("width",)),
    "depth": Axis("depth", "m_L", "depth", "depth", True, ("depth",)),
    "batch": Axis("batch", "κ", "batch", "batch_size", False, ("batch",)),
    "dataset": Axis("dataset", "ν", "dataset", "dataset_size", False, ("dataset",)),
    "params": Axis("params", "P_t/P_p", None, "params", True, ("width", "depth")),
    "horizon": Axis("horizon", "TPP_t/TPP_p", "tokens_per_param", None, False, ()),
    "convention": Axis("convention", "", None, None, False, ()),
}
