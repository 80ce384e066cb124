"""The vocabulary of ``hpscale fit``: what a sweep is, what may be fitted, and how. Pure: no I/O.

A *sweep* is a table of training runs. Runs with the same scale axes (``--by``: width, params,
dataset size, …; ``AXES``) form a *cell*; inside a cell one or two hyperparameters
(``HYPERPARAMETERS``) were swept. This module holds those names, the numbers of a sweep
(``Sweep``, built by ``hpscale.runs.sweep_from_tables``), the options of a fit (``FitOptions``),
the laws asked for (``LawSpec``, ``parse_law``), and the log coordinates every fit works in
(``to_log``, ``from_log``; the AdamW timescales ``log_tau_iter``, ``log_tau_epoch``, Wang &
Aitchison 2024, arXiv 2405.13698).

Decay rates (β1, β2, the model-EMA ρ) are fitted on log(1 − value), the inverse averaging
window, which is what their rules scale.

What uses it: ``hpscale.core.optimum`` (each cell's optimum), ``hpscale.core.fit`` (the laws
across cells, the verdicts against the published rules, the whole fit), ``hpscale.runs`` (run
tables → ``Sweep``).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import InputError
from . import rules as R
from .scale import TOKENS_PER_PARAM as TOKENS_PER_PARAM  # the derived axis, defined with the others

if TYPE_CHECKING:
    import numpy as np

#: The scale axes a cell may be defined by, and what each is.
AXES: dict[str, str] = {
    "width": "model width W (d_model)",
    "depth": "residual blocks L",
    "params": "parameter count P",
    "batch_size": "batch size B per step",
    "dataset_size": "dataset size N (tokens or samples; D in single-epoch training)",
    "steps": "optimizer steps of the run",
}
#: Hyperparameters that can be swept (optimized) inside a cell.
HYPERPARAMETERS: dict[str, str] = {
    "lr": "peak learning rate η",
    "weight_decay": "AdamW weight_decay λ (coupled, torch.optim.AdamW)",
    "batch_size": "batch size B per step",
    "beta1": "Adam β1 (fitted as 1 − β1)",
    "beta2": "Adam β2 (fitted as 1 − β2)",
    "eps": "Adam ε",
    "ema_decay": "model-EMA decay ρ (fitted as 1 − ρ)",
}
#: Decay rates: fitted and modelled on log(1 − value), the inverse of the averaging window.
DECAY_RATES = frozenset({"beta1", "beta2", "ema_decay"})
#: Derived hyperparameters: AdamW's EMA timescales (Wang & Aitchison 2024, arXiv 2405.13698).
DERIVED = {"tau_epoch": "τ_epoch = B/(η·λ·N), epochs", "tau_iter": "τ_iter = 1/(η·λ), steps"}
#: The fewest bootstrap resamples ``fit`` takes: 20 puts one resample beyond each end of a 90 %
#: percentile interval (Efron & Tibshirani 1993, §13.3, ask for ≥ 1,000 for percentile intervals;
#: the default is 1,000, this is the floor for quick looks).
MIN_RESAMPLES = 20
#: How the bootstrap resamples a cell (``hpscale.core.optimum.cell_optima``).
RESAMPLING = ("noise", "runs")


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Sweep:
    """The numbers of a sweep, grouped into cells (built by ``hpscale.runs.sweep_from_tables``).

    Arrays (C cells, R runs that finished or diverged, d = number of optimized hyperparameters):

    - ``cell_axes`` (C, len(axes)): the axis values of each cell, all > 0;
    - ``cell`` (R,): the cell of each run; ``values`` (R, d): its hyperparameter values (> 0;
      decay rates in (0, 1)); ``metric`` (R,): lower is better, NaN for a diverged run;
      ``diverged`` (R,): metric missing/NaN/±inf or the run failed or crashed;
    - ``incomplete`` (C,): runs left out because they had not finished (running, killed);
    - ``context``: per-cell values (C,) of quantities that were not optimized but are needed for
      derived timescales and tokens per parameter (``lr``, ``weight_decay``, ``batch_size``,
      ``dataset_size``, ``steps``, ``params``), NaN where unknown.
    """

    axes: tuple[str, ...]
    hps: tuple[str, ...]
    cell_axes: np.ndarray
    cell: np.ndarray
    values: np.ndarray
    metric: np.ndarray
    diverged: np.ndarray
    names: tuple[str | None, ...]
    incomplete: np.ndarray
    context: Mapping[str, np.ndarray] = field(default_factory=dict)


class LawSpec(NamedTuple):
    """``hp ~ axis + axis``: log hp* = c + Σ aᵢ·log axisᵢ."""

    hp: str
    axes: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.hp} ~ {' + '.join(self.axes)}"


def parse_law(text: str) -> LawSpec:
    """``'lr ~ params + dataset_size'`` → ``LawSpec('lr', ('params', 'dataset_size'))``.

    >>> parse_law("lr ~ params + dataset_size")
    LawSpec(hp='lr', axes=('params', 'dataset_size'))
    """
    if text.count("~") != 1:
        raise InputError.of("laws", f": {text!r}: expected 'HP ~ AXIS + AXIS', e.g. 'lr ~ params + dataset_size'")
    left, right = (part.strip() for part in text.split("~"))
    axes = tuple(part.strip() for part in right.split("+"))
    if not left or not all(axes):
        raise InputError.of("laws", f": {text!r}: expected 'HP ~ AXIS + AXIS', e.g. 'lr ~ params + dataset_size'")
    if len(set(axes)) != len(axes):
        raise InputError.of("laws", f": {text!r}: an axis is named twice")
    return LawSpec(left, axes)


#: What the laws do with unbracketed optima (``FitOptions.edge``).
EDGE_MODES = ("censor", "drop", "keep")


def _whole(value: object) -> bool:
    """A whole number (numpy integers too), never a bool: what every count and seed must be."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass(frozen=True)
