"""Does a target config match its proxy under the transfer rules? Pure comparison, no I/O.

``compare(proxy, target, choices, rtol)`` transfers the proxy to the scale the target states
(width, depth, batch size, dataset size, parameter count) and compares every hyperparameter the
target *states* with the prediction:

| field                                   | compared when                                      |
|-----------------------------------------|----------------------------------------------------|
| ``param_groups.<g>.lr``                 | always (``optimizer.lr`` is required)              |
| ``param_groups.<g>.weight_decay``       | always, in the target's weight-decay convention    |
| ``param_groups.<g>.init_std``           | stated (override or top level) and the proxy has one |
| ``param_groups.<g>.multiplier``         | the group's override; readout also via ``model.base_width`` |
| ``param_groups.<g>.eps``                | the group's override or ``optimizer.eps`` is written |
| ``optimizer.betas[0]``, ``[1]``         | ``optimizer.betas`` is written                     |
| ``ema_decay``                           | written (a finding if the proxy has no EMA)        |
| ``model.residual_multiplier``           | written, or the depth changes (its default 1.0 then counts) |

Defaults the target does not write are not compared: a target that leaves out ``betas`` is
not blamed for pydantic's default (0.9, 0.999). The exception is the residual multiplier of a
deeper (or shallower) target: depth transfer must change it, so its default 1.0 is compared.

Fields a team sets by policy can be left out with ``ignore`` (``--ignore`` on the CLI): glob
patterns matched against a comparison's per-group field and the key the file states it under
(``optimizer.betas`` ignores both betas; ``param_groups.*.eps`` every group's ε). A pattern that
can match no field hpscale compares is refused (a typo would silently check everything).

A value matches when |found − expected| ≤ rtol·|expected|; an expected 0 (a group the
proxy trains without weight decay) needs |found| ≤ ``ZERO_TOLERANCE``. Decay rates (β1, β2, ρ) are
compared on 1 − value, the inverse of their averaging window, which is what their rules scale.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from .._version import __version__
from ..errors import InputError
from ..numbers import clean
from . import rules as R
from .compose import GroupValues, ProxyRun, read_proxy, resolve_groups, scale_of, transfer_from
from .optimizers import OPTIMIZERS
from .rules import RuleChoices
from .transfer_result import SCHEMA_VERSION, Quantity, TransferResult, law_json, rules_json

if TYPE_CHECKING:  # annotations only: building the pydantic models costs start-up time
    from ..config import RunConfig
    from .law import Law
    from .rules import Group

#: Default relative tolerance of ``hpscale check`` (1 %): far above the 12 significant digits
#: ``transfer --format yaml`` writes, far below any deliberate change of a hyperparameter.
DEFAULT_RTOL = 0.01
#: An expected value of exactly 0 matches a found value at most this large in magnitude.
ZERO_TOLERANCE = 1e-12

Status = Literal["ok", "mismatch", "unpredicted"]


class Comparison(NamedTuple):
    """One hyperparameter of the target next to the value the rules predict for it.

    ``field`` is the per-group path (``param_groups.hidden.weight_decay``); ``source`` is the
    key the target file actually states it under (``optimizer.weight_decay`` when the group has
    no override). ``rel_error`` is |found − expected| / |expected| (for β1, β2 and ρ: of
    1 − value), ``None`` when it is infinite (expected 0) or undefined (no prediction). ``rules`` are the keys of
    ``hpscale.rules.RULES`` that produce the expected value, named for findings (empty when the
    value matches).
    """

    field: str
    source: str
    expected: float | None
    found: float
    rel_error: float | None
    rules: tuple[str, ...]
    status: Status
    note: str = ""

    def to_json_dict(self) -> dict[str, Any]:
        """One finding of ``hpscale check --format json`` (schema_version 1)."""
        return {
            "field": self.field,
            "source": self.source,
            "expected": clean(self.expected),
            "found": clean(self.found),
            "rel_error": clean(self.rel_error),
            "rules": list(self.rules),
            "status": self.status,
            "note": self.note,
        }


#: Every field ``compare`` can compare (and so every name ``ignore`` patterns may match).
CHECKED_FIELDS: tuple[str, ...] = (
    *(f"param_groups.{g}.{key}" for g in R.GROUPS for key in ("lr", "weight_decay", "init_std", "multiplier", "eps")),
    "optimizer.lr", "optimizer.weight_decay", "optimizer.eps", "optimizer.betas[0]", "optimizer.betas[1]",
    "optimizer.warmup_steps", "init_std", "ema_decay", "model.base_width", "model.residual_multiplier",
    *(f"muon.{key}" for key in ("lr", "weight_decay", "momentum", "nesterov", "eps")),
)


def ignore_matcher(patterns: Collection[str]) -> Callable[[str, str], bool]:
    """A predicate ``(field, source) → ignored?`` for glob ``patterns``; a pattern also covers the
    fields under it (``optimizer.betas`` → ``optimizer.betas[0]``). Raises ``InputError`` for a
    pattern that matches none of ``CHECKED_FIELDS``."""
    import fnmatch

    def covers(pattern: str, name: str) -> bool:
        glob = pattern.replace("[", "[[]")  # "betas[0]" means the index, not a character class
        return any(fnmatch.fnmatchcase(name, glob + tail) for tail in ("", ".*", "[[]*"))

    for pattern in patterns:
        if not any(covers(pattern, name) for name in CHECKED_FIELDS):
            raise InputError.of(
                "ignore", f": {pattern!r} matches no field hpscale checks; fields look like "
                "optimizer.betas, optimizer.eps, param_groups.*.eps, ema_decay, model.residual_multiplier"
            )

    def ignored(field: str, source: str) -> bool:
        return any(covers(pattern, field) or covers(pattern, source) for pattern in patterns)

    return ignored


@dataclass(frozen=True)
class CheckReport:
    """The comparisons made for one target, and the transfer's warnings.

    ``checked`` counts every comparison made; ``comparisons`` holds them all as ``compare``
    returns them (``without_matches`` keeps only the findings, for reports of many targets).
    """

    comparisons: tuple[Comparison, ...]
    warnings: tuple[str, ...]
    rtol: float
    checked: int
    ignored: tuple[str, ...] = ()  # fields left out by ``ignore`` patterns

    def without_matches(self) -> CheckReport:
        """The same report with only its findings (what a report prints), smaller to pass on."""
        return replace(self, comparisons=self.findings)

    @property
    def findings(self) -> tuple[Comparison, ...]:
        """The comparisons that did not match."""
        return tuple(c for c in self.comparisons if c.status != "ok")

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_json_dict(self, path: str) -> dict[str, Any]:
        """The entry of target ``path`` in ``hpscale check --format json``."""
        return {
            "path": path,
            "ok": self.ok,
            "checked": self.checked,
            "findings": [c.to_json_dict() for c in self.findings],
            "ignored": list(self.ignored),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class CheckResults:
    """The reports of several targets checked against one proxy (``hpscale.check_targets``,
    ``hpscale check``), in the order given, with the choices, tolerance and law they share.

    ``to_json_dict()`` is the JSON contract of ``hpscale check --format json`` (schema_version 1,
    docs/check.md).
    """

    reports: tuple[tuple[str, CheckReport], ...]
    choices: RuleChoices
    rtol: float
    law: Law | None = None

    @property
    def ok(self) -> bool:
        return all(report.ok for _, report in self.reports)

    def to_json_dict(self) -> dict[str, Any]:
        """The ``hpscale check --format json`` object; ``law`` is the fitted law compared under,
        as in the transfer contract."""
        return {
            "schema_version": SCHEMA_VERSION,
            "hpscale_version": __version__,
            "rtol": clean(self.rtol),
            "rules": rules_json(self.choices),
            "law": law_json(self.law),
            "ok": self.ok,
            "targets": [report.to_json_dict(path) for path, report in self.reports],
        }


def tolerance(rtol: float, given: object = None) -> float:
    """``rtol`` if it is a relative tolerance in [0, 1]; else ``InputError`` naming ``rtol`` and
    the value ``given`` (default ``rtol``)."""
    if isinstance(rtol, bool) or not isinstance(rtol, int | float) or not (math.isfinite(rtol) and 0 <= rtol <= 1):
        raise InputError.of("rtol", f": {rtol if given is None else given!r}: must be a relative tolerance "
                            "in [0, 1], e.g. 0.01 for 1 %")
    return float(rtol)


def stated_fields(data: Any) -> frozenset[str]:
    """Dotted paths of every key written in a parsed config document (``optimizer.betas``).

    Validated configs fill in defaults, so what a file *states* is read from the raw mapping.
    """
    paths: set[str] = set()
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        node, prefix = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                path = f"{prefix}.{key}" if prefix else str(key)
                paths.add(path)
                stack.append((value, path))
    return frozenset(paths)


def _stated_in(target: Any, stated: Collection[str] | None, section: str, key: str) -> bool:
    """Does the target state ``section.key`` (``section`` "" for a top-level key)?"""
    if stated is not None:
        return (f"{section}.{key}" if section else key) in stated
    # A pydantic ``RunConfig`` remembers what was given; any other config counts as stating all.
    fields_set = getattr(getattr(target, section) if section else target, "model_fields_set", None)
    return True if fields_set is None else key in fields_set


def _judge(
    field: str, source: str, expected: float, found: float, quantity: Quantity | None, rtol: float,
    *extra_rules: str, decay: bool = False, whole: bool = False,
) -> Comparison:
    """``decay=True`` (β1, β2, ρ): compare 1 − value, the inverse of the averaging window.
    ``whole=True`` (step counts): a value within half a step of the prediction also matches,
    since a schedule takes the nearest whole step.

    Why: ρ = 0.999 and 0.996 differ by 0.3 % but average over 1,000 and 250 steps; the rules
    (1 − κ(1 − β), ρ^κ) move exactly that window.
    """
    exp, got = (1.0 - expected, 1.0 - found) if decay else (expected, found)
    if exp == 0:
        ok = abs(got) <= (0.5 if whole else ZERO_TOLERANCE)
        rel_error = 0.0 if ok else None
    else:
        ratio = abs(got - exp) / abs(exp)
        rel_error = ratio if math.isfinite(ratio) else None  # a subnormal expected value
        ok = rel_error is not None and (rel_error <= rtol or (whole and abs(got - exp) <= 0.5))
    if decay and not ok:
        note = "compared on 1 − value, the averaging window"
    else:
        note = f"stated as {source}" if source != field else ""
    # The rules are named for findings only: they explain a difference (and cost time to list).
    rules = () if ok else _rules(quantity, *extra_rules)
    return Comparison(field, source, expected, found, rel_error, rules, "ok" if ok else "mismatch", note)


def _source(over: Any, prefix: str, key: str, fallback: str) -> str:
    """Where the target file states a group's value: its override, else the global key."""
    return f"{prefix}.{key}" if getattr(over, key) is not None else fallback


