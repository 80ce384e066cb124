"""Published laws evaluated at a planned run (``hpscale plan``). Pure: no I/O, no printing.

A shipped law file (``hpscale/laws/``) states hp* = coefficient · Π axisᵢ^aᵢ and, in its
``provenance``, which physical quantity each axis stands for (``quantities``), the batch unit and
the fitted range (``fitted_range``, keyed by quantity). This module computes those quantities
for a request and evaluates each law there:

- ``non_embedding_params`` N: given (``params``), else 12·L·W² (hpscale's count for a
  transformer of depth L and width W without embeddings; Kaplan et al., arXiv 2001.08361 §2.1).
- ``flops_per_token`` M, DeepSeek's non-embedding FLOPs per token (arXiv 2401.02954 §3.2, Eq. 2):
  M = 72·L·W² + 12·L·W·l_seq when L and W are known, else 6·N (the attention term omitted; the
  request records which).
- ``tokens`` D: the token budget.
- ``compute`` C: given, else M·D (DeepSeek's C = M·D).

A law evaluated outside its fitted range is still evaluated, and how far beyond (×, the ratio to
the nearer end) is reported per quantity. Ratios between laws are max/min over the shipped laws.

The same evaluation serves ``transfer --law`` (``proxy_warnings``, ``law_at_scale``: the law's own
optimum at the proxy and the target beyond the fitted range) and ``fit``'s report
(``shipped_exponent``: a shipped law's exponent along a fitted law's axis).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from ..errors import InputError, mention
from .law import Law
from .scale import Scale, estimated_params

#: The quantities a request provides, in the order they are reported.
QUANTITIES = ("non_embedding_params", "flops_per_token", "tokens", "compute")
#: Their symbols in tables.
SYMBOLS = {"non_embedding_params": "N", "flops_per_token": "M", "tokens": "D", "compute": "C"}
#: The hyperparameters a plan reports.
PLANNED = ("lr", "batch_size")


class Request(NamedTuple):
    """A planned run: model size, token budget, sequence length, optional compute budget."""

    tokens: float
    seq_len: float
    params: float | None = None
    width: float | None = None
    depth: float | None = None
    compute: float | None = None


class Outside(NamedTuple):
    """A request quantity outside a law's fitted range, and how far (× beyond the nearer end)."""

    quantity: str
    value: float
    range: tuple[float, float]
    beyond: float


class LawPlan(NamedTuple):
    """One law evaluated at the request."""

    name: str
    lr: float | None
    batch_tokens: float | None
    outside: tuple[Outside, ...]
    law: Law


def quantities(request: Request) -> dict[str, float]:
    """The request's quantities (see the module docstring for each formula and its source)."""
    shape = request.width is not None and request.depth is not None
    if request.params is not None:
        n = request.params
    elif shape:
        n = estimated_params(request.width, request.depth)  # type: ignore[arg-type, assignment]
    else:
        raise InputError("params: the model size is needed: params, or width and depth")
    if shape:
        m = 72 * request.depth * request.width**2 + 12 * request.depth * request.width * request.seq_len  # type: ignore[operator]
    else:
        m = 6 * n
    compute = request.compute if request.compute is not None else m * request.tokens
    return {"non_embedding_params": n, "flops_per_token": m, "tokens": request.tokens, "compute": compute}


def outside_range(law: Law, values: Mapping[str, float]) -> tuple[Outside, ...]:
    """The quantities of ``values`` outside ``law``'s ``provenance.fitted_range``."""
    spans = (law.provenance or {}).get("fitted_range") or {}
    out = []
    for quantity, (lo, hi) in spans.items():
        value = values.get(quantity)
        if value is None or lo <= value <= hi:
            continue
        out.append(Outside(quantity, value, (lo, hi), max(value / hi, lo / value)))
    return tuple(out)


#: |log hp*| beyond this (e^690 ≈ 10^300) is refused: exp overflows near 709.8, and a value near
#: 0 would divide by zero where laws are compared.
_LOG_RANGE = 690.0


def evaluate(law: Law, values: Mapping[str, float]) -> LawPlan:
    """hp* = coefficient · Π axis^exponent for lr and batch size, each axis fed the quantity the
    law's ``provenance.quantities`` names. DeepSeek's C^a is stored as M^a·D^a: with a compute
    budget given, M is replaced by C/D so that the product is the given C."""
    provenance = law.provenance or {}
    feeds = provenance.get("quantities") or {}
    inputs = dict(values)
    if "flops_per_token" in feeds.values():
        inputs["flops_per_token"] = values["compute"] / values["tokens"]
    results: dict[str, float | None] = {}
    for hp in PLANNED:
        term = law.terms.get(hp)
        if term is None or term.coefficient is None:
            results[hp] = None
            continue
        log_value = math.log(term.coefficient)
        for axis, exponent in term.exponents.items():
            quantity = feeds.get(axis)
            if quantity not in inputs:
                raise InputError(f"{law.path}: provenance.quantities.{axis}: {quantity!r}: must be one of "
                                 f"{', '.join(QUANTITIES)} (the quantity this axis stands for)")
            log_value += exponent * math.log(inputs[quantity])
        if not abs(log_value) < _LOG_RANGE:  # e^±690 ≈ 10^±300: no lr or batch is that far out
            raise InputError(f"{law.path}: laws.{hp}: the law gives {hp} = e^{log_value:.4g} at this request, "
                             "beyond floating-point range: its coefficient and exponents describe no real optimum")
        results[hp] = math.exp(log_value)
    return LawPlan(law.name, results["lr"], results["batch_size"], outside_range(law, values), law)


