"""``hpscale transfer``: parse → ``hpscale.api.transfer`` → write what ``hpscale.outputs.transfer``
renders (or a trainer's config, ``hpscale.export``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..export import FORMATS as EXPORT_FORMATS
from ..export import options as X
from ..outputs.transfer import FORMATS
from . import options as O

if TYPE_CHECKING:
    from ..core.rules import RuleChoices


@O.with_rule_options
def transfer_command(
    proxy: O.ProxyArg,
    width: O.WidthOpt = None,
    batch_size: O.BatchOpt = None,
    dataset_size: O.DatasetOpt = None,
    depth: O.DepthOpt = None,
    format: O.format_option(FORMATS, "table (report), json (the contract), yaml (a target config), overrides (per-group parameter-name lists; needs --model-names), or a trainer's config: " + ", ".join(EXPORT_FORMATS) + " (docs/export.md).") = "table",  # type: ignore[valid-type]
    output: O.OutputOpt = None,
    law: O.LawOpt = None,
    model_names: Annotated[Path | None, typer.Option(
        "--model-names", metavar="PATH", show_default=False,
        help="With --format overrides: the model's parameter names, one per line (a shape may follow "
        "each), or a checkpoint (.safetensors, .npz, .pt, .bin) or model directory to read them from.")] = None,
    derivation: Annotated[bool, typer.Option(
        "--derivation", metavar="", help="JSON: add `factors`, every factor of every value with its rule."
    )] = False,
    seq_len: X.SeqLenOpt = None,
    world_size: X.WorldSizeOpt = "1",
    micro_batch: X.MicroBatchOpt = None,
    choices: RuleChoices | None = None,
) -> None:
    """Print target-scale hyperparameters for every parameter group of PROXY."""
    output_file = O.output_option(output)
    fmt = O.choice("--format", format, FORMATS)
    trainer_sizes = X.trainer_sizes(seq_len, world_size, micro_batch, fmt)
    if (fmt == "overrides") != (model_names is not None):
        from ..errors import InputError

        raise InputError("--model-names: --format overrides needs the model's parameter names"
                         if model_names is None else "--model-names: only used with --format overrides")
    from dataclasses import asdict

    from ..api import load_config, transfer
    from ..output import emit, warn

    sizes = {"width": width, "batch_size": batch_size, "dataset_size": dataset_size, "depth": depth}
    law_file = O.law_option(law)
    result = O.shown(transfer(load_config(proxy), **sizes, law=law_file, **asdict(choices)))  # type: ignore[arg-type]
    inputs = [proxy] + ([Path(law_file.path)] if law_file else [])
    if output_file is not None:  # before any warning: an input as --output is refused alone
        from ..output import check_destination

        check_destination(output_file, [*inputs, *([model_names] if model_names else [])])
    if model_names is not None:
        from ..contract import dumps_json
        from ..plan import overrides_json, read_model_names

        obj = overrides_json(result, read_model_names(model_names))
        warn(obj["warnings"])
        emit(dumps_json(obj), output_file, [*inputs, model_names])
        return
    if trainer_sizes is not None:
        from ..export import emit_export

        emit_export(result, fmt, trainer_sizes, output_file, inputs)
        return
    from ..outputs.transfer import render

    warn(result.warnings)
    emit(render(result, fmt, color=None if output_file is None else False, derivation=derivation),
         output_file, inputs)
