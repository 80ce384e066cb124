"""The AdamW EMA timescale of one run, forward or solved for λ (or η). Pure: no I/O.

Forward: from η, λ, B, N compute τ_iter = 1/(η·λ), τ_epoch = B/(η·λ·N), the iterations per
epoch M = N/B and, given the run length, τ as a fraction of the run. Inverse: given τ_epoch
(or τ_iter) solve for λ (default) or η. Every formula is a registered rule of ``hpscale.rules``
(``tau-iter``, ``tau-epoch``, ``tau-epoch-inverse``, ``coupled-to-independent``); this module
only picks the inputs and checks that they are complete (Wang & Aitchison 2024, arXiv 2405.13698).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from ..errors import mention

SOLVE_FOR = ("weight-decay", "lr")
CONVENTIONS = ("coupled", "independent")
P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class TimescaleReport:
    """One run's timescales; ``None`` for a τ means ∞ (λ = 0), for a size "not given"."""

    solved_for: str | None  # None (forward), "weight_decay" or "lr"
    target: tuple[str, float] | None  # ("tau_epoch" | "tau_iter", value) in inverse mode
    convention: str
    lr: float
    weight_decay: float  # in ``convention``
    weight_decay_coupled: float
    batch_size: float | None
    dataset_size: float | None
    iterations_per_epoch: float | None
    tau_iter: float | None
    tau_epoch: float | None
    epochs: float | None
    total_steps: float | None
    tau_run_fraction: float | None
    warnings: tuple[str, ...] = ()
    #: Where η and λ were read from, when a run config gave them (``hpscale.timescale(config=…)``):
    #: its name, the parameter group, the config's data unit.
    config: str | None = None
    group: str | None = None
    unit: str | None = None

    def to_json_dict(self, *, group: str | None = None, config: str | None = None,
                     unit: str | None = None) -> dict[str, Any]:
        """The ``hpscale timescale --format json`` object (schema_version 1; ∞ is ``null``):
        ``config``, ``group`` and ``unit`` say where η and λ were read from, when they were
        (the report's own unless given here)."""
        from .._version import __version__
        from ..numbers import clean
        from .transfer_result import SCHEMA_VERSION

        group = self.group if group is None else group
        config = self.config if config is None else config
        unit = self.unit if unit is None else unit

        return {
            "schema_version": SCHEMA_VERSION,
            "hpscale_version": __version__,
            "solved_for": self.solved_for,
            "target": None if self.target is None else {self.target[0]: clean(self.target[1])},
            "config": config,
            "group": group,
            "unit": unit,
            "weight_decay_convention": self.convention,
            "lr": clean(self.lr),
            "weight_decay": clean(self.weight_decay),
            "weight_decay_coupled": clean(self.weight_decay_coupled),
            "batch_size": clean(self.batch_size),
            "dataset_size": clean(self.dataset_size),
            "iterations_per_epoch": clean(self.iterations_per_epoch),
            "tau_iter": clean(self.tau_iter),
            "tau_epoch": clean(self.tau_epoch),
            "epochs": clean(self.epochs),
            "total_steps": clean(self.total_steps),
            "tau_run_fraction": clean(self.tau_run_fraction),
            "warnings": list(self.warnings),
        }


def _missing(param: str, why: str) -> Exception:
    from ..errors import InputError

    return InputError.of(param, f": missing; {why}")


def _range_errors(func: Callable[P, T]) -> Callable[P, T]:
    """A rule that leaves the floating-point range (``ValueError``, ``ArithmeticError``) becomes
    an ``InputError``: the inputs are at fault, not the program."""
    from ..errors import InputError

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return func(*args, **kwargs)
        except InputError:
            raise
        except (ValueError, ArithmeticError) as exc:
            raise InputError(f"the inputs take the timescale out of the floating-point range ({exc})") from None

    return wrapper


