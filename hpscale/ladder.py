"""Scaling ladders: many targets planned from one proxy. Pure: no I/O, no printing.

A ladder is a list of target ``Scale`` s (zipped option lists, or their Cartesian product);
each target goes through the one ``hpscale.transfer.transfer`` every other command uses, so a
ladder row is byte-for-byte the ``transfer --format json`` contract of that target.

Why no numpy here: ``transfer`` plus ``contract.to_json_dict`` cost ≈ 0.4 ms per target, about
the cost of importing numpy (≈ 60 ms) per 150 targets; a vectorised copy of ``transfer`` would
duplicate every rule and its warnings for a saving that only matters beyond ~10⁴ targets. The
JSON list is written one compact object per line, which lets ``json`` use its C encoder
(indent=2 on 1,000 targets costs ≈ 0.6 s in the pure-Python encoder, compact ≈ 0.1 s).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .contract import to_json_dict
from .errors import HpscaleError, InputError
from .numbers import format_si, parse_positive
from .rules import GROUPS
from .transfer import ProxyRun, RuleChoices, Scale, TransferResult, read_proxy, transfer_from

if TYPE_CHECKING:  # a pydantic RunConfig or the CLI's lighter ConfigView: same read API
    from .transfer import AnyConfig

#: At most this many distinct row warnings go to stderr; the rest are counted.
MAX_STDERR_WARNINGS = 20


def parse_list(option: str, text: str | None, *, whole: bool = False) -> tuple[float, ...] | None:
    """``"512,1024,2K"`` → (512.0, 1024.0, 2000.0); SI suffixes allowed, ``_`` as thousands
    separator (a comma separates items). ``None`` stays ``None`` (the proxy's value)."""
    if text is None:
        return None
    values: list[float] = []
    for index, item in enumerate(text.split(",")):
        item = item.strip()
        if not item:
            raise InputError(f"{option}: {text!r}: item {index + 1} is empty; expected a comma list such as 512,1024")
        try:
            values.append(parse_positive(item, whole=whole))
        except ValueError as exc:
            raise InputError(f"{option}: {item!r}: {exc}") from None
    return tuple(values)


def ladder_scales(
    proxy: Scale,
    *,
    widths: Sequence[float] | None = None,
    batch_sizes: Sequence[float] | None = None,
    dataset_sizes: Sequence[float] | None = None,
    depths: Sequence[float] | None = None,
    product: bool = False,
) -> list[Scale]:
    """The ladder's targets. A list left out is the proxy's value; a list of one value
    broadcasts; zipped lists (the default) must otherwise have equal lengths. ``product``
    takes the Cartesian product instead (widths vary slowest)."""
    named = {
        "--widths": tuple(widths) if widths else (proxy.width,),
        "--batch-sizes": tuple(batch_sizes) if batch_sizes else (proxy.batch_size,),
        "--dataset-sizes": tuple(dataset_sizes) if dataset_sizes else (proxy.dataset_size,),
        "--depths": tuple(depths) if depths else (None,),
    }
    if product:
        rows = list(itertools.product(*named.values()))
    else:
        lengths = {option: len(values) for option, values in named.items() if len(values) > 1}
        if len(set(lengths.values())) > 1:
            (first, n_first), *others = lengths.items()
            option, n = next((o, k) for o, k in others if k != n_first)
            raise InputError(
                f"{option}: {n} values but {first} has {n_first}; zipped lists need equal lengths "
                "(a single value broadcasts), or use --product for every combination"
            )
        size = max(lengths.values(), default=1)
        columns = [values * size if len(values) == 1 else values for values in named.values()]
        rows = list(zip(*columns, strict=True))
    return [
        Scale(width=int(w), batch_size=float(b), dataset_size=float(n),  # type: ignore[arg-type]
              depth=None if d is None else int(d))
        for w, b, n, d in rows
    ]


def describe(scale: Scale) -> str:
    depth = f", L={scale.depth}" if scale.depth is not None else ""
    return f"W={scale.width}{depth}, B={format_si(scale.batch_size)}, N={format_si(scale.dataset_size)}"


def run_ladder(
    config: AnyConfig, targets: Sequence[Scale], choices: RuleChoices | None = None
) -> list[TransferResult]:
    """``transfer`` for every target; an error names the target it came from."""
    run, choices = read_proxy(config), choices or RuleChoices()
    return [_transfer_row(run, choices, index, target) for index, target in enumerate(targets, start=1)]


def _transfer_row(run: ProxyRun, choices: RuleChoices, index: int, target: Scale) -> TransferResult:
    """``transfer_from``, with target number ``index`` named in any error."""
    try:
        return transfer_from(run, target, choices)
    except HpscaleError as exc:
        raise type(exc)(f"target {index} ({describe(target)}): {exc}") from None


def ladder_row(
    shared: tuple[ProxyRun, RuleChoices, str], item: tuple[int, Scale]
) -> tuple[Any, tuple[str, ...]]:
    """Target number ``index`` as a JSON line (``fmt == "json"``) or a CSV row (``"csv"``), and
    its warnings; ``shared = (run, choices, fmt)``, ``item = (index, target)`` (the form
    ``hpscale.parallel.ordered_map`` calls). Raises the transfer's error with the target named,
    as ``run_ladder`` does.
    """
    run, choices, fmt = shared
    result = _transfer_row(run, choices, *item)
    obj = to_json_dict(result)
    return (json_line(obj) if fmt == "json" else csv_row(obj)), result.warnings


def stderr_warnings(rows: Sequence[Sequence[str]]) -> list[str]:
    """Each distinct row warning once, with how many targets it concerns; capped.

    ``rows``: the warnings of each target (``[r.warnings for r in results]``).
    """
    counts: dict[str, int] = {}
    for warnings in rows:
        for line in warnings:
            counts[line] = counts.get(line, 0) + 1
    total = len(rows)
    lines = [
        line if total == 1 else f"{line} ({'every target' if n == total else f'{n} of {total} targets'})"
        for line, n in counts.items()
    ]
    if len(lines) > MAX_STDERR_WARNINGS:
        rest = len(lines) - MAX_STDERR_WARNINGS
        lines = lines[:MAX_STDERR_WARNINGS] + [
            f"… and {rest} more distinct warnings; each target's are in its JSON \"warnings\" / CSV column"
        ]
    return lines


def json_line(obj: dict[str, Any]) -> str:
    """One compact JSON object, no spaces (deterministic; NaN/∞ refused)."""
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


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
