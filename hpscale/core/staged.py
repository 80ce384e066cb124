"""A staged target for ``check``: the document ``hpscale ramp --format json|yaml`` writes.

Pure: no I/O, no printing. A ramp document (``ramp.RampResult.to_json_dict``) holds one set of
hyperparameters per batch stage. ``check`` verifies it stage by stage: each stage becomes a
target config in hpscale's own schema (``stage_configs``) that states exactly what the stage
states — every group's lr, weight decay and ε, the betas, ε, the model-EMA decay and the warmup —
at the ramp's target width, depth, data and the stage's batch; ``compare`` checks it like any
target; ``merge_stage_reports`` joins the stage reports into one, each field named
``stages[i].…`` (i from 0, as every path hpscale prints indexes lists; warnings say
"stage i + 1", as the ramp's own table and warnings number stages).

Why through a config and not a second comparison: a stage is, by the ramp's contract, exactly
``transfer --batch-size B_stage``'s values, so the one ``compare`` that checks targets checks
it, with the same tolerances (β and ρ on 1 − value, warmup within half a step) and the same
``--ignore`` patterns (matched against the unprefixed field, so ``optimizer.betas`` leaves out
the betas of every stage).

Decisions: the document's ``reference_batch_size`` must be the proxy's batch (else a ramp made
from another proxy would be judged against this one); it is one more comparison. The stage
starts and ends are the user's plan and are not judged, beyond the structure the ramp itself
requires: ``schema_version`` 1 (an integer, never a bool), a non-empty list of at most
``ramp.MAX_STAGES`` mappings whose starts are finite, the first 0 and then strictly increasing.
Keys a stage does not need are ignored (contracts grow additively), so a misspelled key is not
reported; every value a stage states under the ramp's own keys is checked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InputError
from .check import CheckReport, Comparison
from .ramp import MAX_STAGES, RAMP_SCHEMA_VERSION
from .rules import GROUPS

#: The keys that mark a mapping as a ramp document (``is_staged``).
MARKERS = ("stages", "reference_batch_size")
#: What a stage states, as the target-config paths ``compare`` checks.
_GROUP_KEYS = ("lr", "weight_decay", "eps")


def is_staged(data: Any) -> bool:
    """Is the parsed document a ramp's (a mapping with ``stages`` or ``reference_batch_size``,
    keys no run config has: a ramp missing one is reported as a ramp, not as a config)?"""
    return isinstance(data, Mapping) and any(key in data for key in MARKERS)


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InputError(f"{where}: {type(value).__name__}: expected a mapping as hpscale ramp writes it")
    return value


def _number(value: Any, where: str, *, allow_none: bool = False) -> float | None:
    """A finite number (bools refused: YAML's ``true`` is never a number)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where}: {value!r}: expected a number")
    number = float(value) if not isinstance(value, int) or abs(value) < 10**400 else math.inf
    if not math.isfinite(number):
        raise InputError(f"{where}: {value!r}: expected a finite number")
    return number


def stage_configs(doc: Mapping[str, Any], proxy: Any) -> list[tuple[dict[str, Any], frozenset[str]]]:
    """Per stage: (a target config mapping in hpscale's schema, the dotted paths it states).

    The config takes the ramp's ``target`` width, depth, parameter count, residual multiplier
    (stated where a depth change gives one) and dataset size per epoch, the stage's batch, and the proxy's unit, epochs, parametrization, weight-decay
    convention and Muon settings; it states each group's lr, weight decay and ε, the betas, ε,
    the model-EMA decay and the warmup where the stage gives them. ``optimizer.lr`` and
    ``optimizer.weight_decay`` (and ``muon.lr``/``muon.weight_decay``), which the schema
    requires, keep the proxy's values and are not among the stated paths (the groups state
    them). Structure errors raise ``InputError`` naming ``stages[i].key``.

    Args:
        doc: the parsed ramp document.
        proxy: the proxy's validated ``RunConfig``.
    """
    version = doc.get("schema_version")
    if type(version) is not int or version != RAMP_SCHEMA_VERSION:  # a bool is never a number
        found = str(version).lower() if isinstance(version, bool) else repr(version)  # YAML's spelling
        raise InputError(f"schema_version: {found[:40]}: this hpscale reads ramp documents of version "
                         f"{RAMP_SCHEMA_VERSION}; write it again with hpscale ramp")
    stages = doc.get("stages")
    if not isinstance(stages, Sequence) or isinstance(stages, str | bytes) or not 1 <= len(stages) <= MAX_STAGES:
        raise InputError(f"stages: expected a list of 1 to {MAX_STAGES} stages as hpscale ramp writes it")
    _check_starts(stages)
    target = _mapping(doc.get("target"), "target")
    model: dict[str, Any] = {"width": target.get("width")}
    for key in ("depth", "params"):
        if target.get(key) is not None:
            model[key] = target[key]
    if target.get("residual_multiplier") is not None:  # a depth change moves it (stated, so compared)
        model["residual_multiplier"] = target["residual_multiplier"]
    if proxy.model.parametrization is not None:
        model["parametrization"] = proxy.model.parametrization
    out = []
    for index, raw in enumerate(stages):
        where = f"stages[{index}]"
        stage = _mapping(raw, where)
        groups = _mapping(stage.get("param_groups"), f"{where}.param_groups")
        unknown = sorted(set(groups) - set(GROUPS), key=str)
        if unknown:
            raise InputError(f"{where}.param_groups: {unknown[0]!r}: allowed: {', '.join(GROUPS)}")
        param_groups = {}
        for group, values in groups.items():
            values = _mapping(values, f"{where}.param_groups.{group}")
            param_groups[group] = {key: values[key] for key in _GROUP_KEYS if key in values}
        optimizer: dict[str, Any] = {  # lr and λ: placeholders the schema requires, never stated
            "lr": proxy.optimizer.lr,
            "weight_decay": proxy.optimizer.weight_decay,
            "weight_decay_convention": proxy.optimizer.weight_decay_convention,
        }
        stated = {f"param_groups.{g}.{k}" for g, values in param_groups.items() for k in values}
        if "residual_multiplier" in model:
            stated.add("model.residual_multiplier")
        stated |= {f"param_groups.{g}" for g in param_groups} | {"param_groups"}
        for key, path in (("betas", "optimizer.betas"), ("eps", "optimizer.eps"),
                          ("warmup_steps", "optimizer.warmup_steps")):
            if stage.get(key) is not None:
                optimizer[key] = stage[key]
                stated.add(path)
        config: dict[str, Any] = {
            "model": model,
            "data": {"dataset_size": target.get("dataset_size"), "batch_size": stage.get("batch_size"),
                     "unit": proxy.data.unit, "epochs": proxy.data.epochs},
            "optimizer": optimizer,
            "param_groups": param_groups,
        }
        if stage.get("ema_decay") is not None:
            config["ema_decay"] = stage["ema_decay"]
            stated.add("ema_decay")
        if proxy.muon is not None:  # the hidden group's values are Muon's (param_groups.hidden)
            config["muon"] = proxy.muon.model_dump()
        out.append((config, frozenset(stated)))
    return out


def _check_starts(stages: Sequence[Any]) -> None:
    """The ramp's structure: the first stage starts at 0, the starts increase strictly."""
    before = None
    for index, stage in enumerate(stages):
        start = _number(_mapping(stage, f"stages[{index}]").get("start"), f"stages[{index}].start")
        assert start is not None
        if index == 0 and start != 0:
            raise InputError(f"stages[0].start: {start:g}: the first stage starts at 0")
        if before is not None and not start > before:
            raise InputError(f"stages[{index}].start: {start:g} after {before:g}: the stage starts "
                             "must increase strictly")
        before = start


def reference_comparison(doc: Mapping[str, Any], proxy_batch: float, rtol: float) -> Comparison:
    """The document's ``reference_batch_size`` against the proxy's batch (every stage's κ is
    B_stage over it, so a ramp made from another proxy differs here first)."""
    found = _number(doc.get("reference_batch_size"), "reference_batch_size")
    assert found is not None
    rel = abs(found - proxy_batch) / proxy_batch
    ok = rel <= rtol
    return Comparison("reference_batch_size", "reference_batch_size", proxy_batch, found, rel, (),
                      "ok" if ok else "mismatch",
                      "" if ok else "the ramp was made from a proxy with another batch; every stage's κ differs")


def merge_stage_reports(reports: Sequence[CheckReport], reference: Comparison, rtol: float) -> CheckReport:
    """One report for the staged target: every stage's comparisons with ``stages[i].`` before
    the field, the reference batch first, warnings once each (the ramp's rule: one that every
    stage gives shows once, the others name their stage)."""
    comparisons: list[Comparison] = [reference]
    ignored: list[str] = []
    everywhere = set.intersection(*(set(r.warnings) for r in reports)) if reports else set()
    warnings: dict[str, None] = {}
    for index, report in enumerate(reports):
        prefix = f"stages[{index}]."
        comparisons += [replace_field(c, prefix) for c in report.comparisons]
        ignored += [prefix + field for field in report.ignored]
        for line in report.warnings:
            warnings[line if line in everywhere else f"stage {index + 1}: {line}"] = None
    return CheckReport(tuple(comparisons), tuple(warnings), rtol, 1 + sum(r.checked for r in reports),
                       tuple(ignored))


#: Where the ramp document states what a stage's target config holds under another path.
_CONFIG_PATHS = {"model.": "target.", "data.dataset_size": "target.dataset_size", "data.batch_size": "batch_size",
                 "optimizer.betas": "betas", "optimizer.eps": "eps", "optimizer.warmup_steps": "warmup_steps"}


def document_path(path: str) -> str:
    """A stage config's path as the ramp document names it (``data.batch_size`` → ``batch_size``,
    ``model.width`` → ``target.width``), for error lines; other paths are the same in both."""
    for config_path, doc_path in _CONFIG_PATHS.items():
        if path.startswith(config_path):
            return doc_path + path[len(config_path):]
    return path


#: Where a stage states what the target config holds under another path.
_DOCUMENT_PATHS = {"optimizer.betas": "betas", "optimizer.eps": "eps", "optimizer.warmup_steps": "warmup_steps"}


def replace_field(comparison: Comparison, prefix: str) -> Comparison:
    """The comparison with ``prefix`` before its field, and its source as the ramp document's
    own path (``optimizer.betas[1]`` → ``stages[i].betas[1]``); the field keeps check's name."""
    source = comparison.source
    for path, key in _DOCUMENT_PATHS.items():
        if source == path or source.startswith(path + "["):
            source = key + source[len(path):]
    return comparison._replace(field=prefix + comparison.field, source=prefix + source)
