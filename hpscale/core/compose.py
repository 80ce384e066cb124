"""Composition: proxy config + target scale + rule choices → target hyperparameters.

Pure: no I/O, no printing. Every number in the result carries the factors that produced it,
each naming its rule (a key of ``hpscale.rules.RULES``), so renderers can explain it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import InputError, RuleDomainError
from . import rules as R
from .rules import GROUPS, Group

if TYPE_CHECKING:
    from ..config import RunConfig

#: Warn when a ratio (m, κ, ν, m_L) lies beyond this factor in either direction.
FAR_EXTRAPOLATION = 64.0
#: Warn when a group's target τ_epoch is below this many epochs (it forgets most of an epoch).
TAU_EPOCH_FLOOR = 0.1


@dataclass(frozen=True)
class Scale:
    """The scale of one run. ``batch_size`` and ``dataset_size`` share one unit."""

    width: int
    batch_size: float
    dataset_size: float
    depth: int | None = None
    params: float | None = None


@dataclass(frozen=True)
class RuleChoices:
    """Which published rule to apply where the papers offer more than one.

    Each field's allowed values are the matching tuple of ``hpscale.core.rules``
    (``WD_WIDTH_RULES``, ``READOUT_RULES``, …); a value outside it raises ``InputError``
    (a ``ValueError``) naming the field.
    """

    wd_width_rule: R.WdWidthRule = "timescale"
    readout_rule: R.ReadoutRule = "mureadout"
    beta_rule: R.BetaRule = "linear"
    tau_rule: R.TauRule = "constant"
    tau_exponent: float = R.POWER_LINES_EXPONENT
    eps_width_rule: R.EpsWidthRule = "constant"
    depth_rule: R.DepthRule = "completep"

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
    "wd_width_rule": R.WD_WIDTH_RULES,
    "readout_rule": R.READOUT_RULES,
    "beta_rule": R.BETA_RULES,
    "tau_rule": R.TAU_RULES,
    "eps_width_rule": R.EPS_WIDTH_RULES,
    "depth_rule": R.DEPTH_RULES,
}


class Factor(NamedTuple):
    """One multiplicative step: ``value`` from rule ``rule`` along ``axis``, shown as ``symbol``."""

    rule: str
    axis: str
    symbol: str
    value: float


class Quantity(NamedTuple):
    """A hyperparameter at the proxy and the target; target = proxy · Π factor values.

    For β and ρ, which do not scale multiplicatively, the single factor's value is κ, the
    batch ratio that enters the map its ``symbol`` names (``linear``: 1 − κ(1 − β),
    ``exponential``: β^κ, ``ρ^κ``).
    """

    proxy: float | None
    target: float | None
    factors: tuple[Factor, ...] = ()


class GroupValues(NamedTuple):
    """One group's hyperparameters as a run used them (after falling back to globals)."""

    lr: float
    weight_decay: float  # in the config's convention
    weight_decay_coupled: float
    init_std: float | None
    multiplier: float
    eps: float


class Timescales(NamedTuple):
    """τ_iter (steps) and τ_epoch (epochs) of one group; ``None`` means ∞ (no decay)."""

    tau_iter: float | None
    tau_epoch: float | None
    tau_run_fraction: float | None  # τ_epoch / epochs of the run


class GroupResult(NamedTuple):
    lr: Quantity
    weight_decay: Quantity
    init_std: Quantity
    multiplier: Quantity
    eps: Quantity
    timescales_proxy: Timescales
    timescales_target: Timescales


class WidthRuleAlternative(NamedTuple):
    """The hidden group's weight decay under one width rule, and its predicted σ_top ratio."""

    rule: R.WdWidthRule
    weight_decay: float
    sigma_top_ratio: float | None
    tau_epoch: float | None


class Ratios(NamedTuple):
    width: float  # m
    batch: float  # κ
    dataset: float  # ν
    depth: float | None  # m_L
    tokens_per_param: float | None  # TPP_t / TPP_p (power-lines only)


