"""``hpscale spectrum``: σ_top of every weight matrix of a checkpoint, or of a proxy/target pair.

Parse → ``hpscale.api.scan_checkpoint`` / ``compare_checkpoints`` → write what
``hpscale.outputs.spectrum`` renders (its tables, JSON, CSV and figure). Only typer is imported
at module level; numpy, rich, the readers and matplotlib load inside the command.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..core.rules import SIGMA_TOP_RTOL
from ..outputs.spectrum import FORMATS
from . import options as O

if TYPE_CHECKING:
    from ..checkpoints import CheckpointComparison, Scan
    from ..core.rules import RuleChoices

PROGRESS_MIN_TENSORS = 20


@O.with_rule_options
def spectrum_command(
    checkpoint: Annotated[Path, typer.Argument(
        help="Proxy checkpoint: a .safetensors, .npz or .pt/.bin file (.bin needs torch), or a Hugging Face model directory (config.json with model.safetensors, or shards and their index).",
        metavar="CHECKPOINT", show_default=False)],
    compare: Annotated[Path | None, typer.Option(
        "--compare", help="Target checkpoint (file or directory): pair its matrices with CHECKPOINT's and name the weight-decay width rule the pair followed.",
        metavar="TARGET", show_default=False)] = None,
    proxy_config: Annotated[Path | None, typer.Option(
        "--proxy-config", help="Proxy run config (YAML); with --target-config, the predictions come from transferring it to the target config's scale (width, batch, dataset, depth).",
        metavar="FILE", show_default=False)] = None,
    target_config: Annotated[Path | None, typer.Option(
        "--target-config", help="Target run config (YAML). Without the two configs, m comes from config.json (else the matrix shapes) and only the width changes.",
        metavar="FILE", show_default=False)] = None,
    group: Annotated[list[str] | None, typer.Option(
        "--group", help="Tensors whose name matches REGEX belong to GROUP (embedding, hidden, readout, vector); repeatable, checked before the built-in names.",
        metavar="GROUP=REGEX", show_default=False)] = None,
    tolerance: Annotated[float, typer.Option(
        "--tolerance", help="A rule fits when the measured median σ ratio is within this relative distance of its prediction.",
        metavar="REL")] = 0.10,
    sigma_rtol: Annotated[float, typer.Option(
        "--sigma-rtol", help="Tolerance of each σ_top: it is a lower bound, certified within REL of a singular value of the matrix. The rules' predictions differ by m^0.25 (19 % at m = 2), so 0.02 still decides and scans faster.",
        metavar="REL")] = SIGMA_TOP_RTOL,
    device: Annotated[str | None, typer.Option(
        "--device", help="Run the linear algebra through torch on this device (cuda, cuda:1); default (and cpu): numpy row tiles on the CPU.",
        metavar="DEVICE", show_default=False)] = None,
    format: O.format_option(FORMATS, "table (report), json (the contract) or csv (one row per matrix, or per pair with --compare).") = "table",  # type: ignore[valid-type]
    output: O.OutputOpt = None,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Write spectrum.png and spectrum.svg to DIR: σ_top per layer (proxy and target, with each rule's predicted band). Needs matplotlib.",
        metavar="DIR", show_default=False)] = None,
    choices: RuleChoices | None = None,
) -> None:
    """σ_top (top singular value), Frobenius norm and stable rank of every weight matrix, per group and sublayer.

    With --compare, pairs the proxy's and the target's matrices by role and relative depth and prints the median σ ratio target/proxy per group and sublayer beside the ratio each weight-decay width rule predicts (Fan et al. 2025: σ_top ∝ √(η/λ)·d^0.75), and the rule the pair is consistent with.
    """
    from ..errors import InputError

    fmt = O.choice("--format", format, FORMATS)
    output_file = O.output_option(output)
    if not (0.0 < tolerance < 1.0):
        raise InputError(f"--tolerance: {tolerance!r}: must be in (0, 1)")
    if not (1e-6 <= sigma_rtol <= 0.1):
        raise InputError(f"--sigma-rtol: {sigma_rtol!r}: must be in [1e-6, 0.1]")
    if (proxy_config or target_config) and compare is None:
        raise InputError("--proxy-config/--target-config: given without --compare: they need it")
    if (proxy_config is None) != (target_config is None):
        given = "--proxy-config" if proxy_config else "--target-config"
        raise InputError(f"{given}: given alone: pass both --proxy-config and --target-config")
    if plot is not None:
        from ..extras import require

        require("matplotlib", "--plot")
        if plot.exists() and not plot.is_dir():
            raise InputError(f"--plot: {plot}: exists and is not a directory")
    from dataclasses import asdict

    from .. import api
    from ..checkpoints import resolve_device

    resolve_device(device)  # a bad --device fails before any reading
    from ..checkpoints import scan_checkpoint
    from ..core.spectrum import Grouper

    inputs = [p for p in (checkpoint, compare, proxy_config, target_config) if p is not None]
    if output_file is not None:
        from ..output import check_destination

        check_destination(output_file, inputs)  # a scan can take minutes: fail first
    grouper = Grouper.from_specs(group or [])
    configs: tuple[Any, Any] = (None, None)
    if proxy_config is not None and target_config is not None:
        configs = (api.load_config(proxy_config), api.load_config(target_config))

    def scan(path: Path) -> Scan:
        return _with_progress(path, lambda hooks: scan_checkpoint(path, grouper, device=device,
                                                                        rtol=sigma_rtol, **hooks))

    proxy_scan = scan(checkpoint)
    if compare is None:
        _emit_scan(proxy_scan, fmt, output_file, inputs)
        if plot is not None:
            _plot(plot, proxy_scan, None, tolerance)
        return
    result = api.compare_scans(proxy_scan, scan(compare), proxy_config=configs[0], target_config=configs[1],
                               tolerance=tolerance, **asdict(choices))  # type: ignore[arg-type]
    _emit_compare(result, fmt, output_file, inputs)
    if plot is not None:
        _plot(plot, proxy_scan, result, tolerance)


def _with_progress(path: Path, run: Any) -> Scan:
    """Run a scan with a progress bar on stderr (a terminal only): matrices and bytes read."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from ..text import printable

    console = Console(stderr=True)
    progress = Progress(
        TextColumn("σ_top {task.description}"), BarColumn(bar_width=20),
        TextColumn("{task.fields[done]}/{task.fields[matrices]} tensors"), DownloadColumn(),
        TransferSpeedColumn(), TimeRemainingColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    )
    task: list[Any] = []

    def on_open(matrices: int, total_bytes: int) -> None:
        if matrices > PROGRESS_MIN_TENSORS:
            progress.start()
            task.append(progress.add_task(printable(path.name), total=total_bytes, done=0, matrices=matrices))

    def on_tensor(done: int, done_bytes: int, name: str) -> None:
        if task:
            progress.update(task[0], completed=done_bytes, done=done)

    try:
        return run({"on_open": on_open, "on_tensor": on_tensor})
    finally:
        progress.stop()


