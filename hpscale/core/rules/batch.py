"""Adam vs batch size: the square-root learning-rate rule, β1/β2, ε, weight decay and warmup.

Malladi, Lyu, Panigrahi & Arora 2022, "On the SDEs and Scaling Rules for Adaptive Gradient
Algorithms", arXiv 2205.10287 (square-root scaling rule, Definition 4.2); Marek et al. 2025,
arXiv 2507.07101 (β's exponential form); the warmup after Goyal et al. 2017, arXiv 1706.02677,
and Brown et al. 2020, arXiv 2005.14165. Symbols and conventions: ``hpscale.core.rules``.
"""

from __future__ import annotations

import math

from .registry import BETA_RULES, EPS_BATCH_RULES, BetaRule, EpsBatchRule, _non_negative, _positive, rule
from .timescale import _WA

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
