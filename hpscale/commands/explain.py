"""``hpscale explain [RULE]``: every scaling rule, printed from the registry the numbers use.

Each entry is ``hpscale.rules.RULES[key]`` (title, invariant, convention, validity, reference)
plus ``inspect.getdoc`` of the rule's function (formula and symbols). Nothing here is written
by hand, so the explanation cannot drift from the code that computes the factors; the keys are
the ``rule`` names that ``transfer --format json`` prints in its ``factors``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer

from . import options as O

EXPLAIN_FORMATS = ("table", "json")
_FIELDS = ("invariant", "convention", "validity", "reference")
_ARXIV = re.compile(r"arXiv[ :](\d{4}\.\d{4,5})")


def rule_entry(key: str) -> dict[str, Any]:
    """The explain entry of one registered rule (raises ``KeyError`` for unknown keys)."""
    import inspect

    from ..core.rules import RULES

    info = RULES[key]
    return {
        "key": info.key,
        "title": info.title,
        "function": f"{info.func.__module__}.{info.func.__name__}",
        "formula": inspect.getdoc(info.func) or "",
        "invariant": info.invariant,
        "convention": info.convention,
        "validity": info.validity,
        "reference": info.reference,
        "arxiv": list(dict.fromkeys(_ARXIV.findall(info.reference))),
    }


def resolve_rule(name: str) -> str:
    """``name`` if it is a rule key, else an ``InputError`` with the closest keys."""
    import difflib

    from ..core.rules import RULES
    from ..errors import InputError

    if name in RULES:
        return name
    close = difflib.get_close_matches(name, list(RULES), n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    raise InputError(f"RULE: {name!r}: unknown rule; {hint}allowed: {', '.join(RULES)}")


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

    from ..render import table_width

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

    from ..render import render_rich

    table = Table(title="hpscale rules (hpscale explain RULE: formula, invariant, limits)",
                  box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("rule", "title", "arXiv"):
        table.add_column(column, no_wrap=column != "title")
    for entry in entries:
        table.add_row(entry["key"], entry["title"], "\n".join(entry["arxiv"]))
    return render_rich([table], color=color)


def explain_command(
    rule: Annotated[str | None, typer.Argument(metavar="[RULE]", help="Rule key (as in transfer's factors); omit to list all.", show_default=False)] = None,
    format: O.format_option(EXPLAIN_FORMATS) = "table",  # type: ignore[valid-type]
    output: O.OutputOpt = None,
) -> None:
    """Explain the scaling rules: formula, symbols, invariant, convention, validity, reference."""
    output_file = O.output_option(output)
    from ..contract import dumps_json
    from ..core.rules import RULES
    from ..core.transfer_result import SCHEMA_VERSION
    from ..output import emit

    fmt = O.choice("--format", format, EXPLAIN_FORMATS)
    color = None if output_file is None else False
    if rule is None:
        entries = [rule_entry(key) for key in RULES]
        text = (dumps_json({"schema_version": SCHEMA_VERSION, "rules": entries}) if fmt == "json"
                else render_list(entries, color))
    else:
        entry = rule_entry(resolve_rule(rule))
        text = dumps_json({"schema_version": SCHEMA_VERSION, **entry}) if fmt == "json" else render_entry(entry)
    emit(text, output_file)
