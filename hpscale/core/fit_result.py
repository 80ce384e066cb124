"""The result of ``hpscale fit`` and its versioned JSON contract.

``FitResult`` holds every cell's optimum (``CellFit``), the laws across cells (``LawFit``), the
verdicts against the published rules, the predictions and the warnings; its ``to_json_dict`` is
the JSON contract of ``hpscale fit --format json`` (``schema_version`` 1; fields are only added
within a schema version). Same input and seed → byte-identical output; floats rounded to 12
significant digits (``hpscale.numbers.clean``); NaN and ∞ never appear (null). The contract sits
beside the types it serialises, so ``hpscale.core.fit`` builds results and the output modules
(``hpscale.outputs.fit``: the tables, the JSON text, the law file) only dump them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from .._version import __version__
from ..numbers import clean
from .frozen import FrozenMap
from .optimum import Quadratic, optimum_method
from .sweep import DECAY_RATES, FitOptions, Sweep

if TYPE_CHECKING:
    import numpy as np

#: The version of the ``hpscale fit --format json`` contract.
SCHEMA_VERSION = 1


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
    censored: int = 0  # unbracketed cells used as bounds (--edge censor); ``cells`` counts the points fitted

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

    Immutable. ``to_json_dict()`` is the JSON contract of ``hpscale fit --format json``;
    ``hpscale.to_law_yaml(result)`` writes the law file that ``transfer --law`` reads.
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

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON contract (``schema_version`` 1) that ``hpscale fit --format json`` prints."""
        return fit_json(self)


_EDGE_METHOD = {
    "keep": "all cells",
    "drop": "unbracketed cells left out",
    "censor": "an unbracketed cell is a bound (optimum beyond half a grid step inside its edge), used as a point at "
              "the bound only where the law violates it (censored least squares)",
}


def law_method(options: FitOptions) -> str:
    """How the laws are fitted, as the outputs and the law file state it."""
    return (
        "log hp* = c + Σ aᵢ·log axisᵢ by weighted least squares, weights 1/(bootstrap variance + τ²) "
        "with τ² the excess scatter (DerSimonian–Laird); the law refitted on every resample of the "
        "cell optima plus N(0, τ²) per cell, interval = estimate ± z·IQR/1.349 of the refits; "
        + _EDGE_METHOD[options.edge_mode]
    )


# ---------------------------------------------------------------------------------------------
# The JSON contract
# ---------------------------------------------------------------------------------------------


def _pair(pair: tuple[float, float]) -> list[float | int | None]:
    return [clean(pair[0]), clean(pair[1])]


def _cell_json(cell: CellFit) -> dict[str, Any]:
    return {
        "axes": {axis: clean(value) for axis, value in cell.axes.items()},
        "runs": cell.runs,
        "diverged": cell.diverged,
        "incomplete": cell.incomplete,
        "optimum": {hp: clean(value) for hp, value in cell.optimum.items()},
        "ci": {hp: _pair(pair) for hp, pair in cell.interval.items()},
        "metric_at_optimum": clean(cell.metric_at_optimum),
        "best_run": {"name": cell.best_run, "metric": clean(cell.best_metric)},
        "window": cell.window,
        "flags": list(cell.flags),
        "used_in_laws": cell.used,
        "derived": {hp: clean(value) for hp, value in cell.derived.items()},
        "derived_ci": {hp: _pair(pair) for hp, pair in cell.derived_interval.items()},
    }


def axes_range(result: FitResult, law: LawFit) -> dict[str, list[float | int | None]]:
    """The range each axis of ``law`` spans over the cells the law was fitted on."""
    out: dict[str, list[float | int | None]] = {}
    for axis in law.axes:
        values = [_cell_axis(cell, axis) for cell in result.cells if cell.used]
        finite = [v for v in values if v is not None]
        out[axis] = [clean(min(finite)), clean(max(finite))] if finite else [None, None]
    return out


def _cell_axis(cell: CellFit, axis: str) -> float | None:
    if axis in cell.axes:
        return cell.axes[axis]
    return None


def law_json(law: LawFit) -> dict[str, Any]:
    """One law, as in the JSON contract and (with ``axes_range`` added) the law file."""
    held = law.held_out
    return {
        "of": "1 - value" if law.hp in DECAY_RATES else "value",
        "formula": law.formula(),
        "axes": list(law.axes),
        "coefficient": clean(law.coefficient),
        "coefficient_ci": _pair(law.coefficient_interval),
        "exponents": {axis: clean(value) for axis, value in law.exponents.items()},
        "exponent_ci": {axis: _pair(pair) for axis, pair in law.exponent_intervals.items()},
        "r2": clean(law.r2),
        "cells": law.cells,
        "excess_scatter": clean(law.excess_scatter),
        "censored": law.censored,
        "held_out": None if held is None else {
            "rms_log_error": clean(held.rms_log_error),
            "max_factor": clean(held.max_factor),
            "max_metric_excess": clean(held.max_metric_excess),
        },
        "centre": {axis: clean(value) for axis, value in law.centre.items()},
    }


def method_json(result: FitResult) -> dict[str, Any]:
    options = result.options
    return {
        "optimum": optimum_method(options, len(result.optimize)),
        "law": law_method(options),
        "window": options.window_for(len(result.optimize)),
        "resample": result.resampling,
        "resamples": options.resamples,
        "confidence": clean(options.confidence),
        "seed": options.seed,
        "keep_edge": options.keep_edge,
        "edge": options.edge_mode,
        "noise_sd": clean(result.noise),
        "noise_dof": clean(result.noise_dof),
    }


def fit_json(result: FitResult) -> dict[str, Any]:
    """The ``hpscale fit --format json`` object (schema_version 1)."""
    provenance = result.provenance
    return {
        "schema_version": SCHEMA_VERSION,
        "hpscale_version": __version__,
        "inputs": [{"path": path, "sha256": digest, "rows": rows} for path, digest, rows in provenance.inputs],
        "columns": dict(provenance.columns),
        "metric": {"column": provenance.metric, "maximize": provenance.maximize},
        "by": list(result.by),
        "optimize": list(result.optimize),
        "group": result.options.group,
        # Additive: only where another optimizer than AdamW trained the swept group.
        **({"optimizer": {"name": result.options.optimizer, "muon_convention": result.options.muon_convention}}
           if result.options.optimizer != "adamw" else {}),
        "method": method_json(result),
        "runs": {"total": result.runs, "diverged": result.diverged, "incomplete": result.incomplete,
                 "cells": len(result.cells)},
        "cells": [_cell_json(cell) for cell in result.cells],
        "laws": {hp: law_json(law) for hp, law in result.laws.items()},
        "verdicts": [
            {
                "hp": v.hp,
                "axis": v.axis,
                "rule": v.rule,
                "choice": v.choice,
                "label": v.label,
                "predicted": clean(v.predicted),
                "fitted": clean(v.fitted),
                "ci": _pair(v.interval),
                "consistent": v.consistent,
                "condition": v.condition,
            }
            for v in result.verdicts
        ],
        "predictions": [
            {
                "at": {axis: clean(value) for axis, value in p.at.items()},
                "values": {hp: clean(value) for hp, value in p.values.items()},
                "intervals": {hp: _pair(pair) for hp, pair in p.intervals.items()},
            }
            for p in result.predictions
        ],
        "warnings": list(result.warnings),
    }
