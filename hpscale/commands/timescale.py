"""``hpscale timescale``: the AdamW EMA timescale of one run, forward or solved for λ (or η).

parse → ``hpscale.api.timescale`` (every argument checked there; the formulas are registered
rules of ``hpscale.core.rules``, applied by ``hpscale.core.timescale``) →
``hpscale.outputs.timescale`` (table | json). Wang & Aitchison 2024, arXiv 2405.13698.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..core.timescale import CONVENTIONS, SOLVE_FOR
from ..outputs.timescale import FORMATS
from . import options as O


def timescale_command(
    lr: Annotated[str | None, typer.Option("--lr", metavar="η", help="Learning rate η (e.g. 6e-4).", show_default=False)] = None,
    weight_decay: Annotated[str | None, typer.Option("--weight-decay", metavar="λ", help="AdamW weight_decay λ, in --convention.", show_default=False)] = None,
    batch_size: Annotated[str | None, typer.Option("--batch-size", metavar="B", help="Batch size B per step: 491520, 0.5M or 2Mi.", show_default=False)] = None,
    dataset_size: Annotated[str | None, typer.Option("--dataset-size", metavar="N", help="Dataset size N per epoch, same unit as B (9B).", show_default=False)] = None,
    convention: Annotated[str | None, typer.Option("--convention", metavar="coupled|independent", autocompletion=O._completer(CONVENTIONS), help="Weight-decay convention: coupled (torch.optim.AdamW's weight_decay, which PyTorch calls decoupled: decay η·λ per step) or independent (decay λ per step). Default: the config's, else coupled.", show_default=False)] = None,
    config: Annotated[Path | None, typer.Option("--config", metavar="FILE", help="Take η, λ, B, N and epochs from this run config; explicit options override.", dir_okay=False, show_default=False)] = None,
    group: Annotated[str | None, typer.Option("--group", metavar="embedding|hidden|readout|vector", help="Parameter group of --config whose η and λ to use (default: hidden).", show_default=False)] = None,
    epochs: Annotated[str | None, typer.Option("--epochs", metavar="E", help="Run length in epochs, for τ as a fraction of the run.", show_default=False)] = None,
    total_steps: Annotated[str | None, typer.Option("--total-steps", metavar="S", help="Run length in optimizer steps (instead of --epochs).", show_default=False)] = None,
    tau_epoch: Annotated[str | None, typer.Option("--tau-epoch", metavar="τ", help="Inverse: solve for λ (or η with --solve lr) so that τ_epoch is this.", show_default=False)] = None,
    tau_iter: Annotated[str | None, typer.Option("--tau-iter", metavar="τ", help="Inverse: solve so that τ_iter (steps) is this.", show_default=False)] = None,
    solve: Annotated[str, typer.Option("--solve", metavar="weight-decay|lr", autocompletion=O._completer(SOLVE_FOR), help="What the inverse solves for.")] = "weight-decay",
    format: O.format_option(FORMATS) = "table",  # type: ignore[valid-type]
    output: O.OutputOpt = None,
) -> None:
    """AdamW EMA timescale: τ_iter, τ_epoch and τ per run from η, λ, B, N; or solve for λ (or η).

    Example: hpscale timescale --lr 6e-4 --weight-decay 0.1 --batch-size 491520
    --dataset-size 9035582198 gives τ_epoch = 0.9066; add --tau-epoch 1 and drop
    --weight-decay to get λ = 0.09066.
    """
    output_file = O.output_option(output)
    from ..api import timescale
    from ..output import emit, warn
    from ..outputs.timescale import render

    fmt = O.choice("--format", format, FORMATS)
    report = O.shown(timescale(lr=lr, weight_decay=weight_decay, batch_size=batch_size, dataset_size=dataset_size,
                               convention=convention, config=config, group=group, epochs=epochs,
                               total_steps=total_steps, tau_epoch=tau_epoch, tau_iter=tau_iter, solve=solve))
    warn(report.warnings)
    emit(render(report, fmt, None if output_file is None else False), output_file,
         [config] if config is not None else [])
