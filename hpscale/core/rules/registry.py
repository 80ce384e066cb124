"""The rule registry: what every rule declares, and the choices between published rules.

``RULES`` maps a rule's key (the name the outputs use) to its ``RuleInfo``; the ``@rule``
decorator fills it as each family module of ``hpscale.core.rules`` is imported, in the order
``hpscale/core/rules/__init__.py`` imports them (the order ``hpscale explain`` lists them in).
Also here: the parameter groups, the choice types with their allowed values, ``RuleChoices``
(which variant to apply where the papers offer more than one) and ``factor`` (a rule's ``Factor``
with its axis and symbol). This module imports no family module, so each of them can import it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from ...errors import InputError
from ..muon_shapes import CONVENTIONS as MUON_CONVENTIONS
from ..scale import Factor

#: The package that re-exports every rule function: the public home of a rule defined here.
PACKAGE = __name__.rpartition(".")[0]

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

#: Power Lines' fitted exponent of the optimal timescale in tokens per parameter (Bergsma et al.
#: 2025, arXiv 2505.13738: τ_opt ∝ TPP^−0.527, fit on GPT-like models of 111M–3.3B parameters).
#: Here because it is ``RuleChoices.tau_exponent``'s default; the rule is in ``horizon.py``.
POWER_LINES_EXPONENT = 0.527


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

    @property
    def path(self) -> str:
        """The function's public import path, what ``hpscale explain`` shows: a rule of this
        package under the package, which re-exports it (``hpscale.core.rules.tau_iter``, not
        its family module); a rule declared elsewhere (an optimizer's) under its own module."""
        module = self.func.__module__
        if module.startswith(f"{PACKAGE}."):
            module = PACKAGE
        return f"{module}.{self.func.__name__}"


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
