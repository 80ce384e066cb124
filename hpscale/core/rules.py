"""The scaling rules, one pure function each. No I/O, no printing, only ``math``.

Every rule states its formula, its symbols, the weight-decay convention it assumes and the
paper it comes from. Rules are written for the *coupled* convention of ``torch.optim.AdamW``
(each step ``w ← w − η·λ·w − η·update``); ``to_independent`` / ``to_coupled`` convert.

Notation used throughout:

- η: peak learning rate of one parameter group
- λ: the ``weight_decay`` argument (coupled unless said otherwise)
- B: batch size per optimizer step; N: dataset size per epoch (same unit as B)
- m = W_target / W_proxy: width ratio; κ = B_target / B_proxy: batch ratio;
  ν = N_target / N_proxy: dataset ratio; m_L = L_target / L_proxy: depth ratio
- ρ: model-EMA decay; β1, β2, ε: Adam's moment decays and epsilon

Each rule registers itself in ``RULES`` with the invariant it keeps and its validity limits,
so ``hpscale explain`` prints exactly the text the numbers come from.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

Group = Literal["embedding", "hidden", "readout", "vector"]
GROUPS: tuple[Group, ...] = ("embedding", "hidden", "readout", "vector")

ReadoutRule = Literal["mureadout", "table3"]
WdWidthRule = Literal["timescale", "sqrt", "constant"]
BetaRule = Literal["linear", "exponential"]
TauRule = Literal["constant", "power-lines"]
EpsWidthRule = Literal["constant", "inverse"]
DepthRule = Literal["completep", "depth-mup"]

READOUT_RULES: tuple[ReadoutRule, ...] = ("mureadout", "table3")
WD_WIDTH_RULES: tuple[WdWidthRule, ...] = ("timescale", "sqrt", "constant")
BETA_RULES: tuple[BetaRule, ...] = ("linear", "exponential")
TAU_RULES: tuple[TauRule, ...] = ("constant", "power-lines")
EPS_WIDTH_RULES: tuple[EpsWidthRule, ...] = ("constant", "inverse")
DEPTH_RULES: tuple[DepthRule, ...] = ("completep", "depth-mup")

#: Power Lines' fitted exponent of the optimal timescale in tokens per parameter (Bergsma et al.
#: 2025, arXiv 2505.13738: τ_opt ∝ TPP^−0.527, fit on GPT-like models of 111M–3.3B parameters).
POWER_LINES_EXPONENT = 0.527

#: Fan et al. (2025, arXiv 2510.15262) observe σ_top ≈ C·√(η/λ)·d^0.75 in the steady state.
SIGMA_WIDTH_EXPONENT = 0.75
#: Default relative error to which ``hpscale spectrum`` measures σ_top (0.25 %: half the 0.5 %
#: the diagnostic is specified to; the rules' predictions differ by m^0.25, 19 % at m = 2).
SIGMA_TOP_RTOL = 2.5e-3


@dataclass(frozen=True)
class RuleInfo:
    """What ``hpscale explain`` shows for one rule; ``func.__doc__`` holds the formula."""

    key: str
    title: str
    invariant: str
    convention: str
    validity: str
    reference: str
    func: Callable[..., float]


RULES: dict[str, RuleInfo] = {}

F = TypeVar("F", bound=Callable[..., float])


def rule(
    key: str, *, title: str, invariant: str, convention: str, validity: str, reference: str
) -> Callable[[F], F]:
    """Register a rule function under ``key`` (the name the outputs use)."""

    def register(func: F) -> F:
        RULES[key] = RuleInfo(key, title, invariant, convention, validity, reference, func)
        return func

    return register


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
    product = lr * weight_decay
    return math.inf if product == 0 else 1.0 / product


@rule(
    "tau-epoch",
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
    return batch_size / (lr * tau_epoch_target * dataset_size)


@rule(
    "timescale-wd",
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
    title="Weight-decay convention conversion",
    invariant="the same per-step decay w ← (1 − η·λ)·w",
    convention="coupled (torch.optim.AdamW, optax.adamw) ↔ independent (Loshchilov & Hutter)",
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
    title="Weight decay vs width (the three published answers)",
    invariant="timescale: η·λ per group; sqrt: σ_top of matrix-like weights; constant: λ itself",
    convention="coupled λ",
    validity="sqrt: normalized networks in the optimizer-governed steady state; it sets "
    "vector-like λ (embedding, vector, readout as in mup) to 0",
    reference=f"timescale: {_WA}; sqrt: {_FAN}; constant: plain µP (Tensor Programs V, which "
    "does not transfer regularization)",
)
def weight_decay_width_factor(
    group: Group, width_ratio: float, rule_name: WdWidthRule, readout_rule: ReadoutRule
) -> float:
    """Width factor of the coupled weight decay: λ_target = λ_proxy · w(group, m, rule).

    - ``timescale``: w = 1 / f_µP(group, m), so η·λ (τ_iter) is unchanged: hidden × m.
    - ``sqrt``: hidden × √m; every vector-like group (embedding, vector, and readout, which
      hpscale classifies as vector-like as the mup library does) × 0, i.e. λ = 0.
    - ``constant``: × 1 (plain µP).

    Symbols: m = W_target / W_proxy; f_µP as in ``mup_lr_width_factor``.
    """
    _positive("width ratio m", width_ratio)
    if rule_name == "timescale":
        return 1.0 / mup_lr_width_factor(group, width_ratio, readout_rule)
    if rule_name == "sqrt":
        return math.sqrt(width_ratio) if group == "hidden" else 0.0
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
    """The largest κ for which ``adam_beta_for_batch`` (linear) is defined: κ < 1/(1 − β)."""
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must be in [0, 1), got {beta!r}")
    return 1.0 / (1.0 - beta)


@rule(
    "sqrt-batch-beta",
    title="Adam β1, β2 vs batch size",
    invariant="the averaging window of Adam's moments in samples, 1/(1 − β) steps × B",
    convention="independent of the weight-decay convention",
    validity="linear form defined only for κ(1 − β) < 1; the exponential form β^κ agrees to "
    "first order and is offered as a named option",
    reference=_MALLADI,
)
def adam_beta_for_batch(beta: float, batch_ratio: float, form: BetaRule = "linear") -> float:
    """linear (the paper's rule): β̂ = 1 − κ·(1 − β);  exponential: β̂ = β^κ.

    Symbols: β = β1 or β2 of the proxy, κ = B_target / B_proxy.
    Raises ``ValueError`` when the linear form leaves [0, 1), i.e. κ ≥ 1/(1 − β).
    """
    _positive("batch ratio κ", batch_ratio)
    limit = beta_batch_limit(beta)
    if form == "exponential":
        return beta**batch_ratio
    if form != "linear":
        raise ValueError(f"unknown beta rule {form!r}; allowed: {BETA_RULES}")
    new_beta = 1.0 - batch_ratio * (1.0 - beta)
    # 1 − 0.9 is 0.0999…98 in binary, so test the product with a rounding margin: κ = 10 at
    # β = 0.9 must be refused, not turned into β̂ = 2e-16.
    if new_beta <= 1e-12:
        raise ValueError(f"κ = {batch_ratio:g} ≥ 1/(1 − β) = {limit:g} for β = {beta:g}")
    return new_beta


@rule(
    "sqrt-batch-eps",
    title="Adam ε vs batch size",
    invariant="ε's size relative to √v, whose noise part scales as 1/√B",
    convention="independent of the weight-decay convention",
    validity="as the square-root LR rule",
    reference=_MALLADI,
)
def sqrt_batch_eps_factor(batch_ratio: float) -> float:
    """ε_target = ε_proxy / √κ.  Symbols: κ = B_target / B_proxy."""
    _positive("batch ratio κ", batch_ratio)
    return 1.0 / math.sqrt(batch_ratio)


@rule(
    "sqrt-batch-wd",
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
    title="Token-horizon timescale (Power Lines)",
    invariant="τ follows the fitted optimum τ_opt ∝ TPP^−0.527 instead of staying constant",
    convention="coupled λ",
    validity="fit on GPT-like models of 111M–3.3B parameters; TPP = tokens per parameter",
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
    title="Hidden learning rate vs depth (Adam)",
    invariant="the per-block update size with residual branches scaled by L^−α",
    convention="independent of the weight-decay convention",
    validity="as depth-residual; hpscale applies it to the hidden group only, while CompleteP's "
    "reference code also applies m_L^(α−1) to in-block norm gains and biases (no difference at "
    "α = 1); the weight decay keeps η·λ (timescale-wd), where that code keeps λ under α = ½",
    reference=_DEPTH,
)
def depth_lr_factor(depth_ratio: float, depth_rule: DepthRule) -> float:
    """hidden η × m_L^(α−1): × 1 under CompleteP (α = 1), × 1/√m_L under depth-µP (α = ½).

    Symbols: m_L = L_target / L_proxy.
    """
    _positive("depth ratio m_L", depth_ratio)
    return depth_ratio ** (depth_alpha(depth_rule) - 1.0)


@rule(
    "depth-eps",
    title="Adam ε vs depth",
    invariant="ε keeps its size relative to the hidden gradients, which scale as L^−α when "
    "residual branches are multiplied by L^−α",
    convention="independent of the weight-decay convention",
    validity="as depth-residual; hidden group only (the reference code keeps embedding and "
    "final-norm ε depth-independent)",
    reference=_DEPTH + "; CompleteP reference code (EleutherAI nanoGPT-mup, completep branch, "
    "configure_optimizers: hidden Adam ε, Eq. 40 of arXiv 2505.01618)",
)
def depth_eps_factor(depth_ratio: float, depth_rule: DepthRule) -> float:
    """hidden ε × m_L^−α: × 1/m_L under CompleteP (α = 1), × 1/√m_L under depth-µP (α = ½).

    Symbols: m_L = L_target / L_proxy; α by ``depth_alpha``.
    """
    _positive("depth ratio m_L", depth_ratio)
    return depth_ratio ** -depth_alpha(depth_rule)


@rule(
    "eps-width",
    title="Adam ε vs width",
    invariant="ε keeps its size relative to the hidden gradients, which shrink as 1/m under µP",
    convention="independent of the weight-decay convention",
    validity="µP-trained proxy; hpscale rescales the hidden group only (the mup/CompleteP "
    "reference code also scales embedding and readout ε by 1/m)",
    reference="Everett et al. 2024, Scaling Exponents Across Parameterizations and Optimizers, "
    "arXiv 2407.05872",
)
def eps_width_factor(group: Group, width_ratio: float, eps_rule: EpsWidthRule) -> float:
    """hidden ε × 1/m under ``inverse``; × 1 for other groups and under ``constant``.

    Symbols: m = W_target / W_proxy.
    """
    _positive("width ratio m", width_ratio)
    if eps_rule == "inverse" and group == "hidden":
        return 1.0 / width_ratio
    return 1.0
