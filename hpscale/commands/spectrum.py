"""``hpscale spectrum``: σ_top of every weight matrix of a checkpoint, or of a proxy/target pair.

Only typer is imported at module level; numpy, rich and the readers load inside the command.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from hpscale.checkpoints import Scan
    from hpscale.core.spectrum import Comparison, Grouper

SPECTRUM_FORMATS = ("table", "json")
PROGRESS_MIN_TENSORS = 20
SCHEMA_VERSION = 1


def spectrum_command(
    checkpoint: Annotated[
        Path,
        typer.Argument(
            help="Checkpoint: .safetensors (F32/F16/BF16/F64), .npz, or .pt/.pth/.bin (needs torch).",
            metavar="CHECKPOINT",
            show_default=False,
        ),
    ],
    compare: Annotated[
        Path | None,
        typer.Option(
            "--compare",
            help="Target checkpoint: compare its σ_top with CHECKPOINT (the proxy) and name the "
            "weight-decay width rule the pair followed.",
            metavar="TARGET_CKPT",
            show_default=False,
        ),
    ] = None,
    proxy_config: Annotated[
        Path | None,
        typer.Option(
            "--proxy-config",
            help="Proxy run config (YAML): width and hidden η, λ for the predictions. "
            "Needs --compare and --target-config.",
            metavar="FILE",
            show_default=False,
        ),
    ] = None,
    target_config: Annotated[
        Path | None,
        typer.Option(
            "--target-config",
            help="Target run config (YAML). Without configs, m comes from the hidden matrix "
            "shapes and η is assumed µP (× 1/m).",
            metavar="FILE",
            show_default=False,
        ),
    ] = None,
    group: Annotated[
        list[str] | None,
        typer.Option(
            "--group",
            help="GROUP=REGEX: tensors whose name matches REGEX belong to GROUP (embedding, "
            "hidden, readout, vector); repeatable, checked before the built-in "
            "GPT-2/LLaMA/ViT patterns.",
            metavar="GROUP=REGEX",
            show_default=False,
        ),
    ] = None,
    tolerance: Annotated[
        float,
        typer.Option(
            "--tolerance",
            help="A rule fits when the measured hidden median σ ratio is within this relative "
            "distance of its prediction (in log space).",
            metavar="REL",
        ),
    ] = 0.10,
    format: Annotated[str, typer.Option("--format", "-f", help="table | json", metavar="FORMAT")] = "table",
) -> None:
    """σ_top (top singular value), Frobenius norm and stable rank of every weight matrix.

    Matrices are grouped as embedding / hidden / readout (vectors are listed without σ).
    With --compare, prints the per-group median σ ratio target/proxy next to the ratio each
    weight-decay width rule predicts (Fan et al. 2025: σ_top ∝ √(η/λ)·d^0.75) and says which
    rule the checkpoints are consistent with.
    """
    from hpscale.errors import InputError

    if format not in SPECTRUM_FORMATS:
        raise InputError(f"--format: {format!r}: allowed: {', '.join(SPECTRUM_FORMATS)}")
    if not (0.0 < tolerance < 1.0):
        raise InputError(f"--tolerance: {tolerance!r}: must be in (0, 1)")
    if (proxy_config or target_config) and compare is None:
        raise InputError("--proxy-config/--target-config: given without --compare: they need it")
    if (proxy_config is None) != (target_config is None):
        given = "--proxy-config" if proxy_config else "--target-config"
        raise InputError(f"{given}: given alone: pass both --proxy-config and --target-config")

    from hpscale.core.spectrum import Grouper

    grouper = Grouper.from_specs(group or [])
    config_ratios = _config_ratios(proxy_config, target_config) if proxy_config else None

    proxy_scan = _scan(checkpoint, grouper)
    if compare is None:
        _emit_scan(proxy_scan, format)
        return

    from hpscale.core.spectrum import compare as compare_scans

    target_scan = _scan(compare, grouper)
    kwargs: dict[str, float | None] = {}
    if config_ratios is not None:
        kwargs = dict(zip(("width_ratio", "lr_ratio", "wd_ratio"), config_ratios, strict=True))
    comparison = compare_scans(
        proxy_scan.records, target_scan.records, tolerance=tolerance, **kwargs
    )
    _emit_compare(proxy_scan, target_scan, comparison, format)


def _config_ratios(proxy: Path, target: Path) -> tuple[float, float, float | None]:
    """(m, hidden η_t/η_p, hidden coupled λ_t/λ_p or None if either λ is 0) from two configs."""
    from hpscale.core.compose import resolve_groups
    from hpscale.loader import load_config

    p, t = load_config(proxy), load_config(target)
    hp, ht = resolve_groups(p)["hidden"], resolve_groups(t)["hidden"]
    m = t.model.width / p.model.width
    wd = None
    if hp.weight_decay_coupled > 0 and ht.weight_decay_coupled > 0:
        wd = ht.weight_decay_coupled / hp.weight_decay_coupled
    return m, ht.lr / hp.lr, wd


def _scan(path: Path, grouper: Grouper) -> Scan:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from hpscale.checkpoints import scan_checkpoint

    console = Console(stderr=True)
    progress = Progress(
        TextColumn("σ_top {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    task: list[Any] = []

    def on_open(total: int) -> None:
        if total > PROGRESS_MIN_TENSORS:
            progress.start()
            task.append(progress.add_task(path.name, total=total))

    def on_tensor(done: int, total: int, name: str) -> None:
        if task:
            progress.update(task[0], completed=done)

    try:
        return scan_checkpoint(path, grouper, on_tensor=on_tensor, on_open=on_open)
    finally:
        progress.stop()


def _console() -> Any:
    from rich.console import Console

    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 160  # piped output: long tensor names on one line, not folded at 80
    return console


def _fmt(x: float | None, digits: int = 5) -> str:
    return "—" if x is None else f"{x:.{digits}g}"


def _write_json(obj: dict[str, Any]) -> None:
    import json

    sys.stdout.write(json.dumps(obj, indent=2, allow_nan=False) + "\n")


def _emit_scan(scan: Scan, fmt: str) -> None:
    from hpscale.output import warn

    warn(scan.warnings)
    if fmt == "json":
        _write_json({"schema_version": SCHEMA_VERSION, "mode": "scan", **scan.to_json(),
                     "warnings": list(scan.warnings)})
        return
    from rich.table import Table

    console = _console()
    table = Table(title=f"{scan.path} ({scan.format})", title_justify="left")
    table.add_column("tensor", overflow="fold")
    for col in ("shape", "group"):
        table.add_column(col, no_wrap=True)
    for col in ("σ_top", "‖W‖_F", "stable rank"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in scan.records:
        st = r.stats
        table.add_row(
            r.name, "×".join(map(str, r.shape)) or "scalar", r.group,
            _fmt(st.sigma_max if st else None), _fmt(st.frobenius if st else None),
            _fmt(st.stable_rank if st else None, 4),
        )
    console.print(table)
    console.print(_group_table(scan))


def _group_table(scan: Scan) -> Any:
    from rich.table import Table

    from hpscale.core.spectrum import group_summary

    table = Table(title="per group", title_justify="left")
    for col in ("group", "tensors", "with σ", "median σ_top"):
        table.add_column(col, justify="left" if col == "group" else "right")
    for g, s in group_summary(scan.records).items():
        table.add_row(g, str(s["tensors"]), str(s["with_sigma"]), _fmt(s["sigma_max_median"]))  # type: ignore[arg-type]
    return table


def _emit_compare(proxy: Scan, target: Scan, comparison: Comparison, fmt: str) -> None:
    from hpscale.output import warn

    warnings = [f"proxy: {w}" for w in proxy.warnings]
    warnings += [f"target: {w}" for w in target.warnings]
    warnings += list(comparison.warnings)
    warn(warnings)
    if fmt == "json":
        _write_json({
            "schema_version": SCHEMA_VERSION,
            "mode": "compare",
            "proxy": proxy.to_json(),
            "target": target.to_json(),
            "compare": comparison.to_json(),
            "warnings": warnings,
        })
        return
    from rich.table import Table

    console = _console()
    c = comparison
    table = Table(
        title="σ_top ratio target / proxy, median per group",
        title_justify="left",
        caption="timescale / sqrt / constant: the hidden ratio each weight-decay width rule "
        "predicts" + ("; configs: the one the two configs' η, λ predict" if c.configured else ""),
        caption_justify="left",
    )
    rules = list(c.predicted)
    table.add_column("group", no_wrap=True)
    for col in ("pairs", "median ratio", *rules):
        table.add_column(col, justify="right", no_wrap=True)
    if c.configured is not None:
        table.add_column("configs", justify="right", no_wrap=True)
    for g, s in c.groups.items():
        preds = [_fmt(c.predicted[r], 4) if g == "hidden" else "" for r in rules]
        row = [g, str(s["pairs"]), _fmt(s["median_ratio"], 4), *preds]  # type: ignore[arg-type]
        if c.configured is not None:
            row.append(_fmt(c.configured, 4) if g == "hidden" else "")
        table.add_row(*row)
    console.print(table)
    m = "unknown" if c.width_ratio is None else f"{c.width_ratio:.4g}"
    lr = "" if c.lr_ratio is None else f"{c.lr_ratio:.4g}"
    console.print(f"proxy:  {proxy.path}\ntarget: {target.path}", highlight=False)
    console.print(f"width ratio m = {m}: from {c.width_ratio_source}", highlight=False)
    if c.lr_ratio is not None:
        console.print(f"hidden η_t/η_p = {lr}: from {c.lr_ratio_source}", highlight=False)
    console.print(f"pairing: {c.pairing}; rules are judged on the hidden group only", highlight=False)
    console.print(f"verdict: {c.verdict.message}", highlight=False)
