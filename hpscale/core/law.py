"""A fitted law (``hpscale fit --output``) applied by ``transfer --law`` and ``check --law``. Pure.

A law says hp* ∝ Π axisᵢ^aᵢ for a hyperparameter of one parameter group, fitted on a sweep.
Transfer uses it instead of the published rules *for the hyperparameters and axes it covers*:

- ``lr`` and ``weight_decay`` laws are applied; a law of any other quantity (τ_epoch, τ_iter,
  β, ε, batch size) is reported, not applied.
- Each law axis maps to a transfer ratio: ``width`` → m, ``depth`` → m_L, ``batch_size`` → κ,
  ``dataset_size`` → ν, ``params`` → P_t/P_p (the parameter counts transfer uses, which move with
  width and depth). The law's factor r^a replaces the rule factors of that axis (``params``
  replaces those of width and depth).
- Width, depth and params factors differ per group under the rules (µP), so the law replaces
  them only for the group it was fitted on (``group`` in the law file); the other groups keep
  their rules. Batch and dataset factors are the same for every group under the rules, so the
  law replaces them in every group.
- A weight-decay law is of the coupled λ (torch.optim.AdamW's ``weight_decay``), like every
  rule; for a config in the independent convention it is converted as the rules are.
- Only the ratios target/proxy enter, so only the exponents are used (not the coefficient).

Each law factor is a ``Factor`` whose ``rule`` is ``law:<name>``, so the JSON derivation, the
tables and ``check`` name the law as they name a rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import InputError, mention
from .scale import AXES as SCALE_AXES
from .scale import Factor, Ratios, Scale

if TYPE_CHECKING:
    from .rules import Group

#: Law axis → (the transfer axis its factor is recorded under, the rule axes it replaces), from
#: ``hpscale.core.scale.AXES``.
AXES: dict[str, tuple[str, tuple[str, ...]]] = {
    a.law_axis: (a.name, a.replaces) for a in SCALE_AXES.values() if a.law_axis is not None}
#: Law axes whose rule factors differ per group: the law replaces them in its own group only.
GROUP_AXES = frozenset(a.law_axis for a in SCALE_AXES.values() if a.law_axis is not None and a.per_group)
#: The hyperparameters a law can set in a transfer.
APPLIED = ("lr", "weight_decay")
_SYMBOLS = {a.law_axis: a.symbol for a in SCALE_AXES.values() if a.law_axis is not None}


class LawTerm(NamedTuple):
    """One fitted law: hp* ∝ Π axis^exponent, with each exponent's interval and swept range."""

    hp: str
    exponents: Mapping[str, float]
    exponent_ci: Mapping[str, tuple[float, float]]
    axes_range: Mapping[str, tuple[float, float]]
    formula: str
    coefficient: float | None = None  # hp* = coefficient · Π axis^exponent; transfer uses only ratios


class Law(NamedTuple):
    """A law file: its laws, the group they were fitted on, and where it came from."""

    name: str
    path: str
    sha256: str
    group: Group
    confidence: float | None
    terms: Mapping[str, LawTerm]
    lr_optimized: bool  # whether the sweep swept lr (what the weight-decay rules predict depends on it)
    provenance: Mapping[str, Any] | None = None  # the file's provenance mapping (a shipped law: its source)

    @property
    def rule(self) -> str:
        """The ``rule`` its factors carry: ``law:<name>``."""
        return f"law:{self.name}"

    def applied(self) -> tuple[LawTerm, ...]:
        """The laws transfer applies (``lr``, ``weight_decay``)."""
        return tuple(self.terms[hp] for hp in APPLIED if hp in self.terms)

    def check_axes(self) -> None:
        """Every applied law's axes must have a transfer ratio (``InputError`` otherwise)."""
        for term in self.applied():
            for axis in term.exponents:
                if axis not in AXES:
                    raise InputError(
                        f"{self.path}: laws.{term.hp}: axis {axis!r} has no ratio in a transfer; a law "
                        f"applied by transfer may use {', '.join(AXES)} (refit with {mention('laws')})"
                    )


def axis_ratio(axis: str, ratios: Ratios, params_ratio: float | None) -> float | None:
    """The target/proxy ratio of a law axis; ``None`` when it does not change (no factor)."""
    field = SCALE_AXES[AXES[axis][0]].ratio_field
    value = params_ratio if field is None else getattr(ratios, field)
    return None if value is None or value == 1 else value


def law_factors(
    factors: list[Factor], hp: str, group: Group, law: Law | None, ratios: Ratios, params_ratio: float | None
) -> list[Factor]:
    """``factors`` (one hp of one group, as the rules built them) with the law's factors in place
    of the rule factors of every axis the law covers for this group (see the module docstring)."""
    term = law.terms.get(hp) if law is not None and hp in APPLIED else None
    if law is None or term is None:
        return factors
    # Rule axis → the law factor that replaces its factors (None: replaced by nothing, ratio 1).
    replacing: dict[str, Factor | None] = {}
    extra: list[Factor] = []
    for axis, exponent in term.exponents.items():
        if axis in GROUP_AXES and group != law.group:
            continue
        record, rule_axes = AXES[axis]
        if axis == "params" and params_ratio is None and (ratios.width != 1 or ratios.depth not in (None, 1)):
            raise InputError(
                f"{law.path}: laws.{hp}: axis params needs the proxy's parameter count: state model.params "
                "or model.depth (for 12·L·W²) in the proxy config"
            )
        ratio = axis_ratio(axis, ratios, params_ratio)
        factor = None if ratio is None else Factor(law.rule, record, f"{_SYMBOLS[axis]}^{exponent:.3g}",
                                                   ratio**exponent)
        replacing.update({rule_axis: factor for rule_axis in rule_axes})
        if factor is not None and not any(f.axis in rule_axes for f in factors):
            extra.append(factor)  # no rule moves this hp along the axis: the law adds a factor
    out: list[Factor] = []
    for factor in factors:  # each law factor where the first factor it replaces stood
        if factor.axis not in replacing:
            out.append(factor)
        elif (law_factor := replacing[factor.axis]) is not None and law_factor not in out:
            out.append(law_factor)
    return out + extra


def law_warnings(law: Law, target: Scale, far: float) -> list[str]:
    """One warning per applied law axis whose target value lies more than ×``far`` beyond the
    range the law was fitted on (``axes_range``): the law is extrapolated that far."""
    warnings = []
    for term in law.applied():
        for axis in term.exponents:
            value, span = getattr(target, axis, None), term.axes_range.get(axis)
            if value is None or span is None or not (span[0] > 0 and span[1] > 0):
                continue
            beyond = max(value / span[1], span[0] / value)
            if beyond > far:
                warnings.append(
                    f"{mention('law', law.path)}: laws.{term.hp}: target {axis} {value:g} is ×{beyond:.3g} beyond the "
                    f"swept range {span[0]:g}–{span[1]:g} (more than ×{far:g}); the law is extrapolated that far"
                )
    return warnings
