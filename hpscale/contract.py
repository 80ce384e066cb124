"""The machine-readable outputs of ``transfer``: the JSON contract and the target YAML config.

JSON contract, ``schema_version`` 1 (documented in the README; fields are only ever added,
never renamed or removed, within a schema version). Same input → byte-identical output: no
timestamps, keys in a fixed order, floats rounded to ``SIGNIFICANT_DIGITS`` significant digits,
∞ written as ``null``.
"""

from __future__ import annotations

import json
from typing import Any

from . import __version__
from .rules import GROUPS
from .transfer import Quantity, Scale, Timescales, TransferResult

SCHEMA_VERSION = 1
SIGNIFICANT_DIGITS = 12


_CLEAN_CACHE: dict[float, float | int | None] = {}
_CLEAN_CACHE_MAX = 65_536  # bounded; a ladder repeats the same proxy values, β, ε and factors


def clean(value: float | None) -> float | int | None:
    """Round to ``SIGNIFICANT_DIGITS`` (hides 0.0012000000000000001-style noise); ∞/NaN → None.

    Memoised: ``hpscale ladder`` cleans ~100 values per row and most of them repeat.
    """
    if value is None:
        return None
    cached = _CLEAN_CACHE.get(value, _CLEAN_CACHE)  # the dict itself is the "missing" sentinel
    if cached is not _CLEAN_CACHE:
        return cached
    if value != value or value in (float("inf"), float("-inf")):
        result = None
    else:
        rounded = float(f"{value:.{SIGNIFICANT_DIGITS}g}")
        result = int(rounded) if rounded.is_integer() and abs(rounded) < 2**53 else rounded
    if len(_CLEAN_CACHE) < _CLEAN_CACHE_MAX:
        _CLEAN_CACHE[value] = result
    return result


def clean_fraction(value: float | None) -> float | int | None:
    """``clean`` for β and ρ, which must stay inside (0, 1): rounding 1 − 1e-15 to 12 digits
    would give 1, so such values are written unrounded."""
    rounded = clean(value)
    if rounded is not None and value is not None and not 0 < rounded < 1 and 0 < value < 1:
        return value
    return rounded


def whole_steps(quantity: Quantity | None) -> int | None:
    """A step count as a schedule takes it: the nearest whole step (None without one)."""
    return None if quantity is None or quantity.target is None else round(quantity.target)


def _scale(scale: Scale, steps_per_epoch: float, epochs: float) -> dict[str, Any]:
    return {
        "width": scale.width,
        "batch_size": clean(scale.batch_size),
        "dataset_size": clean(scale.dataset_size),
        "depth": scale.depth,
        "params": clean(scale.params),
        "steps_per_epoch": clean(steps_per_epoch),
        "total_steps": clean(steps_per_epoch * epochs),
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
    r = result.ratios
    ratios = {"width": r.width, "batch": r.batch, "dataset": r.dataset, "depth": r.depth,
              "horizon": r.tokens_per_param}
    return frozenset(axis for axis, ratio in ratios.items() if ratio is None or ratio == 1)


def to_json_dict(result: TransferResult, *, derivation: bool = False) -> dict[str, Any]:
    """The schema-version-1 JSON object for one transfer; ``derivation=True`` adds ``factors``
    (what ``transfer --derivation`` prints; it is half the object, so it is opt-in)."""
    choices = result.choices
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
        "rules": {
            "wd_width_rule": choices.wd_width_rule,
            "readout_rule": choices.readout_rule,
            "beta_rule": choices.beta_rule,
            "tau_rule": choices.tau_rule,
            "tau_exponent": clean(choices.tau_exponent),
            "eps_width_rule": choices.eps_width_rule,
            "depth_rule": choices.depth_rule if result.ratios.depth is not None else None,
        },
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
        "optimizer": {
            "betas": [clean_fraction(result.betas[0].target), clean_fraction(result.betas[1].target)],
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
        "warnings": list(result.warnings),
    }
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


def dumps_json(obj: Any) -> str:
    """Deterministic JSON text; refuses NaN/inf instead of writing invalid JSON."""
    return json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def to_target_config(result: TransferResult) -> dict[str, Any]:
    """The target run as a config in the input schema, every group stated explicitly.

    The optimizer-level ``lr``, ``weight_decay``, ``eps`` and the top-level ``init_std`` carry
    the embedding group's values (width-independent under µP); ``param_groups`` is what counts.
    """
    groups = result.groups
    model: dict[str, Any] = {"width": result.target.width, "base_width": result.base_width}
    if result.target.depth is not None:
        model["depth"] = result.target.depth
    if result.target.params is not None:
        model["params"] = clean(result.target.params)
    if result.residual_multiplier is not None:
        model["residual_multiplier"] = clean(result.residual_multiplier.target)
    embedding = groups["embedding"]
    config: dict[str, Any] = {
        "name": f"{result.name or 'proxy'} → width {result.target.width}",
        "model": model,
        "data": {
            "dataset_size": clean(result.target.dataset_size),
            "batch_size": clean(result.target.batch_size),
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


def dumps_target_yaml(result: TransferResult) -> str:
    """The target config as YAML, with a header naming the rules that produced it."""
    import yaml

    choices = result.choices
    header = [
        # json.dumps escapes line breaks and control characters: a name cannot inject YAML.
        f"# generated by hpscale {__version__} transfer from "
        f"{json.dumps(result.name, ensure_ascii=False) if result.name else 'the proxy'}",
        f"# rules: wd-width={choices.wd_width_rule} readout={choices.readout_rule} "
        f"beta={choices.beta_rule} tau={choices.tau_rule} eps-width={choices.eps_width_rule}"
        + (f" depth={choices.depth_rule}" if result.ratios.depth is not None else ""),
        "# every group is explicit in param_groups; optimizer.lr/weight_decay/eps and init_std",
        "# repeat the embedding group's values",
    ]
    header += [f"# warning: {w}" for w in result.warnings]
    body = yaml.safe_dump(
        to_target_config(result), sort_keys=False, allow_unicode=True, default_flow_style=None
    )
    return "\n".join(header) + "\n" + body
