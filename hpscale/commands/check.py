"""``hpscale check``: does each TARGET config match PROXY under the transfer rules?

Exit codes: 0 every target matches; 1 at least one finding; 2 a usage or input error in *any*
file (every input is loaded and transferred before anything is printed, so an input error
never produces a partial report: stdout stays empty and every problem of every file is
listed on stderr); 3 an internal error.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import options as O

if TYPE_CHECKING:
    from ..core.check import CheckReport
    from ..core.compose import RuleChoices

CHECK_FORMATS = ("table", "json")


def _rtol(value: str) -> float:
    from ..errors import InputError
    from ..numbers import parse_number

    try:
        rtol = parse_number(value)
    except ValueError as exc:
        raise InputError(f"--rtol: {value!r}: {exc}") from None
    if not 0 <= rtol <= 1:
        raise InputError(f"--rtol: {value!r}: must be a relative tolerance in [0, 1], e.g. 0.01 for 1 %")
    return rtol


def _check_file(shared: tuple[Any, ...], path: Path) -> tuple[CheckReport | None, list[str]]:
    """Load one target and compare it: (report, []) or (None, the input problems).

    ``shared = (proxy config, read_proxy(proxy), choices, rtol)``.
    """
    from ..core.check import compare, stated_fields
    from ..errors import InputError
    from ..loader import config_from_data, parse_yaml, read_text
    config, run, choices, tolerance = shared
    try:
        # The raw mapping says which values the file states; validation fills in defaults.
        data = parse_yaml(read_text(path), str(path))
        target = config_from_data(data, str(path))
        report = compare(config, target, choices, tolerance, stated_fields(data), run)
        return report.without_matches(), []
    except InputError as exc:
        # Loader messages already start with the path; transfer/compare messages do not.
        prefix = f"{path}:"
        return None, [line if line.startswith(prefix) else f"{prefix} {line}" for line in str(exc).splitlines()]


@O.with_rule_options
def check_command(
    proxy: Annotated[Path, typer.Argument(help="Proxy-run config (YAML).", show_default=False)],
    targets: Annotated[
        list[Path],
        typer.Argument(help="Target configs to check (YAML), e.g. configs/target-*.yaml.", show_default=False),
    ],
    rtol: Annotated[
        str, typer.Option("--rtol", help="Relative tolerance: |found − expected| ≤ rtol·|expected|.")
    ] = "0.01",
    format: Annotated[str, typer.Option("--format", "-f", help="table | json")] = "table",
    output: O.OutputOpt = None,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", help="Worker processes; 0 = one per CPU for 200+ targets, else 1.")
    ] = 0,
    choices: RuleChoices | None = None,
) -> None:
    """Check that each TARGET states the hyperparameters PROXY transfers to at its scale.

    Exit 0 if every target matches, 1 if any value differs by more than --rtol, 2 on a usage
    or input error (nothing on stdout).
    """
    fmt = O.choice("--format", format, CHECK_FORMATS)
    tolerance = _rtol(rtol)
    from ..contract import dumps_json, report_json
    from ..core.compose import read_proxy
    from ..errors import InputError
    from ..loader import load_config
    from ..output import emit, warn
    from ..parallel import ordered_map, worker_count

    config = load_config(proxy)
    shared = (config, read_proxy(config), choices, tolerance)
    outcomes = ordered_map(_check_file, targets, worker_count(jobs, len(targets)), shared)
    reports = [(str(path), report) for path, (report, _) in zip(targets, outcomes, strict=True) if report]
    problems = [line for _, lines in outcomes for line in lines]
    if problems:
        raise InputError("\n".join(problems))

    inputs = [proxy, *targets]
    color = None if output is None else False
    if fmt == "json":
        text = dumps_json(report_json(reports, choices, tolerance))  # type: ignore[arg-type]
    else:
        for path, report in reports:
            warn(f"{path}: {line}" for line in report.warnings)
        text = render_table(reports, tolerance, color=color)
    emit(text, output, inputs)
    if not all(report.ok for _, report in reports):
        raise typer.Exit(1)


def _fmt_rel(rel_error: float | None, status: str) -> str:
    if status == "unpredicted":
        return "—"
    return "∞" if rel_error is None else f"{rel_error:.2%}"


def render_table(reports: list[tuple[str, CheckReport]], rtol: float, *, color: bool | None = None) -> str:
    """One line per target that matches; a findings table per target that does not; a summary."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from ..render import fmt_value, render_rich

    renderables: list[Any] = []
    for path, report in reports:
        checked = report.checked
        # Headings are single lines whatever the path length, so `grep ✗` finds every target.
        if report.ok:
            renderables.append(Text(f"✓ {path}: all {checked} stated values match (rtol {rtol:g})",
                                    style="green", no_wrap=True, overflow="ignore"))
            continue
        findings = report.findings
        renderables.append(Text(f"✗ {path}: {len(findings)} of {checked} stated values differ "
                                f"(rtol {rtol:g})", style="bold red", no_wrap=True, overflow="ignore"))
        table = Table(box=box.SIMPLE_HEAD)
        columns = [("field", "left"), ("expected", "right"), ("found", "right"),
                   ("rel. error", "right"), ("rules", "left")]
        notes = any(finding.note for finding in findings)
        for column, justify in columns + ([("note", "left")] if notes else []):
            # Field paths and rule keys are identifiers to grep for: never cut or wrapped.
            table.add_column(column, justify=justify, no_wrap=column != "note")  # type: ignore[arg-type]
        for finding in findings:
            cells = [finding.field, fmt_value(finding.expected, 6), fmt_value(finding.found, 6),
                     Text(_fmt_rel(finding.rel_error, finding.status), style="red"),
                     ", ".join(finding.rules)]
            table.add_row(*cells, *([finding.note] if notes else []))
        renderables.append(table)
    bad = sum(1 for _, report in reports if not report.ok)
    summary = f"{len(reports) - bad} of {len(reports)} targets match"
    summary += f"; {bad} with findings" if bad else ""
    renderables.append(Text(summary, style="bold red" if bad else "bold green"))
    # No trailing padding: the table is pasted into CI logs and pull-request comments.
    return "\n".join(line.rstrip() for line in render_rich(renderables, color=color, width=160).splitlines()) + "\n"
