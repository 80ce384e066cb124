"""Targets in review: ``check``, ``check_targets``.

Part of the one face, ``hpscale.api`` (its docstring says what every function shares).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.rules import RuleChoices
from ..errors import InputError
from ._args import _config
from .sweeps import _law

if TYPE_CHECKING:
    from ..config import RunConfig
    from ..core.check import CheckReport, CheckResults
    from ..core.law import Law


def check(
    proxy: RunConfig | str | os.PathLike[str] | Mapping[str, Any],
    target: RunConfig | str | os.PathLike[str] | Mapping[str, Any],
    *,
    rtol: float | str = 0.01,
    law: str | os.PathLike[str] | Law | None = None,
    ignore: Collection[str] = (),
    **rule_choices: Any,
) -> CheckReport:
    """Compare every hyperparameter ``target`` states with ``proxy`` transferred to its scale.

    The target's scale comes from its own ``model`` and ``data`` sections. Values the target
    leaves to a default are not compared (what a file states is read from the file itself; for
    a ``RunConfig``, from the fields it was created with). A target file may also be a trainer's
    file an exporter wrote (``transfer -f hf``, …) or a batch ramp (``ramp -f json|yaml``,
    checked stage by stage), as for ``hpscale check``.

    Args:
        proxy: the tuned proxy run; target: the planned run (``RunConfig``, path or mapping).
        rtol: relative tolerance in [0, 1], |found − expected| ≤ rtol·|expected|.
        law: a law file (or ``Law``) to compare under, as for ``transfer``.
        ignore: glob patterns of fields a team sets by policy, left out (``optimizer.betas``,
            ``param_groups.*.eps``); a pattern that matches no checked field is an error.
        **rule_choices: the fields of ``RuleChoices``, as for ``transfer``.

    Returns:
        A ``CheckReport``: ``.ok``, ``.findings`` (each a ``Comparison`` naming the field, the
        expected and found values and the rules), ``.warnings``, ``.to_json_dict(path)``.

    >>> report = check("configs/nanogpt-124m-proxy.yaml", "configs/nanogpt-124m-proxy.yaml")
    >>> report.ok, report.checked
    (True, 20)
    """
    from ..core.check import compare, stated_fields
    from ..targets import check_target

    setup = _check_setup(proxy, rtol, law, ignore, rule_choices)
    if isinstance(target, str | os.PathLike):
        return check_target(setup, Path(target))
    stated: Collection[str] | None = None
    if isinstance(target, Mapping):
        stated, target = stated_fields(target), _config(target)
    return compare(setup.config, target, setup.choices, setup.rtol, stated, setup.run, setup.ignore, setup.law)


def check_targets(
    proxy: RunConfig | str | os.PathLike[str] | Mapping[str, Any],
    targets: Sequence[str | os.PathLike[str]],
    *,
    rtol: float | str = 0.01,
    law: str | os.PathLike[str] | Law | None = None,
    ignore: Collection[str] = (),
    jobs: int = 0,
    **rule_choices: Any,
) -> CheckResults:
    """``check`` of every target file against one proxy, as ``hpscale check PROXY TARGET...``.

    The arguments are checked once, before any target is read; every target is then loaded and
    compared (``jobs`` worker processes, 0: one per CPU from 200 targets on) before anything is
    returned, so an input error in any file raises one ``InputError`` listing every problem of
    every file, each line starting with its path.

    Returns:
        A ``CheckResults``: ``.reports`` ((path, ``CheckReport``) in the order given), ``.ok``,
        ``.to_json_dict()`` (the JSON contract of ``hpscale check --format json``).

    >>> results = check_targets("configs/nanogpt-124m-proxy.yaml", ["configs/nanogpt-124m-proxy.yaml"])
    >>> results.ok, results.to_json_dict()["targets"][0]["checked"]
    (True, 20)
    """
    from ..core.check import CheckResults
    from ..parallel import ordered_map, worker_count

    if isinstance(targets, str | os.PathLike) or not isinstance(targets, Sequence):
        raise InputError.of("targets", f": {targets!r}: expected a list of target config paths")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 0:
        raise InputError.of("jobs", f": {jobs!r}: expected a whole number ≥ 0 (0 = automatic)")
    setup = _check_setup(proxy, rtol, law, ignore, rule_choices)
    paths = [Path(target) for target in targets]
    outcomes = ordered_map(_check_one, paths, worker_count(jobs, len(paths)), setup)
    problems = [line for outcome in outcomes if isinstance(outcome, str) for line in outcome.splitlines()]
    if problems:
        raise InputError("\n".join(problems))
    reports = tuple((str(path), outcome) for path, outcome in zip(paths, outcomes, strict=True))
    return CheckResults(reports, setup.choices, setup.rtol, setup.law)


def _check_one(setup: Any, path: Path) -> Any:
    """One target of ``check_targets``: its report without the matches (what a report of many
    targets shows; smaller to send back from a worker), or its input problems as text."""
    from ..targets import check_target

    try:
        return check_target(setup, path).without_matches()
    except InputError as exc:
        return str(exc)


def _check_setup(proxy: Any, rtol: Any, law: Any, ignore: Any, rule_choices: Mapping[str, Any]) -> Any:
    """The arguments every check shares, validated once (``targets.CheckSetup``)."""
    from ..core.check import ignore_matcher, tolerance
    from ..core.compose import read_proxy
    from ..numbers import parse_number
    from ..targets import CheckSetup

    value = rtol
    if isinstance(rtol, str):
        try:
            value = parse_number(rtol)
        except ValueError as exc:
            raise InputError.of("rtol", f": {rtol!r}: {exc}") from None
    tolerance(value, rtol)
    if isinstance(ignore, str) or not all(isinstance(pattern, str) for pattern in ignore):
        raise InputError.of("ignore", f": {ignore!r}: expected a list of glob patterns")
    ignore_matcher(ignore)  # a pattern that matches no checked field, before any work
    choices, law_file = RuleChoices(**rule_choices), _law(law)
    config = _config(proxy)
    return CheckSetup(config, read_proxy(config), choices, float(value), tuple(ignore), law_file)

