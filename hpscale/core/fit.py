"""Fitting scaling laws of the optimal hyperparameters from sweeps. Pure: numpy, no I/O.

A *sweep* is a table of training runs. Runs with the same scale axes (``--by``: width, params,
dataset size, …) form a *cell*; inside a cell one or two hyperparameters were swept. The fit:

1. **Optimum per cell** (``optimum_method``): the metric as a quadratic in log(hp) — jointly in
   2-D when two hyperparameters were swept — on the runs near the best one; the optimum is the
   vertex of the parabola. Uncertainty by bootstrap over the cell's runs.
2. **Laws across cells** (``law_method``): log hp* = c + Σ aᵢ·log axisᵢ by weighted least squares;
   exponent intervals by refitting the law on every bootstrap resample of the cell optima.
3. **Verdicts**: each fitted exponent that a rule in ``hpscale.core.rules`` predicts, next to
   that prediction; the predicted exponent is computed from the rule function itself
   (``rule_exponent``), so there is no second copy of any constant.

Notation: z = log hp* (natural log; for the decay rates β1, β2 and the model-EMA ρ the fit uses
z = log(1 − value), the inverse averaging window, which is what their rules scale); x = log hp of
a run; y = the metric, lower is better (``--maximize`` negates it); C cells; B resamples.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import InputError
from . import rules as R
from .compose import FAR_EXTRAPOLATION
from .frozen import FrozenMap

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
#: The derived axis TPP = dataset_size / params (Power Lines' tokens per parameter).
TOKENS_PER_PARAM = "tokens_per_param"
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

#: Flags of a cell's optimum.
NOT_BRACKETED = "not_bracketed"
TOO_FEW_POINTS = "too_few_points"
NON_CONVEX = "non_convex"
CAPPED = "capped_by_divergence"

#: Bootstrap draws are 16-bit integers mapped through tables of this many entries.
_LEVELS = 65_536
#: Elements of one (resamples × runs) block; bounds the memory of the bootstrap (~100 MB).
_BLOCK = 1 << 22
#: A cell's law weight uses at least this bootstrap variance of log hp* (a cell whose resamples
#: all agree must not get infinite weight).
_MIN_VARIANCE = 1e-8
#: Warn when a law's weighted R² is below this (and the law has residual degrees of freedom).
LOW_R2 = 0.8

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
        raise InputError(f"--law: {text!r}: expected 'HP ~ AXIS + AXIS', e.g. 'lr ~ params + dataset_size'")
    left, right = (part.strip() for part in text.split("~"))
    axes = tuple(part.strip() for part in right.split("+"))
    if not left or not all(axes):
        raise InputError(f"--law: {text!r}: expected 'HP ~ AXIS + AXIS', e.g. 'lr ~ params + dataset_size'")
    if len(set(axes)) != len(axes):
        raise InputError(f"--law: {text!r}: an axis is named twice")
    return LawSpec(left, axes)


@dataclass(frozen=True)
class FitOptions:
    """How the fit is made; every field is recorded in the outputs (``method``).

    - ``window``: settings in each cell's quadratic fit, the best one and its nearest
      neighbours (default 5 in 1-D, 13 in 2-D: every setting within two grid steps);
    - ``resamples``: bootstrap resamples B; ``confidence``: interval level; ``seed``: RNG seed;
    - ``keep_edge``: use optima that are not bracketed in the laws (default: leave them out);
    - ``group``: the parameter group whose absolute LR and weight decay the table holds (what
      the µP verdicts predict depends on it; see ``rule_lines``);
    - ``resample``: ``noise`` or ``runs`` (see ``cell_optima``).
    """

    window: int | None = None
    resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0
    keep_edge: bool = False
    group: R.Group = "hidden"
    resample: str = "noise"

    def __post_init__(self) -> None:
        if self.resample not in ("noise", "runs"):
            raise InputError(f"--resample: {self.resample!r}: allowed: noise, runs")
        if self.window is not None and not 3 <= self.window <= 1000:
            raise InputError(f"--window: {self.window}: must be a whole number of settings in [3, 1000]")
        if not 0 <= self.resamples <= 100_000:
            raise InputError(f"--bootstrap: {self.resamples}: must be a whole number in [0, 100000]")
        if not 0.5 <= self.confidence < 1:
            raise InputError(f"--confidence: {self.confidence!r}: must be in [0.5, 1), e.g. 0.95")
        if self.group not in R.GROUPS:
            raise InputError(f"--group: {self.group!r}: allowed: {', '.join(R.GROUPS)}")

    def window_for(self, dims: int) -> int:
        return self.window if self.window is not None else (5 if dims == 1 else 13)


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


class Quadratic(NamedTuple):
    """A cell's fitted quadratic: metric(x) = offset + φ(u)ᵀβ with u = (log hp − centre)/step and
    φ = [1, u, u²] (1-D) or [1, u₁, u₂, u₁², u₁u₂, u₂²] (2-D); ``span`` is the window's range of
    log hp per dimension. The metric is as fitted (negated under ``--maximize``)."""

    centre: tuple[float, ...]
    step: tuple[float, ...]
    coefficients: tuple[float, ...]
    offset: float
    span: tuple[tuple[float, float], ...]

    def metric(self, logs: Any) -> Any:
        """The fitted metric at log hp values ``logs`` (…, d)."""
        import numpy as np

        u = (np.asarray(logs, float) - np.array(self.centre)) / np.array(self.step)
        return _features(u) @ np.array(self.coefficients) + self.offset


class CellFit(NamedTuple):
    """One cell's optimum: the hp values (``optimum``), their interval, the evidence and flags.

    ``interval[hp]`` is the percentile bootstrap interval at the fit's confidence; ``derived``
    holds τ_epoch* and τ_iter* at the optimum when they can be computed; ``best_run`` is the
    name (or row) of the best finished run and ``best_metric`` its metric (as in the table,
    not negated); ``used`` says whether the cell's optimum enters the laws.
    """

    axes: FrozenMap[str, float]
    runs: int
    diverged: int
    incomplete: int
    optimum: FrozenMap[str, float]
    interval: FrozenMap[str, tuple[float, float]]
    metric_at_optimum: float
    best_run: str | None
    best_metric: float
    window: int
    flags: tuple[str, ...]
    used: bool
    derived: FrozenMap[str, float]
    derived_interval: FrozenMap[str, tuple[float, float]]
    quadratic: Quadratic | None = None


class HeldOut(NamedTuple):
    """Leave-one-cell-out check of a law: refit without each cell, predict it.

    ``rms_log_error``: root-mean-square of log(predicted/fitted optimum) over the cells;
    ``max_factor``: the largest predicted/fitted ratio (≥ 1, either direction);
    ``max_metric_excess``: the largest relative metric increase the cell's own quadratic puts at
    the predicted optimum (Step Law's test, arXiv 2503.04715 §4), ``None`` if no cell has one.
    """

    rms_log_error: float
    max_factor: float
    max_metric_excess: float | None
    per_cell: tuple[float, ...]


class LawFit(NamedTuple):
    """hp* = coefficient · Π axisᵢ^exponentᵢ, with bootstrap intervals.

    For decay rates the law is of 1 − hp*. ``excess_scatter`` is τ², the variance (in log hp*²)
    of the cells around the law beyond their own bootstrap variance (DerSimonian–Laird).
    """

    hp: str
    axes: tuple[str, ...]
    coefficient: float
    coefficient_interval: tuple[float, float]
    exponents: FrozenMap[str, float]
    exponent_intervals: FrozenMap[str, tuple[float, float]]
    r2: float | None
    cells: int
    excess_scatter: float
    held_out: HeldOut | None
    centre: FrozenMap[str, float]

    def formula(self) -> str:
        """'lr* = 0.0123 · width^-1.02' (decay rates: '1 − beta2* = …')."""
        left = f"1 − {self.hp}*" if self.hp in DECAY_RATES else f"{self.hp}*"
        terms = " · ".join(f"{axis}^{self.exponents[axis]:.3g}" for axis in self.axes)
        return f"{left} = {self.coefficient:.4g} · {terms}"


class Verdict(NamedTuple):
    """A fitted exponent next to what a published rule predicts for it."""

    hp: str
    axis: str
    rule: str  # key of hpscale.core.rules.RULES
    choice: str  # the rule's variant (e.g. 'sqrt'), or the rule key
    label: str  # who says so, for tables
    predicted: float
    fitted: float
    interval: tuple[float, float]
    consistent: bool
    condition: str


class Prediction(NamedTuple):
    """The laws evaluated at one point: ``values[hp]`` and the prediction interval."""

    at: FrozenMap[str, float]
    values: FrozenMap[str, float]
    intervals: FrozenMap[str, tuple[float, float]]


class Provenance(NamedTuple):
    """Where the runs came from: each input's path, SHA-256 and rows; the column mapping."""

    inputs: tuple[tuple[str, str | None, int], ...]
    columns: FrozenMap[str, str]
    metric: str
    maximize: bool


@dataclass(frozen=True)
class FitResult:
    """Everything ``hpscale fit`` reports: cells, laws, verdicts, predictions, warnings.

    Immutable. ``hpscale.to_json(result)`` is the JSON contract of ``hpscale fit --format
    json``; ``hpscale.to_law_yaml(result)`` the law file that ``transfer --law`` reads.
    """

    by: tuple[str, ...]
    optimize: tuple[str, ...]
    options: FitOptions
    provenance: Provenance
    runs: int
    diverged: int
    incomplete: int
    cells: tuple[CellFit, ...]
    laws: FrozenMap[str, LawFit]
    verdicts: tuple[Verdict, ...]
    predictions: tuple[Prediction, ...]
    warnings: tuple[str, ...]
    resampling: str = "noise"
    noise: float | None = None
    noise_dof: float = 0.0
    #: The runs (for figures) and each law's bootstrap coefficients (P, B) with its centre.
    sweep: Sweep | None = field(default=None, repr=False, compare=False)
    law_samples: Mapping[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False,
                                                                      compare=False)


# ---------------------------------------------------------------------------------------------
# Method statements (printed in the outputs and the law file)
# ---------------------------------------------------------------------------------------------


def optimum_method(options: FitOptions, dims: int) -> str:
    """The per-cell method in one sentence, with the numbers used."""
    resampling = ("each finished run's metric perturbed by the pooled run noise (fixed design)"
                  if options.resample == "noise" else "the cell's runs resampled with replacement (Poisson)")
    return (
        f"quadratic in log(hp) ({'joint 2-D' if dims == 2 else '1-D'}) by least squares over the "
        f"{options.window_for(dims)} settings nearest the best one (log-space, in grid steps); "
        "vertex = optimum; best run if too few points or not convex; kept within one grid step of "
        "the swept range and half a step below a setting whose runs all diverged; bootstrap: "
        f"{resampling}, {options.resamples} resamples, {options.confidence:.0%} percentile interval"
    )


def law_method(options: FitOptions) -> str:
    return (
        "log hp* = c + Σ aᵢ·log axisᵢ by weighted least squares, weights 1/(bootstrap variance + τ²) "
        "with τ² the excess scatter (DerSimonian–Laird); the law refitted on every resample of the "
        "cell optima plus N(0, τ²) per cell, interval = estimate ± z·IQR/1.349 of the refits; "
        f"{'all cells' if options.keep_edge else 'unbracketed cells left out'}"
    )


# ---------------------------------------------------------------------------------------------
# Formulas
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


# ---------------------------------------------------------------------------------------------
# Per-cell optima (vectorised over cells and resamples)
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _poisson_table() -> np.ndarray:
    """uint16 → Poisson(1) count: P(k) = e⁻¹/k! quantised to 2⁻¹⁶ (k ≤ 11)."""
    import numpy as np

    probabilities = [math.exp(-1.0) / math.factorial(k) for k in range(12)]
    edges = np.round(np.cumsum(probabilities) * _LEVELS).astype(np.int64)
    return np.searchsorted(edges, np.arange(_LEVELS), side="right").astype(np.uint8)


@functools.lru_cache(maxsize=1)
def _normal_table() -> np.ndarray:
    """uint16 → standard normal: Φ⁻¹((k + ½)/2¹⁶), the quantile at the middle of level k (a
    normal draw quantised to 2¹⁶ levels, tails cut at ±4.3σ; ~4× faster than sampling)."""
    from statistics import NormalDist

    import numpy as np

    half = [NormalDist().inv_cdf((k + 0.5) / _LEVELS) for k in range(_LEVELS // 2)]
    return np.array(half + [-v for v in reversed(half)], dtype=np.float32)


def t_quantile(probability: float, dof: float) -> float:
    """Student's t quantile by the Cornish–Fisher expansion (Abramowitz & Stegun 26.7.5, error
    < 1e-3 for ν ≥ 3 at the 97.5 % point; used only to widen a noise estimate with few degrees
    of freedom)."""
    from statistics import NormalDist

    z = NormalDist().inv_cdf(probability)
    if not math.isfinite(dof) or dof > 1e6:
        return z
    n = max(dof, 1.0)
    return (z + (z**3 + z) / (4 * n) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * n**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * n**3)
            + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * n**4))


class _Chunk:
    """Cells of similar size, padded to common shapes, ready for the vectorised fit.

    Settings (distinct hp values of a cell) are padded to S + 1 per cell; the last one is a
    dummy that never holds a run. Run slots are sorted by setting, every setting has at least
    one slot, so per-setting sums are one ``np.add.reduceat``.
    """

    def __init__(self, cells: np.ndarray, setting_ranges: np.ndarray, run_ranges: np.ndarray,
                 set_x: np.ndarray, run_setting: np.ndarray, run_y: np.ndarray,
                 run_diverged: np.ndarray, window: int, resample: str = "noise") -> None:
        import numpy as np

        self.cells = cells
        G = len(cells)
        d = set_x.shape[1]
        sizes = setting_ranges[cells, 1] - setting_ranges[cells, 0]
        runs = run_ranges[cells, 1] - run_ranges[cells, 0]
        S = int(sizes.max()) + 1
        slots = int((runs + (S - sizes)).max())
        self.G, self.S, self.d, self.slots = G, S, d, slots
        x = np.zeros((G, S, d))
        real = np.zeros((G, S), bool)
        slot_setting = np.full((G, slots), S - 1, np.int64)
        slot_y = np.zeros((G, slots), np.float32)
        slot_conv = np.zeros((G, slots), bool)
        slot_div = np.zeros((G, slots), bool)
        first = np.zeros((G, S), np.int64)
        for g, c in enumerate(cells):
            s0, s1 = setting_ranges[c]
            r0, r1 = run_ranges[c]
            n_set, n_run = s1 - s0, r1 - r0
            x[g, :n_set] = set_x[s0:s1]
            real[g, :n_set] = True
            local = run_setting[r0:r1] - s0
            slot_setting[g, :n_run] = local
            slot_setting[g, n_run:n_run + S - n_set] = np.arange(n_set, S)
            slot_y[g, :n_run] = run_y[r0:r1]
            slot_conv[g, :n_run] = ~run_diverged[r0:r1]
            slot_div[g, :n_run] = run_diverged[r0:r1]
            first[g] = np.searchsorted(slot_setting[g], np.arange(S))
        self.x, self.real = x, real
        self.identity = bool(np.all(runs == sizes)) and slots == S
        self.starts = (first + np.arange(G)[:, None] * slots).ravel()
        self.slot_real = np.arange(slots)[None, :] < runs[:, None]
        self.slot_y = np.where(slot_conv, slot_y, 0).astype(np.float32)
        self.slot_conv = slot_conv
        self.slot_div = slot_div
        self.any_diverged = bool(slot_div.any())

        # Grid step per cell and dimension: the median spacing of the distinct values.
        step = np.ones((G, d))
        for j in range(d):
            values = np.where(real, x[:, :, j], np.inf)
            values.sort(axis=1)
            with np.errstate(invalid="ignore"):
                gaps = np.diff(values, axis=1)
            gaps = np.where(np.isfinite(gaps) & (gaps > 1e-12), gaps, np.nan)
            with np.errstate(all="ignore"):
                median = np.nanmedian(np.where(np.isnan(gaps).all(axis=1, keepdims=True), 1.0, gaps), axis=1)
            step[:, j] = np.where(np.isfinite(median) & (median > 0), median, 1.0)
        self.step = step
        # The swept range of the settings that have a finished run.
        has_conv = np.zeros((G, S), bool)
        np.logical_or.at(has_conv, (np.repeat(np.arange(G), slots), slot_setting.ravel()),
                         (slot_conv & self.slot_real).ravel())
        self.has_conv = has_conv
        masked = np.where(has_conv[:, :, None], x, np.nan)
        with np.errstate(all="ignore"):
            self.lo = np.nanmin(np.where(np.any(has_conv, axis=1)[:, None, None], masked, 0.0), axis=1)
            self.hi = np.nanmax(np.where(np.any(has_conv, axis=1)[:, None, None], masked, 0.0), axis=1)
        # Candidates for the window: the nearest settings with a finished run. Under the noise
        # bootstrap that set never changes, so the window's size is enough; resampling runs
        # drops a third of them (Poisson weight 0), so twice the window is kept.
        spare = 0 if resample == "noise" else max(window, 8)
        self.candidates = _nearest(x / step[:, None, :], has_conv, min(S, window + spare))
        ones = self.slot_real[None].astype(np.float32)
        self.unit_sums = {key: value for key, value in self.sums(ones).items() if key != "Y"}
        self.window = window
        # Settings with a diverged run: candidates for the divergence bounds.
        has_div = np.zeros((G, S), bool)
        np.logical_or.at(has_div, (np.repeat(np.arange(G), slots), slot_setting.ravel()),
                         (slot_div & self.slot_real).ravel())
        D = max(1, int(has_div.sum(1).max()))
        div_index = np.full((G, D), S - 1, np.int64)
        for g in range(G):
            found = np.flatnonzero(has_div[g])
            div_index[g, :len(found)] = found
        self.div_index = div_index

    def sums(self, counts: np.ndarray | None, y: np.ndarray | None = None, *, squares: bool = False) -> dict[str, Any]:
        """Per setting (Bk, G, S): finished-run weight ``W``, weighted metric sum ``Y``, diverged
        weight ``Wd`` (if any run diverged) and, with ``squares``, the weighted sum of y² ``Y2``.
        ``counts=None`` means every run weighs 1 (the noise bootstrap): the weights are the
        chunk's own, computed once (shape (1, G, S))."""
        import numpy as np

        y = self.slot_y[None] if y is None else y
        if counts is None:
            unit = self.unit_sums
            Y = self._reduce(np.where(self.slot_conv, y, np.float32(0)))
            return {**unit, "Y": Y}
        conv = counts * self.slot_conv
        arrays = {"W": conv, "Y": conv * y}
        if squares:
            arrays["Y2"] = conv * y * y
        if self.any_diverged:
            arrays["Wd"] = counts * self.slot_div
        return {key: self._reduce(array) for key, array in arrays.items()}

    def _reduce(self, array: np.ndarray) -> np.ndarray:
        """Per-slot values (Bk, G, slots) summed per setting (Bk, G, S)."""
        import numpy as np

        if self.identity:
            return array
        Bk = array.shape[0]
        flat = array.reshape(Bk, self.G * self.slots)
        return np.add.reduceat(flat, self.starts, axis=1).reshape(Bk, self.G, self.S)


def _nearest(u: np.ndarray, real: np.ndarray, H: int) -> np.ndarray:
    """For every setting, the indices of its H nearest real settings (itself first), by
    Euclidean distance of u (G, S, d); ties keep index order. Rows are done in blocks so the
    distance matrix never holds more than ``_BLOCK`` entries."""
    import numpy as np

    G, S, _ = u.shape
    out = np.zeros((G, S, H), np.int64)
    rows = max(1, _BLOCK // max(1, G * S))
    for start in range(0, S, rows):
        stop = min(S, start + rows)
        dist = np.sqrt(((u[:, start:stop, None, :] - u[:, None, :, :]) ** 2).sum(-1))
        dist = np.where(real[:, None, :], dist, np.inf)
        if H < S:
            part = np.argpartition(dist, H - 1, axis=2)[:, :, :H]
            part.sort(axis=2)  # index order first, so the stable sort below breaks ties by index
            near = np.take_along_axis(dist, part, axis=2)
            out[:, start:stop] = np.take_along_axis(part, np.argsort(near, axis=2, kind="stable"), axis=2)
        else:
            out[:, start:stop] = np.argsort(dist, axis=2, kind="stable")
    return out


class _Optima(NamedTuple):
    x: np.ndarray  # (Bk, G, d) log optimum
    failed: np.ndarray  # (Bk, G) every run of the resample diverged
    # Details (point estimate only):
    best: np.ndarray | None = None
    beta: np.ndarray | None = None
    fitted: np.ndarray | None = None
    too_few: np.ndarray | None = None
    convex: np.ndarray | None = None
    capped: np.ndarray | None = None
    raw: np.ndarray | None = None
    bound_lo: np.ndarray | None = None
    bound_hi: np.ndarray | None = None
    n_window: np.ndarray | None = None
    metric_at: np.ndarray | None = None
    best_mean: np.ndarray | None = None
    rss: np.ndarray | None = None
    dof: np.ndarray | None = None
    span: np.ndarray | None = None


def _features(u: np.ndarray) -> np.ndarray:
    """Quadratic features of u (…, d): [1, u, u²] (d = 1) or [1, u₁, u₂, u₁², u₁u₂, u₂²]."""
    import numpy as np

    one = np.ones(u.shape[:-1] + (1,))
    if u.shape[-1] == 1:
        return np.concatenate([one, u, u**2], axis=-1)
    u1, u2 = u[..., :1], u[..., 1:2]
    return np.concatenate([one, u1, u2, u1**2, u1 * u2, u2**2], axis=-1)


#: Exponents of the quadratic features: [1, u, u²] and [1, u₁, u₂, u₁², u₁u₂, u₂²].
_EXPONENTS = {1: ((0, 0), (1, 0), (2, 0)), 2: ((0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2))}


def _normal_equations(u: np.ndarray, w: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """XᵀWX and XᵀWy of the quadratic features of u (…, H, d), from the moments Σ w·u₁ᵃ·u₂ᵇ
    (a + b ≤ 4): 15 sums over the window instead of a p×p outer product per point."""
    import numpy as np

    d = u.shape[-1]
    exponents = _EXPONENTS[d]
    u1 = [np.ones_like(w), u[..., 0]]
    u2 = [np.ones_like(w), u[..., 1] if d == 2 else np.zeros_like(w)]
    for _ in range(2, 5):
        u1.append(u1[-1] * u1[1])
        u2.append(u2[-1] * u2[1])
    weighted = [w * power for power in u1]
    moments: dict[tuple[int, int], np.ndarray] = {}
    for a in range(5):
        for b in range(5 - a if d == 2 else 1):
            moments[a, b] = np.sum(weighted[a] * u2[b], axis=-1)
    p = len(exponents)
    A = np.empty(w.shape[:-1] + (p, p))
    for i, (a1, b1) in enumerate(exponents):
        for j, (a2, b2) in enumerate(exponents):
            A[..., i, j] = moments[a1 + a2, b1 + b2]
    wy = w * y
    rhs = np.stack([np.sum(wy * u1[a] * u2[b], axis=-1) for a, b in exponents], axis=-1)
    return A, rhs


def _solve_vertex(beta: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertex u* of the fitted quadratic and whether it is a minimum (convex)."""
    import numpy as np

    if d == 1:
        curvature = beta[..., 2]
        convex = curvature > 0
        with np.errstate(all="ignore"):
            u = -beta[..., 1] / (2 * np.where(convex, curvature, 1.0))
        return u[..., None], convex
    h11, h12, h22 = 2 * beta[..., 3], beta[..., 4], 2 * beta[..., 5]
    det = h11 * h22 - h12**2
    convex = (h11 > 0) & (det > 0)
    safe = np.where(convex, det, 1.0)
    g1, g2 = beta[..., 1], beta[..., 2]
    u1 = -(h22 * g1 - h12 * g2) / safe
    u2 = -(h11 * g2 - h12 * g1) / safe
    return np.stack([u1, u2], axis=-1), convex


def _optima(chunk: _Chunk, counts: np.ndarray | None, y: np.ndarray | None = None, *,
            detail: bool = False) -> _Optima:
    """The optimum of every cell of ``chunk`` under run weights ``counts`` (Bk, G, slots; None:
    every run weighs 1) and metrics ``y`` (default: the runs' own).

    Method (per cell and resample): the setting with the lowest mean metric is the best; the
    ``window`` nearest settings that hold a finished run (log-space distance in grid steps) are
    fitted by weighted least squares with a quadratic in u = (x − x_best)/step; the vertex is
    the optimum when the quadratic is convex and determined, else the best setting. The result
    is kept within one grid step of the swept range, and at least half a grid step inside the
    nearest setting on its line whose runs all diverged.
    """
    import numpy as np

    sums = chunk.sums(counts, y, squares=detail)
    W, Y, Wd = sums["W"], sums["Y"], sums.get("Wd")
    Bk, G, d = Y.shape[0], chunk.G, chunk.d
    W = np.broadcast_to(W, Y.shape)
    if Wd is not None:
        Wd = np.broadcast_to(Wd, Y.shape)
    with np.errstate(all="ignore"):
        mean = np.where(W > 0, Y / np.where(W > 0, W, 1), np.inf)
    best = np.argmin(mean, axis=2)  # (Bk, G)
    gi = np.arange(G)[None, :]
    failed = ~np.isfinite(np.take_along_axis(mean, best[..., None], axis=2)[..., 0])

    cand = chunk.candidates[gi, best]  # (Bk, G, H)
    w = np.take_along_axis(W, cand, axis=2).astype(np.float64)
    valid = w > 0
    take = valid & (np.cumsum(valid, axis=2) <= chunk.window)
    w = np.where(take, w, 0.0)
    ybar = np.where(take, np.take_along_axis(mean, cand, axis=2), 0.0).astype(np.float64)
    x_all = chunk.x  # (G, S, d)
    x_best = x_all[gi, best]  # (Bk, G, d)
    x_cand = x_all[gi[..., None], cand]  # (Bk, G, H, d)
    step = chunk.step[None, :, None, :]
    u = (x_cand - x_best[:, :, None, :]) / step
    y0 = np.take_along_axis(mean, best[..., None], axis=2)[..., 0].astype(np.float64)
    y0 = np.where(np.isfinite(y0), y0, 0.0)
    A, rhs = _normal_equations(u, w, ybar - y0[..., None])
    p = A.shape[-1]
    n_window = take.sum(axis=2)
    # Fewer settings than coefficients, or too few distinct values along an axis (then 1, u, u²
    # are collinear on the window): the normal matrix is singular. Hadamard: det ≤ Π diag.
    diag = np.clip(np.einsum("bgpp->bgp", A).prod(axis=-1), 1e-300, None)
    determined = (n_window >= p) & (np.linalg.det(A) > 1e-9 * diag)
    A_safe = np.where(determined[..., None, None], A, np.eye(p))
    beta = np.linalg.solve(A_safe, rhs[..., None])[..., 0]
    u_star, convex = _solve_vertex(beta, d)
    ok = determined & convex & ~failed
    u_star = np.where(ok[..., None], u_star, 0.0)
    raw = x_best + u_star * chunk.step[None]

    # Caps: one grid step beyond the swept range; half a step inside an all-diverged setting.
    lo = np.broadcast_to(chunk.lo - chunk.step, raw.shape).copy()
    hi = np.broadcast_to(chunk.hi + chunk.step, raw.shape).copy()
    bound_lo = np.full(raw.shape, -np.inf)
    bound_hi = np.full(raw.shape, np.inf)
    if Wd is not None:
        di = chunk.div_index[None].repeat(Bk, axis=0)  # (Bk, G, D)
        only_div = (np.take_along_axis(Wd, di, axis=2) > 0) & (np.take_along_axis(W, di, axis=2) == 0)
        xd = x_all[gi[..., None], di]  # (Bk, G, D, d)
        for j in range(d):
            line = only_div.copy()
            for k in range(d):
                if k != j:
                    line &= np.abs(xd[..., k] - x_best[..., k][..., None]) < 1e-9
            above = line & (xd[..., j] > x_best[..., j][..., None])
            below = line & (xd[..., j] < x_best[..., j][..., None])
            bound_hi[..., j] = np.where(above, xd[..., j], np.inf).min(axis=2)
            bound_lo[..., j] = np.where(below, xd[..., j], -np.inf).max(axis=2)
    half = chunk.step[None] / 2
    upper = np.minimum(hi, np.maximum(bound_hi - half, x_best))
    lower = np.maximum(lo, np.minimum(bound_lo + half, x_best))
    x_star = np.clip(raw, lower, upper)
    if not detail:
        return _Optima(x_star, failed)
    x_taken = np.where(take[..., None], x_cand, np.nan)
    with np.errstate(all="ignore"):
        span = np.stack([np.nanmin(x_taken, axis=2), np.nanmax(x_taken, axis=2)], axis=-1)  # (Bk, G, d, 2)
    capped = ((raw > bound_hi - half) & np.isfinite(bound_hi)) | ((raw < bound_lo + half) & np.isfinite(bound_lo))
    u_final = (x_star - x_best) / chunk.step[None]
    fitted_here = np.einsum("bgp,bgp->bg", _features(u_final), beta) + y0
    best_mean = np.take_along_axis(mean, best[..., None], axis=2)[..., 0]
    metric_at = np.where(ok, fitted_here, best_mean)
    # Residual sum of squares of the window fit over its runs, Σ_s [Σy² − 2ŷ_s·Σy + n_s·ŷ_s²].
    y_hat = np.einsum("bghp,bgp->bgh", _features(u), beta) + y0[..., None]
    Y_w = np.where(take, np.take_along_axis(Y, cand, axis=2), 0.0)
    Y2_w = np.where(take, np.take_along_axis(sums["Y2"], cand, axis=2), 0.0)
    rss = np.sum(Y2_w - 2 * y_hat * Y_w + w * y_hat**2, axis=2)
    dof = np.where(determined & ~failed, w.sum(axis=2) - p, 0.0)
    return _Optima(x_star, failed, best, beta, ok, ~determined, convex, capped, raw, bound_lo, bound_hi,
                   n_window, metric_at, best_mean, np.where(dof > 0, np.maximum(rss, 0.0), 0.0), dof, span)


class _Layout(NamedTuple):
    """Runs sorted by (cell, setting), and where each cell's settings and runs are."""

    order: np.ndarray  # run indices in sorted order
    setting_ranges: np.ndarray  # (C, 2)
    run_ranges: np.ndarray  # (C, 2)
    set_x: np.ndarray  # (n_settings, d)
    run_setting: np.ndarray  # (R,) setting of each sorted run
    run_y: np.ndarray  # (R,) metric of each sorted run, centred per cell, 0 if diverged
    run_diverged: np.ndarray  # (R,)
    y_offset: np.ndarray  # (C,) the centre subtracted from the metric


def _layout(sweep: Sweep, logx: np.ndarray) -> _Layout:
    import numpy as np

    n_cells = len(sweep.cell_axes)
    keys = [logx[:, j] for j in reversed(range(logx.shape[1]))] + [sweep.cell]
    order = np.lexsort(keys)
    cell = sweep.cell[order]
    xs = logx[order]
    new = np.ones(len(order), bool)
    new[1:] = (cell[1:] != cell[:-1]) | np.any(xs[1:] != xs[:-1], axis=1)
    run_setting = np.cumsum(new) - 1
    set_x = xs[new]
    set_cell = cell[new]
    run_counts = np.bincount(cell, minlength=n_cells)
    set_counts = np.bincount(set_cell, minlength=n_cells)
    run_ranges = np.stack([np.cumsum(run_counts) - run_counts, np.cumsum(run_counts)], axis=1)
    setting_ranges = np.stack([np.cumsum(set_counts) - set_counts, np.cumsum(set_counts)], axis=1)
    metric = sweep.metric[order]
    diverged = sweep.diverged[order]
    finite = np.where(diverged, np.inf, metric)
    offset = np.full(n_cells, np.inf)
    np.minimum.at(offset, cell, finite)
    offset = np.where(np.isfinite(offset), offset, 0.0)
    y = np.where(diverged, 0.0, metric - offset[cell])
    return _Layout(order, setting_ranges, run_ranges, set_x, run_setting, y, diverged, offset)


def _chunks(layout: _Layout, resamples: int, window: int, resample: str) -> Iterator[_Chunk]:
    """Cells in groups of similar size whose padded arrays fit the memory block."""
    import numpy as np

    sizes = layout.setting_ranges[:, 1] - layout.setting_ranges[:, 0]
    runs = layout.run_ranges[:, 1] - layout.run_ranges[:, 0]
    order = np.lexsort((runs, sizes))
    group: list[int] = []
    S_max = slots_max = 0
    for c in order:
        S_new = max(S_max, int(sizes[c]) + 1)
        slots_new = max(slots_max, int(runs[c] + (S_new - sizes[c])))
        G = len(group) + 1
        too_big = G * slots_new * max(1, min(resamples, 64)) > _BLOCK or G * S_new * S_new > _BLOCK
        if group and too_big:
            yield _Chunk(np.array(group), layout.setting_ranges, layout.run_ranges, layout.set_x,
                         layout.run_setting, layout.run_y, layout.run_diverged, window, resample)
            group, S_new = [], int(sizes[c]) + 1
            slots_new = int(runs[c]) + 1
        group.append(int(c))
        S_max, slots_max = S_new, slots_new
    if group:
        yield _Chunk(np.array(group), layout.setting_ranges, layout.run_ranges, layout.set_x,
                     layout.run_setting, layout.run_y, layout.run_diverged, window, resample)


class _CellEstimates(NamedTuple):
    z: np.ndarray  # (C, d) log optimum (point estimate)
    boot: np.ndarray  # (C, B, d) resampled log optima (NaN where the resample failed)
    detail: dict[str, Any]  # per-cell details of the point estimate
    failed_share: float
    noise: float | None  # pooled run-to-run SD of the metric (None: not estimable)
    noise_dof: float


RESAMPLING = ("noise", "runs")


def cell_optima(sweep: Sweep, options: FitOptions) -> _CellEstimates:
    """Point estimates and bootstrap resamples of every cell's log optimum.

    Two resampling schemes (``options.resample``); each resample reruns the whole per-cell
    method — best setting, window, quadratic, caps — on the resampled runs:

    - ``noise`` (default): the design is kept and every finished run's metric gets independent
      N(0, (c·σ̂)²) noise — a parametric residual bootstrap for a fixed-design regression (Efron &
      Tibshirani 1993, *An Introduction to the Bootstrap*, §9.5). σ̂ is the run-to-run noise
      pooled over every cell's window fit, σ̂² = Σ RSS / Σ (n − p), and c = t_ν/z (ν = Σ (n − p))
      widens it for the few degrees of freedom of small sweeps. Diverged runs stay diverged.
    - ``runs``: resample the cell's runs with replacement, as Poisson(1) weights per run (the
      Poisson bootstrap, Hanley & MacGibbon 2006, Comput. Methods Programs Biomed. 83:57).
      On sweeps with one run per setting a third of the settings drop out of each resample,
      which moves the fit window.

    Measured on the synthetic worlds of ``tests/sweeps.py`` (100 sweeps each, 95 % intervals of
    the law's exponent): ``noise`` covered 96–98 % with intervals 1.15–1.4× the real spread,
    ``runs`` 91–96 % with 0.9–1.13×; per-cell intervals covered 96 % (1-D) and 97 % (2-D) under
    ``noise``. So ``noise`` is the default: it errs on the wide side.
    """
    import numpy as np

    d = len(sweep.hps)
    logx = np.column_stack([to_log(hp, sweep.values[:, j]) for j, hp in enumerate(sweep.hps)])
    layout = _layout(sweep, logx)
    C, B = len(sweep.cell_axes), options.resamples
    window = options.window_for(d)
    z = np.zeros((C, d))
    boot = np.full((C, B, d), np.nan)
    names = ("best", "beta", "fitted", "too_few", "convex", "capped", "raw", "bound_lo", "bound_hi",
             "n_window", "metric_at", "best_mean", "rss", "dof", "span")
    detail: dict[str, Any] = {"set_x": {}}
    chunks = list(_chunks(layout, B, window, options.resample))
    for chunk in chunks:
        point = _optima(chunk, chunk.slot_real[None].astype(np.float32), detail=True)
        z[chunk.cells] = point.x[0]
        for name in names:
            value = getattr(point, name)[0]
            if name not in detail:
                detail[name] = np.zeros((C,) + value.shape[1:], value.dtype)
            detail[name][chunk.cells] = value
        for g, c in enumerate(chunk.cells):
            detail["set_x"][int(c)] = (chunk.x[g], chunk.real[g], chunk.step[g], chunk.lo[g], chunk.hi[g])
    detail["y_offset"] = layout.y_offset
    dof = float(detail["dof"].sum())
    noise = math.sqrt(float(detail["rss"].sum()) / dof) if dof > 0 else None
    scheme = options.resample if noise is not None else "runs"
    if scheme != options.resample:  # the runs bootstrap needs longer candidate lists
        chunks = list(_chunks(layout, B, window, scheme))
    tail = 1 - (1 - options.confidence) / 2
    scale = (noise or 0.0) * t_quantile(tail, dof) / t_quantile(tail, math.inf)

    rng = np.random.default_rng(options.seed)
    table = _normal_table() if scheme == "noise" else _poisson_table()
    failed_total = 0
    for chunk in chunks:
        per_block = max(1, _BLOCK // max(1, chunk.G * chunk.slots))
        for start in range(0, B, per_block):
            stop = min(B, start + per_block)
            draws = table[rng.integers(0, _LEVELS, size=(stop - start, chunk.G, chunk.slots), dtype=np.uint16)]
            if scheme == "noise":
                result = _optima(chunk, None, chunk.slot_y + np.float32(scale) * draws)
            else:
                result = _optima(chunk, (draws * chunk.slot_real).astype(np.float32))
            x = np.where(result.failed[..., None], np.nan, result.x)
            boot[chunk.cells, start:stop] = np.moveaxis(x, 0, 1)
            failed_total += int(result.failed.sum())
    share = failed_total / max(1, C * B)
    return _CellEstimates(z, boot, detail, share, noise, dof)


# ---------------------------------------------------------------------------------------------
# Laws
# ---------------------------------------------------------------------------------------------


class _LawData(NamedTuple):
    z: np.ndarray  # (C,) log optimum of the hp in each used cell
    boot: np.ndarray  # (C, B)
    logs: np.ndarray  # (C, k) log axis values
    cells: np.ndarray  # indices of the used cells
    fallback: np.ndarray  # (C,) the optimum is a grid point (variance floor = step²/12)
    step: np.ndarray  # (C,) grid step in log hp (0 for derived quantities)


def _wls(X: np.ndarray, z: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """β = (XᵀWX)⁻¹XᵀW z and the matrix M = (XᵀWX)⁻¹XᵀW (so β = M z for any z)."""
    import numpy as np

    XtW = X.T * w
    M = np.linalg.solve(XtW @ X, XtW)
    return M @ z, M


def excess_scatter(X: np.ndarray, z: np.ndarray, variance: np.ndarray) -> float:
    """τ², the between-cell variance beyond the cells' own variances (DerSimonian–Laird).

    Method-of-moments estimator for a meta-regression (DerSimonian & Laird 1986, Controlled
    Clinical Trials 7:177; Raudenbush 2009, in *The Handbook of Research Synthesis*): with
    w = 1/v, Q = Σ wᵢ rᵢ² (residuals of the weighted fit), k cells and p coefficients,
    τ² = max(0, (Q − (k − p)) / (Σw − tr((XᵀWX)⁻¹XᵀW²X))); 0 when k ≤ p.
    """
    import numpy as np

    k, p = X.shape
    if k <= p:
        return 0.0
    w = 1.0 / variance
    beta, _ = _wls(X, z, w)
    residual = z - X @ beta
    Q = float(np.sum(w * residual**2))
    XtWX = (X.T * w) @ X
    XtW2X = (X.T * w**2) @ X
    denominator = float(w.sum() - np.trace(np.linalg.solve(XtWX, XtW2X)))
    if denominator <= 0:
        return 0.0
    return max(0.0, (Q - (k - p)) / denominator)


def robust_spread(samples: np.ndarray, axis: int = -1) -> np.ndarray:
    """The spread of bootstrap samples as a standard deviation that ignores their tails:
    IQR/1.349 (the SD of a normal with that interquartile range). A parabola's vertex is a ratio
    of fitted coefficients, so its resamples have heavy tails that inflate the plain SD."""

    q25, q75 = _quantile(samples, [0.25, 0.75], axis)
    return (q75 - q25) / 1.349


def _quantile(samples: np.ndarray, q: list[float], axis: int) -> np.ndarray:
    """Quantiles ignoring NaN (failed resamples); ``np.quantile`` when there are none, since
    ``np.nanquantile`` works row by row."""
    import numpy as np

    with np.errstate(all="ignore"):
        if not np.isnan(samples).any():
            return np.quantile(samples, q, axis=axis)
        return np.nanquantile(samples, q, axis=axis)


def robust_interval(point: Any, samples: np.ndarray, confidence: float, axis: int = -1) -> tuple[Any, Any]:
    """point ± z·``robust_spread``: a normal interval whose width comes from the bootstrap.

    Used for laws and predictions, where the percentile interval of a linear combination of
    heavy-tailed vertex resamples was too wide (95 % intervals 1.6× the real spread in the
    suite's 2-D worlds; 1.1× with this form, coverage 97–99 %).
    """
    from statistics import NormalDist

    half = NormalDist().inv_cdf(1 - (1 - confidence) / 2) * robust_spread(samples, axis)
    return point - half, point + half


def _quantiles(samples: np.ndarray, confidence: float, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:

    tail = (1 - confidence) / 2
    lo, hi = _quantile(samples, [tail, 1 - tail], axis)
    return lo, hi


def fit_law(spec: LawSpec, data: _LawData, options: FitOptions, rng: np.random.Generator,
            metric_excess: Callable[[int, float], float | None] | None = None) -> tuple[LawFit, np.ndarray, np.ndarray]:
    """Weighted least squares of z = log hp* on the log axes, with bootstrap intervals.

    Weights 1/(vᵢ + τ²): vᵢ is cell i's bootstrap variance of z, as ``robust_spread``² (at least
    step²/12 for a cell whose optimum fell back to a grid point, at least ``_MIN_VARIANCE``),
    τ² the excess scatter (``excess_scatter``). The intervals refit the law on each resample b:
    z_b = (resampled cell optima) + N(0, τ²) per cell, β_b = M z_b; interval β̂ ± z·spread(β_b)
    (``robust_interval``). Axes are centred on their log-mean, so the intercept is the law at
    the centre of the data (``centre``).

    Returns the ``LawFit``, the coefficient resamples (P, B) and the design centre (k,).
    """
    import numpy as np

    C, k = data.logs.shape
    centre = data.logs.mean(axis=0)
    X = np.column_stack([np.ones(C), data.logs - centre])
    P = k + 1
    variance = robust_spread(data.boot, axis=1) ** 2
    variance = np.where(np.isfinite(variance), variance, 0.0)
    variance = np.maximum(variance, np.where(data.fallback, data.step**2 / 12, 0.0))
    variance = np.maximum(variance, _MIN_VARIANCE)
    tau2 = excess_scatter(X, data.z, variance)
    w = 1.0 / (variance + tau2)
    beta, M = _wls(X, data.z, w)
    boot = np.where(np.isfinite(data.boot), data.boot, data.z[:, None])
    if tau2 > 0:
        boot = boot + rng.normal(0.0, math.sqrt(tau2), size=boot.shape)
    beta_boot = M @ boot  # (P, B)
    residual = data.z - X @ beta
    r2: float | None = None
    if C > P:
        mean = np.sum(w * data.z) / w.sum()
        total = float(np.sum(w * (data.z - mean) ** 2))
        r2 = 1.0 - float(np.sum(w * residual**2)) / total if total > 0 else None
    held_out: HeldOut | None = None
    if C > P:
        # Leave-one-cell-out predictions in closed form (weights held fixed): the error of the
        # law refitted without cell i at cell i is rᵢ/(1 − hᵢᵢ), h = diag of X(XᵀWX)⁻¹XᵀW
        # (e.g. Hastie, Tibshirani & Friedman, Elements of Statistical Learning, Eq. 7.52).
        leverage = np.einsum("ip,pi->i", X, M)
        errors, excess = [], []
        for i in np.flatnonzero(leverage < 1 - 1e-9):  # hᵢᵢ = 1: the law needs cell i to exist
            error = float(-residual[i] / (1 - leverage[i]))
            errors.append(error)
            if metric_excess is not None:
                value = metric_excess(int(data.cells[i]), error)
                if value is not None:
                    excess.append(value)
        if errors:
            e = np.array(errors)
            held_out = HeldOut(float(np.sqrt(np.mean(e**2))), float(np.exp(np.abs(e).max())),
                               max(excess) if excess else None, tuple(errors))
    log_coefficient = beta[0] - beta[1:] @ centre
    log_coefficient_boot = beta_boot[0] - centre @ beta_boot[1:]
    lo, hi = robust_interval(beta, beta_boot, options.confidence, axis=1)
    c_lo, c_hi = robust_interval(log_coefficient, log_coefficient_boot, options.confidence)
    law = LawFit(
        hp=spec.hp,
        axes=spec.axes,
        coefficient=float(np.exp(log_coefficient)),
        coefficient_interval=(float(np.exp(c_lo)), float(np.exp(c_hi))),
        exponents=FrozenMap({axis: float(beta[i + 1]) for i, axis in enumerate(spec.axes)}),
        exponent_intervals=FrozenMap({axis: (float(lo[i + 1]), float(hi[i + 1])) for i, axis in enumerate(spec.axes)}),
        r2=r2,
        cells=C,
        excess_scatter=tau2,
        held_out=held_out,
        centre=FrozenMap({axis: float(np.exp(centre[i])) for i, axis in enumerate(spec.axes)}),
    )
    return law, beta_boot, centre


# ---------------------------------------------------------------------------------------------
# Verdicts: what each published rule predicts, computed from the rule functions
# ---------------------------------------------------------------------------------------------


class RuleLine(NamedTuple):
    """One published prediction: hp* ∝ axis^exponent under rule ``rule`` (variant ``choice``)."""

    hp: str
    axis: str
    rule: str  # key of hpscale.core.rules.RULES
    choice: str  # the variant, as the transfer options name it
    label: str  # short name for tables
    exponent: float
    condition: str


#: Who says so, for each short label (table captions).
SOURCES = {
    "µP": "Yang et al. 2022 (Tensor Programs V)",
    "MuReadout": "the mup library's MuReadout",
    "Table 3": "Tensor Programs V, Table 3",
    "√κ": "Malladi et al. 2022",
    "CompleteP": "Dey et al. 2025",
    "depth-µP": "Yang et al. 2023",
    "timescale": "Wang & Aitchison 2024",
    "√d": "Fan et al. 2025",
    "plain µP": "Tensor Programs V (no weight-decay rule)",
    "constant τ": "Wang & Aitchison 2024",
    "Power Lines": "Bergsma et al. 2025",
}
_WD_LABELS = {"timescale": "timescale", "sqrt": "√d", "constant": "plain µP"}


def _timescale_tau(lr_factor: float, wd_factor: float, batch_ratio: float = 1.0, dataset_ratio: float = 1.0) -> float:
    """τ_epoch ratio target/proxy when η, λ, B, N move by these factors (``rules.tau_epoch``)."""
    return R.tau_epoch(lr_factor, wd_factor, batch_ratio, dataset_ratio) / R.tau_epoch(1.0, 1.0, 1.0, 1.0)


def _tau_vs_width(group: R.Group, wd_rule: R.WdWidthRule) -> Callable[[float], float]:
    """m ↦ τ_epoch ratio when η follows µP and λ the weight-decay width rule ``wd_rule``."""

    def ratio(m: float) -> float:
        return _timescale_tau(R.mup_lr_width_factor(group, m, "mureadout"),
                              R.weight_decay_width_factor(group, m, wd_rule, "mureadout"))

    return ratio


def rule_lines(group: R.Group, *, lr_optimized: bool) -> list[RuleLine]:
    """Every (hp, axis) exponent a rule in ``hpscale.core.rules`` predicts, for ``group``.

    Each exponent is ``rule_exponent`` of the registered rule function (or of ``tau_epoch``
    evaluated under it), so the registry is the only place a constant lives.

    ``group`` is the parameter group whose absolute LR (and weight decay) the sweep holds: the
    µP rules differ per group (hidden η ∝ 1/m, embedding and vector η constant — the base LR of
    a µP model is the embedding group's LR). ``lr_optimized`` says whether the LR was swept: the
    timescale rule's λ ∝ 1/N and λ ∝ B hold at a fixed η; the √κ weight-decay rule assumes the
    LR follows η × √κ.
    """
    lines: list[RuleLine] = []
    readouts = R.READOUT_RULES if group == "readout" else ("mureadout",)
    for readout in readouts:
        a = rule_exponent(functools.partial(R.mup_lr_width_factor, group, readout_rule=readout))
        label = {"mureadout": "MuReadout", "table3": "Table 3"}[readout] if group == "readout" else "µP"
        lines.append(RuleLine("lr", "width", "mup-lr", readout if group == "readout" else "mup", label, a,
                              f"absolute η of the {group} group"))
    if group in R.RESIDUAL_BLOCK_GROUPS:
        for depth_rule in R.DEPTH_RULES:
            lines.append(RuleLine("lr", "depth", "depth-lr", depth_rule,
                                  {"completep": "CompleteP", "depth-mup": "depth-µP"}[depth_rule],
                                  rule_exponent(functools.partial(R.depth_lr_factor, depth_rule=depth_rule)),
                                  "residual branches × L^−α"))
    lines.append(RuleLine("lr", "batch_size", "sqrt-batch-lr", "sqrt", "√κ",
                          rule_exponent(R.sqrt_batch_lr_factor), "Adam, below the critical batch"))
    for wd_rule in R.WD_WIDTH_RULES:
        if R.weight_decay_width_factor(group, 4.0, wd_rule, "mureadout") == 0:
            continue  # a rule that sets λ to 0 has no exponent to compare
        lines.append(RuleLine("weight_decay", "width", "wd-width", wd_rule, _WD_LABELS[wd_rule],
                              rule_exponent(functools.partial(R.weight_decay_width_factor, group, rule_name=wd_rule,
                                                              readout_rule="mureadout")),
                              "with µP's η"))
    if not lr_optimized:
        lines.append(RuleLine("weight_decay", "dataset_size", "timescale-wd", "constant", "constant τ",
                              rule_exponent(lambda nu: R.timescale_weight_decay_factor(1.0, 1.0, nu)),
                              "at fixed η and B"))
        lines.append(RuleLine("weight_decay", "dataset_size", "power-lines", "power-lines", "Power Lines",
                              rule_exponent(lambda nu: R.timescale_weight_decay_factor(1.0, 1.0, nu)
                                            / R.power_lines_tau_factor(nu)),
                              "at fixed η, B and params"))
        lines.append(RuleLine("weight_decay", "batch_size", "timescale-wd", "constant", "constant τ",
                              rule_exponent(lambda k: R.timescale_weight_decay_factor(1.0, k, 1.0)), "at fixed η"))
    else:
        lines.append(RuleLine("weight_decay", "batch_size", "sqrt-batch-wd", "sqrt", "√κ",
                              rule_exponent(R.sqrt_batch_weight_decay_factor), "with η* ∝ √κ"))
    for wd_rule in R.WD_WIDTH_RULES:
        if R.weight_decay_width_factor(group, 4.0, wd_rule, "mureadout") == 0:
            continue
        lines.append(RuleLine("tau_epoch", "width", "wd-width", wd_rule, _WD_LABELS[wd_rule],
                              rule_exponent(_tau_vs_width(group, wd_rule)), "with µP's η"))
    constant_tau = rule_exponent(
        lambda nu: _timescale_tau(1.0, R.timescale_weight_decay_factor(1.0, 1.0, nu), 1.0, nu))
    power_lines = rule_exponent(R.power_lines_tau_factor)
    for axis, sign, condition in (("dataset_size", 1.0, "at fixed params"), (TOKENS_PER_PARAM, 1.0, ""),
                                  ("params", -1.0, "at fixed dataset size")):
        lines.append(RuleLine("tau_epoch", axis, "tau-epoch", "constant", "constant τ", constant_tau, condition))
        lines.append(RuleLine("tau_epoch", axis, "power-lines", "power-lines", "Power Lines",
                              sign * power_lines + 0.0, condition))
    lines.append(RuleLine("tau_epoch", "batch_size", "sqrt-batch-wd", "sqrt", "√κ",
                          rule_exponent(lambda k: _timescale_tau(R.sqrt_batch_lr_factor(k),
                                                                 R.sqrt_batch_weight_decay_factor(k), k)),
                          "η and λ × √κ"))
    return lines


def verdicts(laws: Mapping[str, LawFit], group: R.Group, *, lr_optimized: bool) -> list[Verdict]:
    """Each fitted exponent that a rule predicts, with 'consistent' = prediction inside the CI."""
    out = []
    for line in rule_lines(group, lr_optimized=lr_optimized):
        law = laws.get(line.hp)
        if law is None or line.axis not in law.exponents:
            continue
        lo, hi = law.exponent_intervals[line.axis]
        out.append(Verdict(line.hp, line.axis, line.rule, line.choice, line.label, line.exponent,
                           law.exponents[line.axis], (lo, hi), lo <= line.exponent <= hi, line.condition))
    return out


# ---------------------------------------------------------------------------------------------
# The whole fit
# ---------------------------------------------------------------------------------------------


def _cell_label(axes: Sequence[str], values: Sequence[float]) -> str:
    return " ".join(f"{axis}={value:g}" for axis, value in zip(axes, values, strict=True))


def _cell_axis_values(sweep: Sweep) -> dict[str, np.ndarray]:
    """Axis values per cell, including ``tokens_per_param`` when params and dataset size are known."""
    import numpy as np

    values = {axis: sweep.cell_axes[:, i] for i, axis in enumerate(sweep.axes)}
    params = values.get("params", sweep.context.get("params"))
    dataset = values.get("dataset_size", sweep.context.get("dataset_size"))
    if params is not None and dataset is not None:
        with np.errstate(all="ignore"):
            values[TOKENS_PER_PARAM] = dataset / params
    return values


def available_laws(sweep: Sweep) -> tuple[list[str], list[str]]:
    """(hps a law can be fitted for, axes that vary across cells)."""
    import numpy as np

    axis_values = _cell_axis_values(sweep)
    varying = [axis for axis, v in axis_values.items()
               if np.all(np.isfinite(v)) and np.all(v > 0) and np.ptp(np.log(v)) > 1e-12]
    hps = list(sweep.hps) + [hp for hp in DERIVED if _derivable(sweep, hp)]
    return hps, varying


def _source(sweep: Sweep, name: str) -> str | None:
    """Where a quantity comes from: 'optimized', 'axis', 'context' or None."""
    import numpy as np

    if name in sweep.hps:
        return "optimized"
    if name in sweep.axes:
        return "axis"
    value = sweep.context.get(name)
    if value is not None and np.all(np.isfinite(value)) and np.all(value > 0):
        return "context"
    return None


def _derivable(sweep: Sweep, hp: str) -> bool:
    if not ({"lr", "weight_decay"} & set(sweep.hps)):
        return False
    if _source(sweep, "lr") is None or _source(sweep, "weight_decay") is None:
        return False
    if hp == "tau_iter":
        return True
    has_epoch = _source(sweep, "batch_size") and _source(sweep, "dataset_size")
    return bool(has_epoch or _source(sweep, "steps"))


def _per_cell(sweep: Sweep, name: str, z: np.ndarray, boot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log of ``name`` per cell (C,) and per resample (C, B): from the optimum, an axis or context."""
    import numpy as np

    if name in sweep.hps:
        j = sweep.hps.index(name)
        return z[:, j], boot[:, :, j]
    value = sweep.cell_axes[:, sweep.axes.index(name)] if name in sweep.axes else sweep.context[name]
    log = np.log(value)
    return log, np.broadcast_to(log[:, None], boot.shape[:2])


def _derived(sweep: Sweep, hp: str, z: np.ndarray, boot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log τ_iter* or log τ_epoch* per cell and per resample, at the optimum."""
    import numpy as np

    lr, lr_b = _per_cell(sweep, "lr", z, boot)
    wd, wd_b = _per_cell(sweep, "weight_decay", z, boot)
    if hp == "tau_iter":
        return log_tau_iter(lr, wd), log_tau_iter(lr_b, wd_b)
    if _source(sweep, "batch_size") and _source(sweep, "dataset_size"):
        batch, batch_b = _per_cell(sweep, "batch_size", z, boot)
        dataset = np.log(sweep.cell_axes[:, sweep.axes.index("dataset_size")]) if "dataset_size" in sweep.axes \
            else np.log(sweep.context["dataset_size"])
        steps, steps_b = dataset - batch, dataset[:, None] - batch_b
    else:
        steps, steps_b = _per_cell(sweep, "steps", z, boot)
    return log_tau_epoch(lr, wd, steps), log_tau_epoch(lr_b, wd_b, steps_b)


def default_laws(sweep: Sweep) -> list[LawSpec]:
    """Each optimized hp, and τ_epoch*, τ_iter* when derivable, against every varying ``--by`` axis."""
    hps, varying = available_laws(sweep)
    axes = tuple(axis for axis in sweep.axes if axis in varying)
    return [LawSpec(hp, axes) for hp in hps] if axes else []


def check_laws(sweep: Sweep, specs: Sequence[LawSpec]) -> list[LawSpec]:
    """Validate ``--law`` specs against the sweep; the defaults fill in the hps not named."""
    import numpy as np

    hps, varying = available_laws(sweep)
    axis_values = _cell_axis_values(sweep)
    seen: set[str] = set()
    for spec in specs:
        if spec.hp in seen:
            raise InputError(f"--law: {spec}: a second law for {spec.hp}; give one law per hyperparameter")
        seen.add(spec.hp)
        if spec.hp not in hps:
            allowed = ", ".join(hps)
            raise InputError(f"--law: {spec}: {spec.hp!r} is not fitted; allowed: {allowed} (the --optimize "
                             "hyperparameters, and tau_epoch/tau_iter when lr and weight_decay are known)")
        for axis in spec.axes:
            if axis not in axis_values:
                allowed = ", ".join(axis_values)
                raise InputError(f"--law: {spec}: unknown axis {axis!r}; allowed: {allowed} (the --by axes"
                                 f"{', and tokens_per_param = dataset_size/params' if TOKENS_PER_PARAM in axis_values else ''})")
            if axis not in varying:
                raise InputError(f"--law: {spec}: {axis} does not vary across the cells; a law needs it to vary")
        logs = np.column_stack([np.log(axis_values[axis]) for axis in spec.axes])
        centred = logs - logs.mean(axis=0)
        if np.linalg.matrix_rank(centred, tol=1e-9) < len(spec.axes):
            raise InputError(f"--law: {spec}: the axes {', '.join(spec.axes)} are collinear across the cells "
                             "(one determines the others); drop one")
    named = {spec.hp for spec in specs}
    return list(specs) + [spec for spec in default_laws(sweep) if spec.hp not in named]


def fit_sweep(
    sweep: Sweep,
    options: FitOptions,
    provenance: Provenance,
    laws: Sequence[LawSpec] = (),
    predict: Sequence[Mapping[str, float]] = (),
) -> FitResult:
    """Fit a sweep: the optimum of every cell, the laws, the verdicts and the predictions.

    Args:
        sweep: the runs, grouped into cells (``hpscale.runs.sweep_from_tables``).
        options: window, resamples, confidence, seed, edge handling, parameter group.
        provenance: the inputs, recorded in the outputs.
        laws: ``--law`` specs; every optimized hp not named gets its default law.
        predict: points (axis → value) at which to evaluate the laws.

    Raises:
        InputError: a law that cannot be fitted as asked, a prediction point that names an
            unknown axis.
    """
    import numpy as np

    if len(sweep.cell_axes) < 2:
        raise InputError(f"--by {','.join(sweep.axes)}: the runs form a single cell "
                         f"({_cell_label(sweep.axes, sweep.cell_axes[0])}); a law needs at least 2 cells that "
                         "differ in a --by axis")
    specs = check_laws(sweep, laws)
    estimates = cell_optima(sweep, options)
    d = len(sweep.hps)
    C = len(sweep.cell_axes)
    detail = estimates.detail
    warnings: list[str] = []
    rng = np.random.default_rng(options.seed + 1)

    # Flags per cell.
    flags_of: list[tuple[str, ...]] = []
    for c in range(C):
        x, real, step, lo, hi = detail["set_x"][c]
        flags: list[str] = []
        best = x[detail["best"][c]]
        if detail["too_few"][c]:
            flags.append(TOO_FEW_POINTS)
        elif not detail["convex"][c]:
            flags.append(NON_CONVEX)
        raw = detail["raw"][c]
        edge = False
        for j in range(d):
            no_div_above = not np.isfinite(detail["bound_hi"][c][j])
            no_div_below = not np.isfinite(detail["bound_lo"][c][j])
            at_top = best[j] >= hi[j] - 1e-12 or raw[j] > hi[j] + 1e-12
            at_bottom = best[j] <= lo[j] + 1e-12 or raw[j] < lo[j] - 1e-12
            if (at_top and no_div_above) or (at_bottom and no_div_below):
                edge = True
        if edge:
            flags.append(NOT_BRACKETED)
        if np.any(detail["capped"][c]):
            flags.append(CAPPED)
        flags_of.append(tuple(flags))
    used = np.array([options.keep_edge or NOT_BRACKETED not in f for f in flags_of])

    # Derived timescales per cell.
    derived_hps = [hp for hp in DERIVED if _derivable(sweep, hp)]
    derived: dict[str, tuple[np.ndarray, np.ndarray]] = {
        hp: _derived(sweep, hp, estimates.z, estimates.boot) for hp in derived_hps
    }

    # Cells.
    cells: list[CellFit] = []
    counts = np.bincount(sweep.cell, minlength=C)
    div_counts = np.bincount(sweep.cell, weights=sweep.diverged, minlength=C).astype(int)
    lo_q, hi_q = _quantiles(estimates.boot, options.confidence, axis=1)  # (C, d)
    derived_q = {hp: _quantiles(boot, options.confidence, axis=1) for hp, (_, boot) in derived.items()}
    order = np.argsort(sweep.cell, kind="stable")
    sign = -1.0 if provenance.maximize else 1.0
    for c in range(C):
        runs_here = order[np.searchsorted(sweep.cell[order], c):np.searchsorted(sweep.cell[order], c, side="right")]
        finished = runs_here[~sweep.diverged[runs_here]]
        best_run = finished[np.argmin(sweep.metric[finished])] if len(finished) else None
        optimum = {hp: float(from_log(hp, estimates.z[c, j])) for j, hp in enumerate(sweep.hps)}
        interval = {}
        for j, hp in enumerate(sweep.hps):
            ends = sorted((float(from_log(hp, lo_q[c, j])), float(from_log(hp, hi_q[c, j]))))
            ends = [e if math.isfinite(e) else optimum[hp] for e in ends]
            interval[hp] = (min(ends[0], optimum[hp]), max(ends[1], optimum[hp]))
        dvals, dints = {}, {}
        for hp, (point, _) in derived.items():
            dvals[hp] = float(np.exp(point[c]))
            lo_d, hi_d = derived_q[hp][0][c], derived_q[hp][1][c]
            dints[hp] = (float(np.exp(lo_d)), float(np.exp(hi_d))) if np.isfinite(lo_d) else (dvals[hp], dvals[hp])
        metric_at = float(detail["metric_at"][c] + detail["y_offset"][c])
        quadratic = None
        if detail["fitted"][c]:
            x_set, _, step_c, _, _ = detail["set_x"][c]
            quadratic = Quadratic(tuple(float(v) for v in x_set[detail["best"][c]]), tuple(float(v) for v in step_c),
                                  tuple(float(v) for v in detail["beta"][c]),
                                  float(detail["best_mean"][c] + detail["y_offset"][c]),
                                  tuple((float(lo), float(hi)) for lo, hi in detail["span"][c]))
        cells.append(CellFit(
            axes=FrozenMap({axis: float(sweep.cell_axes[c, i]) for i, axis in enumerate(sweep.axes)}),
            runs=int(counts[c]),
            diverged=int(div_counts[c]),
            incomplete=int(sweep.incomplete[c]),
            optimum=FrozenMap(optimum),
            interval=FrozenMap(interval),
            metric_at_optimum=sign * metric_at,
            best_run=(sweep.names[best_run] if best_run is not None else None),
            best_metric=sign * float(sweep.metric[best_run]) if best_run is not None else math.nan,
            window=int(detail["n_window"][c]),
            flags=flags_of[c],
            used=bool(used[c]),
            derived=FrozenMap(dvals),
            derived_interval=FrozenMap(dints),
            quadratic=quadratic,
        ))
        label = _cell_label(sweep.axes, sweep.cell_axes[c])
        if NOT_BRACKETED in flags_of[c]:
            where = "; kept in the laws (--keep-edge)" if options.keep_edge else "; left out of the laws"
            warnings.append(f"cell {label}: optimum not bracketed (at or beyond the edge of the swept range)"
                            f"{where}; extend the sweep")
        if TOO_FEW_POINTS in flags_of[c]:
            warnings.append(f"cell {label}: too few settings for a quadratic; the best run stands for the optimum")
        if NON_CONVEX in flags_of[c]:
            warnings.append(f"cell {label}: the fitted quadratic is not convex; the best run stands for the optimum")
    if estimates.noise is None and options.resample == "noise":
        warnings.append("no cell has more runs in its window than quadratic coefficients, so the run-to-run "
                        "noise cannot be estimated; the intervals resample runs instead (--resample runs)")
    if estimates.failed_share > 0.01:
        warnings.append(f"{estimates.failed_share:.1%} of the bootstrap resamples held only diverged runs "
                        "in some cell; those resamples were skipped")

    # Laws.
    axis_values = _cell_axis_values(sweep)
    law_fits: dict[str, LawFit] = {}
    law_boot: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def excess_for(hp: str) -> Callable[[int, float], float | None] | None:
        if hp not in sweep.hps:
            return None
        j = sweep.hps.index(hp)

        def excess(c: int, error: float) -> float | None:
            if not detail["fitted"][c]:
                return None
            beta = detail["beta"][c]
            _, _, step, _, _ = detail["set_x"][c]
            x_best = detail["set_x"][c][0][detail["best"][c]]
            u_opt = (estimates.z[c] - x_best) / step
            u_moved = u_opt.copy()
            u_moved[j] += error / step[j]
            f = _features(np.stack([u_opt, u_moved]))
            at_opt, moved = f @ beta
            scale = abs(metric_at_of(c))
            return float((moved - at_opt) / scale) if scale > 0 else None

        return excess

    def metric_at_of(c: int) -> float:
        return float(detail["metric_at"][c] + detail["y_offset"][c])

    for spec in specs:
        if spec.hp in sweep.hps:
            j = sweep.hps.index(spec.hp)
            z, boot = estimates.z[:, j], estimates.boot[:, :, j]
            step = np.array([detail["set_x"][c][2][j] for c in range(C)])
            fallback = ~detail["fitted"]
        else:
            z, boot = derived[spec.hp]
            step = np.zeros(C)
            fallback = np.zeros(C, bool)
        keep = used & np.isfinite(z)
        P = len(spec.axes) + 1
        if keep.sum() < P:
            warnings.append(f"law {spec}: {int(keep.sum())} usable cells for {P} coefficients; not fitted"
                            + ("" if options.keep_edge else " (--keep-edge uses unbracketed cells too)"))
            continue
        logs = np.column_stack([np.log(axis_values[axis][keep]) for axis in spec.axes])
        centred = logs - logs.mean(axis=0)
        if np.linalg.matrix_rank(centred, tol=1e-9) < len(spec.axes):
            warnings.append(f"law {spec}: the usable cells do not vary in every axis; not fitted")
            continue
        data = _LawData(z[keep], np.asarray(boot)[keep], logs, np.flatnonzero(keep), fallback[keep], step[keep])
        law, beta_boot, centre = fit_law(spec, data, options, rng, excess_for(spec.hp))
        law_fits[spec.hp] = law
        law_boot[spec.hp] = (beta_boot, centre)
        if law.cells == P:
            warnings.append(f"law {spec}: {law.cells} cells for {P} coefficients: the law passes through every "
                            "cell, so nothing checks the power-law form; its interval reflects run noise only")
        elif law.r2 is not None and law.r2 < LOW_R2 and law.excess_scatter > 0:
            # A flat law has a low R² by construction; only scatter beyond the cells' own noise
            # (τ² > 0) says that the optima do not follow the power law.
            warnings.append(f"law {spec}: R² = {law.r2:.2f}: the optima scatter around the power law in "
                            f"{', '.join(spec.axes)} more than their own noise explains")

    lr_optimized = "lr" in sweep.hps
    verdict_list = verdicts(law_fits, options.group, lr_optimized=lr_optimized)
    by_pair: dict[tuple[str, str], list[Verdict]] = {}
    for verdict in verdict_list:
        by_pair.setdefault((verdict.hp, verdict.axis), []).append(verdict)
    for (hp, axis), group in by_pair.items():
        predictions_here = sorted({round(v.predicted, 9) for v in group})
        if len(predictions_here) < 2:
            continue
        gap = min(b - a for a, b in zip(predictions_here, predictions_here[1:], strict=False))
        lo, hi = group[0].interval
        if hi - lo > gap:
            warnings.append(f"{hp} vs {axis}: the {options.confidence:.0%} interval [{lo:.3g}, {hi:.3g}] is wider "
                            f"than the gap between the published rules' exponents ({gap:g}); the sweep cannot "
                            "tell them apart")

    # Predictions.
    prediction_list: list[Prediction] = []
    for at in predict:
        prediction_list.append(_predict(at, law_fits, law_boot, options, rng, axis_values, warnings))

    return FitResult(
        by=sweep.axes,
        optimize=sweep.hps,
        options=options,
        provenance=provenance,
        runs=int(len(sweep.cell) + sweep.incomplete.sum()),
        diverged=int(sweep.diverged.sum()),
        incomplete=int(sweep.incomplete.sum()),
        cells=tuple(cells),
        laws=FrozenMap(law_fits),
        verdicts=tuple(verdict_list),
        predictions=tuple(prediction_list),
        warnings=tuple(dict.fromkeys(warnings)),
        resampling=options.resample if estimates.noise is not None else "runs",
        noise=estimates.noise,
        noise_dof=estimates.noise_dof,
        sweep=sweep,
        law_samples=law_boot,
    )


def _predict(
    point: Mapping[str, float],
    laws: Mapping[str, LawFit],
    boots: Mapping[str, tuple[np.ndarray, np.ndarray]],
    options: FitOptions,
    rng: np.random.Generator,
    axis_values: Mapping[str, np.ndarray],
    warnings: list[str],
) -> Prediction:
    """Every law whose axes the point names, with a prediction interval: the quantiles of
    log hp* under the resampled coefficients plus N(0, τ²) (a new cell scatters around the law
    as the fitted cells do)."""
    import numpy as np

    at = dict(point)
    if "params" in at and "dataset_size" in at and TOKENS_PER_PARAM not in at:
        at[TOKENS_PER_PARAM] = at["dataset_size"] / at["params"]
    known = set(axis_values) | {TOKENS_PER_PARAM}
    for axis in point:
        if axis not in known:
            raise InputError(f"--predict: {axis}: not an axis of this sweep; allowed: {', '.join(sorted(known))}")
    values: dict[str, float] = {}
    intervals: dict[str, tuple[float, float]] = {}
    for hp, law in laws.items():
        if not all(axis in at for axis in law.axes):
            continue
        beta_boot, centre = boots[hp]
        logs = np.array([math.log(at[axis]) for axis in law.axes]) - centre
        for axis in law.axes:
            seen = axis_values[axis]
            ratio = max(at[axis] / float(np.max(seen)), float(np.min(seen)) / at[axis])
            if ratio > FAR_EXTRAPOLATION:
                warnings.append(f"--predict {axis}={at[axis]:g}: ×{ratio:.3g} beyond the swept range "
                                f"(more than ×{FAR_EXTRAPOLATION:g}); the law is extrapolated that far")
        log_value = math.log(law.coefficient) + sum(
            law.exponents[axis] * math.log(at[axis]) for axis in law.axes)
        samples = beta_boot[0] + logs @ beta_boot[1:]
        if law.excess_scatter > 0:
            samples = samples + rng.normal(0.0, math.sqrt(law.excess_scatter), size=samples.shape)
        lo, hi = robust_interval(log_value, samples, options.confidence)
        ends = sorted((float(from_log(hp, lo)), float(from_log(hp, hi))))
        values[hp] = float(from_log(hp, log_value))
        intervals[hp] = (ends[0], ends[1])
    return Prediction(FrozenMap(point), FrozenMap(values), FrozenMap(intervals))