def _rules(quantity: Quantity | None, *extra: str) -> tuple[str, ...]:
    """The rules that moved the value away from the proxy's (every rule of the quantity when
    none did, e.g. at the proxy's own scale), in the order they were applied."""
    factors = quantity.factors if quantity is not None else ()
    keys = [f.rule for f in factors if f.value != 1.0] or [f.rule for f in factors]
    return tuple(dict.fromkeys([*keys, *extra]))


def _expected_weight_decay(result: TransferResult, group: R.Group, convention: str) -> float:
    """The predicted weight decay of ``group`` written in ``convention`` (λ_ind = η·λ)."""
    g = result.groups[group]
    lr, wd = g.lr.target, g.weight_decay.target
    assert lr is not None and wd is not None  # lr and weight decay always transfer
    if result.convention == convention:
        return wd
    coupled = wd if result.convention == "coupled" else R.to_coupled(lr, wd)
    return R.to_independent(lr, coupled) if convention == "independent" else coupled


def compare(
    proxy: RunConfig,
    target: RunConfig,
    choices: RuleChoices | None = None,
    rtol: float = DEFAULT_RTOL,
    stated: Collection[str] | None = None,
    proxy_run: ProxyRun | None = None,
    ignore: Collection[str] = (),
    law: Law | None = None,
) -> CheckReport:
    """Compare every hyperparameter ``target`` states with ``proxy`` transferred to its scale.

    Args:
        proxy: the tuned proxy run.
        target: the planned run; its scale comes from its own ``model`` and ``data`` sections.
        choices: the rule variants, as for ``transfer`` (default: ``RuleChoices()``).
        rtol: relative tolerance in [0, 1] (``tolerance``).
        stated: dotted paths the target file writes (``stated_fields(raw_yaml_data)``); values
            it leaves to a default (``optimizer.betas``, ``optimizer.eps``, ``model.base_width``,
            ``model.residual_multiplier``) are compared only when stated. ``None``: a pydantic
            ``RunConfig``'s ``model_fields_set`` decides; for other config objects, everything.
        proxy_run: ``read_proxy(proxy)``, when checking many targets against one proxy.
        ignore: glob patterns of fields set by policy, left out (see the module docstring).
        law: a fitted law used instead of the rules on the axes it covers (``check --law``).

    Returns:
        A ``CheckReport`` with one ``Comparison`` per stated value.

    Raises:
        InputError: ``rtol`` out of range, proxy and target count data in different units, or
            the transfer itself refuses the scale (``RuleDomainError``, e.g. κ(1 − β) ≥ 1).
    """
    tolerance(rtol)
    if target.data.unit != proxy.data.unit:
        raise InputError(
            f"data.unit: {target.data.unit!r}: the proxy counts {proxy.data.unit!r}; batch and "
            "dataset sizes of proxy and target must use one unit"
        )
    run = proxy_run if proxy_run is not None else read_proxy(proxy)
    choices = choices or RuleChoices()
    for spec in OPTIMIZERS.values():  # a target's optimizer section may name its trainer's convention
        choices = spec.for_target(target, choices) if spec.for_target is not None else choices
    result = transfer_from(run, scale_of(target), choices, alternatives=False, law=law)
    states = functools.partial(_stated_in, target, stated)
    found = resolve_groups(target)
    out: list[Comparison] = []
    notes: list[str] = []
    for group in R.GROUPS:
        out += _compare_group(group, result, target, found[group], states, rtol, notes)
    out += _compare_run(result, proxy, target, states, rtol)
    out += _compare_globals(result, target, states, rtol)

    if ignore:
        skip = ignore_matcher(ignore)
        ignored = tuple(c.field for c in out if skip(c.field, c.source))
        out = [c for c in out if not skip(c.field, c.source)]
    else:
        ignored = ()
    return CheckReport(tuple(out), (*result.warnings, *notes), rtol, len(out), ignored)


