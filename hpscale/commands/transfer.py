"""``hpscale transfer``: parse → ``hpscale.transfer.transfer`` → render."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from . import options as O

if TYPE_CHECKING:
    from ..core.compose import RuleChoices


@O.with_rule_options
def transfer_command(
    proxy: O.ProxyArg,
    width: O.WidthOpt = None,
    batch_size: O.BatchOpt = None,
    dataset_size: O.DatasetOpt = None,
    depth: O.DepthOpt = None,
    format: O.format_option(O.FORMATS, "table (report), json (the contract) or yaml (a target config).") = "table",  # type: ignore[valid-type]
    output: O.OutputOpt = None,
    law: O.LawOpt = None,
    derivation: Annotated[bool, typer.Option(
        "--derivation", metavar="", help="JSON: add `factors`, every factor of every value with its rule."
    )] = False,
    choices: RuleChoices | None = None,
) -> None:
    """Print target-scale hyperparameters for every parameter group of PROXY."""
    output = O.output_option(output)  # type: ignore[assignment]
    fmt = O.choice("--format", format, O.FORMATS)
    from dataclasses import asdict

    from ..api import load_config, transfer
    from ..render import emit_transfer

    sizes = {
        "width": O.size_option("--width", width, whole=True),
        "batch_size": O.size_option("--batch-size", batch_size),
        "dataset_size": O.size_option("--dataset-size", dataset_size),
        "depth": O.size_option("--depth", depth, whole=True),
    }
    law_file = O.law_option(law)
    result = transfer(load_config(proxy), **sizes, law=law_file, **asdict(choices))  # type: ignore[arg-type]
    emit_transfer(result, fmt, output, [proxy] + ([Path(law)] if law else []), derivation=derivation)
