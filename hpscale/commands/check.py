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


def _check_file(shared: tuple[Any, ...], path: Path) -> tuple[CheckReport | None, list[str]]:
    """Load one target and compare it: (report, []) or (None, the input problems).

    ``shared = (proxy config, read_proxy(proxy), choices, rtol, ignore patterns, law)``.
    """
    from dataclasses import replace

    from ..core.check import compare, stated_fields
    from ..core.staged import is_staged
    from ..errors import InputError
    from ..export import read_export
    from ..loader import config_from_data, parse_yaml, read_text
    config, run, choices, tolerance, ignore, law = shared
    try:
        # The raw mapping says which values the file states; validation fills in defaults.
        text = read_text(path)
        exported = read_export(text, str(path))  # a trainer's file from an exporter
        data, skipped, notes = exported if exported else (parse_yaml(text, str(path)), (), [])
        if is_staged(data):  # a batch ramp (hpscale ramp -f json|yaml): every stage is checked
            report = _check_stages(data, str(path), shared)
        else:
            target = config_from_data(data, str(path))
            report = compare(config, target, choices, tolerance, stated_fields(data), run, (*ignore, *skipped), law)
        notes = [*notes, *_rules_note(_recorded_rules(text, data), choices)]
        if notes:
            report = replace(report, warnings=(*report.warnings, *notes))
        return report.without_matches(), []
    except InputError as exc:
        # Loader messages already start with the path; transfer/compare messages do not.
        prefix = f"{path}:"
        return None, [line if line.startswith(prefix) else f"{prefix} {line}" for line in str(exc).splitlines()]


def _check_stages(doc: Any, source: str, shared: tuple[Any, ...]) -> CheckReport:
    """A staged target: each stage checked as the target config it stands for (core/staged.py),
    the reports joined, fields named ``stages[i].…``."""
    from ..core.check import compare
    from ..core.staged import document_path, merge_stage_reports, reference_comparison, stage_configs
    from ..errors import InputError
    from ..loader import config_from_data

    config, run, choices, tolerance, ignore, law = shared
    reports = []
    for index, (data, stated) in enumerate(stage_configs(doc, config)):
        try:
            target = config_from_data(data, "stage")
        except InputError as exc:  # name the document's own paths: stages[2].batch_size, target.width
            lines = (line.removeprefix("stage: ") for line in str(exc).splitlines())
            raise InputError("\n".join(
                f"{source}: " + (document_path(line) if line.startswith(("model.", "data.dataset_size"))
                                 else f"stages[{index}].{document_path(line)}") for line in lines)) from None
        reports.append(compare(config, target, choices, tolerance, stated, run, ignore, law))
    return merge_stage_reports(reports, reference_comparison(doc, config.data.batch_size, tolerance), tolerance)


def _recorded_rules(text: str, data: Any) -> dict[str, str]:
    """The rule choices a target records: ``transfer``'s ``# rules:`` line, or a ramp document's
    ``rules`` mapping (string values only)."""
    from ..contract import recorded_rules
    from ..core.staged import is_staged

    if is_staged(data) and isinstance(data.get("rules"), dict):
        return {str(k): v for k, v in data["rules"].items() if isinstance(v, str)}
    return recorded_rules(text)


def _rules_note(recorded: dict[str, str], choices: RuleChoices | None) -> list[str]:
    """A note when the target records (``# rules:``, written by ``transfer``; a ramp's ``rules``)
    rule choices other than the ones this check uses, naming the flags that check it under its
    own rules.

    Why a note, not an automatic switch: the rules are the review's standard; a target made
    under another rule should fail a team's check, but the reviewer must see why at once
    (issue 17 item 4)."""
    from dataclasses import fields

    from ..core.rules import RuleChoices

    used = choices or RuleChoices()
    known = {f.name for f in fields(used)}
    differ = {name: value for name, value in recorded.items()
              if name in known and getattr(used, name) != value}
    if not differ:
        return []
    flags = " ".join(f"{O.flag(name)} {value}" for name, value in differ.items())
    shown = ", ".join(f"{name.removesuffix('_rule').replace('_', '-')}={value}" for name, value in differ.items())
    return [f"the target records {shown} (# rules:), this check uses "
            + ", ".join(f"{getattr(used, name)}" for name in differ)
            + f"; to check it under its own rules pass {flags}"]


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
    tolerance = _rtol(rtol)
    jobs_wanted = O.jobs_option(jobs)
    from ..contract import dumps_json, report_json
    from ..core.check import ignore_matcher
    from ..core.compose import read_proxy
    from ..errors import InputError
    from ..loader import load_config
    from ..output import emit, warn
    from ..parallel import ordered_map, worker_count

    patterns = tuple(ignore or ())
    ignore_matcher(patterns)  # refuse a pattern that matches no checked field before any work
    targets = expand_targets(targets)
    law_file = O.law_option(law)
    config = load_config(proxy)
    shared = (config, read_proxy(config), choices, tolerance, patterns, law_file)
    outcomes = ordered_map(_check_file, targets, worker_count(jobs_wanted, len(targets)), shared)
    reports = [(str(path), report) for path, (report, _) in zip(targets, outcomes, strict=True) if report]
    problems = [line for _, lines in outcomes for line in lines]
    if problems:
        raise InputError("\n".join(problems))

    inputs = [proxy, *targets, *([Path(law_file.path)] if law_file else [])]
    color = None if output_file is None else False
    if fmt == "json":
        text = dumps_json(report_json(reports, choices, tolerance, law_file))  # type: ignore[arg-type]
    else:
        for path, report in reports:
            warn(f"{path}: {line}" for line in report.warnings)
        text = render_table(reports, tolerance, color=color, law=law_file)
    emit(text, output_file, inputs)
    if not all(report.ok for _, report in reports):
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
