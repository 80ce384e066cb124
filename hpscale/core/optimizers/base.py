"""What every optimizer declaration shares: the declaration type, one group's context in a
transfer, and the EMA timescale of a group. Pure; a leaf below the optimizer modules.

An optimizer is declared once, in one module of this package (``adamw``, ``muon``), as an
``OptimizerSpec``: its hyperparameters, the groups it can train, its weight-decay conventions,
the rules it applies and the function that composes one group's target values. The registry in
``hpscale.core.optimizers`` lists them; the composition, ``check``, the plan and
``hpscale.torch`` read the declaration instead of assuming one optimizer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from ...errors import InputError
from .. import rules as R
from ..rules import Group, RuleChoices
from ..scale import Factor, Ratios, Scale
from ..transfer_result import GroupResult, Quantity, Timescales

if TYPE_CHECKING:
    from ..law import Law


class GroupValues(NamedTuple):
    """One group's hyperparameters as a run used them (after falling back to globals)."""

    lr: float
    weight_decay: float  # in the config's convention
    weight_decay_coupled: float
    init_std: float | None
    multiplier: float
    eps: float


class GroupContext(NamedTuple):
    """Everything one group's composition reads: the proxy's values of the group, the ratios,
    the rule choices, the target scale, a fitted law and what the optimizer prepared once per
    transfer (``OptimizerSpec.prepare``)."""

    group: Group
    values: GroupValues
    ratios: Ratios
    choices: RuleChoices
    target: Scale
    convention: str  # the weight-decay convention of the proxy's values
    epochs: float
    timescales_proxy: Timescales
    law: Law | None
    params_ratio: float | None
    prepared: Any
    #: The optimizer's run-wide settings read from the config (``OptimizerSpec.read``), or None.
    settings: Any = None


def rule_exponent(factor: Callable[[float], float], *, ratio: float = 4.0) -> float:
    """The exponent a of a rule whose factor is a power of the ratio r: f(r) = r^a.

    a = log f(r) / log r, evaluated at r and 1/r; the two must agree (else the rule is not a
    power law and has no single exponent: ``ValueError``). Verdicts compute every predicted
    exponent this way from the registered rule functions.

    >>> rule_exponent(R.sqrt_batch_lr_factor)
    0.5
    """
    up, down = factor(ratio), factor(1.0 / ratio)
    if not (up > 0 and down > 0):
        raise ValueError("the rule's factor is not positive: no exponent")
    a_up, a_down = math.log(up) / math.log(ratio), -math.log(down) / math.log(ratio)
    if abs(a_up - a_down) > 1e-9 * max(1.0, abs(a_up)):
        raise ValueError(f"not a power law: exponent {a_up:g} at r = {ratio:g}, {a_down:g} at 1/r")
    return round(a_up, 12)


class RuleLine(NamedTuple):
    """One published prediction: hp* ∝ axis^exponent under rule ``rule`` (variant ``choice``)."""

    hp: str
    axis: str
    rule: str  # key of hpscale.core.rules.RULES
    choice: str  # the variant, as the transfer options name it
    label: str  # short name for tables
    exponent: float
    condition: str


