"""The machine-readable outputs of ``transfer``: the JSON contract and the target YAML config.

JSON contract, ``schema_version`` 1 (documented in the README; fields are only ever added,
never renamed or removed, within a schema version). Same input → byte-identical output: no
timestamps, keys in a fixed order, floats rounded to ``SIGNIFICANT_DIGITS`` significant digits,
∞ written as ``null``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import __version__
from .core.rules import GROUPS
from .output import printable

if TYPE_CHECKING:
    from .core.check import CheckReport, Comparison
    from .core.compose import Quantity, RuleChoices, Timescales, TransferResult
    from .core.law import Law
    from .core.scale import Scale
    from .core.timescale import TimescaleReport

SCHEMA_VERSION = 1
SIGNIFICANT_DIGITS = 12


_CLEAN_CACHE: dict[float, float | int | None] = {}
_CLEAN_CACHE_MAX = 65_536  # bounded; a ladder repeats the same proxy values, β, ε and factors


def clean(value: float | None) -> float | int | None:
    """Round to ``SIGNIFICANT_DIGITS`` (hides 0.0012000000000000001-style noise); whole numbers
    below 2⁵³ are written exactly; ∞/NaN → None.

    Memoised: ``hpscale ladder`` cleans ~100 values per row and most of them repeat.
    """
    if value is None:
        return None
    if value in _CLEAN_CACHE:
        return _CLEAN_CACHE[value]
    result: float | int | None
    if value != value or value in (float("inf"), float("-inf")):
        result = None
    elif float(value).is_integer() and abs(value) < 2**53:
        result = int(value)  # a count (batch size, tokens) is written exactly, all its digits
    else:
        rounded = float(f"{value:.{SIGNIFICANT_DIGITS}g}")
        result = int(rounded) if rounded.is_integer() and abs(rounded) < 2**53 else rounded
    if len(_CLEAN_CACHE) < _CLEAN_CACHE_MAX:
        _CLEAN_CACHE[value] = result
    return result


def exact(value: float | None) -> float | int | None:
    """A size (batch, dataset, parameter count) as it is: no rounding — a target written with
    12 digits could hold fewer tokens per epoch than per step — and whole numbers as ints."""
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else value


def clean_fraction(value: float | None) -> float | int | None:
    """``clean`` for decay rates in [0, 1) (β, ρ), which rules scale through 1 − value: keep
    ``SIGNIFICANT_DIGITS`` digits of the smaller of value and 1 − value. So ρ = 0.99999999999666…
    is written as such, not rounded to 0.999999999997 (a 10 % error in its averaging window) or
    to 1, and ρ^κ = 0.5^64 ≈ 5.4e-20 stays positive instead of becoming 1 − (1 − ρ) = 0."""
    if value is None or not 0.5 <= value < 1:
        return clean(value)
    return 1.0 - float(f"{1.0 - value:.{SIGNIFICANT_DIGITS}g}")


def whole_steps(quantity: Quantity | None) -> int | None:
    """A step count as a schedule takes it: the nearest whole step (None without one)."""
    return None if quantity is None or quantity.target is None else round(quantity.target)


def _scale(scale: Scale, steps_per_epoch: float, epochs: float) -> dict[str, Any]:
    return {
        "width": scale.width,
        "batch_size": exact(scale.batch_size),
        "dataset_size": exact(scale.dataset_size),
        "depth": scale.depth,
        "params": exact(scale.params),
        "steps_per_epoch": clean(steps_per_epoch),
        "total_steps": clean(steps_per_epoch * epochs),
    }


def _timescales(scales: Timescales) -> dict[str, Any]:
    return {
        "tau_iter": clean(scales.tau_iter),
        "tau_epoch": clean(scales.tau_epoch),
        "tau_run_fraction": clean(scales.tau_run_fraction),
    }


def _factors(quantity: Quantity, still: frozenset[str]) -> list[dict[str, Any]]:
    return [
        {"rule": f.rule, "axis": f.axis, "symbol": f.symbol, "value": clean(f.value)}
        for f in quantity.factors
        if f.axis not in still
    ]


def _unchanged_axes(result: TransferResult) -> frozenset[str]:
    """Axes whose ratio is exactly 1: their rules had nothing to move, so the derivation in the
    JSON leaves them out (the product of the listed factors is still target/proxy)."""
    r = result.ratios
    ratios = {"width": r.width, "batch": r.batch, "dataset": r.dataset, "depth": r.depth,
              "horizon": r.tokens_per_param}
    return frozenset(axis for axis, ratio in ratios.items() if ratio is None or ratio == 1)


def rules_json(choices: RuleChoices, *, depth: bool = True) -> dict[str, Any]:
    """Every field of ``RuleChoices`` by name (``depth_rule`` is null when no depth transfer ran)."""
    from dataclasses import fields

    out = {f.name: clean(getattr(choices, f.name)) if f.name == "tau_exponent" else getattr(choices, f.name)
           for f in fields(choices)}
    if not depth:
        out["depth_rule"] = None
    return out


def to_json_dict(result: TransferResult, *, derivation: bool = False) -> dict[str, Any]:
    """The schema-version-1 JSON object for one transfer; ``derivation=True`` adds ``factors``
    (what ``transfer --derivation`` prints; it is half the object, so it is opt-in)."""
    choices = result.choices
    betas = [clean_fraction(result.betas[0].target), clean_fraction(result.betas[1].target)]
    obj = {
        "schema_version": SCHEMA_VERSION,
        "hpscale_version": __version__,
        "name": result.name,
        "unit": result.unit,
        "epochs": clean(result.epochs),
        "proxy": _scale(result.proxy, result.steps_per_epoch[0], result.epochs),
        "target": _scale(result.target, result.steps_per_epoch[1], result.epochs),
        "ratios": {
            "width": clean(result.ratios.width),
            "batch": clean(result.ratios.batch),
            "dataset": clean(result.ratios.dataset),
            "depth": clean(result.ratios.depth),
            "tokens_per_param": clean(result.ratios.tokens_per_param),
        },
        "rules": rules_json(choices, depth=result.ratios.depth is not None),
        "law": law_json(result.law),
        "weight_decay_convention": result.convention,
        "param_groups": {
            group: {
                "lr": clean(g.lr.target),
                "weight_decay": clean(g.weight_decay.target),
                "init_std": clean(g.init_std.target),
                "multiplier": clean(g.multiplier.target),
                "eps": clean(g.eps.target),
            }
            for group, g in result.groups.items()
        },
        # What the optimizer takes, per param group (torch.optim.AdamW(..., lr, weight_decay,
        # betas, eps)); and what the model must apply itself (AdamW ignores these keys).
        "optimizer_groups": {
            group: {
                "lr": clean(g.lr.target),
                "weight_decay": clean(g.weight_decay.target),
                "betas": betas,
                "eps": clean(g.eps.target),
            }
            for group, g in result.groups.items()
        },
        "model_groups": {
            group: {"init_std": clean(g.init_std.target), "multiplier": clean(g.multiplier.target)}
            for group, g in result.groups.items()
        },
        "optimizer": {
            "betas": betas,
            "eps": clean(result.eps.target),
        },
        "ema_decay": clean_fraction(result.ema_decay.target) if result.ema_decay else None,
        "residual_multiplier": (
            clean(result.residual_multiplier.target) if result.residual_multiplier else None
        ),
        "warmup_steps": whole_steps(result.warmup_steps),
        "timescales": {
            group: {"proxy": _timescales(g.timescales_proxy), "target": _timescales(g.timescales_target)}
            for group, g in result.groups.items()
        },
        "weight_decay_width_alternatives": {
            alt.rule: {
                "hidden_weight_decay": clean(alt.weight_decay),
                "sigma_top_ratio": clean(alt.sigma_top_ratio),
                "tau_epoch": clean(alt.tau_epoch),
            }
            for alt in result.alternatives
        },
        "warnings": list(result.warnings),
    }
    if derivation:
        still = _unchanged_axes(result)
        obj["factors"] = {
            group: {
                "lr": _factors(g.lr, still),
                "weight_decay": _factors(g.weight_decay, still),
                "init_std": _factors(g.init_std, still),
                "multiplier": _factors(g.multiplier, still),
                "eps": _factors(g.eps, still),
            }
            for group, g in result.groups.items()
        }
    return obj


def dumps_json(obj: Any) -> str:
    """Deterministic JSON text; refuses NaN/inf instead of writing invalid JSON."""
    from .output import json_safe

    return json_safe(json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False)) + "\n"


def to_target_config(result: TransferResult) -> dict[str, Any]:
    """The target run as a config in the input schema, every group stated explicitly.

    The optimizer-level ``lr``, ``weight_decay``, ``eps`` and the top-level ``init_std`` carry
    the embedding group's values (width-independent under µP); ``param_groups`` is what counts.
    """
    groups = result.groups
    model: dict[str, Any] = {"width": result.target.width, "base_width": result.base_width}
    if result.target.depth is not None:
        model["depth"] = result.target.depth
    if result.target.params is not None:
        model["params"] = exact(result.target.params)
    if result.residual_multiplier is not None:
        model["residual_multiplier"] = clean(result.residual_multiplier.target)
    embedding = groups["embedding"]
    config: dict[str, Any] = {
        # The derived name is text for people: characters a terminal acts on are escaped.
        "name": f"{printable(result.name or 'proxy')} → width {result.target.width}",
        "model": model,
        "data": {
            "dataset_size": exact(result.target.dataset_size),
            "batch_size": exact(result.target.batch_size),
            "unit": result.unit,
            "epochs": clean(result.epochs),
        },
        "optimizer": {
            "lr": clean(embedding.lr.target),
            "weight_decay": clean(embedding.weight_decay.target),
            "weight_decay_convention": result.convention,
            "betas": [clean_fraction(result.betas[0].target), clean_fraction(result.betas[1].target)],
            "eps": clean(result.eps.target),
        },
    }
    if result.warmup_steps is not None:
        config["optimizer"]["warmup_steps"] = whole_steps(result.warmup_steps)
    if embedding.init_std.target is not None:
        config["init_std"] = clean(embedding.init_std.target)
    if result.ema_decay is not None:
        config["ema_decay"] = clean_fraction(result.ema_decay.target)
    config["param_groups"] = {
        group: {
            key: value
            for key, value in (
                ("lr", clean(groups[group].lr.target)),
                ("weight_decay", clean(groups[group].weight_decay.target)),
                ("init_std", clean(groups[group].init_std.target)),
                ("multiplier", clean(groups[group].multiplier.target)),
                ("eps", clean(groups[group].eps.target)),
            )
            if value is not None
        }
        for group in GROUPS
    }
    return config


def law_json(law: Law | None) -> dict[str, Any] | None:
    """The fitted law a transfer used (``--law``): where it came from and each applied exponent
    with its interval; ``null`` without one. Its factors carry ``rule: "law:<name>"``."""
    if law is None:
        return None
    from .core.law import GROUP_AXES

    return {
        "name": law.name,
        "path": law.path,
        "sha256": law.sha256,
        "group": law.group,
        "applied": [
            {"hp": term.hp, "axis": axis, "exponent": clean(exponent),
             "ci": [clean(term.exponent_ci[axis][0]), clean(term.exponent_ci[axis][1])],
             "groups": [law.group] if axis in GROUP_AXES else list(GROUPS)}
            for term in law.applied() for axis, exponent in term.exponents.items()
        ],
    }


def dumps_target_yaml(result: TransferResult) -> str:
    """The target config as YAML, with a header naming the rules that produced it."""
    import yaml

    from .output import json_safe

    choices = result.choices
    header = [
        # json.dumps escapes line breaks and control characters: a name cannot inject YAML.
        f"# generated by hpscale {__version__} transfer from "
        f"{json_safe(json.dumps(result.name, ensure_ascii=False)) if result.name else 'the proxy'}",
        f"# rules: wd-width={choices.wd_width_rule} readout={choices.readout_rule} "
        f"beta={choices.beta_rule} tau={choices.tau_rule} eps-width={choices.eps_width_rule}"
        + (f" depth={choices.depth_rule}" if result.ratios.depth is not None else ""),
        *([f"# law: {json_safe(json.dumps(result.law.name, ensure_ascii=False))} from "
           f"{json_safe(json.dumps(result.law.path, ensure_ascii=False))} "
           f"(sha256 {result.law.sha256[:16]}…) replaces the rules on the axes it covers"] if result.law else []),
        "# every group is explicit in param_groups; optimizer.lr/weight_decay/eps and init_std",
        "# repeat the embedding group's values",
    ]
    header += [f"# warning: {w}" for w in result.warnings]
    body = yaml.safe_dump(
        to_target_config(result), sort_keys=False, allow_unicode=True, default_flow_style=None
    )
    return "\n".join(header) + "\n" + body


# ---------------------------------------------------------------------------------------------
# hpscale check --format json
# ---------------------------------------------------------------------------------------------


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    """One finding of the JSON report (schema_version 1)."""
    return {
        "field": comparison.field,
        "source": comparison.source,
        "expected": clean(comparison.expected),
        "found": clean(comparison.found),
        "rel_error": clean(comparison.rel_error),
        "rules": list(comparison.rules),
        "status": comparison.status,
        "note": comparison.note,
    }


def report_json(
    reports: list[tuple[str, CheckReport]], choices: RuleChoices, rtol: float, law: Law | None = None
) -> dict[str, Any]:
    """The JSON report of ``hpscale check``: one entry per target, in the order given; ``law`` is
    the fitted law compared under (``check --law``), as in the transfer contract."""
    targets = [
        {
            "path": path,
            "ok": report.ok,
            "checked": report.checked,
            "findings": [comparison_json(c) for c in report.findings],
            "ignored": list(report.ignored),
            "warnings": list(report.warnings),
        }
        for path, report in reports
    ]
    return {
        "schema_version": SCHEMA_VERSION,
        "hpscale_version": __version__,
        "rtol": clean(rtol),
        "rules": rules_json(choices),
        "law": law_json(law),
        "ok": all(report.ok for _, report in reports),
        "targets": targets,
    }


# ---------------------------------------------------------------------------------------------
# hpscale timescale --format json
# ---------------------------------------------------------------------------------------------


def timescale_json(report: TimescaleReport, *, group: str | None, config: str | None, unit: str | None) -> dict[str, Any]:
    """The ``hpscale timescale --format json`` object (schema_version 1; ∞ is ``null``)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "hpscale_version": __version__,
        "solved_for": report.solved_for,
        "target": None if report.target is None else {report.target[0]: clean(report.target[1])},
        "config": config,
        "group": group,
        "unit": unit,
        "weight_decay_convention": report.convention,
        "lr": clean(report.lr),
        "weight_decay": clean(report.weight_decay),
        "weight_decay_coupled": clean(report.weight_decay_coupled),
        "batch_size": clean(report.batch_size),
        "dataset_size": clean(report.dataset_size),
        "iterations_per_epoch": clean(report.iterations_per_epoch),
        "tau_iter": clean(report.tau_iter),
        "tau_epoch": clean(report.tau_epoch),
        "epochs": clean(report.epochs),
        "total_steps": clean(report.total_steps),
        "tau_run_fraction": clean(report.tau_run_fraction),
        "warnings": list(report.warnings),
    }


