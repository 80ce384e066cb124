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
    from ..core.rules import RuleChoices

CHECK_FORMATS = ("table", "json")
#: Below this many columns left for "rules / note", the findings table prints them beneath it.
MIN_RULES_WIDTH = 24


def expand_targets(targets: list[Path]) -> list[Path]:
    """Targets as given; a target that is not a file but a glob pattern (``'configs/target-*.yaml'``,
    quoted so that no shell expands it — as pre-commit passes it) is expanded here, sorted. A
    pattern that matches nothing is an error, not an empty check."""
    import glob

    from ..errors import InputFileError

    expanded: list[Path] = []
    for target in targets:
        text = str(target)
        if not target.exists() and any(char in text for char in "*?["):
            matches = sorted(glob.glob(text))
            if not matches:
                raise InputFileError(f"{text}: no target config matches this pattern")
            expanded += [Path(match) for match in matches]
        else:
            expanded.append(target)
    return expanded


@O.with_rule_options
def check_command(
    proxy: O.ProxyArg,
    targets: Annotated[
        list[Path],
        typer.Argument(metavar="TARGET...", help="Target configs to check (YAML), e.g. configs/target-*.yaml, or files an exporter wrote (transfer -f hf, …).",
                       show_default=False),
    ],
    rtol: Annotated[
        str, typer.Option("--rtol", metavar="REL", help="Relative tolerance: |found − expected| ≤ rtol·|expected|.")
    ] = "0.01",
    format: O.format_option(CHECK_FORMATS) = "table",  # type: ignore[valid-type]
    output: O.OutputOpt = None,
    jobs: O.JobsOpt = "0",
    ignore: Annotated[list[str] | None, typer.Option(
        "--ignore", metavar="FIELD",
        help="Leave out a field the team sets by policy (glob; repeatable): optimizer.betas, "
        "param_groups.*.eps, ema_decay, …",
    )] = None,
    law: O.LawOpt = None,
    choices: RuleChoices | None = None,
) -> None:
    """Check that each TARGET states the hyperparameters PROXY transfers to at its scale.

    Exit 0 if every target matches, 1 if any value differs by more than --rtol, 2 on a usage
    or input error (nothing on stdout).
    """
    output_file = O.output_option(output)
    fmt = O.choice("--format", format, CHECK_FORMATS)
    jobs_wanted = O.jobs_option(jobs)
    from dataclasses import asdict

    from ..api import check_targets
    from ..contract import dumps_json
    from ..output import emit, warn

    targets = expand_targets(targets)
    law_file = O.law_option(law)
    results = O.shown(check_targets(proxy, targets, rtol=rtol, law=law_file, ignore=tuple(ignore or ()),
                                    jobs=jobs_wanted, **asdict(choices)))  # type: ignore[arg-type]
    inputs = [proxy, *targets, *([Path(law_file.path)] if law_file else [])]
    color = None if output_file is None else False
    if fmt == "json":
        text = dumps_json(results.to_json_dict())
    else:
        for path, report in results.reports:
            warn(f"{path}: {line}" for line in report.warnings)
        text = render_table(list(results.reports), results.rtol, color=color, law=law_file)
    emit(text, output_file, inputs)
    if not results.ok:
        raise typer.Exit(1)


def _fmt_rel(rel_error: float | None, status: str) -> str:
    if status == "unpredicted":
        return "—"
    if rel_error is None:
        return "∞"
    # A percentage written out in full past 10⁵ % would print hundreds of digits (1e300 found).
    return f"{rel_error:.2%}" if rel_error < 1000 else f"{rel_error * 100:.3g}%"


def _fmt(value: float | None, field: str) -> str:
    """A value as the table shows it; a decay rate near 1 (β, ρ) as 1 − gap, so two values that
    differ in their averaging window never both read "1"."""
    from ..render import fmt_value

    decay = field.startswith("optimizer.betas") or field == "ema_decay"
    if decay and value is not None and 0.999 <= value < 1:
        return f"1 − {1 - value:.4g}"
    return fmt_value(value, 6)


def render_table(reports: list[tuple[str, CheckReport]], rtol: float, *, color: bool | None = None,
                 law: Any = None) -> str:
    """One line per target that matches; a findings table per target that does not; a summary.

    Fits the terminal (``render.table_width``): field paths never wrap (they are grepped for);
    the rules and the note wrap.
    """
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from ..render import render_rich, table_width
    from ..text import printable

    renderables: list[Any] = []
    for path, report in reports:
        checked, shown = report.checked, printable(path)
        ignored = f"; {len(report.ignored)} ignored" if report.ignored else ""
        # Headings are single lines whatever the path length, so `grep ✗` finds every target.
        if report.ok:
            renderables.append(Text(f"✓ {shown}: all {checked} stated values match (rtol {rtol:g}{ignored})",
                                    style="green", no_wrap=True, overflow="ignore"))
            continue
        findings = report.findings
        renderables.append(Text(f"✗ {shown}: {len(findings)} of {checked} stated values differ "
                                f"(rtol {rtol:g}{ignored})", style="bold red", no_wrap=True, overflow="ignore"))
        rows = [(finding.field, _fmt(finding.expected, finding.field), _fmt(finding.found, finding.field),
                 _fmt_rel(finding.rel_error, finding.status),
                 "; ".join(part for part in (", ".join(finding.rules), finding.note) if part)) for finding in findings]
        # Long field paths (a staged target's stages[i].param_groups.…) leave the rules column
        # too narrow to read: then the rules and notes go beneath the table, one line per field.
        natural = sum(max(len(header), *(len(row[i]) for row in rows)) + 2
                      for i, header in enumerate(("field", "expected", "found", "rel. error")))
        beneath = table_width() - natural < MIN_RULES_WIDTH
        table = Table(box=box.SIMPLE_HEAD)
        table.add_column("field", no_wrap=True)
        for column in ("expected", "found", "rel. error"):
            table.add_column(column, justify="right", no_wrap=True)
        if not beneath:
            table.add_column("rules / note", ratio=1, overflow="fold")  # a rule key is never cut to "wd-wi…"
        for field, expected, found, rel, explain in rows:
            table.add_row(field, expected, found, Text(rel, style="red"), *(() if beneath else (explain,)))
        renderables.append(table)
        if beneath:
            renderables += [Text(f"  {field}: {explain}", overflow="fold") for field, *_, explain in rows if explain]
    bad = sum(1 for _, report in reports if not report.ok)
    summary = f"{len(reports) - bad} of {len(reports)} targets match"
    summary += f"; {bad} with findings" if bad else ""
    if law is not None:  # the expectation came from a fitted law on the axes it covers
        summary += f" (expected values under the fitted law {printable(law.name)} from {printable(law.path)})"
    renderables.append(Text(summary, style="bold red" if bad else "bold green"))
    return render_rich(renderables, color=color)
