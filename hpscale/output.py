"""Where results go: stdout, or a file written atomically that is never one of the inputs."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .errors import InputFileError


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def write_atomic(path: Path, text: str, inputs: Iterable[Path] = ()) -> None:
    """Write ``text`` to ``path`` via a temp file in the same folder and ``os.replace``.

    Refuses to overwrite any of ``inputs`` and to write into a missing folder; on any failure
    the temp file is removed and ``path`` is left as it was.
    """
    for source in inputs:
        if _same_file(path, source) or path.resolve() == source.resolve():
            raise InputFileError(f"--output: {path}: is an input file; refusing to overwrite it")
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputFileError(f"--output: {path}: is a directory, expected a file path")
    if not folder.is_dir():
        raise InputFileError(f"--output: {path}: folder {folder} does not exist")
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, path)
    except BaseException as exc:
        try:
            os.unlink(temp_name)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise InputFileError(f"--output: {path}: cannot write: {exc.strerror or exc}") from None
        raise


def emit(text: str, output: Path | None, inputs: Iterable[Path] = ()) -> None:
    """Send a finished result to ``output`` (atomically) or to stdout."""
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomic(output, text, inputs)
        print(f"wrote {output}", file=sys.stderr)


def warn(lines: Iterable[str]) -> None:
    """Warnings go to stderr, one ``warning:`` line each (control characters escaped)."""
    for line in lines:
        print(f"warning: {printable(line)}", file=sys.stderr)


def printable(text: str) -> str:
    """``text`` with every character a terminal could act on written as an escape: C0/C1 control
    characters (ESC sequences clear the screen or retitle the window), bidirectional overrides and
    isolates (they reorder what the reader sees), and lone surrogates. Tabs stay; anything printed
    that came from an input file (names, keys, paths) goes through this first."""
    if text.isprintable():
        return text
    return "".join(_escape(char) for char in text)


_BIDI = frozenset(chr(code) for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F))


def _escape(char: str) -> str:
    code = ord(char)
    if char == "\t" or not (code < 0x20 or 0x7F <= code <= 0x9F or char in _BIDI or 0xD800 <= code <= 0xDFFF):
        return char
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