class GroupMap(Mapping[Group, "GroupResult"]):
    """A read-only mapping of parameter group → ``GroupResult`` (picklable, unlike
    ``types.MappingProxyType``)."""

    __slots__ = ("_items",)
    _items: dict[Group, GroupResult]

    def __init__(self, items: Mapping[Group, GroupResult]) -> None:
        object.__setattr__(self, "_items", dict(items))

    def __getitem__(self, group: Group) -> GroupResult:
        return self._items[group]

    def __iter__(self) -> Iterator[Group]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a transfer result is read-only")

    def __reduce__(self) -> tuple[Any, ...]:
        return (GroupMap, (self._items,))

    def __repr__(self) -> str:
        return f"GroupMap({self._items!r})"


@dataclass(frozen=True)
class TransferResult:
    """Every target hyperparameter of one transfer, with the factors that produced it.

    Immutable. ``groups`` maps each parameter group (embedding, hidden, readout, vector) to its
    ``GroupResult``; every ``Quantity`` holds ``proxy``, ``target`` and ``factors`` (rule,
    axis, symbol, value) with target = proxy · Π factor values. ``to_json_dict`` gives the
    versioned JSON contract that ``hpscale transfer --format json`` prints.
    """

    name: str | None
    proxy: Scale
    target: Scale
    ratios: Ratios
    choices: RuleChoices
    convention: str
    unit: str
    epochs: float
    base_width: int
    groups: GroupMap
    betas: tuple[Quantity, Quantity]
    eps: Quantity
    ema_decay: Quantity | None
    residual_multiplier: Quantity | None
    warmup_steps: Quantity | None  # unrounded target; outputs round to whole steps
    steps_per_epoch: tuple[float, float]
    alternatives: tuple[WidthRuleAlternative, ...]
    warnings: tuple[str, ...] = field(default=())

    def to_json_dict(self, *, derivation: bool = False) -> dict[str, Any]:
        """The JSON contract (``schema_version`` 1) as a dict; ``derivation`` adds ``factors``."""
        from ..contract import to_json_dict

        return to_json_dict(self, derivation=derivation)

    def to_target_config(self) -> dict[str, Any]:
        """The target run as a config mapping in the input schema (what ``--format yaml`` writes)."""
        from ..contract import to_target_config

        return to_target_config(self)


def scale_of(config: RunConfig) -> Scale:
    """The scale a config states: width, batch, dataset size, depth, parameter count."""
    return Scale(
        width=config.model.width,
        batch_size=config.data.batch_size,
        dataset_size=config.data.dataset_size,
        depth=config.model.depth,
        params=config.model.params,
    )


def resolve_groups(config: RunConfig) -> dict[Group, GroupValues]:
    """Each group's values as the run used them: the override if given, else the global."""
    model, optimizer = config.model, config.optimizer
    base_width = model.base_width or model.width
    coupled_convention = optimizer.weight_decay_convention == "coupled"
    resolved: dict[Group, GroupValues] = {}
    for group in GROUPS:
        over = config.group_override(group)
        lr = over.lr if over.lr is not None else optimizer.lr
        wd = over.weight_decay if over.weight_decay is not None else optimizer.weight_decay
        coupled = wd if coupled_convention else R.to_coupled(lr, wd)
        default_multiplier = base_width / model.width if group == "readout" else 1.0
        resolved[group] = GroupValues(
            lr=lr,
            weight_decay=wd,
            weight_decay_coupled=coupled,
            init_std=over.init_std if over.init_std is not None else config.init_std,
            multiplier=over.multiplier if over.multiplier is not None else default_multiplier,
            eps=over.eps if over.eps is not None else optimizer.eps,
        )
    return resolved


class ProxyRun(NamedTuple):
    """What ``transfer`` reads from a proxy config, read once (a ladder reuses it per target)."""

    name: str | None
    scale: Scale
    groups: dict[Group, GroupValues]
    convention: str
    unit: str
    epochs: float
    base_width: int
    betas: tuple[float, float]
    eps: float
    ema_decay: float | None
    residual_multiplier: float
    parametrization: str
    timescales: dict[Group, Timescales]
    warmup_steps: int | None = None