def _compare_group(
    group: Group,
    result: TransferResult,
    target: RunConfig,
    values: GroupValues,
    states: Callable[[str, str], bool],
    rtol: float,
    notes: list[str],
) -> list[Comparison]:
    """One parameter group's lr, weight decay (in the target's convention), init std, multiplier
    and ε, each where the target states it; a stated init std no rule predicts goes to ``notes``."""
    prefix = f"param_groups.{group}"
    over = target.group_override(group)
    predicted = result.groups[group]
    source = functools.partial(_source, over, prefix)
    convention = target.optimizer.weight_decay_convention
    out: list[Comparison] = []

    lr_expected = predicted.lr.target
    assert lr_expected is not None
    out.append(_judge(f"{prefix}.lr", source("lr", "optimizer.lr"), lr_expected, values.lr,
                      predicted.lr, rtol))

    wd_extra = ("coupled-to-independent",) if convention != result.convention else ()
    out.append(_judge(f"{prefix}.weight_decay", source("weight_decay", "optimizer.weight_decay"),
                      _expected_weight_decay(result, group, convention), values.weight_decay,
                      predicted.weight_decay, rtol, *wd_extra))

    if values.init_std is not None:
        field = f"{prefix}.init_std"
        if predicted.init_std.target is None:
            # Not a finding: the proxy says nothing about this group's init, so no rule
            # predicts it (a global init_std in the target also reaches such groups).
            notes.append(f"{field}: the proxy states no init std for this group; the "
                         f"target's {values.init_std:g} is not checked")
        else:
            out.append(_judge(field, source("init_std", "init_std"), predicted.init_std.target,
                              values.init_std, predicted.init_std, rtol))

    implied = group == "readout" and states("model", "base_width")
    if over.multiplier is not None or implied:
        expected = predicted.multiplier.target
        assert expected is not None
        out.append(_judge(f"{prefix}.multiplier", source("multiplier", "model.base_width"),
                          expected, values.multiplier, predicted.multiplier, rtol))

    if over.eps is not None or states("optimizer", "eps"):
        expected = predicted.eps.target
        assert expected is not None
        out.append(_judge(f"{prefix}.eps", source("eps", "optimizer.eps"), expected, values.eps,
                          predicted.eps, rtol))
    return out


