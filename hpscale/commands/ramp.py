"""``hpscale ramp``: parse → ``hpscale.core.ramp`` (one ``transfer`` per stage) → render.

Formats: table (the stage table), json (the contract, docs/contracts.md), yaml (the same
object), megatron (the ``--step-batch-size-schedule`` string alone; needs --seq-len). With
--world-size/--micro-batch every stage's batch is checked to divide as Megatron-LM runs it
(``hpscale.export.ramp``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import options as O

if TYPE_CHECKING:
    from ..core.rules import RuleChoices

RAMP_FORMATS = ("table", "json", "yaml", "megatron")

RampOpt = Annotated[str, typer.Option(
    "--ramp", metavar="SPEC", show_default=False,
    help="linear:F[:K] (K stages, default 4, over the first fraction F ∈ (0, 1] of the data) or "
    "stages:0=B0,S1=B1,… (stage starts in the config's unit of data seen, strictly increasing "
    "batches ending at --batch-size).")]


def _short(value: float) -> str:
    """A batch in a table cell: 3,932,160 → 3.932M (``format_si`` keeps every digit below 10⁷)."""
    from ..numbers import format_si

    return f"{value / 1e6:.4g}M" if 1e6 <= value < 1e7 else format_si(value)


def _table(result: Any, color: bool | None) -> str:
    from rich import box
    from rich.table import Table

    from ..numbers import format_si
    from ..outputs.common import fmt_value, render_rich

    data = result.to_json_dict()
    table = Table(title=f"batch ramp: reference batch {format_si(result.reference_batch)} {result.unit} "
                  f"(the proxy's), {format_si(result.total)} {result.unit} of data",
                  box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False, collapse_padding=True)
    rows = data["stages"]
    ema = any(row["ema_decay"] is not None for row in rows)
    warmup = any(row["warmup_steps"] is not None for row in rows)
    headers = ["#", "from", "batch", "κ", "lr", "wd", "β1", "β2", "ε"] + ["EMA"] * ema + ["warmup"] * warmup
    for header in headers:
        table.add_column(header, justify="right", no_wrap=True)
    for row in rows:
        hidden = row["param_groups"]["hidden"]
        cells = [str(row["stage"]), format_si(row["start"]),
                 _short(row["batch_size"]) + ("!" if row["above_critical_batch"] else ""),
                 fmt_value(row["batch_ratio"], 4), fmt_value(hidden["lr"], 3),
                 fmt_value(hidden["weight_decay"], 3), fmt_value(row["betas"][0], 4),
                 fmt_value(row["betas"][1], 4), fmt_value(hidden["eps"], 3)]
        cells += ["" if row["ema_decay"] is None else fmt_value(row["ema_decay"], 5)] * ema
        cells += ["" if row["warmup_steps"] is None else str(row["warmup_steps"])] * warmup
        table.add_row(*cells)
    caption = "lr, wd, ε: the hidden group (--format json has every group)"
    used, source = result.critical_used()
    if used is not None:
        estimate = result.estimated_batch()
        caption += (f"; ! above the critical batch {format_si(round(used))}"
                    + (" (Zhang et al.'s estimate; --critical-batch to give yours)" if source == "estimate" else
                       "" if estimate is None else f" (Zhang et al.'s estimate: {format_si(round(estimate))})"))
    table.caption, table.caption_justify = caption, "left"
    text = render_rich([table], color=color)
    if result.megatron is not None:  # unwrapped, to copy as it is
        text += f"\nMegatron-LM --step-batch-size-schedule:\n{result.megatron}\n"
    return text


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
    format: O.format_option(RAMP_FORMATS, "table, json (the contract), yaml, or megatron "  # type: ignore[valid-type]
                            "(the schedule string alone; needs --seq-len).") = "table",
    output: O.OutputOpt = None,
    choices: RuleChoices | None = None,
) -> None:
    """Stage a batch ramp from PROXY: per stage the batch and every hyperparameter rescaled
    for κ = B_stage / B_proxy (docs/ramp.md)."""
    output_file = O.output_option(output)
    fmt = O.choice("--format", format, RAMP_FORMATS)
    from ..api import load_config, target_scale
    from ..contract import dumps_json
    from ..core.compose import read_proxy
    from ..core.ramp import parse_ramp, run_ramp, training_data
    from ..errors import InputError
    from ..output import emit, warn

    sizes = {
        "--batch-size": O.size_option("--batch-size", batch_size),
        "--start-batch": O.size_option("--start-batch", start_batch),
        "--critical-batch": O.size_option("--critical-batch", critical_batch),
        "--seq-len": O.size_option("--seq-len", seq_len, whole=True),
    }
    if fmt == "megatron" and sizes["--seq-len"] is None:
        raise InputError("--seq-len: --format megatron needs tokens per sequence")
    layout = {"--world-size": O.size_option("--world-size", world_size, whole=True),
              "--micro-batch": O.size_option("--micro-batch", micro_batch, whole=True)}
    if sizes["--seq-len"] is None and (world_size != "1" or micro_batch is not None):
        raise InputError(f"{'--world-size' if world_size != '1' else '--micro-batch'}: only used with "
                         "--seq-len (the Megatron-LM schedule)")
    config = load_config(proxy)
    if output_file is not None:  # before any warning: an input as --output is refused alone
        from ..output import check_destination

        check_destination(output_file, [proxy])
    assert choices is not None
    target = target_scale(config, width=width,
                          batch_size=sizes["--batch-size"],
                          dataset_size=dataset_size, depth=depth)
    run = read_proxy(config)
    stages = parse_ramp(ramp, sizes["--start-batch"] or run.scale.batch_size, target.batch_size,
                        training_data(run, target))
    seq = sizes["--seq-len"]
    if seq is not None and (world_size != "1" or micro_batch is not None):
        # Without them a stage need only be whole sequences, which megatron_schedule checks (--seq-len).
        from ..export.ramp import check_stages

        micro = layout["--micro-batch"]
        check_stages(stages, run.unit, run.scale.batch_size, int(seq), int(layout["--world-size"] or 1),
                     None if micro is None else int(micro))
    result = run_ramp(run, target, stages, choices, sizes["--critical-batch"],
                      None if seq is None else int(seq))
    if fmt == "megatron":
        assert result.megatron is not None
        text = result.megatron + "\n"
    elif fmt in ("json", "yaml"):
        obj = result.to_json_dict()
        obj["warnings"] = O.flagged_all(obj["warnings"])  # parameters named as flags (options.flagged)
        if fmt == "json":
            text = dumps_json(obj)
        else:
            import yaml

            text = yaml.safe_dump(obj, sort_keys=False, allow_unicode=True)
    else:
        text = _table(result, None if output_file is None else False)
    warn(O.flagged_all(result.warnings()))
    emit(text, output_file, [proxy])
