"""The Typer app: one thin command per module in ``hpscale.commands``.

Exit codes are mapped here and only here:

| code | meaning |
|------|---------|
| 0    | success (``check``: every target matches) |
| 1    | ``check`` found differences |
| 2    | usage or input error, or the output cannot be written: one ``error:`` line per problem on stderr, nothing on stdout |
| 3    | internal error in hpscale (a bug: please report it) |
| 130  | interrupted |
| 141  | stdout was closed early (``hpscale … | head -1``): the result is cut short, silently, as for any Unix tool killed by SIGPIPE (128 + 13) |
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from ._version import __version__
from .errors import HpscaleError
from .output import StdoutClosed, Terminated

EXIT_FINDINGS = 1
EXIT_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

F = TypeVar("F", bound=Callable[..., Any])


def _error(lines: str, code: int = EXIT_INPUT) -> typer.Exit:
    from .text import printable

    for line in lines.splitlines() or ["invalid input"]:
        print(f"error: {printable(line)}", file=sys.stderr)
    return typer.Exit(code)


def _internal_error(exc: BaseException) -> typer.Exit:
    print(
        f"internal error: {type(exc).__name__}: {exc}\n"
        f"This is a bug in hpscale {__version__}; please report it to the hpscale "
        "maintainers with the command and the config that caused it.",
        file=sys.stderr,
    )
    return typer.Exit(EXIT_INTERNAL)


def guarded(func: F) -> F:
    """Turn hpscale's errors into exit codes and one-line messages; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit, BrokenPipeError, StdoutClosed):
            raise
        except HpscaleError as exc:
            from .commands.options import cli_message

            raise _error(cli_message(exc)) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:  # noqa: BLE001 — last line of defence, by design
            raise _internal_error(exc) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        print(f"hpscale {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """hpscale: hyperparameter transfer calculator."""


#: (command name, module, function), in the order `hpscale --help` lists them. A new command is
#: one line here; its module imports only typer at module level (heavy imports inside).
COMMANDS: list[tuple[str, str, str]] = [
    ("transfer", "hpscale.commands.transfer", "transfer_command"),
    ("check", "hpscale.commands.check", "check_command"),
    ("schema", "hpscale.commands.schema", "schema_command"),
    ("timescale", "hpscale.commands.timescale", "timescale_command"),
    ("ladder", "hpscale.commands.ladder", "ladder_command"),
    ("plan", "hpscale.commands.plan", "plan_command"),
    ("explain", "hpscale.commands.explain", "explain_command"),
    ("spectrum", "hpscale.commands.spectrum", "spectrum_command"),
    ("fit", "hpscale.commands.fit", "fit_command"),
    ("ramp", "hpscale.commands.ramp", "ramp_command"),
]


def help_text(func: Callable[..., Any]) -> str:
    """A command's docstring as help: paragraphs reflowed to one line each (Typer keeps a
    docstring's line breaks, which cut sentences where the source wrapped them)."""
    doc = inspect.getdoc(func) or ""
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in doc.split("\n\n"))


def build_app(only: str | None = None) -> typer.Typer:
    """The Typer app with every command, or with just ``only``.

    Typer inspects the signature of every registered command on each call (~5 ms each), so
    ``main`` registers only the command being run; help and completion get them all.
    """
    app = typer.Typer(
        name="hpscale",
        help="Move tuned hyperparameters from a small proxy run to a large target run "
        "(µP, AdamW timescale, √d weight decay, Adam square-root batch rule, model EMA).",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=True,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_root)
    for name, module, function in COMMANDS:
        if only is None or name == only:
            command = getattr(importlib.import_module(module), function)
            app.command(name, help=help_text(command))(guarded(command))
    return app


def _invoked(argv: list[str]) -> str | None:
    """The command named on the command line, if it is one of ours and no completion runs."""
    if any(key.endswith("_COMPLETE") for key in os.environ):
        return None
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    return first if first in {name for name, _, _ in COMMANDS} else None


def __getattr__(name: str) -> Any:
    if name == "app":  # the full app, for tests (CliRunner) and documentation tools
        return build_app()
    raise AttributeError(f"module 'hpscale.cli' has no attribute {name!r}")


def _usage_message(exc: Exception, argv: list[str]) -> str:
    """A Click usage error (unknown option, bad value, missing argument) as one line. Click's
    exceptions document ``format_message()``; Typer vendors Click, so the class is not imported,
    only that interface is used."""
    message = " ".join(str(exc.format_message()).split())  # type: ignore[attr-defined]
    command = _invoked(argv)
    where = f"hpscale {command} --help" if command else "hpscale --help"
    return f"{message[:1].lower()}{message[1:].rstrip('.')} (see '{where}')"


def _completion_misuse(argv: list[str]) -> str | None:
    for index, arg in enumerate(argv[:-1]):
        if arg in ("--show-completion", "--install-completion") and not argv[index + 1].startswith("-"):
            return (f"{arg} takes no shell name ({argv[index + 1]!r}): it works with the shell it "
                    f"is run from; start that shell and run 'hpscale {arg}' there")
    return None


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    misuse = _completion_misuse(args)
    if misuse:
        _error(misuse)
        return EXIT_INPUT
    try:
        return _run(args or ["--help"])  # a bare `hpscale` shows the help
    except (StdoutClosed, BrokenPipeError):
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _run(args: list[str]) -> int:
    """Run the app outside Typer's standalone mode, so that every way out — a usage error, an
    exit, an interruption, a bug while the command line is built — maps to one exit code here."""
    try:
        code = build_app(_invoked(args))(args=args, prog_name="hpscale", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_INPUT)
    except (typer.Abort, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated as exc:  # SIGTERM/SIGHUP during an --output write, cleaned up
        return exc.code
    except (StdoutClosed, BrokenPipeError):
        raise
    except Exception as exc:  # noqa: BLE001 — a Click usage error is recognised by its interface
        if callable(getattr(exc, "format_message", None)) and getattr(exc, "exit_code", None) == EXIT_INPUT:
            return _error(_usage_message(exc, args)).exit_code
        return _internal_error(exc).exit_code
    return code if isinstance(code, int) else 0


def _silence_stdout() -> None:
    """After stdout failed, point it at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