def _compare_globals(
    result: TransferResult, target: RunConfig, states: Callable[[str, str], bool], rtol: float,
) -> list[Comparison]:
    """Run-level ``optimizer.lr``, ``optimizer.weight_decay``, ``optimizer.eps`` and ``init_std``
    that no group inherits (every group states its own value) but that the file still states.

    Why: a launch script may read ``optimizer.lr`` rather than the groups, so a value nothing
    else checks could train at 5× the rate with the review green (issue 17 item 2). Such a
    value must equal one group's prediction — ``transfer`` writes the embedding group's; a
    hand-written target may repeat another group's — and is a finding otherwise. A run-level
    value some group inherits is already compared as that group's value.
    """
    out: list[Comparison] = []
    convention = target.optimizer.weight_decay_convention
    for section, key in (("optimizer", "lr"), ("optimizer", "weight_decay"), ("optimizer", "eps"), ("", "init_std")):
        if not states(section, key) or any(getattr(target.group_override(g), key) is None for g in R.GROUPS):
            continue
        found = getattr(target.optimizer, key) if section else target.init_std
        if found is None:
            continue
        field = f"{section}.{key}" if section else key
        judged: list[tuple[str, Comparison]] = []
        for name in R.GROUPS:
            predicted = result.groups[name]
            if key == "weight_decay":
                expected: float | None = _expected_weight_decay(result, name, convention)
            else:
                expected = getattr(predicted, key).target
            if expected is None:
                continue
            judged.append((name, _judge(field, field, expected, found, getattr(predicted, key), rtol)))
        if not judged:
            continue
        match = next(((g, c) for g, c in judged if c.status == "ok"), None)
        if match is not None:
            owner, comparison = match
            out.append(comparison._replace(note="" if owner == "embedding" else f"the {owner} group's value"))
        else:
            owner, comparison = judged[0]  # the embedding group's, as transfer writes it
            out.append(comparison._replace(
                note=f"no group inherits it; it matches no group's value (transfer writes the {owner} group's)"))
    return out