@_range_errors
def compute_timescale(
    *,
    lr: float | None,
    weight_decay: float | None,
    batch_size: float | None,
    dataset_size: float | None,
    convention: str = "coupled",
    tau_epoch: float | None = None,
    tau_iter: float | None = None,
    solve: str = "weight-decay",
    epochs: float | None = None,
    total_steps: float | None = None,
) -> TimescaleReport:
    """Forward (no τ given) or inverse (``tau_epoch`` / ``tau_iter`` given) timescale.

    ``weight_decay`` is in ``convention`` (independent: λ_ind = η·λ, the per-step decay).
    In inverse mode the solved quantity (``solve``: ``weight-decay`` or ``lr``) must be
    ``None``. Pure: raises ``InputError`` naming the parameter on incomplete or bad input.
    """
    from ..errors import InputError
    from . import rules as R

    if tau_epoch is not None and tau_iter is not None:
        raise InputError.of("tau_iter", f": given together with {mention('tau_epoch')}; give one timescale to solve for")
    if epochs is not None and total_steps is not None:
        raise InputError.of("total_steps", f": given together with {mention('epochs')}; give one run length")
    _check_sizes(batch_size, dataset_size)
    has_sizes = batch_size is not None and dataset_size is not None

    target: tuple[str, float] | None = None
    solved_for: str | None = None
    if tau_epoch is not None:
        target = ("tau_epoch", tau_epoch)
    elif tau_iter is not None:
        target = ("tau_iter", tau_iter)
    if target is not None:
        lr, weight_decay, solved_for = _solve(target, solve, lr, weight_decay, batch_size, dataset_size, convention)

    if lr is None:
        raise _missing("lr", f"the learning rate η is needed (or {mention('config')})")
    if weight_decay is None:
        raise _missing("weight_decay", f"the weight decay λ is needed (or {mention('config')}, or "
                       f"{mention('tau_epoch')} to solve for it)")
    coupled = weight_decay if convention == "coupled" else R.to_coupled(lr, weight_decay)
    t_iter = R.tau_iter(lr, coupled)
    t_epoch = R.tau_epoch(lr, coupled, batch_size, dataset_size) if has_sizes else None  # type: ignore[arg-type]
    per_epoch = dataset_size / batch_size if has_sizes else None  # type: ignore[operator]
    if per_epoch is not None:
        if epochs is not None:
            total_steps = epochs * per_epoch
        elif total_steps is not None:
            epochs = total_steps / per_epoch
    fraction: float | None = None
    if total_steps is not None:
        fraction = t_iter / total_steps
    elif epochs is not None and t_epoch is not None:
        fraction = t_epoch / epochs

    _check_range(lr, weight_decay, coupled, t_iter, t_epoch, per_epoch, total_steps, epochs, fraction)
    return TimescaleReport(
        solved_for=solved_for, target=target, convention=convention, lr=lr,
        weight_decay=weight_decay, weight_decay_coupled=coupled, batch_size=batch_size,
        dataset_size=dataset_size, iterations_per_epoch=per_epoch, tau_iter=_finite(t_iter),
        tau_epoch=_finite(t_epoch), epochs=epochs, total_steps=total_steps,
        tau_run_fraction=_finite(fraction),
        warnings=_warnings(lr * coupled, _finite(fraction), _finite(t_epoch)),
    )


def _finite(x: float | None) -> float | None:
    """``None`` for ∞ (λ = 0: no decay), as the JSON contract writes it."""
    return None if x is None or x == float("inf") else x


def _check_sizes(batch_size: float | None, dataset_size: float | None) -> None:
    """Both sizes or neither, each at least 1, and an epoch of at least one batch."""
    from ..errors import InputError

    for param, size in (("batch_size", batch_size), ("dataset_size", dataset_size)):
        if size is not None and size < 1:
            raise InputError.of(param, f": must be at least 1 (one sample or token), found {size:g}")
    if batch_size is not None and dataset_size is not None and dataset_size < batch_size:
        raise InputError.of(
            "dataset_size", f": {dataset_size:g} is smaller than one batch ({batch_size:g}); an epoch "
            "holds at least one optimizer step"
        )
    if (batch_size is None) != (dataset_size is None):
        given, absent = ("batch_size", "dataset_size") if dataset_size is None else ("dataset_size", "batch_size")
        raise _missing(absent, f"{mention(given)} alone does not define an epoch (τ_epoch = B/(η·λ·N) needs both)")


