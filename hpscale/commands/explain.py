"""``hpscale explain [RULE]``: parse → ``hpscale.explain`` (``hpscale.core.explain``: every
scaling rule, from the registry the numbers use) → write what ``hpscale.outputs.explain``
renders (plain text, a table, or JSON)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..outputs.explain import FORMATS
from . import options as O


def explain_command(
    rule: Annotated[str | None, typer.Argument(metavar="[RULE]", help="Rule key (as in transfer's factors); omit to list all.", show_default=False)] = None,
    format: O.format_option(FORMATS) = "table",  # type: ignore[valid-type]
    output: O.OutputOpt = None,
) -> None:
    """Explain the scaling rules: formula, symbols, invariant, convention, validity, reference."""
    output_file = O.output_option(output)
    from ..api import explain
    from ..output import emit
    from ..outputs.explain import render

    fmt = O.choice("--format", format, FORMATS)
    color = None if output_file is None else False
    emit(render(explain(rule), fmt, listing=rule is None, color=color), output_file)
