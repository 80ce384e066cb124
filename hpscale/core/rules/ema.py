"""The model-EMA decay vs batch size.

Busbridge et al. 2023, "How to Scale Your EMA", arXiv 2307.13813 (the EMA scaling rule ρ̂ = ρ^κ).
Symbols and conventions: ``hpscale.core.rules``.
"""

from __future__ import annotations

from .registry import _positive, rule


@rule(
    "ema-decay",
    axis="batch", hp=("ema_decay",), symbols={"": "ρ^κ"},
    title="Model-EMA decay vs batch size",
    invariant="the EMA's decay per sample seen",
    convention="independent of the weight-decay convention",
    validity="0 < ρ < 1; the optimizer must be scaled by its own batch rule alongside",
    reference="Busbridge et al. 2023, How to Scale Your EMA, arXiv 2307.13813 (EMA scaling rule)",
)
def ema_decay_for_batch(rho: float, batch_ratio: float) -> float:
    """ρ̂ = ρ^κ.  Symbols: ρ = model-EMA decay (momentum) at the proxy, κ = B_target/B_proxy.

    Worked: ρ = 0.99, κ = 6 → 0.941480; ρ = 0.9999, κ = 8 → 0.999200.
    """
    if not 0.0 < rho < 1.0:
        raise ValueError(f"EMA decay ρ must be in (0, 1), got {rho!r}")
    _positive("batch ratio κ", batch_ratio)
    return rho**batch_ratio
