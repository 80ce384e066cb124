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
from ..transfer_result import GroupResult, Timescales

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
    - ``compose_group(context)``: one group's target values, every factor naming its rule.
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

    def __post_init__(self) -> None:
        unknown = [key for key in self.rules if key not in R.RULES]
        assert not unknown, f"optimizer {self.name}: unregistered rules {unknown}"


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
