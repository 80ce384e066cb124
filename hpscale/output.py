"""Where results go: stdout, or a file written atomically that is never one of the inputs.

``--output FILE`` guarantees (each has a test):

- the file appears complete or not at all: the text goes to a temporary file in the same folder,
  is flushed to disk, then renamed over FILE; on any failure — a full disk, an interrupt,
  SIGTERM or SIGHUP — the temporary file is removed and FILE is left as it was;
- an input file is never overwritten, under any name;
- FILE keeps its permission bits if it exists; a new file gets the usual ``0666 & ~umask``;
- if FILE is a symbolic link, the file it points to is replaced and the link stays a link;
- a path that names a folder (``out/``), a missing folder, a folder that cannot be written,
  ``/proc`` or ``/sys``, or an existing file that is not a regular file (``/dev/null``, a FIFO:
  redirect stdout instead) is refused with the path and the reason (exit 2).

Writing to stdout: a reader that goes away early (``| head``) ends the program quietly (exit
141, see ``hpscale.cli``); any other write error (``> /dev/full``) is an exit-2 error.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from .errors import InputFileError
from .text import printable


class StdoutClosed(BaseException):
    """The reader of stdout went away (``| head``). A ``BaseException``, so that no ``except
    Exception`` on the way — Typer's own handler turns a broken pipe into exit 1 — mistakes it
    for an error; ``hpscale.cli`` ends the program quietly with 141."""


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived while a file was being written (``code`` = 128 + signal)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by signal {signum}")
        self.code = 128 + signum


def output_path(value: str | os.PathLike[str] | None) -> Path | None:
    """The ``--output`` value as a path; a name that can only be a folder is refused."""
    if value is None:
        return None
    text = os.fspath(value)
    if text == "" or text.endswith(("/", os.sep)) or Path(text).name in ("", ".", ".."):
        raise InputFileError(f"--output: {text!r}: names a folder; give a file path such as out/result.json")
    return Path(text)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _destination(path: Path, inputs: Iterable[Path]) -> tuple[Path, int | None]:
    """The real file to replace (through symbolic links) and its current mode, after the checks."""
    real = Path(os.path.realpath(path))
    if real.parts[1:2] in (("proc",), ("sys",)):  # /dev/stdout → /proc/<pid>/fd/1: the kernel's files
        raise InputFileError(f"--output: {path}: lies in /{real.parts[1]} (the kernel's files, not a place "
                             "for results); leave out --output and redirect stdout instead")
    for source in inputs:
        if os.fspath(source) == "-":
            continue
        if _same_file(real, Path(source)) or real == Path(os.path.realpath(source)):
            raise InputFileError(f"--output: {path}: is an input file; refusing to overwrite it")
    try:
        info = os.stat(real)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise InputFileError(f"--output: {path}: cannot be written: {exc.strerror or exc}") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise InputFileError(f"--output: {path}: is a directory, expected a file path")
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise InputFileError(f"--output: {path}: not a regular file (a device or a pipe); leave out "
                             "--output and redirect stdout instead")
    if not real.parent.is_dir():
        raise InputFileError(f"--output: {path}: folder {real.parent} does not exist")
    return real, None if info is None else stat.S_IMODE(info.st_mode)


def check_destination(path: Path, inputs: Iterable[Path] = ()) -> None:
    """Raise the ``--output`` error ``write_atomic`` would, before a long computation starts."""
    _destination(path, inputs)


def _umask_mode() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def _signals_as_exceptions() -> Iterator[None]:
    """While a file is written, SIGTERM and SIGHUP raise ``Terminated`` (so cleanup runs)."""
    def handler(signum: int, _frame: object) -> None:
        raise Terminated(signum)

    saved = {}
    try:
        for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if sig is not None:
                saved[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: no handlers can be installed; write anyway
        pass
    try:
        yield
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, previous)


_HELD = tuple(sig for sig in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if sig is not None)


def _hold_signals() -> object:
    """Block SIGTERM and SIGHUP (where POSIX signal masks exist); the previous mask, or None."""
    if not hasattr(signal, "pthread_sigmask"):
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)


def _release_signals(previous: object) -> None:
    """Restore the mask ``_hold_signals`` saved: a signal held meanwhile is handled now."""
    if previous is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # type: ignore[arg-type]


@contextlib.contextmanager
def atomic_file(path: Path, inputs: Iterable[Path] = ()) -> Iterator[TextIO]:
    """A text file to write that replaces ``path`` only when the block completes."""
    import tempfile

    real, mode = _destination(path, inputs)
    with _signals_as_exceptions():
        # SIGTERM/SIGHUP are held while mkstemp creates the file and names it: one arriving in
        # between would raise before temp_name exists and leave the file behind. A held signal
        # is delivered at the unmask below, inside the block that removes the file.
        held = _hold_signals()
        try:
            handle, temp_name = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=real.parent)
        except OSError as exc:
            _release_signals(held)
            raise InputFileError(f"--output: {path}: cannot write in {real.parent}: {exc.strerror or exc}") from None
        try:
            try:
                _release_signals(held)
            except BaseException:
                os.close(handle)
                raise
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                yield stream
                stream.flush()
                os.fchmod(stream.fileno(), mode if mode is not None else _umask_mode())
                os.fsync(stream.fileno())
            os.replace(temp_name, real)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
            if isinstance(exc, OSError):
                raise InputFileError(f"--output: {path}: cannot write: {exc.strerror or exc}") from None
            raise


def write_atomic(path: Path, text: str, inputs: Iterable[Path] = ()) -> None:
    """Write ``text`` to ``path`` atomically (see the module docstring)."""
    with atomic_file(path, inputs) as stream:
        stream.write(text)


def write_stdout(text: str) -> None:
    """Write a result to stdout; a broken pipe propagates (exit 141), other errors are exit 2."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise StdoutClosed from None
    except OSError as exc:
        raise InputFileError(f"stdout: cannot write the result: {exc.strerror or exc}") from None


def emit(text: str, output: Path | None, inputs: Iterable[Path] = ()) -> None:
    """Send a finished result to ``output`` (atomically) or to stdout."""
    if output is None:
        write_stdout(text)
    else:
        write_atomic(output, text, inputs)
        print(f"wrote {printable(str(output))}", file=sys.stderr)


def warn(lines: Iterable[str]) -> None:
    """Warnings go to stderr, one ``warning:`` line each (control characters escaped)."""
    for line in lines:
        print(f"warning: {printable(line)}", file=sys.stderr)