def _compare_added_optimizers(
    result: TransferResult, target: RunConfig, states: Callable[[str, str], bool], rtol: float,
) -> list[Comparison]:
    """Each value an added optimizer's section (``muon:``) states, against the plan's options
    for the group it trains (``TransferResult.optimizer_options``).

    Why: a launch script may read ``muon.lr`` or ``muon.momentum`` rather than
    ``param_groups.hidden``, so a stated value nothing else checks must not pass the review
    (the issue-17 reasoning for ``optimizer.lr``). Momentum is compared on 1 − μ, like β;
    ``nesterov`` is a switch: equal, or a mismatch.
    """
    out: list[Comparison] = []
    for group, options in result.optimizer_options.items():
        section = result.optimizers[group]
        stated = getattr(target, section, None)
        if stated is None:
            continue
        for key in ("lr", "weight_decay", "momentum", "nesterov", "eps"):
            if key not in options or not states(section, key):
                continue
            field, expected, found = f"{section}.{key}", options[key], getattr(stated, key)
            if isinstance(expected, bool) or isinstance(found, bool):
                ok = bool(expected) == bool(found)
                out.append(Comparison(field, field, float(expected), float(found), 0.0 if ok else None, (),
                                      "ok" if ok else "mismatch", "" if ok else "a switch: on (1) or off (0)"))
                continue
            quantity = getattr(result.groups[group], key, None) if key in ("lr", "weight_decay", "eps") else None
            out.append(_judge(field, field, float(expected), float(found), quantity, rtol,
                              decay=key == "momentum"))
    return out


def _compare_run(
    result: TransferResult,
    proxy: RunConfig,
    target: RunConfig,
    states: Callable[[str, str], bool],
    rtol: float,
) -> list[Comparison]:
    """The run-wide values: Adam β (stated), the model EMA ρ, the residual multiplier (stated, or
    implied by a depth change) and the warmup; a value the proxy cannot predict is ``unpredicted``."""
    out: list[Comparison] = _compare_added_optimizers(result, target, states, rtol)
    if states("optimizer", "betas"):
        for index, (quantity, beta) in enumerate(zip(result.betas, target.optimizer.betas, strict=True)):
            field = f"optimizer.betas[{index}]"
            assert quantity.target is not None
            out.append(_judge(field, field, quantity.target, beta, quantity, rtol, decay=True))

    if target.ema_decay is not None:
        if result.ema_decay is None or result.ema_decay.target is None:
            out.append(Comparison("ema_decay", "ema_decay", None, target.ema_decay, None,
                                  ("ema-decay",), "unpredicted", "the proxy has no ema_decay"))
        else:
            out.append(_judge("ema_decay", "ema_decay", result.ema_decay.target, target.ema_decay,
                              result.ema_decay, rtol, decay=True))

    if states("model", "residual_multiplier") or result.residual_multiplier is not None:
        residual = result.residual_multiplier
        expected = residual.target if residual is not None and residual.target is not None \
            else proxy.model.residual_multiplier
        field = "model.residual_multiplier"
        out.append(_judge(field, field, expected, target.model.residual_multiplier,
                          residual, rtol, "depth-residual"))

    if target.optimizer.warmup_steps is not None:
        field = "optimizer.warmup_steps"
        if result.warmup_steps is None or result.warmup_steps.target is None:
            out.append(Comparison(field, field, None, target.optimizer.warmup_steps, None,
                                  ("warmup-samples",), "unpredicted", "the proxy has no warmup_steps"))
        else:
            out.append(_judge(field, field, result.warmup_steps.target, target.optimizer.warmup_steps,
                              result.warmup_steps, rtol, whole=True))
    return out
