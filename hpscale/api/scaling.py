"""One proxy to larger scales: ``target_scale``, ``transfer``, ``ladder_targets``, ``ladder``.

Part of the one face, ``hpscale.api`` (its docstring says what every function shares).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..core.compose import scale_of, transfer_to
from ..core.rules import RuleChoices
from ..core.scale import Scale
from ..core.transfer_result import TransferResult
from ..errors import InputError, mention
from ._args import SizeList, _config, _max_rows, _size, _size_list
from .sweeps import _law

if TYPE_CHECKING:
    from ..config import RunConfig
    from ..core.ladder import LadderTargets
    from ..core.law import Law


def target_scale(
    config: RunConfig,
    *,
    width: float | str | None = None,
    batch_size: float | str | None = None,
    dataset_size: float | str | None = None,
    depth: float | str | None = None,
    params: float | str | None = None,
) -> Scale:
    """The target ``Scale``: each size given, else the proxy's (depth: ``None`` keeps it)."""
    proxy = scale_of(config)
    new_width = _size("width", width, whole=True)
    new_depth = _size("depth", depth, whole=True)
    return Scale(
        width=int(new_width) if new_width is not None else proxy.width,
        batch_size=_size("batch_size", batch_size) or proxy.batch_size,
        dataset_size=_size("dataset_size", dataset_size) or proxy.dataset_size,
        depth=int(new_depth) if new_depth is not None else None,
        params=_size("params", params),
    )


def transfer(
    config: RunConfig | str | os.PathLike[str] | Mapping[str, Any],
    *,
    width: float | str | None = None,
    batch_size: float | str | None = None,
    dataset_size: float | str | None = None,
    depth: float | str | None = None,
    params: float | str | None = None,
    law: str | os.PathLike[str] | Law | None = None,
    **rule_choices: Any,
) -> TransferResult:
    """Move every hyperparameter of a proxy run to a target scale, per parameter group.

    Args:
        config: the proxy run (``RunConfig``, YAML path or mapping).
        width: target width W (a whole number); default the proxy's.
        batch_size: target batch size per step B, in the config's unit; default the proxy's.
        dataset_size: target dataset size per epoch N; default the proxy's.
        depth: target depth L (residual blocks), for depth transfer; needs ``model.depth``.
        params: target parameter count for ``tau_rule="power-lines"`` (default: the proxy's
            count scaled by m²·m_L, or 12·L·W²).
        law: a law file written by ``hpscale fit --output`` (or a loaded ``Law``): its fitted
            exponents replace the rules for the hyperparameters and axes it covers.
        **rule_choices: the fields of ``RuleChoices`` (``wd_width_rule="sqrt"``, …), the same
            choices as the CLI's rule options.

    Returns:
        An immutable ``TransferResult``; ``result.groups["hidden"].lr.target`` is the hidden
        group's target learning rate, ``result.to_json_dict()`` the JSON contract.

    Raises:
        InputError: a bad config, size or rule choice; ``RuleDomainError`` (a subclass) when a
            rule is undefined at the target, e.g. κ(1 − β) ≥ 1 for the linear β rule.
        TypeError: an unknown keyword.

    >>> result = transfer("configs/nanogpt-124m-proxy.yaml", width=3072)
    >>> result.ratios.width, result.groups["hidden"].lr.target
    (4.0, 0.00015)
    >>> result.to_json_dict()["param_groups"]["hidden"]["weight_decay"]
    0.4
    """
    proxy = _config(config)
    choices = RuleChoices(**rule_choices)
    scale = target_scale(proxy, width=width, batch_size=batch_size, dataset_size=dataset_size,
                         depth=depth, params=params)
    return transfer_to(proxy, scale, choices, _law(law))


def ladder_targets(
    config: RunConfig | str | os.PathLike[str] | Mapping[str, Any],
    *,
    widths: SizeList = None,
    batch_sizes: SizeList = None,
    dataset_sizes: SizeList = None,
    depths: SizeList = None,
    product: bool = False,
    max_rows: int | str = 10_000,
) -> LadderTargets:
    """The targets of a ladder from one proxy, validated, without transferring to any of them.

    Args:
        config: the proxy run.
        widths, batch_sizes, dataset_sizes, depths: each a list of sizes (numbers or the CLI's
            strings) or one comma-separated text (``"512,1024,2Ki"``); ``None`` keeps the
            proxy's value (depths: no depth transfer). At least one is needed.
        product: every combination of the lists (widths varying slowest) instead of zipping
            them (a single value broadcasts; other lists need equal lengths).
        max_rows: refuse a ladder of more targets than this, before any is built.

    Returns:
        A ``LadderTargets``: ``len()`` targets, each a ``Scale``, made one at a time when iterated.

    >>> targets = ladder_targets("configs/nanogpt-124m-proxy.yaml", widths="768,1536", batch_sizes=[1e6])
    >>> len(targets), [(t.width, t.batch_size) for t in targets]
    (2, [(768, 1000000.0), (1536, 1000000.0)])
    """
    from ..core import ladder as LD

    lists = {
        "widths": _size_list("widths", widths, whole=True),
        "batch_sizes": _size_list("batch_sizes", batch_sizes),
        "dataset_sizes": _size_list("dataset_sizes", dataset_sizes),
        "depths": _size_list("depths", depths, whole=True),
    }
    if all(values is None for values in lists.values()):
        raise InputError.of("widths", ": missing; give at least one of " + ", ".join(map(mention, lists)))
    if not isinstance(product, bool):
        raise InputError.of("product", f": {product!r}: expected True or False")
    limit = _max_rows(max_rows)
    proxy = _config(config)
    ladder = LD.Ladder(**lists, product=product)
    size = ladder.size(scale_of(proxy))
    if size > limit:
        shape = " × ".join(str(len(v)) for v in lists.values() if v) if product else str(size)
        raise InputError.of(
            "max_rows", f": the ladder has {size:,} rows ({shape}), more than the limit of {limit:,}; "
            f"raise it with {mention('max_rows')}, or use fewer values")
    return LD.LadderTargets(proxy, ladder, scale_of(proxy), size)


def ladder(
    config: RunConfig | str | os.PathLike[str] | Mapping[str, Any],
    *,
    widths: SizeList = None,
    batch_sizes: SizeList = None,
    dataset_sizes: SizeList = None,
    depths: SizeList = None,
    product: bool = False,
    max_rows: int | str = 10_000,
    **rule_choices: Any,
) -> list[TransferResult]:
    """``transfer`` to every target of a ladder (``ladder_targets``), as ``hpscale ladder``:
    one ``TransferResult`` per target, in order; an error names the target it came from.

    >>> results = ladder("configs/nanogpt-124m-proxy.yaml", widths="768,1536")
    >>> [result.groups["hidden"].lr.target for result in results]
    [0.0006, 0.0003]
    """
    from ..core.ladder import run_ladder

    choices = RuleChoices(**rule_choices)
    targets = ladder_targets(config, widths=widths, batch_sizes=batch_sizes, dataset_sizes=dataset_sizes,
                             depths=depths, product=product, max_rows=max_rows)
    return run_ladder(targets.config, list(targets), choices)

