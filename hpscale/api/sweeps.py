"""Sweeps and their laws: ``fit``, ``to_law_yaml``, ``load_law``.

Part of the one face, ``hpscale.api`` (its docstring says what every function shares).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ._args import _size

if TYPE_CHECKING:
    from ..core.fit_result import FitResult
    from ..core.law import Law


def to_law_yaml(result: FitResult) -> str:
    """The law file of a fit (YAML with provenance), as ``hpscale fit --output`` writes it; what
    ``transfer(..., law=...)``, ``check(..., law=...)`` and ``load_law`` read."""
    from ..core.fit_result import FitResult
    from ..outputs.fit import dumps_law

    if not isinstance(result, FitResult):
        raise TypeError(f"to_law_yaml: expected a FitResult, found {type(result).__name__}")
    return dumps_law(result)


def load_law(path: str | os.PathLike[str]) -> Law:
    """A law file written by ``hpscale fit --output``, validated (what ``transfer --law`` reads).

    Raises:
        InputError: a missing file, another kind of file, an unknown key or schema version.
    """
    from ..lawfile import read_law

    return read_law(path)


def _law(law: str | os.PathLike[str] | Law | None) -> Law | None:
    from ..core.law import Law as LawType

    if law is None or isinstance(law, LawType):
        return law
    if isinstance(law, str | os.PathLike):
        return load_law(law)
    raise InputError(f"law: expected a law file path or a Law, got {type(law).__name__}")


def fit(
    runs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | Sequence[Mapping[str, Any]],
    *,
    by: str | Sequence[str],
    optimize: str | Sequence[str],
    laws: Sequence[str] = (),
    columns: Mapping[str, str] | None = None,
    metric: str = "loss",
    maximize: bool = False,
    group: str = "hidden",
    window: int | None = None,
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    resample: str = "noise",
    keep_edge: bool = False,
    predict: Sequence[Mapping[str, float | str]] = (),
    edge: str = "censor",
    optimizer: str = "adamw",
    muon_convention: str | None = None,
) -> FitResult:
    """Fit how the optimal hyperparameters move with scale, from a sweep of training runs.

    Finds each cell's optimum (runs with equal ``by`` axes form a cell) by a quadratic in
    log(hp), fits log hp* = c + Σ aᵢ·log axisᵢ across cells with bootstrap intervals, and
    compares each fitted exponent with what the published rules predict.

    Args:
        runs: a run table (``.csv``, ``.tsv``, ``.jsonl``), several, or the runs themselves as
            mappings (one per run, e.g. ``DataFrame.to_dict("records")``).
        by: the scale axes that define a cell: ``width``, ``depth``, ``params``,
            ``batch_size``, ``dataset_size``, ``steps`` (a list or ``"width,params"``).
        optimize: the one or two swept hyperparameters: ``lr``, ``weight_decay``,
            ``batch_size``, ``beta1``, ``beta2``, ``eps``, ``ema_decay``.
        laws: ``"lr ~ params + dataset_size"`` specs; every optimized hp not named gets the
            default law against every varying ``by`` axis (τ_epoch*, τ_iter* too when derivable).
        columns: quantity → column name (``{"lr": "optimizer.lr"}``), where finding by name fails.
        metric: the metric's column (lower is better unless ``maximize``).
        group: the parameter group whose LR and weight decay the table holds (``hidden``: the
            absolute LR of the matrix-like weights, which µP scales as 1/m; ``embedding``: the
            base LR of a µP model, which µP keeps constant).
        window: settings in each cell's quadratic (default 5 in 1-D, 13 in 2-D).
        bootstrap: resamples B; ``confidence``: interval level; ``seed``: RNG seed.
        resample: ``noise`` (perturb metrics by the pooled run noise, the default) or ``runs``
            (resample runs with replacement).
        edge: unbracketed optima in the laws: ``censor`` (a bound, the default), ``drop``
            (left out) or ``keep`` (a point); ``keep_edge=True`` means ``keep``.
        predict: points (axis → value, SI suffixes allowed) to evaluate the laws at.
        optimizer: what trained ``group`` (``adamw``, ``muon``): its rules are the verdicts'
            predictions; ``muon_convention``: the shape convention of a Muon sweep's lr
            (``original``, ``match_rms_adamw``, ``spectral``, ``unit_rms_norm``), required for Muon.

    Returns:
        An immutable ``FitResult``: ``.cells``, ``.laws[hp].exponents[axis]``, ``.verdicts``,
        ``.predictions``, ``.warnings``; ``.to_json_dict()`` is the JSON contract of
        ``hpscale fit --format json`` and ``to_law_yaml(result)`` the law file.

    Raises:
        InputError: a missing column, text in a number column, a single cell, a cell whose
            runs all diverged, a hyperparameter ≤ 0, a duplicate run, a bad option.

    >>> result = fit("configs/sweep-synthetic.csv", by="width", optimize="lr,weight_decay",
    ...              metric="val/loss", bootstrap=200)
    >>> round(result.laws["lr"].exponents["width"], 1)
    -1.0
    """
    from ..core.fit import fit_sweep
    from ..core.fit_result import Provenance
    from ..core.frozen import FrozenMap
    from ..core.sweep import AXES, HYPERPARAMETERS, FitOptions, parse_law
    from ..runs import parse_names, read_table, sweep_from_tables, table_from_rows

    if isinstance(runs, str | os.PathLike):
        tables = [read_table(runs)]
    else:
        if not isinstance(runs, Iterable) or isinstance(runs, Mapping | bytes):
            raise InputError(f"runs: {type(runs).__name__}: expected a path, a list of paths, or a list of "
                             "mappings (one per run)")
        items = list(runs)
        if items and all(isinstance(item, Mapping) for item in items):
            tables = [table_from_rows(items)]  # type: ignore[arg-type]
        elif all(isinstance(item, str | os.PathLike) for item in items) and items:
            tables = [read_table(item) for item in items]  # type: ignore[arg-type]
        else:
            raise InputError("runs: expected a path, a list of paths, or a list of mappings (one per run)")
    for name, value in (("by", by), ("optimize", optimize)):
        if not isinstance(value, str) and not (isinstance(value, Sequence) and all(isinstance(v, str) for v in value)):
            raise InputError(f"{name}: {value!r}: expected a name or a list of names")
    if not isinstance(laws, Iterable) or isinstance(laws, str) or not all(isinstance(t, str) for t in laws):
        raise InputError(f"laws: {laws!r}: expected a list of 'HP ~ AXIS + AXIS' texts")
    if (not isinstance(predict, Iterable) or isinstance(predict, Mapping | str)
            or not all(isinstance(point, Mapping) for point in predict)):
        raise InputError(f"predict: {predict!r}: expected a list of mappings (axis → value), "
                         "e.g. [{'width': 4096}]")
    axes = parse_names("by", by, AXES)
    hps = parse_names("optimize", optimize, HYPERPARAMETERS)
    options = FitOptions(window=window, resamples=bootstrap, confidence=float(confidence), seed=seed,
                         keep_edge=keep_edge, group=group, resample=resample, edge=edge,  # type: ignore[arg-type]
                         optimizer=optimizer, muon_convention=muon_convention)
    sweep_input = sweep_from_tables(tables, by=axes, optimize=hps, columns=columns, metric=metric,
                                    maximize=maximize)
    points = [{axis: float(_size(f"predict {axis}", value, param="predict") or 0.0) for axis, value in point.items()}
              for point in predict]
    provenance = Provenance(sweep_input.inputs, FrozenMap(sweep_input.columns),
                            sweep_input.columns.get("metric", metric), maximize)
    return fit_sweep(sweep_input.sweep, options, provenance, [parse_law(text) for text in laws], points)

