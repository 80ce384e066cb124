"""Scaling ladders: many targets planned from one proxy. Pure: no I/O, no printing.

A ladder is a list of target ``Scale`` s (zipped option lists, or their Cartesian product);
each target goes through the one ``hpscale.transfer.transfer`` every other command uses, so a
ladder row is byte-for-byte the ``transfer --format json`` contract of that target.

Why no numpy here: ``transfer`` plus ``TransferResult.to_json_dict`` cost ≈ 0.4 ms per target, about
the cost of importing numpy (≈ 60 ms) per 150 targets; a vectorised copy of ``transfer`` would
duplicate every rule and its warnings for a saving that only matters beyond ~10⁴ targets. The
JSON list is written one compact object per line, which lets ``json`` use its C encoder
(indent=2 on 1,000 targets costs ≈ 0.6 s in the pure-Python encoder, compact ≈ 0.1 s).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import HpscaleError, InputError, mention
from ..numbers import format_si
from .compose import ProxyRun, read_proxy, transfer_from
from .rules import RuleChoices
from .scale import Scale
from .transfer_result import TransferResult

if TYPE_CHECKING:
    from ..config import RunConfig

#: Ladders longer than this are refused before anything is built (``max_rows`` raises it):
#: a plan for people is a few dozen rows, a scripted sweep a few thousand.
MAX_ROWS = 10_000


@dataclass(frozen=True)
class Ladder:
    """The targets of a ladder: a list of values per axis (``None``: the proxy's value), zipped
    (a single value broadcasts; other lists need equal lengths) or crossed (``product``, widths
    varying slowest)."""

    widths: Sequence[float] | None = None
    batch_sizes: Sequence[float] | None = None
    dataset_sizes: Sequence[float] | None = None
    depths: Sequence[float] | None = None
    product: bool = False

    def _axes(self, proxy: Scale) -> dict[str, tuple[float | None, ...]]:
        return {
            "widths": tuple(self.widths) if self.widths else (proxy.width,),
            "batch_sizes": tuple(self.batch_sizes) if self.batch_sizes else (proxy.batch_size,),
            "dataset_sizes": tuple(self.dataset_sizes) if self.dataset_sizes else (proxy.dataset_size,),
            "depths": tuple(self.depths) if self.depths else (None,),
        }

    def size(self, proxy: Scale) -> int:
        """How many targets (without building them); ``InputError`` names a zipped list whose
        length differs."""
        named = self._axes(proxy)
        if self.product:
            return math.prod(len(values) for values in named.values())
        lengths = {name: len(values) for name, values in named.items() if len(values) > 1}
        if len(set(lengths.values())) > 1:
            (first, n_first), *others = lengths.items()
            name, n = next((o, k) for o, k in others if k != n_first)
            raise InputError.of(
                name, f": {n} values but {mention(first)} has {n_first}; zipped lists need equal lengths "
                f"(a single value broadcasts), or use {mention('product')} for every combination"
            )
        return max(lengths.values(), default=1)

    def scales(self, proxy: Scale) -> Iterator[Scale]:
        """The targets one at a time: a long ``product`` is never held in memory."""
        size, named = self.size(proxy), self._axes(proxy)
        rows: Iterable[tuple[float | None, ...]] = itertools.product(*named.values()) if self.product else \
            zip(*(values * size if len(values) == 1 else values for values in named.values()), strict=True)
        for w, b, n, d in rows:
            assert w is not None and b is not None and n is not None
            yield Scale(width=int(w), batch_size=float(b), dataset_size=float(n), depth=None if d is None else int(d))


@dataclass(frozen=True)
class LadderTargets:
    """The validated targets of a ladder from one proxy (``hpscale.ladder_targets``): ``len()``
    of them, made one at a time when iterated (a long product is never held in memory)."""

    config: RunConfig
    ladder: Ladder
    proxy: Scale
    size: int

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[Scale]:
        return self.ladder.scales(self.proxy)


def ladder_scales(proxy: Scale, **lists: Any) -> list[Scale]:
    """The targets of ``Ladder(**lists)`` as a list."""
    return list(Ladder(**lists).scales(proxy))


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
