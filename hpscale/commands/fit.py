"""``hpscale fit``: calibrate the transfer rules on your own sweeps.

parse → ``hpscale.api.fit`` → write what ``hpscale.outputs.fit`` renders (Rich tables or the
JSON contract, the law file for ``--output``, the figures for ``--plot``). Only typer is imported
at module level.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..outputs.fit import FORMATS
from . import options as O


def fit_command(
    runs: Annotated[list[Path], typer.Argument(
        metavar="RUNS...", show_default=False,
        help="Run tables, one row per run: .csv, .tsv (a W&B 'Export CSV' as it is) or .jsonl.")],
    by: Annotated[str, typer.Option(
        "--by", metavar="AXES", show_default=False,
        help="Scale axes that define a cell (runs with equal axes form one), comma-separated: width, depth, "
        "params, batch_size, dataset_size, steps.")],
    optimize: Annotated[str, typer.Option(
        "--optimize", metavar="HPS", show_default=False,
        help="The one or two hyperparameters swept inside each cell: lr, weight_decay, batch_size, beta1, "
        "beta2, eps, ema_decay.")],
    law: Annotated[list[str] | None, typer.Option(
        "--law", metavar="'HP ~ AXIS + AXIS'", show_default=False,
        help="A law to fit, log hp* = c + Σ aᵢ·log axisᵢ; repeatable. Default: each optimized hp (and "
        "tau_epoch, tau_iter when derivable) against every --by axis that varies.")] = None,
    column: Annotated[list[str] | None, typer.Option(
        "--column", metavar="NAME=COLUMN", show_default=False,
        help="The table's column for a quantity, e.g. lr=optimizer.lr; repeatable.")] = None,
    metric: Annotated[str, typer.Option(
        "--metric", metavar="COLUMN", help="The metric's column; lower is better unless --maximize.")] = "loss",
    maximize: Annotated[bool, typer.Option("--maximize", metavar="", help="Higher is better (accuracy).")] = False,
    group: Annotated[str, typer.Option(
        "--group", metavar="hidden|embedding|readout|vector",
        help="The parameter group whose absolute LR and weight decay the table holds; the µP base LR is "
        "the embedding group's.")] = "hidden",
    optimizer: Annotated[str, typer.Option(
        "--optimizer", metavar="adamw|muon",
        help="What trained that group: its rules are the verdicts' predictions (muon: the hidden group, "
        "with --muon-convention).")] = "adamw",
    muon_convention: Annotated[str | None, typer.Option(
        "--muon-convention", metavar="NAME", show_default=False,
        help="The shape convention of a Muon sweep's lr: original, match_rms_adamw, spectral, "
        "unit_rms_norm.")] = None,
    window: Annotated[str | None, typer.Option(
        "--window", metavar="N", show_default=False,
        help="Settings in each cell's quadratic fit (default 5 in 1-D, 13 in 2-D).")] = None,
    bootstrap: Annotated[str, typer.Option("--bootstrap", metavar="B", help="Bootstrap resamples.")] = "1000",
    confidence: Annotated[str, typer.Option("--confidence", metavar="C", help="Interval level.")] = "0.95",
    seed: Annotated[str, typer.Option("--seed", metavar="S", help="Random seed of the bootstrap.")] = "0",
    resample: Annotated[str, typer.Option(
        "--resample", metavar="noise|runs",
        help="noise: perturb each run's metric by the pooled run noise (fixed design); runs: resample runs "
        "with replacement.")] = "noise",
    edge: Annotated[str, typer.Option(
        "--edge", metavar="censor|drop|keep",
        help="Unbracketed optima in the laws: censor (a bound: the optimum is at least/most the grid "
        "edge), drop (left out), keep (their estimate used as a point).")] = "censor",
    keep_edge: Annotated[bool, typer.Option(
        "--keep-edge", metavar="", help="Same as --edge keep.")] = False,
    predict: Annotated[list[str] | None, typer.Option(
        "--predict", metavar="AXIS=V,…", show_default=False,
        help="Evaluate the laws there, e.g. params=7e9,dataset_size=1.4T; repeatable.")] = None,
    format: O.format_option(FORMATS, "table (report) or json (the contract).") = "table",  # type: ignore[valid-type]
    output: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="FILE", show_default=False,
        help="Also write the fitted laws to this law file (YAML), for transfer --law and check --law.")] = None,
    plot: Annotated[str | None, typer.Option(
        "--plot", metavar="DIR", show_default=False,
        # "\\[": Rich reads "[plot]" as markup and drops it from --help.
        help="Write the figures (PNG and SVG) into this folder; needs matplotlib (pip install 'hpscale\\[plot]').")] = None,
) -> None:
    """Find each cell's optimum in a sweep, fit how it moves with scale, and judge the rules.

    Runs with equal --by axes form a cell; in each cell the metric is fitted as a quadratic in
    log(hp) near the best run. The optima are fitted as a power law of the axes with bootstrap
    intervals, and each fitted exponent is compared with what the published rules predict.
    """
    import sys

    from ..errors import InputError

    fmt = O.choice("--format", format, FORMATS)
    law_path = O.output_option(output)
    if law_path is not None and optimizer != "adamw":
        raise InputError(f"--output: law files hold AdamW laws (transfer --law applies them to AdamW groups); "
                         f"a law fitted on a {optimizer} sweep is not written: leave --output out")
    from ..api import fit
    from ..output import emit, warn, write_atomic
    from ..outputs import fit as outputs
    from ..runs import parse_mapping
    from ..text import printable

    numbers = {name: _whole(option, value) for name, option, value in
               (("window", "--window", window), ("bootstrap", "--bootstrap", bootstrap), ("seed", "--seed", seed))}
    points = [_parse_point(text) for text in predict or []]
    plot_dir = None
    if plot is not None:
        from ..extras import require

        require("matplotlib", "--plot")
        plot_dir = Path(plot)
        if plot_dir.exists() and not plot_dir.is_dir():
            raise InputError(f"--plot: {plot}: is a file, expected a folder")
        if not plot_dir.exists() and not plot_dir.parent.is_dir():
            raise InputError(f"--plot: {plot}: folder {plot_dir.parent} does not exist")
    result = O.shown(fit([str(path) for path in runs], by=by, optimize=optimize, laws=law or [],
                 columns=parse_mapping("--column", column or []), metric=metric, maximize=maximize,
                 group=group, confidence=_number("--confidence", confidence), resample=resample,
                 keep_edge=keep_edge, edge=edge, predict=points, optimizer=optimizer,
                 muon_convention=muon_convention, **numbers))  # type: ignore[arg-type]
    if law_path is not None and not result.laws:
        raise InputError(f"--output: {output}: no law could be fitted, so there is nothing to write")
    text = outputs.render(result, fmt)
    figures = outputs.figures(result) if plot_dir is not None else {}  # drawn before anything is written
    written: list[str] = []
    if law_path is not None:
        write_atomic(law_path, outputs.dumps_law(result), runs)
        written.append(str(law_path))
    if plot_dir is not None:
        plot_dir.mkdir(exist_ok=True)
        for name, data in figures.items():
            (plot_dir / name).write_bytes(data)
            written.append(str(plot_dir / name))
    warn(result.warnings)
    emit(text, None)
    for path in written:
        print(f"wrote {printable(path)}", file=sys.stderr)


def _whole(option: str, value: str | None) -> int | None:
    from ..errors import InputError

    if value is None:
        return None
    text = value.strip()
    if not (text.isascii() and text.lstrip("-").isdigit() and len(text) < 10):
        raise InputError(f"{option}: expected a whole number, found {value!r}")
    return int(text)


def _number(option: str, value: str) -> float:
    from ..errors import InputError
    from ..numbers import parse_number

    try:
        return parse_number(value)
    except ValueError as exc:
        raise InputError(f"{option}: {exc}") from None


def _parse_point(text: str) -> dict[str, str]:
    """``'params=7e9,dataset_size=1.4T'`` → {'params': '7e9', 'dataset_size': '1.4T'}."""
    from ..runs import parse_mapping

    return parse_mapping("--predict", text.split(","), example="params=7e9,dataset_size=1.4T")
