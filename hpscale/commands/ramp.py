"""``hpscale ramp``: parse → ``hpscale.api.ramp`` (one ``transfer`` per stage) →
``hpscale.outputs.ramp`` (table | json | yaml | megatron).

With --world-size/--micro-batch every stage's batch is checked to divide as Megatron-LM runs it
(``hpscale.export.ramp``). Parsing is what only a command line has: ``--format megatron`` needs
``--seq-len`` (a format's need, checked before the API), and ``--world-size``'s default ``1``
stands for "not given".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ..outputs.ramp import FORMATS
from . import options as O

if TYPE_CHECKING:
    from ..core.rules import RuleChoices

RampOpt = Annotated[str, typer.Option(
    "--ramp", metavar="SPEC", show_default=False,
    help="linear:F[:K] (K stages, default 4, over the first fraction F ∈ (0, 1] of the data) or "
    "stages:0=B0,S1=B1,… (stage starts in the config's unit of data seen, strictly increasing "
    "batches ending at --batch-size).")]


@O.with_rule_options
def ramp_command(
    proxy: O.ProxyArg,
    batch_size: Annotated[str, typer.Option(
        "--batch-size", metavar="B", show_default=False,
        help="The target batch the ramp reaches, in the config's unit.")],
    ramp: RampOpt,
    start_batch: Annotated[str | None, typer.Option(
        "--start-batch", metavar="B", show_default=False,
        help="linear: the first stage's batch; default the proxy's.")] = None,
    width: O.WidthOpt = None,
    dataset_size: O.DatasetOpt = None,
    depth: O.DepthOpt = None,
    critical_batch: Annotated[str | None, typer.Option(
        "--critical-batch", metavar="B", show_default=False,
        help="A critical batch you measured (config's unit); stages above it are flagged.")] = None,
    seq_len: Annotated[str | None, typer.Option(
        "--seq-len", metavar="T", show_default=False,
        help="Tokens per sequence: adds Megatron-LM's --step-batch-size-schedule string.")] = None,
    world_size: Annotated[str, typer.Option(
        "--world-size", metavar="N",
        help="With --seq-len: data-parallel ranks; every stage's batch must divide over them.")] = "1",
    micro_batch: Annotated[str | None, typer.Option(
        "--micro-batch", metavar="M", show_default=False,
        help="With --seq-len: sequences per rank per forward pass; every stage's batch must divide.")] = None,
    format: O.format_option(FORMATS, "table, json (the contract), yaml, or megatron "  # type: ignore[valid-type]
                            "(the schedule string alone; needs --seq-len).") = "table",
    output: O.OutputOpt = None,
    choices: RuleChoices | None = None,
) -> None:
    """Stage a batch ramp from PROXY: per stage the batch and every hyperparameter rescaled
    for κ = B_stage / B_proxy (docs/ramp.md)."""
    output_file = O.output_option(output)
    fmt = O.choice("--format", format, FORMATS)
    from dataclasses import asdict

    from ..api import ramp as staged
    from ..errors import InputError
    from ..output import check_destination, emit, warn
    from ..outputs.ramp import render

    if fmt == "megatron" and seq_len is None:
        raise InputError("--seq-len: --format megatron needs tokens per sequence")
    assert choices is not None
    result = staged(proxy, batch_size=batch_size, ramp=ramp, start_batch=start_batch, width=width,
                    dataset_size=dataset_size, depth=depth, critical_batch=critical_batch, seq_len=seq_len,
                    world_size=None if world_size == "1" else world_size, micro_batch=micro_batch,
                    **asdict(choices))
    if output_file is not None:  # before any warning: an input as --output is refused alone
        check_destination(output_file, [proxy])
    warnings = O.flagged_all(result.warnings())
    text = render(result, fmt, warnings, None if output_file is None else False)
    warn(warnings)
    emit(text, output_file, [proxy])
