"""Weight decay vs width (the three published answers) and the predicted σ_top ratio.

Fan, Liu, Zhao, Yuan & Gu 2025, "Robust Layerwise Scaling Rules by Proper Weight Decay Tuning",
arXiv 2510.15262 (σ_top ≈ C·√(η/λ)·d^0.75; λ ∝ √d for matrix-like weights), next to the
timescale answer (Wang & Aitchison, ``timescale.py``) and plain µP's constant λ (Tensor
Programs V). Symbols and conventions: ``hpscale.core.rules``.
"""

from __future__ import annotations

import math

from .mup import mup_lr_width_factor
from .registry import WD_WIDTH_RULES, Group, ReadoutRule, WdWidthRule, _positive, rule
from .timescale import _WA

#: Fan et al. (2025, arXiv 2510.15262) observe σ_top ≈ C·√(η/λ)·d^0.75 in the steady state.
SIGMA_WIDTH_EXPONENT = 0.75
#: Default relative error to which ``hpscale spectrum`` measures σ_top (0.25 %: half the 0.5 %
#: the diagnostic is specified to; the rules' predictions differ by m^0.25, 19 % at m = 2).
SIGMA_TOP_RTOL = 2.5e-3

_FAN = "Fan, Liu, Zhao, Yuan & Gu 2025, Robust Layerwise Scaling Rules by Proper Weight Decay " \
    "Tuning, arXiv 2510.15262 (σ_top ≈ C·√(η/λ)·d^0.75; λ₂ ∝ √d, λ₁ = 0)"


@rule(
    "wd-width",
    axis="width", hp=("weight_decay",), choice="wd_width_rule",
    labels={"timescale": "timescale", "sqrt": "√d", "constant": "plain µP"},
    title="Weight decay vs width (the three published answers)",
    invariant="timescale: η·λ per group; sqrt: σ_top of matrix-like weights; constant: λ itself",
    convention="coupled λ",
    validity="sqrt: normalized networks in the optimizer-governed steady state, at fixed batch "
    "and data (Fan et al. use λ = 0 for vector-like parameters in every run: hpscale keeps the "
    "proxy's vector-like λ and warns when it is not 0)",
    reference=f"timescale: {_WA}; sqrt: {_FAN}; constant: plain µP (Tensor Programs V, which "
    "does not transfer regularization)",
)
def weight_decay_width_factor(
    group: Group, width_ratio: float, rule_name: WdWidthRule, readout_rule: ReadoutRule
) -> float:
    """Width factor of the coupled weight decay: λ_target = λ_proxy · w(group, m, rule).

    - ``timescale``: w = 1 / f_µP(group, m), so η·λ (τ_iter) is unchanged: hidden × m.
    - ``sqrt``: hidden × √m; every vector-like group (embedding, vector, and readout, which
      hpscale classifies as vector-like as the mup library does) × 1. Fan et al. train
      vector-like parameters with λ = 0 in proxy and target alike — a recipe for both runs, not
      a width factor — so a transfer keeps the proxy's tuned value (at the proxy's own scale it
      returns the proxy) and ``compose`` warns when that value is not 0.
    - ``constant``: × 1 (plain µP).

    Symbols: m = W_target / W_proxy; f_µP as in ``mup_lr_width_factor``.
    """
    _positive("width ratio m", width_ratio)
    if rule_name == "timescale":
        return 1.0 / mup_lr_width_factor(group, width_ratio, readout_rule)
    if rule_name == "sqrt":
        return math.sqrt(width_ratio) if group == "hidden" else 1.0
    if rule_name == "constant":
        return 1.0
    raise ValueError(f"unknown weight-decay width rule {rule_name!r}; allowed: {WD_WIDTH_RULES}")


@rule(
    "sigma-top",
    title="Predicted top-singular-value ratio (sublayer gain)",
    invariant="σ_top ≈ C·√(η/λ)·d^0.75 in the steady state",
    convention="coupled λ",
    validity="normalized networks after the optimizer-governed steady state sets in",
    reference=_FAN,
)
def sigma_top_ratio(lr_ratio: float, wd_ratio: float, width_ratio: float) -> float:
    """σ_target / σ_proxy = √((η_t/η_p) / (λ_t/λ_p)) · m^0.75.

    Worked (m = 8, η × 1/8): λ × 8 → 0.5946; λ × √8 → 1.0; λ × 1 → 1.6818.
    Symbols: lr_ratio = η_t/η_p, wd_ratio = λ_t/λ_p (> 0), m = width ratio.
    """
    for name, value in (("lr ratio", lr_ratio), ("wd ratio", wd_ratio), ("m", width_ratio)):
        _positive(name, value)
    return math.sqrt(lr_ratio / wd_ratio) * width_ratio**SIGMA_WIDTH_EXPONENT
