"""Composition: proxy config + target scale + rule choices → target hyperparameters.

Pure: no I/O, no printing. Every number in the result carries the factors that produced it,
each naming its rule (a key of ``hpscale.core.rules.RULES``), so renderers can explain it. The
proxy it starts from is read by ``hpscale.core.proxy`` (``read_proxy``, re-exported here).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..errors import InputError, RuleDomainError, mention
from . import rules as R
from .frozen import FrozenMap
from .law import Law, law_warnings
from .optimizers import DEFAULT, OPTIMIZERS, GroupContext, GroupValues
from .optimizers.base import product as _product
from .proxy import PLAUSIBLE_LR as PLAUSIBLE_LR
from .proxy import ProxyRun as ProxyRun
from .proxy import optimizer_sections as optimizer_sections
from .proxy import read_proxy as read_proxy
from .proxy import resolve_groups as resolve_groups
from .proxy import scale_of as scale_of
from .published import proxy_warnings
from .rules import GROUPS, Group, RuleChoices
from .scale import Ratios, Scale, params_of
from .transfer_result import (
    GroupResult,
    HorizonRuleAlternative,
    Quantity,
    TransferResult,
    WidthRuleAlternative,
)

POWER_LINES = mention("tau_rule", "power-lines")  # named in its errors (the CLI shows --tau-rule power-lines)

if TYPE_CHECKING:
    from ..config import RunConfig

#: Warn when a ratio (m, κ, ν, m_L) lies beyond this factor in either direction.
FAR_EXTRAPOLATION = 64.0
#: Warn when a group's target τ_epoch is below this many epochs (it forgets most of an epoch).
TAU_EPOCH_FLOOR = 0.1
#: Warn when the β rule changes Adam's averaging window (in steps) by more than this factor.
BETA_WINDOW_WARNING = 2.0




def transfer_to(config: RunConfig, target: Scale, choices: RuleChoices = RuleChoices(),
                law: Law | None = None) -> TransferResult:
    """Move every hyperparameter of ``config`` (the proxy) to the ``target`` scale.

    ``target.depth`` (if given and different from the proxy's) triggers depth transfer under
    ``choices.depth_rule``; it needs ``config.model.depth``. ``law``: a fitted law used instead
    of the rules on the axes it covers.
    """
    return transfer_from(read_proxy(config), target, choices, law=law)


def transfer_from(
    run: ProxyRun, target: Scale, choices: RuleChoices = RuleChoices(), *, alternatives: bool = True,
    law: Law | None = None,
) -> TransferResult:
    """``transfer`` on a proxy already read by ``read_proxy``.

    ``alternatives=False`` leaves ``TransferResult.alternatives`` empty (``hpscale check``
    compares the chosen rule only and skips the side-by-side view). ``law``: a fitted law used
    instead of the rules for the hyperparameters and axes it covers (``hpscale.core.law``).
    """
    try:
        return _transfer(run, target, choices, alternatives, law)
    except InputError:
        raise
    except (ValueError, ArithmeticError) as exc:
        # A rule refused a computed value (e.g. an LR that underflowed to 0): the requested
        # scale is outside floating-point range for this proxy, which is an input problem.
        raise InputError(
            f"the target scale is out of floating-point range for this proxy ({exc}); choose a "
            "target closer to the proxy"
        ) from None


def _transfer(run: ProxyRun, target: Scale, choices: RuleChoices, with_alternatives: bool,
              law: Law | None = None) -> TransferResult:
    warnings: list[str] = list(run.notes)
    # 1. Ratios m, κ, ν, m_L and, for Power Lines, the tokens-per-parameter ratio.
    ratios, target = _ratios(run, target, choices)
    warnings += _ratio_warnings(run, ratios)
    warnings += _lr_horizon_warnings(run, target, choices)
    # 2. Adam β1, β2 (Malladi et al.: 1 − κ(1 − β), defined for κ ≤ 1/(1 − β)).
    betas = _betas(run, ratios.batch, target.batch_size, choices, warnings)
    # 3. Per group: η, λ, init std, multiplier, ε, each by the rules of the optimizer training it.
    params_p = params_of(run.scale)
    params_ratio = target.params / params_p if target.params is not None and params_p else None
    if law is not None:
        law.check_axes()
        warnings += law_warnings(law, target, FAR_EXTRAPOLATION)
    groups = _groups(run, ratios, choices, target, law, params_ratio)
    if law is not None:  # issue 17.5: the proxy's lr against the law's own optimum at the proxy
        warnings += proxy_warnings(law, run.scale, params_p, run.unit, groups[law.group].lr.proxy)
    for name, settings in run.settings.items():
        notes = OPTIMIZERS[name].notes
        warnings += notes(settings, ratios, choices) if notes is not None else ()
    for group, values in groups.items():
        _warn_timescales(group, values, run.convention, warnings)
    warnings += _width_rule_warnings(run, groups, ratios, choices)
    # 4. Model EMA (Busbridge et al.: ρ → ρ^κ), warmup (w/κ), residual branches (m_L^−α).
    ema = _ema(run, ratios.batch)
    warmup = _warmup(run, ratios.batch)
    residual = _residual(run, ratios.depth, choices)
    # 5. The disagreement: hidden λ under all three width rules, with Fan et al.'s σ_top ratio.
    hidden = groups["hidden"]
    assert hidden.lr.target is not None
    own_alternatives = OPTIMIZERS[run.optimizers["hidden"]].alternatives
    if not with_alternatives:
        alternatives: tuple[WidthRuleAlternative, ...] = ()
    elif own_alternatives is not None:
        alternatives = own_alternatives(_context(run, "hidden", ratios, choices, target, law, params_ratio, None),
                                        hidden)
    else:
        alternatives = _width_rule_alternatives(
            run.groups["hidden"], hidden.lr.target, _coupled(hidden, run.convention), ratios.width,
            choices, run.convention, target,
            _product(tuple(f for f in hidden.weight_decay.factors if f.axis == "width")),
        )
    result = TransferResult(
        name=run.name,
        proxy=run.scale,
        target=target,
        ratios=ratios,
        choices=choices,
        convention=run.convention,
        unit=run.unit,
        epochs=run.epochs,
        base_width=run.base_width,
        groups=FrozenMap(groups),
        betas=betas,
        # The one ε of the run is the embedding group's (every rule applied, like optimizer.lr):
        # it equals every group's ε unless a depth change (ε of the residual blocks) or a
        # per-group override makes them differ (issue 17 item 3: it was the ε before its width rule).
        eps=groups["embedding"].eps,
        ema_decay=ema,
        residual_multiplier=residual,
        warmup_steps=warmup,
        steps_per_epoch=(run.scale.dataset_size / run.scale.batch_size,
                         target.dataset_size / target.batch_size),
        alternatives=alternatives,
        lr_horizon_alternatives=_lr_horizon_alternatives(run, hidden, ratios) if with_alternatives else (),
        warnings=tuple(dict.fromkeys(warnings)),
        law=law,
        optimizers=run.optimizers,
        optimizer_options=FrozenMap({
            group: options(run.settings[name], choices, groups[group])
            for group, name in run.optimizers.items()
            if (options := OPTIMIZERS[name].group_options) is not None
        }),
    )
    _check_finite(result)
    return result


def _ratios(run: ProxyRun, target: Scale, choices: RuleChoices) -> tuple[Ratios, Scale]:
    """m = W_t/W_p (µP), κ = B_t/B_p (Malladi et al.), ν = N_t/N_p (Wang & Aitchison),
    m_L = L_t/L_p (depth transfer, when the target names another depth) and TPP_t/TPP_p (Power
    Lines), with the target's depth and parameter count filled in."""
    proxy = run.scale
    if target.batch_size < 1 or target.dataset_size < target.batch_size:
        raise InputError(
            f"target: batch size {target.batch_size:g} and dataset size {target.dataset_size:g}: the "
            "batch must be at least 1 and an epoch must hold at least one batch"
        )
    m_depth: float | None = None
    if target.depth is not None and target.depth != proxy.depth:
        if proxy.depth is None:
            raise InputError(
                f"model.depth: missing in the proxy config; depth transfer ({mention('depth')}) needs the "
                "proxy's number of residual blocks"
            )
        m_depth = target.depth / proxy.depth
    m = target.width / proxy.width
    depth_t = target.depth if target.depth is not None else proxy.depth
    params_p = params_of(proxy)
    # Non-embedding parameters grow as W²·L; a proxy-stated count is scaled the same way.
    params_t = target.params if target.params is not None else \
        None if params_p is None else params_p * m**2 * (m_depth or 1.0)
    target = Scale(target.width, target.batch_size, target.dataset_size, depth_t, params_t)
    tpp_ratio: float | None = None
    if choices.tau_rule == "power-lines":
        if run.unit != "tokens":
            raise InputError(
                f"data.unit: {run.unit!r}: {POWER_LINES} needs token counts "
                "(data.unit: tokens)"
            )
        if params_p is None or params_t is None:
            raise InputError(
                f"model.params: missing, and model.depth is missing too; {POWER_LINES} "
                "needs a parameter count (model.params) or model.depth to estimate 12·L·W²"
            )
        tpp_ratio = (target.dataset_size / params_t) / (proxy.dataset_size / params_p)
    ratios = Ratios(m, target.batch_size / proxy.batch_size, target.dataset_size / proxy.dataset_size,
                    m_depth, tpp_ratio)
    return ratios, target


def _lr_horizon_warnings(run: ProxyRun, target: Scale, choices: RuleChoices) -> list[str]:
    """``lr_horizon_rule``: the laws count tokens (refused otherwise); the target's tokens D (and
    parameters N, and compute 6·N·D for DeepSeek) against the chosen law's fitted range; Muon
    groups keep their lr (the laws are AdamW's)."""
    rule = choices.lr_horizon_rule
    if rule == "none":
        return []
    if run.unit != "tokens":
        raise InputError(f"data.unit: {run.unit!r}: {mention('lr_horizon_rule', rule)} needs token counts (data.unit: "
                         "tokens): the laws are fitted in training tokens")
    law = R.LR_HORIZON_LAWS[rule]
    tokens = target.dataset_size * run.epochs
    values = {"tokens": tokens, "non_embedding_params": target.params,
              "compute": None if target.params is None else 6 * target.params * tokens}
    warnings = []
    for quantity, (lo, hi) in law.fitted_range.items():
        value = values[quantity]
        if value is None:
            warnings.append(f"{mention('lr_horizon_rule', rule)}: the law was fitted on {quantity} {lo:.3g}–{hi:.3g}; the "
                            "target's is unknown (state model.params), so the range was not checked")
        elif not lo <= value <= hi:
            warnings.append(f"{mention('lr_horizon_rule', rule)}: the target's {quantity} {value:.3g} is ×"
                            f"{max(value / hi, lo / value):.3g} beyond the law's fitted range {lo:.3g}–{hi:.3g}; "
                            "its exponent is extrapolated")
    if any(name != DEFAULT for name in run.optimizers.values()):
        warnings.append(f"{mention('lr_horizon_rule', rule)}: not applied to the Muon-trained groups (the laws were fitted "
                        "on AdamW runs)")
    return warnings


def _lr_horizon_alternatives(run: ProxyRun, hidden: GroupResult, ratios: Ratios) -> tuple[HorizonRuleAlternative, ...]:
    """The hidden group's lr under each ``lr_horizon_rule``: its target lr with the factors along
    the data (the chosen rule's, or a fitted law's) replaced by each rule's ν^a."""
    if run.optimizers["hidden"] != DEFAULT or hidden.lr.target is None:
        return ()
    chosen = _product(tuple(f for f in hidden.lr.factors if f.axis == "dataset"))
    return tuple(
        HorizonRuleAlternative(rule, R.LR_HORIZON_LAWS[rule].exponent if rule in R.LR_HORIZON_LAWS else 0.0,
                               hidden.lr.target / chosen * R.lr_horizon_factor(ratios.dataset, rule))
        for rule in R.LR_HORIZON_RULES
    )


def _ratio_warnings(run: ProxyRun, ratios: Ratios) -> list[str]:
    warnings = []
    for symbol, value in (("m", ratios.width), ("κ", ratios.batch), ("ν", ratios.dataset),
                          ("m_L", ratios.depth), ("TPP_t/TPP_p", ratios.tokens_per_param)):
        if value is not None and not (1 / FAR_EXTRAPOLATION <= value <= FAR_EXTRAPOLATION):
            warnings.append(
                f"far extrapolation: {symbol} = {value:.4g} is beyond ×{FAR_EXTRAPOLATION:g} in either "
                "direction; the rules (and Power Lines' fit) were validated on smaller ratios"
            )
    if ratios.width != 1:
        if run.parametrization == "standard":
            warnings.append(
                "model.parametrization is 'standard': width transfer assumes a µP-trained proxy "
                "(Tensor Programs V); the µP factors below may not hold"
            )
        elif run.parametrization is None:
            warnings.append(
                "model.parametrization is not stated: width transfer assumes the proxy was trained "
                "in µP (Tensor Programs V); say so with parametrization: mup (or standard) in the "
                "proxy config"
            )
    return warnings


def _betas(
    run: ProxyRun, kappa: float, target_batch: float, choices: RuleChoices, warnings: list[str]
) -> tuple[Quantity, Quantity]:
    betas: list[Quantity] = []
    for index, beta in enumerate(run.betas):
        name = f"β{index + 1}"
        try:
            new_beta = R.adam_beta_for_batch(beta, kappa, choices.beta_rule)
        except ValueError:
            limit = R.beta_batch_limit(beta)
            raise RuleDomainError(
                f"optimizer.betas[{index}]: {name} = {beta:g} with batch ratio κ = {kappa:g}: the "
                f"square-root batch rule needs κ ≤ 1/(1 − {name}) = {limit:g}, i.e. a proxy batch of "
                f"at least {target_batch / limit:,.6g} for this target (or {mention('beta_rule', 'exponential')}, "
                "which only agrees to first order, or keep)"
            ) from None
        if not 0.0 <= new_beta < 1.0:  # β^κ rounds to 1.0 for κ → 0 in floating point
            raise RuleDomainError(
                f"optimizer.betas[{index}]: {name} = {beta!r} with batch ratio κ = {kappa:g} gives "
                f"{new_beta!r}, outside [0, 1) in floating point; choose a target batch closer to the "
                "proxy's"
            )
        symbol = choices.beta_rule
        betas.append(Quantity(beta, new_beta, (R.factor("sqrt-batch-beta", kappa, symbol),)))
    if choices.beta_rule != "keep" and not (1 / BETA_WINDOW_WARNING <= kappa <= BETA_WINDOW_WARNING):
        moved = ", ".join(f"β{i + 1} {q.proxy:g} → {q.target:.4g}" for i, q in enumerate(betas))
        warnings.append(
            f"optimizer.betas: {moved}: Adam's averaging windows change ×{1 / kappa:.3g} in steps "
            "(the same in samples, as the square-root rule intends); teams that keep β fixed when "
            f"the batch grows use {mention('beta_rule', 'keep')}"
        )
    return betas[0], betas[1]


def _groups(run: ProxyRun, ratios: Ratios, choices: RuleChoices, target: Scale, law: Law | None,
            params_ratio: float | None) -> dict[Group, GroupResult]:
    """Every group's target values, each composed by the optimizer that trains it
    (``ProxyRun.optimizers``), whose shared factors are prepared once."""
    prepared = {name: OPTIMIZERS[name].prepare(ratios, choices) for name in dict.fromkeys(run.optimizers.values())}
    return {
        group: OPTIMIZERS[run.optimizers[group]].compose_group(_context(
            run, group, ratios, choices, target, law, params_ratio, prepared[run.optimizers[group]]))
        for group in GROUPS
    }


def _context(run: ProxyRun, group: Group, ratios: Ratios, choices: RuleChoices, target: Scale, law: Law | None,
             params_ratio: float | None, prepared: Any) -> GroupContext:
    """What the optimizer training ``group`` reads to compose it."""
    return GroupContext(group, run.groups[group], ratios, choices, target, run.convention, run.epochs,
                        run.timescales[group], law, params_ratio, prepared, run.settings.get(run.optimizers[group]))


def _coupled(result: GroupResult, convention: str) -> float:
    """A group's target weight decay in the coupled convention."""
    lr, wd = result.lr.target, result.weight_decay.target
    assert lr is not None and wd is not None
    return wd if convention == "coupled" else R.to_coupled(lr, wd)


def _width_rule_warnings(
    run: ProxyRun, groups: dict[Group, GroupResult], ratios: Ratios, choices: RuleChoices
) -> list[str]:
    """Say when the chosen weight-decay width rule cannot keep its own invariant."""
    if choices.wd_width_rule != "sqrt":
        return []
    warnings = []
    for group in ("embedding", "readout", "vector"):
        proxy_wd = run.groups[group].weight_decay
        if proxy_wd > 0:
            warnings.append(
                f"param_groups.{group}.weight_decay: Fan et al. train vector-like parameters with "
                f"λ = 0 in every run; the proxy's {proxy_wd:g} is kept (hpscale does not rewrite a "
                "tuned value; retune the proxy with λ = 0 to follow the paper)"
            )
    hidden, proxy_hidden = groups["hidden"], run.groups["hidden"]
    if run.optimizers["hidden"] != DEFAULT:  # Fan et al.'s σ_top law is AdamW's
        return warnings
    wd_t = _coupled(hidden, run.convention)
    if proxy_hidden.weight_decay_coupled > 0 and wd_t > 0 and hidden.lr.target is not None:
        sigma = R.sigma_top_ratio(hidden.lr.target / proxy_hidden.lr, wd_t / proxy_hidden.weight_decay_coupled,
                                  ratios.width)
        if abs(math.log(sigma)) > math.log(1.01):
            warnings.append(
                f"{mention('wd_width_rule', 'sqrt')} keeps σ_top only at fixed batch and data: with the batch "
                f"(κ = {ratios.batch:.4g}) and data (ν = {ratios.dataset:.4g}) rules composed, the "
                f"predicted σ_top ratio is {sigma:.4g}, not 1 (Fan et al. do not treat these axes)"
            )
    return warnings


def _ema(run: ProxyRun, kappa: float) -> Quantity | None:
    if run.ema_decay is None:
        return None
    new_rho = R.ema_decay_for_batch(run.ema_decay, kappa)
    if not 0.0 < new_rho < 1.0:  # ρ^κ underflows to 0 or rounds to 1 at extreme κ
        raise RuleDomainError(
            f"ema_decay: ρ = {run.ema_decay!r} with batch ratio κ = {kappa:g} gives ρ^κ = "
            f"{new_rho!r}, outside (0, 1) in floating point; choose a target batch closer to the proxy's"
        )
    return Quantity(run.ema_decay, new_rho, (R.factor("ema-decay", kappa),))


def _warmup(run: ProxyRun, kappa: float) -> Quantity | None:
    if run.warmup_steps is None:
        return None
    factor = R.factor("warmup-samples", R.warmup_steps_for_batch(1.0, kappa))
    return Quantity(run.warmup_steps, run.warmup_steps * factor.value, (factor,))


def _residual(run: ProxyRun, m_depth: float | None, choices: RuleChoices) -> Quantity | None:
    if m_depth is None:
        return None
    factor = R.factor("depth-residual", R.depth_residual_multiplier_factor(m_depth, choices.depth_rule),
                      choices.depth_rule)
    start = run.residual_multiplier
    return Quantity(start, start * factor.value, (factor,))


def _check_finite(result: TransferResult) -> None:
    """Every number of a result is finite, or the transfer is refused naming the first that is
    not (an extreme but finite input can overflow inside a rule)."""
    named: list[tuple[str, float | None]] = [
        ("steps per epoch", result.steps_per_epoch[0]), ("target steps per epoch", result.steps_per_epoch[1]),
        *((f"ratio {name}", value) for name, value in result.ratios._asdict().items()),
        ("target params", result.target.params),
        ("optimizer.eps", result.eps.target),
        ("optimizer.warmup_steps", None if result.warmup_steps is None else result.warmup_steps.target),
        ("model.residual_multiplier", None if result.residual_multiplier is None else result.residual_multiplier.target),
    ]
    for group, g in result.groups.items():
        named += [(f"param_groups.{group}.{key}", getattr(g, key).target)
                  for key in ("lr", "weight_decay", "init_std", "multiplier", "eps")]
    if result.convention == "independent":
        for group, g in result.groups.items():
            if g.weight_decay.target is not None and g.weight_decay.target >= 1:
                raise RuleDomainError(
                    f"param_groups.{group}.weight_decay: the target's independent weight decay "
                    f"{g.weight_decay.target:.4g} would remove 100 % or more of the weights every step; "
                    "the rules cannot be carried this far from the proxy"
                )
    for name, value in named:
        if value is not None and not math.isfinite(value):
            raise InputError(
                f"{name}: the requested scale change takes it out of the floating-point range; "
                "choose a target closer to the proxy"
            )
        if name.endswith((".lr", ".eps")) and value == 0:
            raise InputError(
                f"{name}: the requested scale change makes it underflow to 0; choose a target "
                "closer to the proxy"
            )


def _warn_timescales(group: Group, result: GroupResult, convention: str, warnings: list[str]) -> None:
    scales = result.timescales_target
    if scales.tau_epoch is None or scales.tau_run_fraction is None:
        return
    where = f"param_groups.{group}"
    if scales.tau_run_fraction > 1:
        hint = ""
        wd = result.weight_decay.target
        if convention == "coupled" and wd is not None and 0 < wd < 1e-3:
            hint = (" (a coupled λ this small is often the independent value η·λ: if so, set "
                    "optimizer.weight_decay_convention: independent)")
        warnings.append(
            f"{where}: τ_epoch = {scales.tau_epoch:.3g} epochs exceeds the run "
            f"({scales.tau_epoch / scales.tau_run_fraction:g} epochs): weight decay barely acts{hint}"
        )
    if scales.tau_epoch < TAU_EPOCH_FLOOR:
        warnings.append(
            f"{where}: τ_epoch = {scales.tau_epoch:.3g} epochs is far below one epoch: the "
            "weights forget most of each epoch"
        )


def _width_rule_alternatives(
    proxy_hidden: GroupValues,
    lr_t: float,
    wd_coupled_t: float,
    m: float,
    choices: RuleChoices,
    convention: str,
    target: Scale,
    chosen: float,
) -> tuple[WidthRuleAlternative, ...]:
    """The hidden group's target λ under each width rule (the target's λ rescaled by the ratio of
    each rule's width factor to ``chosen``, the width factor the target's λ got — the chosen
    rule's, or a fitted law's), with Fan et al.'s σ_top ratio and τ_epoch of each."""
    wd_proxy, lr_ratio = proxy_hidden.weight_decay_coupled, lr_t / proxy_hidden.lr
    alternatives = []
    for rule_name in R.WD_WIDTH_RULES:
        other = R.weight_decay_width_factor("hidden", m, rule_name, choices.readout_rule)
        wd = wd_coupled_t * (other / chosen)
        sigma = R.sigma_top_ratio(lr_ratio, wd / wd_proxy, m) if wd_proxy > 0 and wd > 0 else None
        tau = R.tau_epoch(lr_t, wd, target.batch_size, target.dataset_size)
        alternatives.append(WidthRuleAlternative(
            rule_name,
            R.to_independent(lr_t, wd) if convention == "independent" else wd,
            sigma,
            tau if tau < math.inf else None,
        ))
    return tuple(alternatives)
