"""``hpscale transfer``: parse → ``hpscale.transfer.transfer`` → render."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import options as O


def transfer_command(
    proxy: Annotated[Path, typer.Argument(help="Proxy-run config (YAML).", show_default=False)],
    width: O.WidthOpt = None,
    batch_size: O.BatchOpt = None,
    dataset_size: O.DatasetOpt = None,
    depth: O.DepthOpt = None,
    wd_width_rule: O.WdWidthOpt = "timescale",
    readout_rule: O.ReadoutOpt = "mureadout",
    beta_rule: O.BetaOpt = "linear",
    tau_rule: O.TauOpt = "constant",
    tau_exponent: O.TauExpOpt = 0.527,
    eps_width_rule: O.EpsWidthOpt = "constant",
    depth_rule: O.DepthRuleOpt = "completep",
    format: Annotated[str, typer.Option("--format", "-f", help="table | json | yaml")] = "table",
    output: O.OutputOpt = None,
    derivation: Annotated[bool, typer.Option(
        "--derivation", help="JSON: add `factors`, every factor of every value with its rule."
    )] = False,
) -> None:
    """Print target-scale hyperparameters for every parameter group of PROXY."""
    fmt = O.choice("--format", format, O.FORMATS)
    choices = O.rule_choices(
        wd_width_rule, readout_rule, beta_rule, tau_rule, tau_exponent, eps_width_rule, depth_rule
    )
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
