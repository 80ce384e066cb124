"""AdamW (``torch.optim.AdamW``), declared once: its hyperparameters, groups and rules.

Per group: η by µP (Tensor Programs V), depth (CompleteP / depth-µP), the square-root batch
rule (Malladi et al.) and, when chosen, a published law's token horizon (``lr_horizon_rule``); the coupled λ by the weight-decay width rule, the timescale rule along
depth, batch and data (Wang & Aitchison) and Power Lines' horizon; init std and the forward
multiplier by µP; ε by batch, width and depth. β1, β2 are run-wide (``hpscale.core.compose``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

from ...errors import InputError
from .. import rules as R
from ..law import law_factors
from ..rules import RuleChoices
from ..scale import TOKENS_PER_PARAM, Factor, Ratios
from ..transfer_result import GroupResult, Quantity
from .base import (
    GroupContext,
    OptimizerSpec,
    RuleLine,
    group_timescales,
    model_quantities,
    product,
    rule_exponent,
)


class Shared(NamedTuple):
    """The factors that are the same for every AdamW group (built once per transfer)."""

    batch_lr: Factor
    batch_wd: Factor
    dataset_wd: Factor
    horizon_wd: Factor | None
    batch_eps: Factor
    #: The lr's token-horizon law (``lr_horizon_rule``), None under ``none``.
    horizon_lr: Factor | None = None


def prepare(ratios: Ratios, choices: RuleChoices) -> Shared:
    """The batch, dataset and horizon factors every AdamW group shares."""
    kappa = ratios.batch
    horizon = None
    if ratios.tokens_per_param is not None:
        tau = R.power_lines_tau_factor(ratios.tokens_per_param, choices.tau_exponent)
        horizon = R.factor("power-lines", 1.0 / tau, exponent=choices.tau_exponent)
    horizon_lr = None
    if choices.lr_horizon_rule != "none":
        horizon_lr = R.factor("lr-horizon", R.lr_horizon_factor(ratios.dataset, choices.lr_horizon_rule),
                              choices.lr_horizon_rule)
    return Shared(
        horizon_lr=horizon_lr,
        batch_lr=R.factor("sqrt-batch-lr", R.sqrt_batch_lr_factor(kappa)),
        batch_wd=R.factor("sqrt-batch-wd", R.sqrt_batch_weight_decay_factor(kappa)),
        dataset_wd=R.factor("timescale-wd", R.timescale_weight_decay_factor(1.0, 1.0, ratios.dataset)),
        horizon_wd=horizon,
        batch_eps=R.factor("sqrt-batch-eps", R.sqrt_batch_eps_factor(kappa, choices.eps_batch_rule),
                           choices.eps_batch_rule),
    )


def compose_group(ctx: GroupContext) -> GroupResult:
    """One AdamW group's target values; every factor names its rule (a key of ``RULES``, or
    ``law:<name>`` where a fitted law replaces the rules of an axis)."""
    group, values, ratios, choices, shared = ctx.group, ctx.values, ctx.ratios, ctx.choices, ctx.prepared
    m, m_depth = ratios.width, ratios.depth
    in_blocks = m_depth is not None and group in R.RESIDUAL_BLOCK_GROUPS
    # η: µP width, depth (residual blocks), square-root batch.
    lr_factors = [R.factor("mup-lr", R.mup_lr_width_factor(group, m, choices.readout_rule))]
    if in_blocks:
        assert m_depth is not None
        lr_factors.append(R.factor("depth-lr", R.depth_lr_factor(m_depth, choices.depth_rule), choices.depth_rule))
    lr_factors.append(shared.batch_lr)
    if shared.horizon_lr is not None:
        lr_factors.append(shared.horizon_lr)
    lr_factors = law_factors(lr_factors, "lr", group, ctx.law, ratios, ctx.params_ratio)
    lr_t = values.lr * product(lr_factors)
    # The lr's horizon law moves η along the data; λ × 1/f keeps τ_epoch (the timescale rule), unless
    # a fitted law replaced that factor.
    horizon = next((f for f in lr_factors if f.rule == "lr-horizon"), None)
    # Coupled λ: width rule; depth keeps η·λ (timescale); √κ and 1/ν keep τ_epoch; Power Lines
    # moves τ with tokens per parameter.
    wd_factors = [R.factor("wd-width", R.weight_decay_width_factor(group, m, choices.wd_width_rule,
                                                                   choices.readout_rule), choices.wd_width_rule)]
    if in_blocks:
        assert m_depth is not None
        wd_factors.append(R.factor("timescale-wd", 1.0 / R.depth_lr_factor(m_depth, choices.depth_rule), "depth",
                                   axis="depth"))
    wd_factors += (shared.batch_wd, shared.dataset_wd)
    if horizon is not None:
        wd_factors.append(R.factor("timescale-wd", 1.0 / horizon.value, "horizon", axis="dataset"))
    if shared.horizon_wd is not None:
        wd_factors.append(shared.horizon_wd)
    wd_factors = law_factors(wd_factors, "weight_decay", group, ctx.law, ratios, ctx.params_ratio)
    wd_coupled_t = values.weight_decay_coupled * product(wd_factors)
    if ctx.convention == "independent":
        # λ_ind = η·λ: convert, apply the coupled rules, convert back (factor η_t/η_p).
        wd_factors.append(R.factor("coupled-to-independent", lr_t / values.lr))
        wd_t = R.to_independent(lr_t, wd_coupled_t)
    else:
        wd_t = wd_coupled_t
    # Init std and forward multiplier (µP); ε: batch, width (every group), depth (residual blocks).
    init_std, multiplier = model_quantities(group, values, m, choices.readout_rule)
    eps_factors: tuple[Factor, ...] = (
        shared.batch_eps,
        R.factor("eps-width", R.eps_width_factor(group, m, choices.eps_width_rule), choices.eps_width_rule),
    )
    if in_blocks:
        assert m_depth is not None
        eps_factors += (R.factor("depth-eps", R.depth_eps_factor(m_depth, choices.depth_rule, choices.eps_depth_rule),
                                 choices.eps_depth_rule),)
    return GroupResult(
        lr=Quantity(values.lr, lr_t, tuple(lr_factors)),
        weight_decay=Quantity(values.weight_decay, wd_t, tuple(wd_factors)),
        init_std=init_std,
        multiplier=multiplier,
        eps=Quantity(values.eps, values.eps * product(eps_factors), eps_factors),
        timescales_proxy=ctx.timescales_proxy,
        timescales_target=group_timescales(lr_t, wd_coupled_t, ctx.target.batch_size, ctx.target.dataset_size,
                                           ctx.epochs, f"target param_groups.{group}"),
    )


_CONSTANT_TAU = R.RULES["timescale-wd"].label("constant")
_POWER_LINES = R.RULES["power-lines"].label("power-lines")


def _timescale_tau(lr_factor: float, wd_factor: float, batch_ratio: float = 1.0, dataset_ratio: float = 1.0) -> float:
    """τ_epoch ratio target/proxy when η, λ, B, N move by these factors (``rules.tau_epoch``)."""
    return R.tau_epoch(lr_factor, wd_factor, batch_ratio, dataset_ratio) / R.tau_epoch(1.0, 1.0, 1.0, 1.0)


def _tau_vs_width(group: R.Group, wd_rule: R.WdWidthRule) -> Callable[[float], float]:
    """m ↦ τ_epoch ratio when η follows µP and λ the weight-decay width rule ``wd_rule``."""

    def ratio(m: float) -> float:
        return _timescale_tau(R.mup_lr_width_factor(group, m, "mureadout"),
                              R.weight_decay_width_factor(group, m, wd_rule, "mureadout"))

    return ratio


def fit_lines(group: R.Group, lr_optimized: bool, convention: str | None = None) -> list[RuleLine]:
    """Every (hp, axis) exponent a rule in ``hpscale.core.rules`` predicts, for ``group``.

    Each exponent is ``rule_exponent`` of the registered rule function (or of ``tau_epoch``
    evaluated under it), so the registry is the only place a constant lives.

    ``group`` is the parameter group whose absolute LR (and weight decay) the sweep holds: the
    µP rules differ per group (hidden η ∝ 1/m, embedding and vector η constant — the base LR of
    a µP model is the embedding group's LR). ``lr_optimized`` says whether the LR was swept: the
    timescale rule's λ ∝ 1/N and λ ∝ B hold at a fixed η; the √κ weight-decay rule assumes the
    LR follows η × √κ. AdamW has no shape convention: ``convention`` must be None.
    """
    if convention is not None:
        raise InputError.of("muon_convention", f": {convention!r}: a shape convention is Muon's; "
                            "AdamW sweeps have none (leave it out, or fit with optimizer muon)")
    lines: list[RuleLine] = []
    readouts = R.READOUT_RULES if group == "readout" else ("mureadout",)
    for readout in readouts:
        a = rule_exponent(functools.partial(R.mup_lr_width_factor, group, readout_rule=readout))
        choice = readout if group == "readout" else "mup"
        lines.append(RuleLine("lr", "width", "mup-lr", choice, R.RULES["mup-lr"].label(choice), a,
                              f"absolute η of the {group} group"))
    if group in R.RESIDUAL_BLOCK_GROUPS:
        for depth_rule in R.DEPTH_RULES:
            lines.append(RuleLine("lr", "depth", "depth-lr", depth_rule,
                                  R.RULES["depth-lr"].label(depth_rule),
                                  rule_exponent(functools.partial(R.depth_lr_factor, depth_rule=depth_rule)),
                                  "residual branches × L^−α"))
    lines.append(RuleLine("lr", "batch_size", "sqrt-batch-lr", "sqrt", R.RULES["sqrt-batch-lr"].label("sqrt"),
                          rule_exponent(R.sqrt_batch_lr_factor), "Adam, below the critical batch"))
    for wd_rule in R.WD_WIDTH_RULES:
        if R.weight_decay_width_factor(group, 4.0, wd_rule, "mureadout") == 0:
            continue  # a rule that sets λ to 0 has no exponent to compare
        lines.append(RuleLine("weight_decay", "width", "wd-width", wd_rule, R.RULES["wd-width"].label(wd_rule),
                              rule_exponent(functools.partial(R.weight_decay_width_factor, group, rule_name=wd_rule,
                                                              readout_rule="mureadout")),
                              "with µP's η"))
    if not lr_optimized:
        lines.append(RuleLine("weight_decay", "dataset_size", "timescale-wd", "constant", _CONSTANT_TAU,
                              rule_exponent(lambda nu: R.timescale_weight_decay_factor(1.0, 1.0, nu)),
                              "at fixed η and B"))
        lines.append(RuleLine("weight_decay", "dataset_size", "power-lines", "power-lines", _POWER_LINES,
                              rule_exponent(lambda nu: R.timescale_weight_decay_factor(1.0, 1.0, nu)
                                            / R.power_lines_tau_factor(nu)),
                              "at fixed η, B and params"))
        lines.append(RuleLine("weight_decay", "batch_size", "timescale-wd", "constant", _CONSTANT_TAU,
                              rule_exponent(lambda k: R.timescale_weight_decay_factor(1.0, k, 1.0)), "at fixed η"))
    else:
        lines.append(RuleLine("weight_decay", "batch_size", "sqrt-batch-wd", "sqrt", R.RULES["sqrt-batch-wd"].label("sqrt"),
                              rule_exponent(R.sqrt_batch_weight_decay_factor), "with η* ∝ √κ"))
    for wd_rule in R.WD_WIDTH_RULES:
        if R.weight_decay_width_factor(group, 4.0, wd_rule, "mureadout") == 0:
            continue
        lines.append(RuleLine("tau_epoch", "width", "wd-width", wd_rule, R.RULES["wd-width"].label(wd_rule),
                              rule_exponent(_tau_vs_width(group, wd_rule)), "with µP's η"))
    constant_tau = rule_exponent(
        lambda nu: _timescale_tau(1.0, R.timescale_weight_decay_factor(1.0, 1.0, nu), 1.0, nu))
    power_lines = rule_exponent(R.power_lines_tau_factor)
    for axis, sign, condition in (("dataset_size", 1.0, "at fixed params"), (TOKENS_PER_PARAM, 1.0, ""),
                                  ("params", -1.0, "at fixed dataset size")):
        lines.append(RuleLine("tau_epoch", axis, "tau-epoch", "constant", R.RULES["tau-epoch"].label("constant"),
                              constant_tau, condition))
        lines.append(RuleLine("tau_epoch", axis, "power-lines", "power-lines", _POWER_LINES,
                              sign * power_lines + 0.0, condition))
    lines.append(RuleLine("tau_epoch", "batch_size", "sqrt-batch-wd", "sqrt", R.RULES["sqrt-batch-wd"].label("sqrt"),
                          rule_exponent(lambda k: _timescale_tau(R.sqrt_batch_lr_factor(k),
                                                                 R.sqrt_batch_weight_decay_factor(k), k)),
                          "η and λ × √κ"))
    return lines


ADAMW = OptimizerSpec(
    name="adamw",
    title="AdamW (torch.optim.AdamW)",
    section="optimizer",
    groups=R.GROUPS,
    default_groups=R.GROUPS,
    options=("lr", "weight_decay", "betas", "eps"),
    torch_class="torch.optim.AdamW",
    conventions=("coupled", "independent"),
    rules=("mup-lr", "depth-lr", "sqrt-batch-lr", "lr-horizon", "wd-width", "timescale-wd", "sqrt-batch-wd", "power-lines",
           "coupled-to-independent", "mup-init", "mup-multiplier", "sqrt-batch-eps", "eps-width", "depth-eps",
           "sqrt-batch-beta"),
    prepare=prepare,
    compose_group=compose_group,
    fit_lines=fit_lines,
)
