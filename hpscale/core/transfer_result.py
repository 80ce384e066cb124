"""The result of a transfer and its versioned JSON contract.

A ``TransferResult`` holds every target hyperparameter with the factors that produced it; its
``to_json_dict`` is the JSON contract of ``hpscale transfer --format json`` and its
``to_target_config`` the target config that ``--format yaml`` writes. The contract sits beside
the type it serialises, so the composition (``compose``) builds results and the output modules
(``hpscale.outputs.transfer``, ``hpscale.contract``) only dump them: no module of the core imports an
output module.

JSON contract, ``schema_version`` 1 (documented in docs/contracts.md; fields are only ever added,
never renamed or removed, within a schema version). Same input → byte-identical output: no
timestamps, keys in a fixed order, floats rounded to ``SIGNIFICANT_DIGITS`` significant digits,
∞ written as ``null``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, NamedTuple

from .._version import __version__
from ..numbers import clean, clean_fraction, exact
from ..text import printable
from .frozen import FrozenMap
from .rules import GROUPS, OPTIMIZER_CHOICES, Group, RuleChoices, WdWidthRule
from .scale import AXES, Factor, Ratios, Scale

if TYPE_CHECKING:
    from .law import Law

#: The version of the transfer contract (and of the other JSON contracts that share its shape).
SCHEMA_VERSION = 1


class Quantity(NamedTuple):
    """A hyperparameter at the proxy and the target; target = proxy · Π factor values.

    For β and ρ, which do not scale multiplicatively, the single factor's value is κ, the
    batch ratio that enters the map its ``symbol`` names (``linear``: 1 − κ(1 − β),
    ``exponential``: β^κ, ``ρ^κ``).
    """

    proxy: float | None
    target: float | None
    factors: tuple[Factor, ...] = ()


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

    rule: WdWidthRule
    weight_decay: float
    sigma_top_ratio: float | None
    tau_epoch: float | None


class HorizonRuleAlternative(NamedTuple):
    """The hidden group's lr under one token-horizon rule (``lr_horizon_rule``), its exponent a
    of η ∝ D^a at a fixed model (0 for ``none``)."""

    rule: str
    exponent: float
    lr: float


@dataclass(frozen=True)
class TransferResult:
    """Every target hyperparameter of one transfer, with the factors that produced it.

    Immutable. ``groups`` maps each parameter group (embedding, hidden, readout, vector) to its
    ``GroupResult``; every ``Quantity`` holds ``proxy``, ``target`` and ``factors`` (rule,
    axis, symbol, value) with target = proxy · Π factor values. ``result.to_json_dict()``
    gives the versioned JSON contract that ``hpscale transfer --format json`` prints.
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
    groups: FrozenMap[Group, GroupResult]
    betas: tuple[Quantity, Quantity]
    #: The run's one ε, the embedding group's (``optimizer.eps`` in JSON and target configs).
    eps: Quantity
    ema_decay: Quantity | None
    residual_multiplier: Quantity | None
    warmup_steps: Quantity | None  # unrounded target; outputs round to whole steps
    steps_per_epoch: tuple[float, float]
    alternatives: tuple[WidthRuleAlternative, ...]
    warnings: tuple[str, ...] = field(default=())
    #: The fitted law used instead of the rules on the axes it covers (``transfer --law``).
    law: Law | None = None
    #: The optimizer that trains each group, and each added optimizer's settings (``muon``).
    optimizers: Mapping[Group, str] = field(default_factory=lambda: dict.fromkeys(GROUPS, "adamw"))
    #: The PyTorch keyword arguments of each group an added optimizer trains
    #: (``OptimizerSpec.group_options``); the other groups' are AdamW's.
    optimizer_options: Mapping[Group, Mapping[str, Any]] = field(default_factory=dict)
    #: The hidden (AdamW) group's lr under each ``lr_horizon_rule`` (empty for a Muon hidden group
    #: or when alternatives are not asked for).
    lr_horizon_alternatives: tuple[HorizonRuleAlternative, ...] = ()

    def to_json_dict(self, *, derivation: bool = False) -> dict[str, Any]:
        """The JSON contract (``schema_version`` 1) that ``hpscale transfer --format json`` prints;
        ``derivation`` adds every value's ``factors`` (``--derivation``)."""
        return transfer_json(self, derivation=derivation)

    def to_target_config(self) -> dict[str, Any]:
        """The target run as a config mapping in the input schema: what ``--format yaml``
        writes, and what ``check`` and ``load_config`` take."""
        return target_config(self)


def whole_steps(quantity: Quantity | None) -> int | None:
    """A step count as a schedule takes it: the nearest whole step (None without one)."""
    return None if quantity is None or quantity.target is None else round(quantity.target)


