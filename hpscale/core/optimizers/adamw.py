"""AdamW (``torch.optim.AdamW``), declared once: its hyperparameters, groups and rules.

Per group: η by µP (Tensor Programs V), depth (CompleteP / depth-µP), the square-root batch
rule (Malladi et al.) and, when chosen, a published law's token horizon (``lr_horizon_rule``); the coupled λ by the weight-decay width rule, the timescale rule along
depth, batch and data (Wang & Aitchison) and Power Lines' horizon; init std and the forward
multiplier by µP; ε by batch, width and depth. β1, β2 are run-wide (``hpscale.core.compose``).
"""

from __future__ import annotations

from typing import NamedTuple

from .. import rules as R
from ..law import law_factors
from ..rules import RuleChoices
from ..scale import Factor, Ratios
from ..transfer_result import GroupResult, Quantity
from .base import GroupContext, OptimizerSpec, group_timescales, model_quantities, product


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
)
