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

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import HpscaleError, InputError
from ..numbers import format_si
from .compose import ProxyRun, RuleChoices, Scale, TransferResult, read_proxy, transfer_from

if TYPE_CHECKING:
    from ..config import RunConfig

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
    config: RunConfig, targets: Sequence[Scale], choices: RuleChoices | None = None
) -> list[TransferResult]:
    """``transfer`` for every target; an error names the target it came from."""
    run, choices = read_proxy(config), choices or RuleChoices()
    return [transfer_row(run, choices, index, target) for index, target in enumerate(targets, start=1)]


def transfer_row(run: ProxyRun, choices: RuleChoices, index: int, target: Scale) -> TransferResult:
    """``transfer_from``, with target number ``index`` named in any error."""
    try:
        return transfer_from(run, target, choices)
    except HpscaleError as exc:
        raise type(exc)(f"target {index} ({describe(target)}): {exc}") from None
