"""What several commands' outputs share: numbers as tables show them (``fmt_value``,
``fmt_exponent``), the width a table must fit (``table_width``, ``columns_that_fit``) and Rich
objects rendered to text (``render_rich``).

Rich is imported inside the functions that draw (it is the slowest import on the JSON path).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable
from typing import Any


def fmt_value(value: float | None, digits: int = 5) -> str:
    if value is None:
        return "—"
    if value == float("inf"):
        return "∞"
    if value == 0:
        return "0"
    if 1e-3 <= abs(value) < 1e6:
        return f"{value:.{digits}g}"
    return f"{value:.{digits - 1}e}"


def fmt_exponent(value: float, digits: int = 3) -> str:
    """An exponent as exact as it is, with a real minus sign: −1, +0.5, −0.527, 0."""
    text = f"{value:+.{digits}f}".rstrip("0").rstrip(".")
    return "0" if float(text) == 0 else text.replace("-", "−")


def columns_that_fit(columns: list[tuple[str, int, list[str]]], width: int, *, gap: int = 3) -> list[int]:
    """Indices (in their original order) of the columns a table of ``width`` can show without
    wrapping: columns are ``(header, priority, cells)``, kept by priority (1 first) while their
    natural widths plus ``gap`` per column fit."""
    from rich.cells import cell_len

    natural = [max(cell_len(text) for text in [header, *cells]) + gap for header, _, cells in columns]
    kept: list[int] = []
    used = 2  # the table's outer padding
    for index in sorted(range(len(columns)), key=lambda i: columns[i][1]):
        if used + natural[index] <= width or not kept:
            kept.append(index)
            used += natural[index]
    return sorted(kept)


#: Width of tables written to a pipe or file when ``COLUMNS`` is not set.
PIPE_WIDTH = 100


def table_width() -> int:
    """The columns a table must fit: ``COLUMNS`` if set, else the terminal's width when stdout is
    one, else ``PIPE_WIDTH``. Tables are designed to fit 80 columns (they fold or drop columns
    below their natural width)."""
    import shutil

    return shutil.get_terminal_size((PIPE_WIDTH, 24)).columns


def render_rich(renderables: Iterable[Any], *, color: bool | None = None, width: int | None = None) -> str:
    """Render Rich objects to text at ``width`` (default ``table_width()``), without trailing
    spaces; colour only when writing to a terminal (and ``NO_COLOR`` unset).

    Cells are plain text (no Rich markup or emoji codes); text that comes from an input file
    must pass through ``hpscale.text.printable`` first.
    """
    from rich.console import Console

    buffer = io.StringIO()
    terminal = sys.stdout.isatty() if color is None else color
    console = Console(file=buffer, width=width or table_width(), force_terminal=terminal,
                      no_color=None if terminal else True, highlight=False, markup=False, emoji=False)
    for renderable in renderables:
        # A Text marked no_wrap (a heading to grep for) stays on one line at any width.
        console.print(renderable, soft_wrap=getattr(renderable, "no_wrap", None) is True)
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())