def _solve(
    target: tuple[str, float],
    solve: str,
    lr: float | None,
    weight_decay: float | None,
    batch_size: float | None,
    dataset_size: float | None,
    convention: str,
) -> tuple[float | None, float | None, str]:
    """The inverse: (η, λ in ``convention``, the solved name) that give ``target`` = (``tau_epoch``
    or ``tau_iter``, value), solving for ``solve`` (``weight-decay`` or ``lr``)."""
    from ..errors import InputError
    from . import rules as R

    key, value = target
    option = mention(key)
    if key == "tau_epoch" and (batch_size is None or dataset_size is None):
        raise _missing("batch_size", f"{option} needs {mention('batch_size')} and {mention('dataset_size')} "
                       f"(or {mention('config')})")
    # τ_epoch with B = N is τ_iter (one step per "epoch"), so one inverse serves both.
    b, n = (batch_size, dataset_size) if key == "tau_epoch" else (1.0, 1.0)
    assert b is not None and n is not None
    if solve == "weight-decay":
        if lr is None:
            raise _missing("lr", f"solving {option} for the weight decay needs the learning rate")
        coupled = R.weight_decay_for_tau_epoch(lr, value, b, n)
        return lr, coupled if convention == "coupled" else R.to_independent(lr, coupled), "weight_decay"
    if solve == "lr":
        if convention == "independent":
            raise InputError.of(
                "solve", ": 'lr' with the independent convention: τ_iter = 1/λ_ind does not depend "
                "on the learning rate; solve for the weight decay instead"
            )
        if weight_decay is None:
            raise _missing("weight_decay", f"solving {option} for the learning rate needs λ")
        if weight_decay == 0:
            raise InputError.of("weight_decay", f": 0: with λ = 0 no learning rate gives a finite {option}")
        # η and λ enter τ only through η·λ: the same inverse with η and λ swapped returns η.
        return R.weight_decay_for_tau_epoch(weight_decay, value, b, n), weight_decay, "lr"
    raise InputError.of("solve", f": {solve!r}: allowed: {', '.join(SOLVE_FOR)}")


def _warnings(lr_times_wd: float, fraction: float | None, t_epoch: float | None) -> tuple[str, ...]:
    """η·λ ≥ 1 (λ given in the wrong convention?), τ longer than the run, τ_epoch ≪ one epoch."""
    from .compose import TAU_EPOCH_FLOOR

    warnings: list[str] = []
    if lr_times_wd >= 1:
        warnings.append(f"η·λ = {lr_times_wd:.3g} ≥ 1: each step decays the weights by 100 % or more "
                        f"(is λ in the independent convention? use {mention('convention', 'independent')})")
    if fraction is not None and fraction > 1:
        warnings.append(f"τ is {fraction:.3g}× the run: weight decay barely acts")
    if t_epoch is not None and t_epoch < TAU_EPOCH_FLOOR:
        warnings.append(f"τ_epoch = {t_epoch:.3g} epochs is far below one epoch: the weights forget "
                        "most of each epoch")
    return tuple(warnings)


def _check_range(lr: float, weight_decay: float, coupled: float, t_iter: float, t_epoch: float | None,
                 per_epoch: float | None, total_steps: float | None, epochs: float | None,
                 fraction: float | None) -> None:
    """Refuse inputs whose timescales leave the floating-point range (an overflow, or an η·λ
    that underflows to 0 while λ > 0), naming the quantity; ∞ is only ever "λ = 0"."""
    from ..errors import InputError

    named = {"η": lr, "λ": weight_decay, "λ (coupled)": coupled, "iterations per epoch N/B": per_epoch,
             "total steps": total_steps, "epochs": epochs}
    if coupled > 0:  # with λ = 0 the timescales are ∞ by definition
        named.update({"τ_iter = 1/(η·λ)": t_iter, "τ_epoch = B/(η·λ·N)": t_epoch, "τ / run": fraction})
    for name, value in named.items():
        if value is not None and (not math.isfinite(value) or (value == 0 and name.startswith(("η", "τ")))):
            raise InputError(
                f"{name} = {value:g}: the inputs take it out of the floating-point range; give values "
                "of the magnitudes a training run has"
            )
