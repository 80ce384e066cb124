"""``hpscale spectrum``: σ_top of every weight matrix of a checkpoint, or of a proxy/target pair.

Parse → ``hpscale.api.scan_checkpoint`` / ``compare_checkpoints`` → render. Only typer is
imported at module level; numpy, rich, the readers and matplotlib load inside the command.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..core.rules import SIGMA_TOP_RTOL
from . import options as O

if TYPE_CHECKING:
    from ..checkpoints import CheckpointComparison, Scan
    from ..core.rules import RuleChoices

SPECTRUM_FORMATS = ("table", "json", "csv")
PROGRESS_MIN_TENSORS = 20
#: The scan table shows shape and ‖W‖_F from this many columns, the stable rank from
#: MEDIUM_TABLE; narrower terminals get tensor, group, role and σ_top (JSON/CSV have all).
WIDE_TABLE = 110
MEDIUM_TABLE = 90


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
        "--device", help="Run the linear algebra through torch on this device (cpu, cuda, cuda:1); default numpy on the CPU.",
        metavar="DEVICE", show_default=False)] = None,
    format: O.format_option(SPECTRUM_FORMATS, "table (report), json (the contract) or csv (one row per matrix, or per pair with --compare).") = "table",  # type: ignore[valid-type]
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

    fmt = O.choice("--format", format, SPECTRUM_FORMATS)
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


def _fmt(x: float | None, digits: int = 5) -> str:
    from ..render import fmt_value

    return fmt_value(x, digits)


def _write(text: str, output: Path | None, inputs: list[Path]) -> None:
    from ..output import emit

    emit(text, output, inputs)


def _json(obj: dict[str, Any]) -> str:
    import json

    return json.dumps(obj, indent=2, allow_nan=False) + "\n"


def _shape(shape: Any) -> str:
    return "×".join(str(d) for d in shape) if shape else "scalar"


def _notes(lines: list[str]) -> None:
    from ..text import printable

    for line in lines:
        print(f"note: {printable(line)}", file=sys.stderr)


# ----------------------------------------------------------------------------- scan


def _emit_scan(scan: Scan, fmt: str, output: Path | None, inputs: list[Path]) -> None:
    from ..output import warn

    warn(scan.warnings)
    _notes(scan.notes)
    if fmt == "json":
        _write(_json(scan.to_json_dict()), output, inputs)
    elif fmt == "csv":
        _write(_scan_csv(scan), output, inputs)
    else:
        _write(_scan_table(scan, color=None if output is None else False), output, inputs)


_CSV_SCAN = ("tensor", "part", "expert", "group", "role", "layer", "shape", "matrix_shape", "dtype",
             "sigma_max", "frobenius", "stable_rank", "grouped_by")


def _csv(rows: list[list[object]], header: tuple[str, ...]) -> str:
    import csv
    import io

    from ..text import printable

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else printable(v) if isinstance(v, str) else repr(v) if isinstance(v, float) else v
                         for v in row])
    return buffer.getvalue()


def _scan_csv(scan: Scan) -> str:
    rows: list[list[object]] = []
    for r in scan.records:
        st = r.stats
        rows.append([r.tensor or r.name, r.part, r.expert, r.group, r.role, r.layer, "x".join(map(str, r.shape)),
                     "x".join(map(str, r.matrix_shape)) if r.matrix_shape else None, r.dtype,
                     st.sigma_max if st else None, st.frobenius if st else None,
                     st.stable_rank if st else None, r.grouped_by])
    return _csv(rows, _CSV_SCAN)


def _scan_table(scan: Scan, color: bool | None) -> str:
    from rich import box
    from rich.table import Table

    from ..core.spectrum import group_summary
    from ..render import render_rich, table_width
    from ..text import printable

    width = table_width()
    columns = ["tensor", "group", "role"] + (["shape"] if width >= WIDE_TABLE else []) + ["σ_top"]
    columns += (["‖W‖_F"] if width >= WIDE_TABLE else []) + (["st.rank"] if width >= MEDIUM_TABLE else [])
    m = scan.model
    about = [scan.format]
    if m.width:
        about.append(f"width {m.width}" + (f", depth {m.depth}" if m.depth else "") + f" ({m.source})")
    table = Table(title=f"{printable(str(scan.path))} — {'; '.join(about)}", box=box.SIMPLE_HEAD,
                  title_justify="left", caption="vectors (norms, biases) have no σ_top: listed in JSON and CSV",
                  caption_justify="left")
    for col in columns:
        table.add_column(col, overflow="fold" if col == "tensor" else "ellipsis", no_wrap=col != "tensor",
                         justify="left" if col in ("tensor", "group", "role", "shape") else "right")
    for r in scan.records:
        st = r.stats
        if st is None:
            continue
        values = {"tensor": printable(r.name), "group": r.group, "role": printable(r.role),
                  "shape": _shape(r.matrix_shape or r.shape), "σ_top": _fmt(st.sigma_max),
                  "‖W‖_F": _fmt(st.frobenius), "st.rank": _fmt(st.stable_rank, 4)}
        table.add_row(*(values[c] for c in columns))
    summary = Table(title="per group", box=box.SIMPLE_HEAD, title_justify="left")
    for col in ("group", "matrices", "with σ", "median σ_top"):
        summary.add_column(col, justify="left" if col == "group" else "right")
    for g, s in group_summary(scan.records).items():
        summary.add_row(g, str(s["tensors"]), str(s["with_sigma"]), _fmt(s["sigma_max_median"]))  # type: ignore[arg-type]
    return render_rich([table, summary], color=color)


# ----------------------------------------------------------------------------- compare

_CSV_PAIRS = ("group", "role", "key", "proxy", "target", "sigma_proxy", "sigma_target", "ratio")


def _emit_compare(result: CheckpointComparison, fmt: str, output: Path | None, inputs: list[Path]) -> None:
    from ..output import warn

    warn(result.warnings)
    _notes([f"proxy: {n}" for n in result.proxy.notes] + [f"target: {n}" for n in result.target.notes])
    if fmt != "table" and result.comparison.verdict.untrained:
        # The table states the withheld verdict on stdout; JSON only in a field, CSV nowhere.
        _notes([result.comparison.verdict.message])
    if fmt == "json":
        _write(_json(result.to_json_dict()), output, inputs)
    elif fmt == "csv":
        rows: list[list[object]] = [[p.group, p.role, p.name, p.proxy, p.target, p.sigma_proxy, p.sigma_target, p.ratio]
                                    for p in result.comparison.pairs]
        _write(_csv(rows, _CSV_PAIRS), output, inputs)
    else:
        _write(_compare_table(result, color=None if output is None else False), output, inputs)


def _compare_table(result: CheckpointComparison, color: bool | None) -> str:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from ..render import render_rich
    from ..text import printable

    c = result.comparison
    rules = list(c.predicted)
    table = Table(title="σ_top ratio target / proxy (median) and each rule's prediction",
                  box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("group / sublayer", no_wrap=True)
    for col in ("pairs", "ratio", *rules, "fits"):
        table.add_column(col, justify="left" if col == "fits" else "right", no_wrap=True)
    for row in c.rows:
        label = row.group if row.role is None else f"  {printable(row.role)}"
        preds = [_fmt(c.predicted[r], 4) if row.group == "hidden" else "" for r in rules]
        fits = row.verdict.short if row.verdict else ""
        table.add_row(label, str(row.pairs), _fmt(row.median_ratio, 4), *preds, fits)
    table.caption = (f"fits: the rule within {c.verdict.tolerance:.0%} of the ratio (none: no rule "
                     "fits; ?: the rules are too close to tell"
                     + ("; init: the weights look untrained)" if c.verdict.untrained else ")"))
    table.caption_justify = "left"
    m = "unknown" if c.width_ratio is None else f"{c.width_ratio:.4g}"

    def about(scan: Scan, depth: int | None) -> str:
        return f"{printable(str(scan.path))} ({scan.format}" + (f", depth {depth})" if depth else ")")

    lines = [
        f"proxy:  {about(result.proxy, c.depths[0])}",
        f"target: {about(result.target, c.depths[1])}",
        f"m = {m} (from {c.width_ratio_source}); pairing by {c.pairing}",
        f"predictions: {c.prediction_source}",
    ]
    if c.lr_ratio is not None:
        lines.append(f"hidden η_t/η_p = {c.lr_ratio:.4g}" + (
            f"; the configs' own hidden η, λ predict {c.configured:.4g}" if c.configured is not None else ""))
    lines.append(f"verdict: {c.verdict.message}")
    return render_rich([table, Text("\n".join(lines))], color=color)


# ----------------------------------------------------------------------------- plot


def _plot(folder: Path, proxy: Scan, result: CheckpointComparison | None, tolerance: float) -> None:
    from ..errors import InputFileError
    from ..plots.spectrum import spectrum_figure, write_figure

    fig = spectrum_figure(proxy, result.target if result else None, result.comparison if result else None,
                          tolerance)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_figure(fig, folder)
    except OSError as exc:
        raise InputFileError(f"--plot: {folder}: cannot write: {exc.strerror or exc}") from None
    print(f"wrote {folder / 'spectrum.png'} and spectrum.svg", file=sys.stderr)