class FitOptions:
    """How the fit is made; every field is recorded in the outputs (``method``).

    - ``window``: settings in each cell's quadratic fit, the best one and its nearest
      neighbours (default 5 in 1-D, 13 in 2-D: every setting within two grid steps);
    - ``resamples``: bootstrap resamples B; ``confidence``: interval level; ``seed``: RNG seed;
    - ``edge``: what the laws do with a cell whose optimum is not bracketed (``EDGE_MODES``):
      ``censor`` (default) uses it as a bound on that hyperparameter's optimum
      (``hpscale.core.law_regression.censored_selection``), ``drop`` leaves it out, ``keep`` uses its
      estimate as a point; ``keep_edge`` (the older switch) means ``keep``;
    - ``group``: the parameter group whose absolute LR and weight decay the table holds (what
      the µP verdicts predict depends on it; see ``hpscale.core.fit.rule_lines``);
    - ``resample``: ``noise`` or ``runs`` (see ``hpscale.core.optimum.cell_optima``);
    - ``optimizer``: the optimizer that trained ``group`` (a key of
      ``hpscale.core.optimizers.OPTIMIZERS``; its ``fit_lines`` are the verdicts' predictions)
      and ``muon_convention`` the shape convention its lr is stated in (Muon only).
    """

    window: int | None = None
    resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0
    keep_edge: bool = False
    group: R.Group = "hidden"
    resample: str = "noise"
    edge: str = "censor"
    optimizer: str = "adamw"
    muon_convention: str | None = None

    def __post_init__(self) -> None:
        from .optimizers import OPTIMIZERS  # here: the optimizer modules import this one

        if self.optimizer not in OPTIMIZERS:
            raise InputError.of("optimizer", f": {self.optimizer!r}: allowed: {', '.join(OPTIMIZERS)}")
        if self.resample not in RESAMPLING:
            raise InputError.of("resample", f": {self.resample!r}: allowed: {', '.join(RESAMPLING)}")
        if self.window is not None and (not _whole(self.window) or not 3 <= self.window <= 1000):
            raise InputError.of("window", f": {self.window}: must be a whole number of settings in [3, 1000]")
        # At least MIN_RESAMPLES: a percentile interval's ends are resamples beyond them (0 had
        # crashed; a handful would print zero-width intervals, a confident wrong answer).
        if not _whole(self.resamples) or not MIN_RESAMPLES <= self.resamples <= 100_000:
            raise InputError.of("bootstrap", f": {self.resamples!r}: must be a whole number in [{MIN_RESAMPLES}, 100000] "
                             "(a percentile interval needs resamples beyond its ends)")
        if not 0.5 <= self.confidence < 1:
            raise InputError.of("confidence", f": {self.confidence!r}: must be in [0.5, 1), e.g. 0.95")
        if self.edge not in EDGE_MODES:
            raise InputError.of("edge", f": {self.edge!r}: allowed: {', '.join(EDGE_MODES)}")
        if not _whole(self.seed) or not 0 <= self.seed < 2**63:
            raise InputError.of("seed", f": {self.seed!r}: must be a whole number in [0, 2**63)")
        if self.group not in R.GROUPS:
            raise InputError.of("group", f": {self.group!r}: allowed: {', '.join(R.GROUPS)}")

    @property
    def edge_mode(self) -> str:
        """``edge``, or ``keep`` when ``keep_edge`` is set."""
        return "keep" if self.keep_edge else self.edge

    def window_for(self, dims: int) -> int:
        return self.window if self.window is not None else (5 if dims == 1 else 13)


# ---------------------------------------------------------------------------------------------
# Log coordinates: the fit works in z = log hp (log(1 − value) for decay rates)
# ---------------------------------------------------------------------------------------------


def to_log(hp: str, values: Any) -> Any:
    """z = log(v), or log(1 − v) for the decay rates β1, β2, ρ (their inverse window)."""
    import numpy as np

    return np.log1p(-values) if hp in DECAY_RATES else np.log(values)


def from_log(hp: str, z: Any) -> Any:
    """The inverse of ``to_log``."""
    import numpy as np

    return -np.expm1(z) if hp in DECAY_RATES else np.exp(z)


def log_tau_iter(log_lr: Any, log_wd: Any) -> Any:
    """log τ_iter = −(log η + log λ): τ_iter = 1/(η·λ) of ``hpscale.core.rules.tau_iter``, in logs
    and on arrays (coupled λ; Wang & Aitchison 2024, arXiv 2405.13698)."""
    return -(log_lr + log_wd)


def log_tau_epoch(log_lr: Any, log_wd: Any, log_steps_per_epoch: Any) -> Any:
    """log τ_epoch = log τ_iter − log M with M = N/B steps per epoch: τ_epoch = B/(η·λ·N) of
    ``hpscale.core.rules.tau_epoch``, in logs and on arrays."""
    return log_tau_iter(log_lr, log_wd) - log_steps_per_epoch