def _scale(scale: Scale, steps_per_epoch: float, epochs: float) -> dict[str, Any]:
    return {
        "width": scale.width,
        "batch_size": exact(scale.batch_size),
        "dataset_size": exact(scale.dataset_size),
        "depth": scale.depth,
        "params": exact(scale.params),
        "steps_per_epoch": clean(steps_per_epoch),
        # Whole optimizer steps, as a trainer runs them and the exporters write them
        # (export.common.plan_of: round, at least 1); steps_per_epoch keeps the exact ratio.
        "total_steps": max(1, round(steps_per_epoch * epochs)),
    }


def _timescales(scales: Timescales) -> dict[str, Any]:
    return {
        "tau_iter": clean(scales.tau_iter),
        "tau_epoch": clean(scales.tau_epoch),
        "tau_run_fraction": clean(scales.tau_run_fraction),
    }


def _factors(quantity: Quantity, still: frozenset[str]) -> list[dict[str, Any]]:
    return [
        {"rule": f.rule, "axis": f.axis, "symbol": f.symbol, "value": clean(f.value)}
        for f in quantity.factors
        if f.axis not in still
    ]


def _unchanged_axes(result: TransferResult) -> frozenset[str]:
    """Axes whose ratio is exactly 1: their rules had nothing to move, so the derivation in the
    JSON leaves them out (the product of the listed factors is still target/proxy)."""
    ratios = {a.name: getattr(result.ratios, a.ratio_field) for a in AXES.values() if a.ratio_field}
    return frozenset(axis for axis, ratio in ratios.items() if ratio is None or ratio == 1)


def rules_json(choices: RuleChoices, *, depth: bool = True, optimizers: Collection[str] = ()) -> dict[str, Any]:
    """Every field of ``RuleChoices`` by name (``depth_rule`` is null when no depth transfer ran);
    the choices of an optimizer (``OPTIMIZER_CHOICES``) only where it is in ``optimizers``."""
    out = {f.name: clean(getattr(choices, f.name)) if f.name == "tau_exponent" else getattr(choices, f.name)
           for f in fields(choices) if OPTIMIZER_CHOICES.get(f.name, "") in ("", *optimizers)}
    if not depth:
        out["depth_rule"] = None
    return out


def transfer_json(result: TransferResult, *, derivation: bool = False) -> dict[str, Any]:
    """The schema-version-1 JSON object for one transfer; ``derivation=True`` adds ``factors``
    (what ``transfer --derivation`` prints; it is half the object, so it is opt-in)."""
    choices = result.choices
    betas = [clean_fraction(result.betas[0].target), clean_fraction(result.betas[1].target)]
    obj = {
        "schema_version": SCHEMA_VERSION,
        "hpscale_version": __version__,
        "name": result.name,
        "unit": result.unit,
        "epochs": clean(result.epochs),
        "proxy": _scale(result.proxy, result.steps_per_epoch[0], result.epochs),
        "target": _scale(result.target, result.steps_per_epoch[1], result.epochs),
        "ratios": {
            "width": clean(result.ratios.width),
            "batch": clean(result.ratios.batch),
            "dataset": clean(result.ratios.dataset),
            "depth": clean(result.ratios.depth),
            "tokens_per_param": clean(result.ratios.tokens_per_param),
        },
        "rules": rules_json(choices, depth=result.ratios.depth is not None, optimizers=set(result.optimizers.values())),
        "law": law_json(result.law),
        "weight_decay_convention": result.convention,
        "param_groups": {
            group: {
                "lr": clean(g.lr.target),
                "weight_decay": clean(g.weight_decay.target),
                "init_std": clean(g.init_std.target),
                "multiplier": clean(g.multiplier.target),
                "eps": clean(g.eps.target),
            }
            for group, g in result.groups.items()
        },
        # What the optimizer takes, per param group (torch.optim.AdamW(..., lr, weight_decay,
        # betas, eps)); and what the model must apply itself (AdamW ignores these keys).
        "optimizer_groups": {
            group: _options_json(result.optimizer_options[group]) if group in result.optimizer_options else {
                "lr": clean(g.lr.target),
                "weight_decay": clean(g.weight_decay.target),
                "betas": betas,
                "eps": clean(g.eps.target),
            }
            for group, g in result.groups.items()
        },
        "model_groups": {
            group: {"init_std": clean(g.init_std.target), "multiplier": clean(g.multiplier.target)}
            for group, g in result.groups.items()
        },
        "optimizer": {
            "betas": betas,
            "eps": clean(result.eps.target),
        },
        "ema_decay": clean_fraction(result.ema_decay.target) if result.ema_decay else None,
        "residual_multiplier": (
            clean(result.residual_multiplier.target) if result.residual_multiplier else None
        ),
        "warmup_steps": whole_steps(result.warmup_steps),
        "timescales": {
            group: {"proxy": _timescales(g.timescales_proxy), "target": _timescales(g.timescales_target)}
            for group, g in result.groups.items()
        },
        "weight_decay_width_alternatives": {
            alt.rule: {
                "hidden_weight_decay": clean(alt.weight_decay),
                "sigma_top_ratio": clean(alt.sigma_top_ratio),
                "tau_epoch": clean(alt.tau_epoch),
            }
            for alt in result.alternatives
        },
        # Additive (issue 21): the hidden lr under each token-horizon rule, {} without them.
        "lr_horizon_alternatives": {
            alt.rule: {"exponent": clean(alt.exponent), "hidden_lr": clean(alt.lr)}
            for alt in result.lr_horizon_alternatives
        },
        "warnings": list(result.warnings),
    }
    if result.optimizer_options:  # additive: only where an optimizer besides AdamW trains a group
        obj["optimizers"] = dict(result.optimizers)
    if derivation:
        still = _unchanged_axes(result)
        obj["factors"] = {
            group: {
                "lr": _factors(g.lr, still),
                "weight_decay": _factors(g.weight_decay, still),
                "init_std": _factors(g.init_std, still),
                "multiplier": _factors(g.multiplier, still),
                "eps": _factors(g.eps, still),
            }
            for group, g in result.groups.items()
        }
    return obj


