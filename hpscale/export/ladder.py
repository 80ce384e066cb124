"""``hpscale ladder --format EXPORTER``: one trainer file per target of the ladder.

``--output`` is a path pattern with ``{row}`` (the target's number, from 1) or the target's
``{width}``, ``{depth}``, ``{batch_size}``, ``{dataset_size}``: every target gets its own file,
so the pattern must name them apart. Every row is transferred and exported before any file is
written, so an error in row 50 leaves no files from rows 1–49 behind.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

from ..errors import InputError

#: The names a pattern may use.
FIELDS = ("row", "width", "depth", "batch_size", "dataset_size")


def _pattern(output: Path | None, fmt: str) -> str:
    if output is None:
        raise InputError(f"--output: missing: --format {fmt} writes one file per target; give a pattern "
                         "such as 'runs/w{width}.yaml' or 'runs/{row}.args'")
    text = str(output)
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise InputError(f"--output: {text!r}: not a pattern ({exc})") from None
    unknown = names - set(FIELDS)
    if unknown or not names:
        raise InputError(f"--output: {text!r}: a pattern needs one of {{{'}, {'.join(FIELDS)}}}"
                         + (f"; unknown: {', '.join(sorted(unknown))}" if unknown else ""))
    return text


def _size(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def ladder_export(results: list[Any], fmt: str, sizes: Any, output: Path | None, inputs: list[Path]) -> None:
    """Export every result (a ``TransferResult`` per row) and write the files, each atomically."""
    from ..output import check_destination, warn, write_atomic
    from ..outputs.ladder import stderr_warnings
    from ..text import printable
    from . import export

    pattern = _pattern(output, fmt)
    files: dict[Path, str] = {}
    notes: list[tuple[str, ...]] = []
    for row, result in enumerate(results, start=1):
        t = result.target
        path = Path(pattern.format(row=row, width=t.width, depth=t.depth, batch_size=_size(t.batch_size),
                                   dataset_size=_size(t.dataset_size)))
        if path in files:
            raise InputError(f"--output: {pattern!r}: targets share the file {path}; name them apart, e.g. with {{row}}")
        try:
            exported = export(result, fmt, sizes)
        except InputError as exc:
            raise InputError(f"target {row}: {exc}") from None
        check_destination(path, inputs)
        files[path] = exported.text
        notes.append((*result.warnings, *exported.notes))
    warn(stderr_warnings(notes))
    import sys

    for path, text in files.items():
        write_atomic(path, text, inputs)
        print(f"wrote {printable(str(path))}", file=sys.stderr)