def read_proxy(config: RunConfig) -> ProxyRun:
    """Collect the proxy's scale, per-group values and timescales from a config."""
    scale, groups = scale_of(config), resolve_groups(config)
    epochs = config.data.epochs
    return ProxyRun(
        name=config.name,
        scale=scale,
        groups=groups,
        convention=config.optimizer.weight_decay_convention,
        unit=config.data.unit,
        epochs=epochs,
        base_width=config.model.base_width or config.model.width,
        betas=tuple(config.optimizer.betas),  # type: ignore[arg-type]
        eps=config.optimizer.eps,
        ema_decay=config.ema_decay,
        residual_multiplier=config.model.residual_multiplier,
        parametrization=config.model.parametrization,
        warmup_steps=config.optimizer.warmup_steps,
        timescales={
            group: _timescales(v.lr, v.weight_decay_coupled, scale.batch_size, scale.dataset_size, epochs)
            for group, v in groups.items()
        },
    )


def estimated_params(width: int, depth: int | None) -> float | None:
    """Non-embedding transformer parameters ≈ 12·L·W² (Kaplan et al. 2020, arXiv 2001.08361)."""
    return None if depth is None else 12.0 * depth * width**2


def _product(factors: tuple[Factor, ...]) -> float:
    product = 1.0
    for factor in factors:  # a plain loop: ~3× faster than math.prod over a generator
        product *= factor.value
    return product


def _timescales(
    lr: float, wd_coupled: float, batch: float, dataset: float, epochs: float
) -> Timescales:
    if wd_coupled == 0:
        return Timescales(None, None, None)
    t_iter = R.tau_iter(lr, wd_coupled)
    t_epoch = R.tau_epoch(lr, wd_coupled, batch, dataset)
    fraction = t_epoch / epochs
    # None means ∞, also when a tiny η·λ overflows the float range.
    return Timescales(
        t_iter if t_iter < math.inf else None,
        t_epoch if t_epoch < math.inf else None,
        fraction if fraction < math.inf else None,
    )


def _check_finite(result_values: list[float | None]) -> None:
    for value in result_values:
        if value is not None and not math.isfinite(value):
            raise InputError(
                "the requested scale change overflows a float; choose a target closer to the proxy"
            )


def transfer_to(config: RunConfig, target: Scale, choices: RuleChoices = RuleChoices()) -> TransferResult:
    """Move every hyperparameter of ``config`` (the proxy) to the ``target`` scale.

    ``target.depth`` (if given and different from the proxy's) triggers depth transfer under
    ``choices.depth_rule``; it needs ``config.model.depth``.
    """
    return transfer_from(read_proxy(config), target, choices)


def transfer_from(
    run: ProxyRun, target: Scale, choices: RuleChoices = RuleChoices(), *, alternatives: bool = True
) -> TransferResult:
    """``transfer`` on a proxy already read by ``read_proxy``.

    ``alternatives=False`` leaves ``TransferResult.alternatives`` empty (``hpscale check``
    compares the chosen rule only and skips the side-by-side view).
    """
    try:
        return _transfer(run, target, choices, alternatives)
    except InputError:
        raise
    except (ValueError, ArithmeticError) as exc:
        # A rule refused a computed value (e.g. an LR that underflowed to 0): the requested
        # scale is outside floating-point range for this proxy, which is an input problem.
        raise InputError(
            f"the target scale is out of floating-point range for this proxy ({exc}); choose a "
            "target closer to the proxy"
        ) from None