def _options_json(options: Mapping[str, Any]) -> dict[str, Any]:
    return {key: clean(value) if isinstance(value, float) else value for key, value in options.items()}


def target_config(result: TransferResult) -> dict[str, Any]:
    """The target run as a config in the input schema, every group stated explicitly.

    The optimizer-level ``lr``, ``weight_decay``, ``eps`` and the top-level ``init_std`` carry
    the embedding group's values (width-independent under µP); ``param_groups`` is what counts.
    """
    groups = result.groups
    model: dict[str, Any] = {"width": result.target.width, "base_width": result.base_width}
    if result.target.depth is not None:
        model["depth"] = result.target.depth
    if result.target.params is not None:
        model["params"] = exact(result.target.params)
    if result.residual_multiplier is not None:
        model["residual_multiplier"] = clean(result.residual_multiplier.target)
    embedding = groups["embedding"]
    config: dict[str, Any] = {
        # The derived name is text for people: characters a terminal acts on are escaped.
        "name": f"{printable(result.name or 'proxy')} → width {result.target.width}",
        "model": model,
        "data": {
            "dataset_size": exact(result.target.dataset_size),
            "batch_size": exact(result.target.batch_size),
            "unit": result.unit,
            "epochs": clean(result.epochs),
        },
        "optimizer": {
            "lr": clean(embedding.lr.target),
            "weight_decay": clean(embedding.weight_decay.target),
            "weight_decay_convention": result.convention,
            "betas": [clean_fraction(result.betas[0].target), clean_fraction(result.betas[1].target)],
            "eps": clean(result.eps.target),
        },
    }
    if result.warmup_steps is not None:
        config["optimizer"]["warmup_steps"] = whole_steps(result.warmup_steps)
    for group, options in result.optimizer_options.items():
        # The added optimizer's section (named as the optimizer, ``muon``), from its group.
        config[result.optimizers[group]] = {key: value for key, value in _options_json(options).items()
                                            if key != "adjust_lr_fn"}
    if embedding.init_std.target is not None:
        config["init_std"] = clean(embedding.init_std.target)
    if result.ema_decay is not None:
        config["ema_decay"] = clean_fraction(result.ema_decay.target)
    config["param_groups"] = {
        group: {
            key: value
            for key, value in (
                ("lr", clean(groups[group].lr.target)),
                ("weight_decay", clean(groups[group].weight_decay.target)),
                ("init_std", clean(groups[group].init_std.target)),
                ("multiplier", clean(groups[group].multiplier.target)),
                ("eps", clean(groups[group].eps.target)),
            )
            if value is not None
        }
        for group in GROUPS
    }
    return config


def law_json(law: Law | None) -> dict[str, Any] | None:
    """The fitted law a transfer used (``--law``): where it came from and each applied exponent
    with its interval; ``null`` without one. Its factors carry ``rule: "law:<name>"``."""
    if law is None:
        return None
    from .law import GROUP_AXES

    return {
        "name": law.name,
        "path": law.path,
        "sha256": law.sha256,
        "group": law.group,
        "applied": [
            {"hp": term.hp, "axis": axis, "exponent": clean(exponent),
             "ci": [clean(term.exponent_ci[axis][0]), clean(term.exponent_ci[axis][1])],
             "groups": [law.group] if axis in GROUP_AXES else list(GROUPS)}
            for term in law.applied() for axis, exponent in term.exponents.items()
        ],
    }
