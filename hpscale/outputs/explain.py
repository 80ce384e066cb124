"""``hpscale explain``'s outputs: its ``--format`` choices, one rule as plain text, the list of
rules as a table, and the JSON text (the result is ``hpscale.core.explain``'s). Rich is imported
only by the table."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..core.explain import Explanation

#: ``--format`` choices; the first is the default.
FORMATS = ("table", "json")
_FIELDS = ("invariant", "convention", "validity", "reference")
_RST_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")
_RST_LITERAL = re.compile(r"``([^`]+)``")


def plain_rst(text: str) -> str:
    """A docstring as plain text for the terminal: reST inline literals (````timescale````) and
    roles (``:func:`f```) lose their markup. JSON keeps the docstring verbatim."""
    return _RST_LITERAL.sub(r"\1", _RST_ROLE.sub(r"\1", text))


def render_entry(entry: dict[str, Any]) -> str:
    """Plain text (no Rich: safe to pipe), wrapped to the terminal's width; the formula is the
    rule's docstring."""
    import textwrap

    from .common import table_width

    width = max(40, table_width())

    def field(name: str, text: str) -> list[str]:
        return textwrap.wrap(text, width, initial_indent=f"{name:<11} ", subsequent_indent=" " * 12,
                             break_on_hyphens=False) or [name]

    lines = [*textwrap.wrap(f"{entry['key']} — {entry['title']}", width), "",
             *field("function", entry["function"]), "formula"]
    for line in plain_rst(entry["formula"]).splitlines():
        lines += textwrap.wrap(line, width, initial_indent="  ", subsequent_indent="    ",
                               break_on_hyphens=False) if line.strip() else [""]
    lines.append("")
    for name in _FIELDS:
        lines += field(name, entry[name])
    return "\n".join(lines) + "\n"


def render_list(entries: list[dict[str, Any]], color: bool | None) -> str:
    from rich import box
    from rich.table import Table

    from .common import render_rich

    table = Table(title="hpscale rules (hpscale explain RULE: formula, invariant, limits)",
                  box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("rule", "title", "arXiv"):
        table.add_column(column, no_wrap=column != "title")
    for entry in entries:
        table.add_row(entry["key"], entry["title"], "\n".join(entry["arxiv"]))
    return render_rich([table], color=color)


def render(explained: Explanation, fmt: str, *, listing: bool, color: bool | None) -> str:
    """The text ``hpscale explain [RULE] --format fmt`` prints: the JSON contract, the table of
    every rule (``listing``: no RULE given) or the one rule as plain text."""
    if fmt == "json":
        from ..contract import dumps_json

        return dumps_json(explained.to_json_dict())
    entries = [entry.to_json_dict() for entry in explained.rules]
    return render_list(entries, color) if listing else render_entry(entries[0])