@dataclass(frozen=True)
class OptimizerSpec:
    """One optimizer, declared once.

    - ``name``: the registry key (``adamw``); ``title``: for people;
    - ``section``: the config key that holds its hyperparameters (``optimizer`` for AdamW);
    - ``groups``: the parameter groups it can train; ``default_groups``: those it trains when a
      config names it;
    - ``options``: the per-group options its PyTorch class takes (``optimizer_groups`` in the
      transfer JSON, ``hpscale.plan.Plan.options``); ``torch_class``: that class;
    - ``conventions``: the weight-decay conventions its configs may state;
    - ``rules``: the keys of ``hpscale.core.rules.RULES`` it applies to its groups;
    - ``prepare(ratios, choices)``: what is the same for every group, built once per transfer;
    - ``compose_group(context)``: one group's target values, every factor naming its rule;
    - ``read(config, groups)``, for an optimizer whose ``section`` a config may add: the groups
      with its values in place and its run-wide settings (``GroupContext.settings``);
    - ``notes(settings, ratios, choices)``: warnings every transfer with it carries;
    - ``alternatives(context, result)``: the hidden group's λ under each of its weight-decay
      width rules, where it trains that group (AdamW's are built by ``compose``);
    - ``group_options(settings, choices, result)``: the per-group keyword arguments of its
      PyTorch class (``optimizer_groups`` in the transfer JSON), where they are not AdamW's;
    - ``for_target(target_config, choices)``: the choices ``check`` predicts a target with, where
      the target's own section states one (the trainer convention it was written for);
    - ``fit_lines(group, lr_optimized, convention)``: the exponents its rules predict for a
      sweep of ``group`` (``RuleLine``), which ``hpscale fit`` gives verdicts against;
      ``convention`` is the sweep's shape convention where the optimizer has them (Muon).
    """

    name: str
    title: str
    section: str
    groups: tuple[Group, ...]
    default_groups: tuple[Group, ...]
    options: tuple[str, ...]
    torch_class: str
    conventions: tuple[str, ...]
    rules: tuple[str, ...]
    prepare: Callable[[Ratios, RuleChoices], Any]
    compose_group: Callable[[GroupContext], GroupResult]
    read: Callable[[Any, dict[Group, Any]], tuple[dict[Group, Any], Any]] | None = None
    notes: Callable[[Any, Ratios, RuleChoices], tuple[str, ...]] | None = None
    alternatives: Callable[[GroupContext, GroupResult], tuple[Any, ...]] | None = None
    group_options: Callable[[Any, RuleChoices, GroupResult], dict[str, Any]] | None = None
    for_target: Callable[[Any, RuleChoices], RuleChoices] | None = None
    fit_lines: Callable[[Group, bool, str | None], list[RuleLine]] | None = None

    def __post_init__(self) -> None:
        unknown = [key for key in self.rules if key not in R.RULES]
        assert not unknown, f"optimizer {self.name}: unregistered rules {unknown}"


def model_quantities(group: Group, values: GroupValues, width_ratio: float,
                     readout_rule: str) -> tuple[Quantity, Quantity]:
    """A group's init std and forward multiplier by µP (Tensor Programs V, Table 3): what the
    model applies, the same whichever optimizer trains the group."""
    init = R.factor("mup-init", R.mup_init_std_width_factor(group, width_ratio, readout_rule))  # type: ignore[arg-type]
    mult = R.factor("mup-multiplier", R.mup_multiplier_width_factor(group, width_ratio, readout_rule))  # type: ignore[arg-type]
    return (Quantity(values.init_std, None if values.init_std is None else values.init_std * init.value, (init,)),
            Quantity(values.multiplier, values.multiplier * mult.value, (mult,)))


def product(factors: tuple[Factor, ...] | list[Factor]) -> float:
    """Π factor values."""
    result = 1.0
    for factor in factors:  # a plain loop: ~3× faster than math.prod over a generator
        result *= factor.value
    return result


def group_timescales(
    lr: float, wd_coupled: float, batch: float, dataset: float, epochs: float, where: str
) -> Timescales:
    """τ_iter, τ_epoch and τ/run of one group; ``None`` means ∞, i.e. λ = 0 (no decay). A
    timescale that overflows while λ > 0 is refused, naming the group (``where``)."""
    if wd_coupled == 0:
        return Timescales(None, None, None)
    try:
        t_iter = R.tau_iter(lr, wd_coupled)
        t_epoch = R.tau_epoch(lr, wd_coupled, batch, dataset)
    except ValueError:
        t_iter = t_epoch = math.inf
    fraction = t_epoch / epochs
    if not (t_iter < math.inf and t_epoch < math.inf and fraction < math.inf):
        raise InputError(
            f"{where}: η = {lr:g} and λ = {wd_coupled:g} give an AdamW timescale 1/(η·λ) beyond the "
            "floating-point range; these are not the magnitudes of a training run"
        )
    return Timescales(t_iter, t_epoch, fraction)
