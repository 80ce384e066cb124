"""``hpscale transfer``: parse → ``hpscale.transfer.transfer`` → render."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from . import options as O

if TYPE_CHECKING:
    from ..transfer import RuleChoices


@O.with_rule_options
def transfer_command(
    proxy: Annotated[Path, typer.Argument(help="Proxy-run config (YAML).", show_default=False)],
    width: O.WidthOpt = None,
    batch_size: O.BatchOpt = None,
    dataset_size: O.DatasetOpt = None,
    depth: O.DepthOpt = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table | json | yaml")] = "table",
    output: O.OutputOpt = None,
    derivation: Annotated[bool, typer.Option(
        "--derivation", help="JSON: add `factors`, every factor of every value with its rule."
    )] = False,
    choices: RuleChoices | None = None,
) -> None:
    """Print target-scale hyperparameters for every parameter group of PROXY."""
    fmt = O.choice("--format", format, O.FORMATS)
    from ..loader import load_config
    from ..render import emit_transfer
    from ..transfer import Scale, transfer

    config = load_config(proxy)
    target = Scale(
        width=int(O.size_option("--width", width, whole=True) or config.model.width),
        batch_size=O.size_option("--batch-size", batch_size) or config.data.batch_size,
        dataset_size=O.size_option("--dataset-size", dataset_size) or config.data.dataset_size,
        depth=int(O.size_option("--depth", depth, whole=True) or 0) or None,
    )
    result = transfer(config, target, choices)  # type: ignore[arg-type]
    emit_transfer(result, fmt, output, [proxy], derivation=derivation)
