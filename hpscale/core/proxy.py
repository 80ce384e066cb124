"""The proxy run as the composition reads it: its scale, each parameter group's values after the
optimizer sections and the defaults, and the notes its values call for.

Pure: no I/O, no printing. ``hpscale.core.compose`` composes from a ``ProxyRun`` (and re-exports
what is here); ``check``, ``ladder`` and ``ramp`` read the proxy once and compose many targets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import InputError
from . import rules as R
from .frozen import FrozenMap
from .optimizers import DEFAULT, OPTIMIZERS, GroupValues
from .optimizers.base import group_timescales as _timescales
from .rules import GROUPS, Group
from .scale import Scale
from .transfer_result import Timescales

if TYPE_CHECKING:
    from ..config import RunConfig

#: Adam learning rates outside this range are almost certainly typos (``lr: 6e4``), and are
#: called that instead of being diagnosed as something else.
PLAUSIBLE_LR = (1e-7, 1.0)


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
    """Each group's values as the run used them: the override if given, else the global (or
    the section of the optimizer that trains the group, ``optimizer_sections``)."""
    return optimizer_sections(config, _resolve_defaults(config))[0]


def optimizer_sections(
    config: RunConfig, groups: dict[Group, GroupValues]
) -> tuple[dict[Group, GroupValues], dict[Group, str], dict[str, Any]]:
    """The groups with the values of every optimizer section the config adds (``muon``), which
    optimizer trains each group, and each added optimizer's settings (``OptimizerSpec.read``)."""
    optimizers: dict[Group, str] = dict.fromkeys(GROUPS, DEFAULT)
    settings: dict[str, Any] = {}
    for spec in OPTIMIZERS.values():
        if spec.read is not None and getattr(config, spec.section, None) is not None:
            groups, settings[spec.name] = spec.read(config, groups)
            optimizers.update(dict.fromkeys(spec.default_groups, spec.name))
    return groups, optimizers, settings


def _resolve_defaults(config: RunConfig) -> dict[Group, GroupValues]:
    model, optimizer = config.model, config.optimizer
    base_width = model.base_width or model.width
    coupled_convention = optimizer.weight_decay_convention == "coupled"
    resolved: dict[Group, GroupValues] = {}
    for group in GROUPS:
        over = config.group_override(group)
        lr = over.lr if over.lr is not None else optimizer.lr
        wd = over.weight_decay if over.weight_decay is not None else optimizer.weight_decay
        if not coupled_convention and wd >= 1:
            raise InputError(
                f"param_groups.{group}.weight_decay: {wd:g} in the independent convention removes "
                "100 % or more of the weights every step; must be < 1 (is it a coupled value? "
                "then set optimizer.weight_decay_convention: coupled)"
            )
        coupled = wd if coupled_convention else R.to_coupled(lr, wd)
        if not math.isfinite(coupled):
            raise InputError(
                f"param_groups.{group}.weight_decay: {wd:g} / lr {lr:g} overflows as a coupled weight "
                "decay; the learning rate is implausibly small"
            )
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
    parametrization: str | None
    timescales: dict[Group, Timescales]
    warmup_steps: int | None = None
    notes: tuple[str, ...] = ()  # warnings about the proxy itself, repeated in every transfer
    #: The optimizer that trains each group (a key of ``hpscale.core.optimizers.OPTIMIZERS``).
    optimizers: Mapping[Group, str] = FrozenMap(dict.fromkeys(GROUPS, DEFAULT))
    #: Each added optimizer's run-wide settings (``OptimizerSpec.read``), by name.
    settings: Mapping[str, Any] = FrozenMap()


def read_proxy(config: RunConfig) -> ProxyRun:
    """Collect the proxy's scale, per-group values and timescales from a config."""
    scale = scale_of(config)
    groups, optimizers, settings = optimizer_sections(config, _resolve_defaults(config))
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
            group: _timescales(v.lr, v.weight_decay_coupled, scale.batch_size, scale.dataset_size, epochs,
                               f"param_groups.{group}")
            for group, v in groups.items()
        },
        notes=_proxy_notes(groups, config.optimizer.weight_decay_convention),
        optimizers=FrozenMap(optimizers),
        settings=FrozenMap(settings),
    )


def _proxy_notes(groups: dict[Group, GroupValues], convention: str) -> tuple[str, ...]:
    """Values of the proxy that are almost certainly mistakes, called what they likely are."""
    notes = []
    low, high = PLAUSIBLE_LR
    for group, values in groups.items():
        where = f"param_groups.{group}"
        if not low <= values.lr <= high:
            notes.append(f"{where}.lr = {values.lr:g} is outside any plausible Adam learning rate "
                         f"({low:g} … {high:g}): a typo?")
        elif values.lr * values.weight_decay_coupled >= 1:
            notes.append(f"{where}.weight_decay = {values.weight_decay:g}: with lr {values.lr:g} each step "
                         "would remove all of the weights (η·λ ≥ 1); coupled weight decays are "
                         "usually 0 … 1: a typo?")
        if convention == "independent" and values.weight_decay >= 0.01:
            notes.append(f"{where}.weight_decay = {values.weight_decay:g} in the independent convention "
                         f"removes {values.weight_decay:.0%} of the weights every step; is it the coupled "
                         "value (torch.optim.AdamW's weight_decay)? then set "
                         "optimizer.weight_decay_convention: coupled")
    return tuple(notes)
