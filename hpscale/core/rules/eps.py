"""Adam ε vs width (ε vs batch and vs depth sit with their axis: ``batch.py``, ``depth.py``).

Everett et al. 2024, "Scaling Exponents Across Parameterizations and Optimizers", arXiv
2407.05872, and CompleteP (Dey et al. 2025, arXiv 2505.01618, Table 1). Symbols and
conventions: ``hpscale.core.rules``.
"""

from __future__ import annotations

from .depth import _DEPTH
from .registry import EPS_WIDTH_RULES, EpsWidthRule, Group, _positive, rule


@rule(
    "eps-width",
    axis="width", hp=("eps",), choice="eps_width_rule", symbols={"inverse": "1/m", "constant": "kept"},
    title="Adam ε vs width",
    invariant="ε keeps its size relative to the gradients, which shrink as 1/m under µP; a "
    "constant ε gradually dominates Adam's update at large width",
    convention="independent of the weight-decay convention",
    validity="µP-trained proxy; every group, as in CompleteP's Table 1 and its reference code "
    "(the mup library itself leaves ε alone); ``constant`` keeps ε",
    reference="Everett et al. 2024, Scaling Exponents Across Parameterizations and Optimizers, "
    "arXiv 2407.05872 (ε underflow at width); " + _DEPTH + " (Table 1; reference code: "
    "EleutherAI nanoGPT-mup, completep branch, ε·(1/m) for every parameter group)",
)
def eps_width_factor(group: Group, width_ratio: float, eps_rule: EpsWidthRule) -> float:
    """ε × 1/m for every group under ``inverse`` (the default); × 1 under ``constant``.

    Symbols: m = W_target / W_proxy. ``group`` is accepted for symmetry with the other µP
    rules; the factor is the same for all four groups.
    """
    _positive("width ratio m", width_ratio)
    if eps_rule == "constant":
        return 1.0
    if eps_rule != "inverse":
        raise ValueError(f"unknown ε width rule {eps_rule!r}; allowed: {EPS_WIDTH_RULES}")
    return 1.0 / width_ratio