def spread(plans: Sequence[LawPlan], hp: str) -> float | None:
    """max/min of one hyperparameter over the laws that give it (None with fewer than two)."""
    values = [getattr(p, "lr" if hp == "lr" else "batch_tokens") for p in plans]
    values = [v for v in values if v is not None]
    return max(values) / min(values) if len(values) > 1 else None


def disagreement(ours: float | None, law_value: float | None) -> float | None:
    """How many times apart two values are (≥ 1), or None when either is missing."""
    if ours is None or law_value is None:
        return None
    return max(ours / law_value, law_value / ours)


#: A proxy value and a law's own optimum more than this many times apart are flagged.
DISAGREE = 2.0


def law_at_scale(law: Law, scale: Scale, params: float | None, unit: str) -> tuple[dict[str, float], tuple[Outside, ...]]:
    """A law's own optimum per hyperparameter at one run's scale, and where that scale lies outside
    the law's fitted range.

    A shipped law (``provenance.quantities``) is evaluated in its variables (``quantities``, with
    N = ``params`` and D = the dataset size; M is then 6·N, the sequence length being unknown) and
    only for a run counted in tokens. A fitted law is evaluated on the run's own axes
    (``Scale`` fields, the table's units), its range being ``axes_range``.
    """
    if (law.provenance or {}).get("quantities"):
        if unit != "tokens" or params is None:
            return {}, ()
        values = quantities(Request(tokens=scale.dataset_size, seq_len=1.0, params=params))
        plan = evaluate(law, values)
        found = {"lr": plan.lr, "batch_size": plan.batch_tokens}
        return {hp: v for hp, v in found.items() if v is not None}, plan.outside
    optimum: dict[str, float] = {}
    outside: list[Outside] = []
    axes = {"width": scale.width, "depth": scale.depth, "batch_size": scale.batch_size,
            "dataset_size": scale.dataset_size, "params": params}
    for hp, term in law.terms.items():
        if term.coefficient is not None and all(axes.get(a) for a in term.exponents):
            optimum[hp] = term.coefficient * math.prod(axes[a] ** e for a, e in term.exponents.items())  # type: ignore[operator]
        for axis, (lo, hi) in term.axes_range.items():
            value = axes.get(axis)
            if value and lo > 0 and hi > 0 and not lo <= value <= hi and axis not in {o.quantity for o in outside}:
                outside.append(Outside(axis, value, (lo, hi), max(value / hi, lo / value)))
    return optimum, tuple(outside)


def proxy_warnings(law: Law, scale: Scale, params: float | None, unit: str,
                   proxy_lr: float | None) -> list[str]:
    """One warning when the proxy's lr (of the law's group) and the law's own optimum at the
    proxy's scale are more than ``DISAGREE`` times apart: the law's exponents then move a value
    the law itself would not have chosen (issue 17, item 5)."""
    optimum = law_at_scale(law, scale, params, unit)[0].get("lr")
    ratio = disagreement(proxy_lr, optimum)
    if ratio is None or ratio <= DISAGREE:
        return []
    return [f"{mention('law', law.name)}: the proxy's {law.group} lr {proxy_lr:.3g} is ×{ratio:.3g} away from the law's own "
            f"optimum {optimum:.3g} at the proxy's scale (more than ×{DISAGREE:g}); the law's exponents assume a "
            "proxy tuned where the law is (a µP proxy's lr is not a standard-parametrization lr)"]


#: A fitted law's axis → (the shipped-law quantities it corresponds to, the exponent's factor):
#: P = 12·L·W² makes P ∝ W² at fixed depth and P ∝ L at fixed width (hpscale's parameter count),
#: and DeepSeek's M is taken ∝ P (its attention term 12·L·W·l_seq left out). A batch-size axis has
#: no counterpart: the shipped laws give the optimum at the optimal batch.
FIT_AXES: dict[str, tuple[tuple[str, ...], float]] = {
    "params": (("non_embedding_params", "flops_per_token"), 1.0),
    "width": (("non_embedding_params", "flops_per_token"), 2.0),
    "depth": (("non_embedding_params", "flops_per_token"), 1.0),
    "dataset_size": (("tokens",), 1.0),
}


def shipped_exponent(law: Law, hp: str, axis: str) -> tuple[float, tuple[float, float]] | None:
    """The exponent (and interval) a shipped law implies for ``hp`` along a fitted law's ``axis``
    (``FIT_AXES``): 0 where the law covers ``hp`` but not that quantity (it says hp* does not move),
    None where the law has no ``hp`` or the axis has no counterpart."""
    term = law.terms.get(hp)
    feeds = (law.provenance or {}).get("quantities") or {}
    if term is None or axis not in FIT_AXES or not feeds:
        return None
    wanted, factor = FIT_AXES[axis]
    for law_axis, exponent in term.exponents.items():
        if feeds.get(law_axis) in wanted:
            lo, hi = term.exponent_ci.get(law_axis, (exponent, exponent))
            return factor * exponent, (factor * lo, factor * hi)
    return 0.0, (0.0, 0.0)
