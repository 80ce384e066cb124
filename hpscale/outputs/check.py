"""``hpscale check``'s outputs: its ``--format`` choices, the findings table and the JSON text
(the results and their contract are ``hpscale.core.check.CheckResults``). Rich is imported only
by the table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..core.check import CheckReport, CheckResults

#: ``--format`` choices; the first is the default.
FORMATS = ("table", "json")
#: Below this many columns left for "rules / note", the findings table prints them beneath it.
MIN_RULES_WIDTH = 24


def render(results: CheckResults, fmt: str, *, color: bool | None = None, law: Any = None) -> str:
    """The text ``hpscale check --format fmt`` prints (``law``: the ``--law`` the table names)."""
    if fmt == "json":
        from ..contract import dumps_json

        return dumps_json(results.to_json_dict())
    return render_table(list(results.reports), results.rtol, color=color, law=law)


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
    from .common import fmt_value

    decay = field.startswith("optimizer.betas") or field == "ema_decay"
    if decay and value is not None and 0.999 <= value < 1:
        return f"1 − {1 - value:.4g}"
    return fmt_value(value, 6)


def render_table(reports: list[tuple[str, CheckReport]], rtol: float, *, color: bool | None = None,
                 law: Any = None) -> str:
    """One line per target that matches; a findings table per target that does not; a summary.

    Fits the terminal (``common.table_width``): field paths never wrap (they are grepped for);
    the rules and the note wrap.
    """
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from ..text import printable
    from .common import render_rich, table_width

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
