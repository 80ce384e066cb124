"""µP width rules (Adam): learning rate, initialisation std and readout multiplier vs width.

Yang et al. 2022, "Tensor Programs V: Tuning Large Neural Networks via Zero-Shot Hyperparameter
Transfer", arXiv 2203.03466, Table 3 (Adam), and the mup library's ``MuReadout``. Symbols and
conventions: ``hpscale.core.rules``.
"""

from __future__ import annotations

import math

from .registry import Group, ReadoutRule, _positive, rule

_MUP = "Yang et al. 2022, Tensor Programs V: Tuning Large Neural Networks via Zero-Shot " \
    "Hyperparameter Transfer, arXiv 2203.03466, Table 3 (Adam); the mup library's MuReadout"


@rule(
    "mup-lr",
    axis="width", hp=("lr",), choice="readout_rule", symbols={"": "µP"},
    labels={"mup": "µP", "mureadout": "MuReadout", "table3": "Table 3"},
    title="µP learning rate vs width (Adam)",
    invariant="per-coordinate update size of every group stays Θ(1) as width grows",
    convention="independent of the weight-decay convention",
    validity="the proxy must itself be trained in µP (or an equivalent parametrization)",
    reference=_MUP,
)
def mup_lr_width_factor(group: Group, width_ratio: float, readout_rule: ReadoutRule) -> float:
    """µP learning-rate factor for Adam: η_target = η_proxy · f(group, m).

    f = 1/m for ``hidden`` (matrix-like, two width-scaled dims); f = 1 for ``embedding`` and
    ``vector``; for ``readout`` f = 1/m under Table 3 (``table3``) and f = 1 under the mup
    library's MuReadout (``mureadout``), which moves the 1/m into the forward multiplier.

    Symbols: m = W_target / W_proxy (width ratio).
    """
    _positive("width ratio m", width_ratio)
    if group == "hidden" or (group == "readout" and readout_rule == "table3"):
        return 1.0 / width_ratio
    return 1.0


@rule(
    "mup-init",
    axis="width", hp=("init_std",), choice="readout_rule", symbols={"": "µP"},
    title="µP initialisation std vs width",
    invariant="activations of every layer stay Θ(1) at initialisation",
    convention="independent of the weight-decay convention",
    validity="the proxy must itself be trained in µP",
    reference=_MUP,
)
def mup_init_std_width_factor(
    group: Group, width_ratio: float, readout_rule: ReadoutRule
) -> float:
    """µP initialisation-std factor: σ_target = σ_proxy · g(group, m).

    g = 1/√m for ``hidden`` (variance ∝ 1/fan_in); g = 1/m for ``readout`` under Table 3
    (variance ∝ 1/fan_in²); g = 1 otherwise (MuReadout keeps the readout init and scales its
    forward multiplier instead).

    Symbols: m = W_target / W_proxy.
    """
    _positive("width ratio m", width_ratio)
    if group == "hidden":
        return 1.0 / math.sqrt(width_ratio)
    if group == "readout" and readout_rule == "table3":
        return 1.0 / width_ratio
    return 1.0


@rule(
    "mup-multiplier",
    axis="width", hp=("multiplier",), choice="readout_rule", symbols={"": "µP"},
    title="µP readout forward multiplier vs width",
    invariant="readout LR × multiplier scales as 1/m in both µP formulations",
    convention="independent of the weight-decay convention",
    validity="the proxy must itself be trained in µP",
    reference=_MUP,
)
def mup_multiplier_width_factor(
    group: Group, width_ratio: float, readout_rule: ReadoutRule
) -> float:
    """µP forward-multiplier factor: α_target = α_proxy · h(group, m).

    h = 1/m for ``readout`` under MuReadout (output = W·x / width_mult); h = 1 otherwise.
    With base width W₀ the absolute MuReadout multiplier is W₀/W.

    Symbols: m = W_target / W_proxy.
    """
    _positive("width ratio m", width_ratio)
    if group == "readout" and readout_rule == "mureadout":
        return 1.0 / width_ratio
    return 1.0