# ---------------------------------------------------------------------------------------------
# hpscale ladder: JSON lines and CSV
# ---------------------------------------------------------------------------------------------

#: At most this many distinct row warnings go to stderr; the rest are counted.
MAX_STDERR_WARNINGS = 20


def ladder_row(
    shared: tuple[Any, Any, str], item: tuple[int, Scale]
) -> tuple[Any, tuple[str, ...]]:
    """Target number ``index`` as a JSON line (``fmt == "json"``) or a CSV row (``"csv"``), and
    its warnings; ``shared = (run, choices, fmt)``, ``item = (index, target)`` (the form
    ``hpscale.parallel.ordered_map`` calls). Raises the transfer's error with the target named,
    as ``run_ladder`` does.
    """
    from .core.ladder import transfer_row

    run, choices, fmt = shared
    result = transfer_row(run, choices, *item)
    obj = to_json_dict(result)
    return (json_line(obj) if fmt == "json" else csv_row(obj)), result.warnings


class WarningTally:
    """Each distinct row warning once, with how many targets it concerns; at most
    ``MAX_STDERR_WARNINGS`` distinct lines are kept, the rest only counted (memory stays bounded
    however long the ladder)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.rows = 0
        self.other: set[int] = set()  # hashes of the distinct warnings beyond the cap

    def add(self, warnings: Sequence[str]) -> None:
        self.rows += 1
        for line in warnings:
            if line in self.counts:
                self.counts[line] += 1
            elif len(self.counts) < MAX_STDERR_WARNINGS:
                self.counts[line] = 1
            elif len(self.other) < 1_000_000:
                self.other.add(hash(line))

    def lines(self) -> list[str]:
        total = self.rows
        out = [line if total == 1 else f"{line} ({'every target' if n == total else f'{n} of {total} targets'})"
               for line, n in self.counts.items()]
        if self.other:
            out.append(f"… and {len(self.other)} more distinct warnings; each target's are in its JSON "
                       "\"warnings\" / CSV column")
        return out


def stderr_warnings(rows: Sequence[Sequence[str]]) -> list[str]:
    """``WarningTally`` over ``rows``, the warnings of each target."""
    tally = WarningTally()
    for warnings in rows:
        tally.add(warnings)
    return tally.lines()


def json_line(obj: dict[str, Any]) -> str:
    """One compact JSON object, no spaces (deterministic; NaN/∞ refused)."""
    from .output import json_safe

    return json_safe(json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":")))


def join_json_lines(lines: Sequence[str]) -> str:
    """A JSON list with one object per line."""
    if not lines:
        return "[]\n"
    body = ",\n".join(lines)
    return f"[\n{body}\n]\n"


def dumps_json_list(objects: Sequence[dict[str, Any]]) -> str:
    """A JSON list, one compact object per line."""
    return join_json_lines([json_line(obj) for obj in objects])


_SCALE_COLUMNS = ("width", "depth", "batch_size", "dataset_size", "params", "steps_per_epoch", "total_steps")
_RATIO_COLUMNS = ("width", "batch", "dataset", "depth", "tokens_per_param")
_GROUP_COLUMNS = ("lr", "weight_decay", "init_std", "multiplier", "eps")


def csv_header() -> list[str]:
    header = list(_SCALE_COLUMNS) + [f"ratio.{name}" for name in _RATIO_COLUMNS]
    for group in GROUPS:
        header += [f"{group}.{name}" for name in _GROUP_COLUMNS]
        header += [f"{group}.tau_epoch", f"{group}.tau_run_fraction"]
    return header + ["beta1", "beta2", "eps", "ema_decay", "residual_multiplier", "warmup_steps", "warnings"]


def csv_row(contract: dict[str, Any]) -> list[Any]:
    """One flat CSV row taken from a ``contract.to_json_dict`` object (so CSV = JSON values)."""
    target, ratios = contract["target"], contract["ratios"]
    row: list[Any] = [target[name] for name in _SCALE_COLUMNS] + [ratios[name] for name in _RATIO_COLUMNS]
    for group in GROUPS:
        values = contract["param_groups"][group]
        scales = contract["timescales"][group]["target"]
        row += [values[name] for name in _GROUP_COLUMNS] + [scales["tau_epoch"], scales["tau_run_fraction"]]
    betas = contract["optimizer"]["betas"]
    row += [betas[0], betas[1], contract["optimizer"]["eps"], contract["ema_decay"],
            contract["residual_multiplier"], contract["warmup_steps"], "; ".join(contract["warnings"])]
    return ["" if value is None else value for value in row]


def dumps_csv_rows(rows: Sequence[list[Any]]) -> str:
    """The CSV text: the header, then one line per row of ``csv_row``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(csv_header())
    writer.writerows(rows)
    return buffer.getvalue()


def dumps_csv(objects: Sequence[dict[str, Any]]) -> str:
    return dumps_csv_rows([csv_row(obj) for obj in objects])
