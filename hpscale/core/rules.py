"""The scaling rules, one pure function each. No I/O, no printing, only ``math``.

Every rule states its formula, its symbols, the weight-decay convention it assumes and the
paper it comes from. Rules are written for the *coupled* convention of ``torch.optim.AdamW``
(each step ``w ← w − η·λ·w − η·update``: the decay is coupled to the learning rate; PyTorch's
documentation calls the same thing "decoupled weight decay", meaning decoupled from the
gradient); ``to_independent`` / ``to_coupled`` convert to and from Loshchilov & Hutter's
*independent* form ``w ← w − λ_ind·w − η·update``.

Notation used throughout:

- η: peak learning rate of one parameter group
- λ: the ``weight_decay`` argument (coupled unless said otherwise)
- B: batch size per optimizer step; N: dataset size per epoch (same unit as B)
- m = W_target / W_proxy: width ratio; κ = B_target / B_proxy: batch ratio;
  ν = N_target / N_proxy: dataset ratio; m_L = L_target / L_proxy: depth ratio
- ρ: model-EMA decay; β1, β2, ε: Adam's moment decays and epsilon

Each rule registers itself in ``RULES`` with the invariant it keeps and its validity limits,
so ``hpscale explain`` prints exactly the text the numbers come from.

Length (over ~600 lines, on purpose): this is the one obvious place per rule — every rule, its
docstring (formula, symbols, convention, citation) and its registry entry in ``RULES`` — so a
reader finds every formula hpscale applies in one file; splitting it would scatter that table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, TypeVar

from ..errors import InputError
from .muon_shapes import CONVENTIONS as MUON_CONVENTIONS
from .scale import Factor

Group = Literal["embedding", "hidden", "readout", "vector"]
GROUPS: tuple[Group, ...] = ("embedding", "hidden", "readout", "vector")

ReadoutRule = Literal["mureadout", "table3"]
WdWidthRule = Literal["timescale", "sqrt", "constant"]
BetaRule = Literal["linear", "exponential", "keep"]
TauRule = Literal["constant", "power-lines"]
EpsWidthRule = Literal["inverse", "constant"]
EpsDepthRule = Literal["inverse", "constant"]
EpsBatchRule = Literal["sqrt", "keep"]
DepthRule = Literal["completep", "depth-mup"]
LrHorizonRule = Literal["none", "deepseek", "steplaw"]

# Each tuple lists a choice's allowed values, the default first (``RuleChoices`` and the CLI read
# them from here).
READOUT_RULES: tuple[ReadoutRule, ...] = ("mureadout", "table3")
WD_WIDTH_RULES: tuple[WdWidthRule, ...] = ("timescale", "sqrt", "constant")
BETA_RULES: tuple[BetaRule, ...] = ("linear", "exponential", "keep")
TAU_RULES: tuple[TauRule, ...] = ("constant", "power-lines")
EPS_WIDTH_RULES: tuple[EpsWidthRule, ...] = ("inverse", "constant")
EPS_DEPTH_RULES: tuple[EpsDepthRule, ...] = ("inverse", "constant")
EPS_BATCH_RULES: tuple[EpsBatchRule, ...] = ("sqrt", "keep")
DEPTH_RULES: tuple[DepthRule, ...] = ("completep", "depth-mup")
LR_HORIZON_RULES: tuple[LrHorizonRule, ...] = ("none", "deepseek", "steplaw")
#: Muon's weight decay vs width (``hpscale.core.optimizers.muon.muon_wd_width_factor``).
MUON_WD_WIDTH_RULES: tuple[str, ...] = ("timescale", "independent", "fixed", "zero")
#: The target trainer's Muon shape convention; ``proxy``: the proxy's (``muon.convention``).
MUON_TARGET_CONVENTIONS: tuple[str, ...] = ("proxy", *MUON_CONVENTIONS)

#: The groups whose parameters sit inside the residual blocks, which depth transfer rescales:
#: the hidden matrices and the vector-like norm gains and biases. (hpscale's ``vector`` group also
#: holds the final norm, a few parameters that CompleteP keeps depth-independent.)
RESIDUAL_BLOCK_GROUPS: tuple[Group, ...] = ("hidden", "vector")

#: Power Lines' fitted exponent of the optimal timescale in tokens per parameter (Bergsma et al.
#: 2025, arXiv 2505.13738: τ_opt ∝ TPP^−0.527, fit on GPT-like models of 111M–3.3B parameters).
POWER_LINES_EXPONENT = 0.527

#: Fan et al. (2025, arXiv 2510.15262) observe σ_top ≈ C·√(η/λ)·d^0.75 in the steady state.
SIGMA_WIDTH_EXPONENT = 0.75
#: Default relative error to which ``hpscale spectrum`` measures σ_top (0.25 %: half the 0.5 %
#: the diagnostic is specified to; the rules' predictions differ by m^0.25, 19 % at m = 2).
SIGMA_TOP_RTOL = 2.5e-3


@dataclass(frozen=True)
class RuleChoices:
    """Which published rule to apply where the papers offer more than one.

    Each field's allowed values are the matching tuple of ``hpscale.core.rules``
    (``WD_WIDTH_RULES``, ``READOUT_RULES``, …); a value outside it raises ``InputError``
    (a ``ValueError``) naming the field.
    """

    wd_width_rule: WdWidthRule = "timescale"
    readout_rule: ReadoutRule = "mureadout"
    beta_rule: BetaRule = "linear"
    tau_rule: TauRule = "constant"
    tau_exponent: float = POWER_LINES_EXPONENT
    eps_width_rule: EpsWidthRule = "inverse"
    depth_rule: DepthRule = "completep"
    eps_depth_rule: EpsDepthRule = "inverse"
    eps_batch_rule: EpsBatchRule = "sqrt"
    #: Muon groups only (a config with a ``muon`` section); the JSON shows them only there.
    muon_wd_width_rule: str = "timescale"
    muon_convention: str = "proxy"
    lr_horizon_rule: LrHorizonRule = "none"

    def __post_init__(self) -> None:
        for name, allowed in CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise InputError(f"{name}: {value!r}: allowed: {', '.join(allowed)}")
        exponent = self.tau_exponent
        if isinstance(exponent, bool) or not isinstance(exponent, int | float) or not abs(exponent) < 10:
            raise InputError(f"tau_exponent: {exponent!r}: must be a finite number in (-10, 10)")


#: The allowed values of each string field of ``RuleChoices`` (one definition, in ``rules``).
CHOICES: dict[str, tuple[str, ...]] = {
    "wd_width_rule": WD_WIDTH_RULES,
    "readout_rule": READOUT_RULES,
    "beta_rule": BETA_RULES,
    "tau_rule": TAU_RULES,
    "eps_width_rule": EPS_WIDTH_RULES,
    "depth_rule": DEPTH_RULES,
    "eps_depth_rule": EPS_DEPTH_RULES,
    "eps_batch_rule": EPS_BATCH_RULES,
    "muon_wd_width_rule": MUON_WD_WIDTH_RULES,
    "muon_convention": MUON_TARGET_CONVENTIONS,
    "lr_horizon_rule": LR_HORIZON_RULES,
}
#: The choices that only an optimizer besides AdamW reads, and that optimizer (the JSON's
#: ``rules`` shows them only for a run it trains a group of).
OPTIMIZER_CHOICES: dict[str, str] = {"muon_wd_width_rule": "muon", "muon_convention": "muon"}


@dataclass(frozen=True)
class RuleInfo:
    """One rule, declared once: what ``hpscale explain`` shows (``func.__doc__`` holds the
    formula), and what the composition, the report, ``fit``'s verdicts and the law mapping need.

    - ``axis``: the transfer axis its factor is recorded under (a key of
      ``hpscale.core.scale.AXES``; ``None`` for definitions and diagnostics that move nothing);
    - ``hp``: the hyperparameters it moves;
    - ``groups``: the parameter groups it applies to;
    - ``choice``: the ``RuleChoices`` field that picks its variant (``None``: no variant);
    - ``symbols``: variant → the symbol its factor shows (a ``str.format`` template); a variant
      not listed shows as its own name (``wd-width``'s factor shows ``timescale``);
    - ``labels``: variant → the name ``fit``'s verdicts give the prediction.
    """

    key: str
    title: str
    invariant: str
    convention: str
    validity: str
    reference: str
    func: Callable[..., float]
    axis: str | None = None
    hp: tuple[str, ...] = ()
    groups: tuple[Group, ...] = GROUPS
    choice: str | None = None
    symbols: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)

    def symbol(self, variant: str = "", **values: object) -> str:
        """The symbol of the factor of ``variant`` (``values`` fill the template)."""
        template = self.symbols.get(variant, variant)
        return template.format(**values) if values else template

    def label(self, variant: str) -> str:
        """The name ``fit`` gives the prediction of ``variant`` (its symbol when unlabelled)."""
        return self.labels.get(variant, variant)


RULES: dict[str, RuleInfo] = {}

F = TypeVar("F", bound=Callable[..., float])


def rule(
    key: str, *, title: str, invariant: str, convention: str, validity: str, reference: str,
    axis: str | None = None, hp: tuple[str, ...] = (), groups: tuple[Group, ...] = GROUPS,
    choice: str | None = None, symbols: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> Callable[[F], F]:
    """Register a rule function under ``key`` (the name the outputs use) with its declaration
    (see ``RuleInfo``)."""

    def register(func: F) -> F:
        RULES[key] = RuleInfo(key, title, invariant, convention, validity, reference, func, axis, hp,
                              groups, choice, dict(symbols or {}), dict(labels or {}))
        return func

    return register


def factor(key: str, value: float, variant: str = "", *, axis: str | None = None, **values: object) -> Factor:
    """The ``Factor`` of rule ``key`` with ``value``: its axis (``axis`` where a rule is applied
    along another axis than its own, as the timescale rule is along depth) and the symbol of
    ``variant`` from the registry."""
    info = RULES[key]
    recorded = axis or info.axis
    assert recorded is not None, f"rule {key} moves no axis"
    return Factor(key, recorded, info.symbol(variant, **values), value)


def _positive(name: str, value: float) -> None:
    if not 0 < value < math.inf:  # also false for NaN
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def _non_negative(name: str, value: float) -> None:
    if not 0 <= value < math.inf:
        raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")


# ---------------------------------------------------------------------------------------------
# 1. µP width rule — Yang et al. 2022, "Tensor Programs V", arXiv 2203.03466, Table 3
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# 2. AdamW as an EMA — Wang & Aitchison 2024, arXiv 2405.13698
# ---------------------------------------------------------------------------------------------

_WA = "Wang & Aitchison 2024, How to set AdamW's weight decay as you scale model and dataset " \
    "size, arXiv 2405.13698 (τ_iter = 1/(ηλ), τ_epoch = τ_iter/M)"


@rule(
    "tau-iter",
    title="AdamW EMA timescale in iterations",
    invariant="(definition) the number of recent updates the weights average over",
    convention="coupled λ (torch.optim.AdamW); for independent λ_ind, τ_iter = 1/λ_ind",
    validity="λ > 0 (λ = 0 means an infinite timescale: no forgetting)",
    reference=_WA,
)
def tau_iter(lr: float, weight_decay: float) -> float:
    """τ_iter = 1 / (η·λ), in optimizer steps (coupled convention); ∞ when λ = 0.

    Symbols: η = learning rate, λ = coupled weight decay.
    """
    _positive("lr", lr)
    _non_negative("weight_decay", weight_decay)
    if weight_decay == 0:
        return math.inf
    steps = 1.0 / lr / weight_decay  # step by step: η·λ may underflow where 1/(η·λ) is finite
    if not steps < math.inf:
        raise ValueError(f"1/(η·λ) overflows for η = {lr!r}, λ = {weight_decay!r}")
    return steps


@rule(
    "tau-epoch",
    labels={"constant": "constant τ"},
    title="AdamW EMA timescale in epochs",
    invariant="the optimal τ_epoch is roughly constant across model and dataset size",
    convention="coupled λ (torch.optim.AdamW)",
    validity="λ > 0; τ_epoch ≪ 1 forgets data, τ_epoch ≫ run length leaves decay inactive",
    reference=_WA,
)
def tau_epoch(lr: float, weight_decay: float, batch_size: float, dataset_size: float) -> float:
    """τ_epoch = τ_iter / M = B / (η·λ·N), with M = N/B iterations per epoch; ∞ when λ = 0.

    Symbols: η = learning rate, λ = coupled weight decay, B = batch size per step,
    N = dataset size per epoch (same unit as B).
    """
    _positive("batch_size", batch_size)
    _positive("dataset_size", dataset_size)
    return tau_iter(lr, weight_decay) * batch_size / dataset_size


@rule(
    "tau-epoch-inverse",
    title="Weight decay (or LR) that gives a chosen τ_epoch",
    invariant="τ_epoch is the given value",
    convention="coupled λ (torch.optim.AdamW)",
    validity="τ_epoch > 0",
    reference=_WA,
)
def weight_decay_for_tau_epoch(
    lr: float, tau_epoch_target: float, batch_size: float, dataset_size: float
) -> float:
    """λ = B / (η·τ_epoch·N). By the symmetry of η·λ, the LR for a given λ is the same
    expression with η and λ swapped: ``weight_decay_for_tau_epoch(λ, τ, B, N)`` returns η.

    Symbols as in ``tau_epoch``.
    """
    for name, value in (("lr", lr), ("tau_epoch", tau_epoch_target),
                        ("batch_size", batch_size), ("dataset_size", dataset_size)):
        _positive(name, value)
    # Divide step by step: the product η·τ·N can underflow to 0 (or overflow) where the
    # quotient is still representable.
    solved = batch_size / dataset_size / lr / tau_epoch_target
    if not 0 < solved < math.inf:
        raise ValueError(f"B/(η·τ_epoch·N) = {solved!r} is outside the floating-point range")
    return solved


@rule(
    "timescale-wd",
    axis="dataset", hp=("weight_decay",), symbols={"": "1/ν", "depth": "1/η-depth", "horizon": "1/η-horizon"},
    labels={"constant": "constant τ"},
    title="Timescale weight-decay rule (keep τ_epoch per group)",
    invariant="τ_epoch = B/(η·λ·N) of every group; under µP also τ_iter = 1/(η·λ)",
    convention="coupled λ; for independent λ_ind = η·λ the rule reads λ_ind × κ/ν",
    validity="any positive ratios; the paper validates width and dataset size",
    reference=_WA + "; the mup library's MuAdamW scales weight_decay by width_mult likewise",
)
def timescale_weight_decay_factor(lr_ratio: float, batch_ratio: float, dataset_ratio: float) -> float:
    """λ_target / λ_proxy = (η_proxy / η_target) · κ / ν, which keeps τ_epoch = B/(η·λ·N).

    Under µP (hidden η × 1/m) this gives hidden λ × m; with the square-root batch rule
    (η × √κ) the batch part is λ × √κ; with more data at fixed η and B it is λ × 1/ν.

    Symbols: lr_ratio = η_target/η_proxy, κ = batch ratio, ν = dataset ratio.
    """
    for name, value in (("lr ratio", lr_ratio), ("κ", batch_ratio), ("ν", dataset_ratio)):
        _positive(name, value)
    return batch_ratio / (lr_ratio * dataset_ratio)


@rule(
    "coupled-to-independent",
    axis="convention", hp=("weight_decay",), symbols={"": "η_t/η_p"},
    title="Weight-decay convention conversion",
    invariant="the same per-step decay w ← (1 − η·λ)·w",
    convention="coupled (torch.optim.AdamW, optax.adamw: the decay is multiplied by the LR — "
    "PyTorch calls it 'decoupled' because it is decoupled from the gradient) ↔ independent "
    "(Loshchilov & Hutter's fully decoupled decay, not multiplied by the LR)",
    validity="η > 0",
    reference="Loshchilov & Hutter 2019, Decoupled Weight Decay Regularization, arXiv 1711.05101; "
    "PyTorch torch.optim.AdamW documentation",
)
def to_independent(lr: float, weight_decay_coupled: float) -> float:
    """λ_ind = η·λ: the per-step decay fraction of the independent convention."""
    _positive("lr", lr)
    _non_negative("weight_decay", weight_decay_coupled)
    return lr * weight_decay_coupled


def to_coupled(lr: float, weight_decay_independent: float) -> float:
    """λ = λ_ind / η: the inverse of ``to_independent`` (see its entry in ``RULES``)."""
    _positive("lr", lr)
    _non_negative("weight_decay", weight_decay_independent)
    return weight_decay_independent / lr


# ---------------------------------------------------------------------------------------------
# 3. √d weight decay — Fan, Liu, Zhao, Yuan, Gu 2025, arXiv 2510.15262
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# 4. Adam square-root batch rule — Malladi, Lyu, Panigrahi, Arora 2022, arXiv 2205.10287
# ---------------------------------------------------------------------------------------------

_MALLADI = "Malladi, Lyu, Panigrahi & Arora 2022, On the SDEs and Scaling Rules for Adaptive " \
    "Gradient Algorithms, arXiv 2205.10287 (square-root scaling rule, Definition 4.2)"


@rule(
    "sqrt-batch-lr",
    axis="batch", hp=("lr",), symbols={"": "√κ"}, labels={"sqrt": "√κ"},
    title="Adam learning rate vs batch size (square-root rule)",
    invariant="the SDE of Adam at the same number of samples seen",
    convention="independent of the weight-decay convention",
    validity="below the critical batch size; together with the β and ε rules",
    reference=_MALLADI,
)
def sqrt_batch_lr_factor(batch_ratio: float) -> float:
    """η_target = η_proxy · √κ.  Symbols: κ = B_target / B_proxy."""
    _positive("batch ratio κ", batch_ratio)
    return math.sqrt(batch_ratio)


def beta_batch_limit(beta: float) -> float:
    """The largest κ for which ``adam_beta_for_batch`` (linear) is defined: κ ≤ 1/(1 − β)
    (β̂ = 0 at the limit)."""
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must be in [0, 1), got {beta!r}")
    return 1.0 / (1.0 - beta)


@rule(
    "sqrt-batch-beta",
    axis="batch", hp=("betas",), choice="beta_rule",
    title="Adam β1, β2 vs batch size",
    invariant="the averaging window of Adam's moments in samples, 1/(1 − β) steps × B",
    convention="independent of the weight-decay convention",
    validity="linear form defined for κ(1 − β) ≤ 1 (β̂ in [0, 1)); the exponential form β^κ "
    "agrees to first order and keeps the moment's half-life fixed in samples (tokens) at every κ, "
    "so it stays defined where the linear form stops; ``keep`` leaves β as it is (a team "
    "policy, not a rule: the window in samples then grows with the batch)",
    reference=f"{_MALLADI} (linear); Marek et al. 2025, Small Batch Size Training for Language "
    "Models: When Vanilla SGD Works, and Why Gradient Accumulation Is Wasteful, arXiv 2507.07101 "
    "(abstract: β2's half-life held fixed in tokens; exponential form)",
)
def adam_beta_for_batch(beta: float, batch_ratio: float, form: BetaRule = "linear") -> float:
    """linear (Malladi et al.): β̂ = 1 − κ·(1 − β);  exponential (Marek et al.): β̂ = β^κ;
    keep: β̂ = β.

    The exponential form keeps the half-life h = ln ½ / ln β (in steps) times B, i.e. the
    half-life in samples (tokens), exactly; it is the model-EMA rule's form, composes exactly
    ((β^κ₁)^κ₂ = β^(κ₁κ₂)) and is defined at every κ > 0. The linear form agrees to first order
    in κ(1 − β) and stops at κ(1 − β) ≥ 1.

    Symbols: β = β1 or β2 of the proxy, in [0, 1); κ = B_target / B_proxy.
    Raises ``ValueError`` when the linear form leaves [0, 1), i.e. κ > 1/(1 − β).
    """
    _positive("batch ratio κ", batch_ratio)
    limit = beta_batch_limit(beta)
    if form == "keep":
        return beta
    if form == "exponential":
        return beta**batch_ratio
    if form != "linear":
        raise ValueError(f"unknown beta rule {form!r}; allowed: {BETA_RULES}")
    new_beta = 1.0 - batch_ratio * (1.0 - beta)
    # 1 − 0.9 is 0.0999…98 in binary: κ = 10 at β = 0.9 lands on ±2e-16, not on 0. A value
    # within rounding of 0 is the limit itself, β̂ = 0 (still inside [0, 1)).
    if abs(new_beta) <= 1e-12:
        return 0.0
    if new_beta < 0:
        raise ValueError(f"κ = {batch_ratio:g} > 1/(1 − β) = {limit:g} for β = {beta:g}")
    return new_beta


@rule(
    "sqrt-batch-eps",
    axis="batch", hp=("eps",), choice="eps_batch_rule", symbols={"sqrt": "1/√κ", "keep": "keep"},
    title="Adam ε vs batch size",
    invariant="ε's size relative to √v, whose noise part scales as 1/√B",
    convention="independent of the weight-decay convention",
    validity="as the square-root LR rule",
    reference=_MALLADI,
)
def sqrt_batch_eps_factor(batch_ratio: float, form: EpsBatchRule = "sqrt") -> float:
    """sqrt: ε_target = ε_proxy / √κ;  keep: ε_target = ε_proxy (a team policy, not a rule).

    Symbols: κ = B_target / B_proxy.
    """
    _positive("batch ratio κ", batch_ratio)
    if form == "keep":
        return 1.0
    if form != "sqrt":
        raise ValueError(f"unknown ε batch rule {form!r}; allowed: {EPS_BATCH_RULES}")
    return 1.0 / math.sqrt(batch_ratio)


@rule(
    "sqrt-batch-wd",
    axis="batch", hp=("weight_decay",), symbols={"": "√κ"}, labels={"sqrt": "√κ"},
    title="Weight decay vs batch size",
    invariant="τ_epoch (with η × √κ, λ × √κ keeps η·λ/B, hence B/(η·λ·N))",
    convention="coupled λ; independent λ_ind = η·λ scales as κ",
    validity="as the square-root LR rule; Malladi et al. do not state it: it follows from "
    "the timescale rule and is what public trainers do",
    reference=f"{_WA}, composed with {_MALLADI}",
)
def sqrt_batch_weight_decay_factor(batch_ratio: float) -> float:
    """λ_target = λ_proxy · √κ (coupled), the timescale rule evaluated at η × √κ.

    Symbols: κ = B_target / B_proxy.
    """
    _positive("batch ratio κ", batch_ratio)
    return math.sqrt(batch_ratio)


@rule(
    "warmup-samples",
    axis="batch", hp=("warmup_steps",), symbols={"": "1/κ"},
    title="LR warmup vs batch size",
    invariant="the number of samples (tokens) the warmup covers, w·B",
    convention="independent of the weight-decay convention",
    validity="warmup defined by data seen, as in the cited practice; the dataset size does not "
    "move it (GPT-3 kept 375M warmup tokens for every model and run length)",
    reference="Goyal et al. 2017, Accurate, Large Minibatch SGD, arXiv 1706.02677 (warmup in "
    "epochs when the batch grows); Brown et al. 2020, Language Models are Few-Shot Learners, "
    "arXiv 2005.14165, Appendix B (warmup over the first 375M tokens at every size)",
)
def warmup_steps_for_batch(warmup_steps: float, batch_ratio: float) -> float:
    """w_target = w_proxy / κ, which keeps the warmup's samples w·B.

    Symbols: w = warmup length in optimizer steps, κ = B_target / B_proxy. The result is not
    rounded; a schedule takes the nearest whole step.
    """
    _non_negative("warmup_steps", warmup_steps)
    _positive("batch ratio κ", batch_ratio)
    return warmup_steps / batch_ratio


# ---------------------------------------------------------------------------------------------
# 5. Model EMA — Busbridge et al. 2023, arXiv 2307.13813
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Beyond the seeds: dataset horizon, depth, ε vs width
# ---------------------------------------------------------------------------------------------


@rule(
    "power-lines",
    axis="horizon", hp=("weight_decay",), choice="tau_rule", symbols={"": "TPP^{exponent:g}"},
    labels={"power-lines": "Power Lines"},
    title="Token-horizon timescale (Power Lines)",
    invariant="τ follows the fitted optimum τ_opt ∝ TPP^−0.527 instead of staying constant",
    convention="coupled λ",
    validity="fit on GPT-like models of 111M–3.3B parameters, where TPP = D/N is training tokens "
    "per model parameter; hpscale takes N from model.params when the config states it (state the "
    "count the paper's N uses for your family; whether the paper counts embeddings was not "
    "verified), else estimates the non-embedding count 12·L·W² (Kaplan et al. 2020, arXiv "
    "2001.08361). Only the TPP ratio target/proxy enters; beyond ×64 either way the fit is far "
    "extrapolated (a warning)",
    reference="Bergsma et al. 2025, Power Lines: Scaling Laws for Weight Decay and Batch Size in "
    "LLM Pre-training, arXiv 2505.13738",
)
def power_lines_tau_factor(tpp_ratio: float, exponent: float = POWER_LINES_EXPONENT) -> float:
    """τ_target / τ_proxy = (TPP_t / TPP_p)^−a, a = 0.527 by default.

    Since τ = B/(η·λ·D), the weight decay picks up the inverse factor (TPP_t/TPP_p)^a on top of
    the constant-τ rule: with more data at a fixed model, λ ∝ D^(a−1) = D^−0.473, i.e. λ falls
    *more slowly* than 1/ν.

    Symbols: TPP = training tokens / parameters; a = fitted exponent.
    """
    _positive("TPP ratio", tpp_ratio)
    if not math.isfinite(exponent):
        raise ValueError(f"exponent must be finite, got {exponent!r}")
    return tpp_ratio**-exponent


class LrHorizonLaw(NamedTuple):
    """One published law's exponent of the optimal lr in the token horizon D at a fixed model,
    and where the law was fitted (its quantities as in ``hpscale/laws/NAME.yaml``)."""

    exponent: float
    fitted_range: Mapping[str, tuple[float, float]]
    source: str


#: The lr's exponent in D at a fixed model size, per ``lr_horizon_rule``, read off the two shipped
#: (verified) laws; tests/test_lr_horizon.py pins each to its law file. DeepSeek's η ∝ C^−0.125
#: with C = M·D gives D^−0.125 at fixed M; Step Law's η ∝ N^−0.713·D^0.307 gives D^+0.3075 at
#: fixed N (the authors' released mean). Bjorck et al. (arXiv 2409.19913) fit D^−β too, but its
#: β could not be read in the paper itself for this release, so it is not a choice.
LR_HORIZON_LAWS: dict[str, LrHorizonLaw] = {
    "deepseek": LrHorizonLaw(-0.125, {"compute": (1.0e17, 2.0e19)},
                             "DeepSeek LLM, arXiv 2401.02954 §3.1 Formula 1 (hpscale/laws/deepseek.yaml)"),
    "steplaw": LrHorizonLaw(0.3075, {"non_embedding_params": (214663680.0, 1073741824.0),
                                     "tokens": (4.0e9, 1.0e11)},
                            "Step Law, arXiv 2503.04715; step-law/steplaw@32a8f4c released fit "
                            "(hpscale/laws/steplaw.yaml)"),
}


@rule(
    "lr-horizon",
    axis="dataset", hp=("lr",), choice="lr_horizon_rule",
    symbols={"deepseek": "ν^−0.125", "steplaw": "ν^0.3075"},
    labels={"deepseek": "DeepSeek D^−0.125", "steplaw": "Step Law D^0.3075"},
    title="Adam lr vs token horizon (DeepSeek, Step Law)",
    invariant="the law's optimal lr, η* ∝ D^a at a fixed model size, instead of a constant η",
    convention="independent of the weight-decay convention; the weight decay keeps τ_epoch "
    "(timescale-wd × 1/f along the data)",
    validity="the laws disagree in sign: DeepSeek a = −0.125 (fit on compute budgets 1e17–2e19 "
    "FLOPs), Step Law a = +0.3075 (N 215M–1.07B non-embedding parameters, D 4e9–1e11 tokens); "
    "both fitted in standard parametrization for one global lr, both for token counts; a target "
    "outside the chosen law's fitted range is flagged. ``none`` (the default) keeps η",
    reference="Bi et al. 2024, DeepSeek LLM, arXiv 2401.02954, §3.1 Formula 1 (η = 0.3118·C^−0.1250, "
    "C = M·D); Li et al. 2025, Predictable Scale: Part I (Step Law), arXiv 2503.04715 "
    "(η = 1.79·N^−0.713·D^0.307; the authors' released fit, step-law/steplaw@32a8f4c)",
)
def lr_horizon_factor(dataset_ratio: float, horizon_rule: LrHorizonRule = "none") -> float:
    """η_target / η_proxy = (D_t / D_p)^a, a the chosen law's exponent in D at a fixed model
    (``LR_HORIZON_LAWS``): ν^−0.125 under ``deepseek``, ν^0.3075 under ``steplaw``, 1 under
    ``none``.

    Symbols: D = training tokens (dataset size × epochs; proxy and target share the epochs, so
    D_t/D_p = ν, the dataset ratio); a = exponent.

    Worked: ν = 10 → deepseek 0.7499, steplaw 2.0300; ν = 1 → 1 under every rule.
    """
    _positive("dataset ratio ν", dataset_ratio)
    if horizon_rule == "none":
        return 1.0
    if horizon_rule not in LR_HORIZON_LAWS:
        raise ValueError(f"unknown lr horizon rule {horizon_rule!r}; allowed: {LR_HORIZON_RULES}")
    return dataset_ratio ** LR_HORIZON_LAWS[horizon_rule].exponent


_DEPTH = "Dey et al. 2025, Don't be lazy: CompleteP enables compute-efficient deep " \
    "transformers, arXiv 2505.01618 (α = 1); Yang et al. 2023, Tensor Programs VI: Feature " \
    "Learning in Infinite-Depth Neural Networks, arXiv 2310.02244 (depth-µP, α = ½)"


def depth_alpha(depth_rule: DepthRule) -> float:
    """α of the residual-branch scaling: 1 for CompleteP, ½ for depth-µP."""
    if depth_rule == "completep":
        return 1.0
    if depth_rule == "depth-mup":
        return 0.5
    raise ValueError(f"unknown depth rule {depth_rule!r}; allowed: {DEPTH_RULES}")


@rule(
    "depth-residual",
    axis="depth", hp=("residual_multiplier",), choice="depth_rule",
    title="Residual-branch multiplier vs depth",
    invariant="each block's contribution to the residual stream scales as 1/L^α",
    convention="independent of the weight-decay convention",
    validity="proxy and target differ by whole blocks; proxy trained with the same α",
    reference=_DEPTH,
)
def depth_residual_multiplier_factor(depth_ratio: float, depth_rule: DepthRule) -> float:
    """residual multiplier × m_L^−α.  Symbols: m_L = L_target/L_proxy; α by ``depth_alpha``."""
    _positive("depth ratio m_L", depth_ratio)
    return depth_ratio ** -depth_alpha(depth_rule)


@rule(
    "depth-lr",
    axis="depth", hp=("lr",), groups=RESIDUAL_BLOCK_GROUPS, choice="depth_rule",
    labels={"completep": "CompleteP", "depth-mup": "depth-µP"},
    title="Residual-block learning rate vs depth (Adam)",
    invariant="the per-block update size with residual branches scaled by L^−α",
    convention="independent of the weight-decay convention",
    validity="as depth-residual; applied to the residual-block groups (hidden matrices and the "
    "vector group's in-block norm gains and biases), as CompleteP's reference code does; the "
    "weight decay keeps η·λ (timescale-wd), where that code keeps λ",
    reference=_DEPTH + "; CompleteP reference code (EleutherAI nanoGPT-mup, completep branch, "
    "configure_optimizers: lr_scale m_L^(α−1) for in-block weights, norms and biases)",
)
def depth_lr_factor(depth_ratio: float, depth_rule: DepthRule) -> float:
    """Residual-block η × m_L^(α−1): × 1 under CompleteP (α = 1), × 1/√m_L under depth-µP (α = ½).

    Symbols: m_L = L_target / L_proxy. Applies to ``RESIDUAL_BLOCK_GROUPS``.
    """
    _positive("depth ratio m_L", depth_ratio)
    return depth_ratio ** (depth_alpha(depth_rule) - 1.0)


@rule(
    "depth-eps",
    axis="depth", hp=("eps",), groups=RESIDUAL_BLOCK_GROUPS, choice="eps_depth_rule",
    symbols={"inverse": "m_L^−α", "constant": "kept"},
    title="Adam ε vs depth",
    invariant="ε keeps its size relative to the hidden gradients, which scale as L^−α when "
    "residual branches are multiplied by L^−α",
    convention="independent of the weight-decay convention",
    validity="as depth-residual; the residual-block groups (hidden and vector); embedding and "
    "readout ε do not depend on depth; ``constant`` keeps ε",
    reference=_DEPTH + " (Table 1, Eq. 40); CompleteP reference code (EleutherAI nanoGPT-mup, "
    "completep branch, configure_optimizers: every in-block parameter — weights, norm gains, "
    "biases — gets ε·(1/m)·m_L^−α, embedding, unembedding and the final norm ε·(1/m))",
)
def depth_eps_factor(depth_ratio: float, depth_rule: DepthRule, form: EpsDepthRule = "inverse") -> float:
    """Residual-block ε × m_L^−α under ``inverse``: × 1/m_L under CompleteP (α = 1), × 1/√m_L
    under depth-µP (α = ½); × 1 under ``constant``.

    Symbols: m_L = L_target / L_proxy; α by ``depth_alpha``. Applies to ``RESIDUAL_BLOCK_GROUPS``.
    """
    _positive("depth ratio m_L", depth_ratio)
    if form == "constant":
        return 1.0
    if form != "inverse":
        raise ValueError(f"unknown ε depth rule {form!r}; allowed: {EPS_DEPTH_RULES}")
    return depth_ratio ** -depth_alpha(depth_rule)


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