def _write(text: str, output: Path | None, inputs: list[Path]) -> None:
    from ..output import emit

    emit(text, output, inputs)


def _notes(lines: list[str]) -> None:
    from ..text import printable

    for line in lines:
        print(f"note: {printable(line)}", file=sys.stderr)


def _emit_scan(scan: Scan, fmt: str, output: Path | None, inputs: list[Path]) -> None:
    from ..output import warn
    from ..outputs.spectrum import render_scan

    warn(scan.warnings)
    _notes(scan.notes)
    _write(render_scan(scan, fmt, color=None if output is None else False), output, inputs)


def _emit_compare(result: CheckpointComparison, fmt: str, output: Path | None, inputs: list[Path]) -> None:
    from ..output import warn
    from ..outputs.spectrum import render_compare

    warn(result.warnings)
    _notes([f"proxy: {n}" for n in result.proxy.notes] + [f"target: {n}" for n in result.target.notes])
    if fmt != "table" and result.comparison.verdict.untrained:
        # The table states the withheld verdict on stdout; JSON only in a field, CSV nowhere.
        _notes([result.comparison.verdict.message])
    _write(render_compare(result, fmt, color=None if output is None else False), output, inputs)


def _plot(folder: Path, proxy: Scan, result: CheckpointComparison | None, tolerance: float) -> None:
    from ..outputs.spectrum import plot

    plot(folder, proxy, result, tolerance)
    print(f"wrote {folder / 'spectrum.png'} and spectrum.svg", file=sys.stderr)