def _transfer(run: ProxyRun, target: Scale, choices: RuleChoices, with_alternatives: bool) -> TransferResult:
    proxy = run.scale
    warnings: list[str] = []
    convention = run.convention
    epochs = run.epochs

    # 1. Ratios: m = W_t/W_p (µP), κ = B_t/B_p (Malladi), ν = N_t/N_p (Wang & Aitchison).
    m = target.width / proxy.width
    kappa = target.batch_size / proxy.batch_size
    nu = target.dataset_size / proxy.dataset_size
    m_depth: float | None = None
    if target.depth is not None and target.depth != proxy.depth:
        if proxy.depth is None:
            raise InputError(
                "model.depth: missing in the proxy config; depth transfer (--depth) needs the "
                "proxy's number of residual blocks"
            )
        m_depth = target.depth / proxy.depth
    depth_t = target.depth if target.depth is not None else proxy.depth

    # 2. Token horizon (Power Lines): τ_t = τ_p·(TPP_t/TPP_p)^−a, TPP = tokens/params.
    tpp_ratio: float | None = None
    params_p = proxy.params if proxy.params is not None else estimated_params(proxy.width, proxy.depth)
    params_t: float | None = None
    if params_p is not None:
        # Non-embedding parameters grow as W²·L; a proxy-stated count is scaled the same way.
        params_t = params_p * m**2 * (m_depth or 1.0)
    if target.params is not None:
        params_t = target.params
    target = Scale(target.width, target.batch_size, target.dataset_size, depth_t, params_t)
    if choices.tau_rule == "power-lines":
        if run.unit != "tokens":
            raise InputError(
                f"data.unit: {run.unit!r}: --tau-rule power-lines needs token counts "
                "(data.unit: tokens)"
            )
        if params_p is None or params_t is None:
            raise InputError(
                "model.params: missing, and model.depth is missing too; --tau-rule power-lines "
                "needs a parameter count (model.params) or model.depth to estimate 12·L·W²"
            )
        tpp_ratio = (target.dataset_size / params_t) / (proxy.dataset_size / params_p)

    for symbol, value in (("m", m), ("κ", kappa), ("ν", nu), ("m_L", m_depth)):
        if value is not None and not (1 / FAR_EXTRAPOLATION <= value <= FAR_EXTRAPOLATION):
            warnings.append(
                f"far extrapolation: {symbol} = {value:g} is beyond ×{FAR_EXTRAPOLATION:g}; "
                "the rules were validated on smaller ratios"
            )
    if run.parametrization == "standard" and m != 1:
        warnings.append(
            "model.parametrization is 'standard': width transfer assumes a µP-trained proxy; "
            "the µP factors below may not hold"
        )

    # 3. Adam β1, β2 (Malladi et al.: 1 − κ(1 − β), defined only for κ < 1/(1 − β)).
    betas: list[Quantity] = []
    for index, beta in enumerate(run.betas):
        try:
            new_beta = R.adam_beta_for_batch(beta, kappa, choices.beta_rule)
        except ValueError:
            limit = R.beta_batch_limit(beta)
            raise RuleDomainError(
                f"optimizer.betas[{index}]: β{index + 1} = {beta:g} with batch ratio κ = {kappa:g}: "
                f"the square-root batch rule needs κ < 1/(1 − β{index + 1}) = {limit:g}; use a "
                f"proxy batch of at least {target.batch_size / limit:,.6g} "
                f"(or --beta-rule exponential, which only agrees to first order)"
            ) from None
        if not 0.0 <= new_beta < 1.0:  # β^κ rounds to 1.0 for κ → 0 in floating point
            raise RuleDomainError(
                f"optimizer.betas[{index}]: β{index + 1} = {beta!r} with batch ratio κ = {kappa:g} "
                f"gives {new_beta!r}, outside [0, 1) in floating point; choose a target batch closer "
                "to the proxy's"
            )
        betas.append(Quantity(beta, new_beta, (Factor("sqrt-batch-beta", "batch", choices.beta_rule, kappa),)))

    # 4. Per group.
    resolved = run.groups
    groups: dict[Group, GroupResult] = {}
    base_width = run.base_width
    horizon = 1.0 / R.power_lines_tau_factor(tpp_ratio, choices.tau_exponent) if tpp_ratio else None
    # The batch and dataset factors are the same for every group: build them once.
    batch_lr = Factor("sqrt-batch-lr", "batch", "√κ", R.sqrt_batch_lr_factor(kappa))
    batch_wd = Factor("sqrt-batch-wd", "batch", "√κ", R.sqrt_batch_weight_decay_factor(kappa))
    dataset_wd = Factor("timescale-wd", "dataset", "1/ν", R.timescale_weight_decay_factor(1.0, 1.0, nu))
    batch_eps = Factor("sqrt-batch-eps", "batch", "1/√κ", R.sqrt_batch_eps_factor(kappa))
    horizon_wd = Factor("power-lines", "horizon", f"TPP^{choices.tau_exponent:g}", horizon) if horizon else None
    for group in GROUPS:
        values = resolved[group]
        # 4a. η: µP width, depth (hidden only), square-root batch.
        lr_factors = [
            Factor("mup-lr", "width", "µP", R.mup_lr_width_factor(group, m, choices.readout_rule)),
        ]
        if m_depth is not None and group == "hidden":
            lr_factors.append(
                Factor("depth-lr", "depth", choices.depth_rule, R.depth_lr_factor(m_depth, choices.depth_rule))
            )
        lr_factors.append(batch_lr)
        lr_t = values.lr * _product(tuple(lr_factors))

        # 4b. Coupled λ: width rule; depth keeps η·λ (timescale); √κ and 1/ν keep τ_epoch;
        #     Power Lines moves τ with tokens per parameter.
        wd_factors = [
            Factor("wd-width", "width", choices.wd_width_rule,
                   R.weight_decay_width_factor(group, m, choices.wd_width_rule, choices.readout_rule)),
        ]
        if m_depth is not None and group == "hidden":
            wd_factors.append(Factor("timescale-wd", "depth", "1/η-depth",
                                     1.0 / R.depth_lr_factor(m_depth, choices.depth_rule)))
        wd_factors += (batch_wd, dataset_wd)
        if horizon_wd is not None:
            wd_factors.append(horizon_wd)
        wd_coupled_t = values.weight_decay_coupled * _product(tuple(wd_factors))
        if choices.wd_width_rule == "sqrt" and group != "hidden" and values.weight_decay_coupled > 0:
            warnings.append(
                f"param_groups.{group}.weight_decay: the √d rule sets vector-like weight decay to 0 "
                f"(proxy used {values.weight_decay:g})"
            )
        if convention == "independent":
            # λ_ind = η·λ: convert, apply the coupled rules, convert back (factor η_t/η_p).
            wd_factors.append(Factor("coupled-to-independent", "convention", "η_t/η_p", lr_t / values.lr))
            wd_t = R.to_independent(lr_t, wd_coupled_t)
        else:
            wd_t = wd_coupled_t

        # 4c. Init std, forward multiplier, ε.
        init_factor = Factor("mup-init", "width", "µP", R.mup_init_std_width_factor(group, m, choices.readout_rule))
        init = Quantity(
            values.init_std,
            None if values.init_std is None else values.init_std * init_factor.value,
            (init_factor,),
        )
        mult_factor = Factor("mup-multiplier", "width", "µP",
                             R.mup_multiplier_width_factor(group, m, choices.readout_rule))
        eps_factors: tuple[Factor, ...] = (
            batch_eps,
            Factor("eps-width", "width", choices.eps_width_rule,
                   R.eps_width_factor(group, m, choices.eps_width_rule)),
        )
        if m_depth is not None and group == "hidden":
            eps_factors += (Factor("depth-eps", "depth", choices.depth_rule,
                                   R.depth_eps_factor(m_depth, choices.depth_rule)),)
        groups[group] = GroupResult(
            lr=Quantity(values.lr, lr_t, tuple(lr_factors)),
            weight_decay=Quantity(values.weight_decay, wd_t, tuple(wd_factors)),
            init_std=init,
            multiplier=Quantity(values.multiplier, values.multiplier * mult_factor.value, (mult_factor,)),
            eps=Quantity(values.eps, values.eps * _product(eps_factors), eps_factors),
            timescales_proxy=run.timescales[group],
            timescales_target=_timescales(lr_t, wd_coupled_t, target.batch_size, target.dataset_size, epochs),
        )
        _warn_timescales(group, lr_t, wd_coupled_t, groups[group].timescales_target, warnings)
        if group == "hidden":
            hidden_lr_t, hidden_wd_coupled_t = lr_t, wd_coupled_t

    # 5. Model EMA (Busbridge et al.): ρ → ρ^κ.
    ema: Quantity | None = None
    if run.ema_decay is not None:
        new_rho = R.ema_decay_for_batch(run.ema_decay, kappa)
        if not 0.0 < new_rho < 1.0:  # ρ^κ underflows to 0 or rounds to 1 at extreme κ
            raise RuleDomainError(
                f"ema_decay: ρ = {run.ema_decay!r} with batch ratio κ = {kappa:g} gives ρ^κ = "
                f"{new_rho!r}, outside (0, 1) in floating point; choose a target batch closer to "
                "the proxy's"
            )
        ema = Quantity(run.ema_decay, new_rho, (Factor("ema-decay", "batch", "ρ^κ", kappa),))

    # 6. Warmup: w / κ keeps the samples it covers (Goyal et al.; GPT-3's fixed warmup tokens).
    warmup: Quantity | None = None
    if run.warmup_steps is not None:
        factor = Factor("warmup-samples", "batch", "1/κ", R.warmup_steps_for_batch(1.0, kappa))
        warmup = Quantity(run.warmup_steps, run.warmup_steps * factor.value, (factor,))

    # 7. Residual-branch multiplier (depth transfer only).
    residual: Quantity | None = None
    if m_depth is not None:
        start = run.residual_multiplier
        factor = Factor("depth-residual", "depth", choices.depth_rule,
                        R.depth_residual_multiplier_factor(m_depth, choices.depth_rule))
        residual = Quantity(start, start * factor.value, (factor,))

    # 8. The disagreement: hidden λ under all three width rules, with Fan et al.'s σ_top ratio.
    alternatives = _width_rule_alternatives(
        resolved["hidden"], hidden_lr_t, hidden_wd_coupled_t, m, choices, convention, target
    ) if with_alternatives else ()

    eps_global = Quantity(run.eps, run.eps * R.sqrt_batch_eps_factor(kappa),
                          (Factor("sqrt-batch-eps", "batch", "1/√κ", R.sqrt_batch_eps_factor(kappa)),))
    result = TransferResult(
        name=run.name,
        proxy=proxy,
        target=target,
        ratios=Ratios(m, kappa, nu, m_depth, tpp_ratio),
        choices=choices,
        convention=convention,
        unit=run.unit,
        epochs=epochs,
        base_width=base_width,
        groups=GroupMap(groups),
        betas=(betas[0], betas[1]),
        eps=eps_global,
        ema_decay=ema,
        residual_multiplier=residual,
        warmup_steps=warmup,
        steps_per_epoch=(proxy.dataset_size / proxy.batch_size, target.dataset_size / target.batch_size),
        alternatives=alternatives,
        warnings=tuple(dict.fromkeys(warnings)),
    )
    _check_finite([q.target for g in groups.values() for q in (g.lr, g.weight_decay, g.init_std, g.eps)])
    return result


def _warn_timescales(
    group: Group, lr: float, wd_coupled: float, scales: Timescales, warnings: list[str]
) -> None:
    if wd_coupled == 0 or scales.tau_epoch is None or scales.tau_run_fraction is None:
        return
    where = f"param_groups.{group}"
    if lr * wd_coupled >= 1:
        warnings.append(
            f"{where}: η·λ = {lr * wd_coupled:.3g} ≥ 1: each step decays the weights by 100 % or "
            "more (λ is probably given in the independent convention; set "
            "optimizer.weight_decay_convention)"
        )
    if scales.tau_run_fraction > 1:
        warnings.append(
            f"{where}: τ_epoch = {scales.tau_epoch:.3g} epochs exceeds the run "
            f"({scales.tau_epoch / scales.tau_run_fraction:g} epochs): weight decay barely acts"
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
) -> tuple[WidthRuleAlternative, ...]:
    """The hidden group's target λ under each width rule (the chosen rule's λ rescaled by the
    ratio of the rules' width factors), with Fan et al.'s σ_top ratio and τ_epoch of each."""
    chosen = R.weight_decay_width_factor("hidden", m, choices.wd_width_rule, choices.readout_rule)
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
