"""The Typer app: one thin command per module in ``hpscale.commands``.

Exit codes are mapped here and only here:

| code | meaning |
|------|---------|
| 0    | success (``check``: every target matches) |
| 1    | ``check`` found differences |
| 2    | usage or input error (one line per problem on stderr, nothing on stdout) |
| 3    | internal error in hpscale (a bug: please report it) |
| 130  | interrupted |
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from . import __version__
from .errors import HpscaleError

EXIT_FINDINGS = 1
EXIT_INPUT = 2
EXIT_INTERNAL = 3

F = TypeVar("F", bound=Callable[..., Any])


def guarded(func: F) -> F:
    """Turn hpscale's errors into exit codes and one-line messages; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except HpscaleError as exc:
            from .output import printable

            for line in str(exc).splitlines() or ["invalid input"]:
                print(f"error: {printable(line)}", file=sys.stderr)
            raise typer.Exit(EXIT_INPUT) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise typer.Exit(130) from None
        except BrokenPipeError:
            # The reader went away (e.g. `| head`); nothing more can be written.
            sys.stdout = None  # type: ignore[assignment]
            raise typer.Exit(0) from None
        except Exception as exc:  # noqa: BLE001 — last line of defence, by design
            print(
                f"internal error: {type(exc).__name__}: {exc}\n"
                f"This is a bug in hpscale {__version__}; please report it to the hpscale "
                "maintainers with the command and the config that caused it.",
                file=sys.stderr,
            )
            raise typer.Exit(EXIT_INTERNAL) from None

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
    ("explain", "hpscale.commands.explain", "explain_command"),
    ("spectrum", "hpscale.commands.spectrum", "spectrum_command"),
    ("fit", "hpscale.commands.fit", "fit_command"),
]


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
            app.command(name)(guarded(getattr(importlib.import_module(module), function)))
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


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns the exit code."""
    args = sys.argv[1:] if argv is None else argv
    try:
        guarded(_run)(args)
    except typer.Exit as exc:  # raised by ``guarded`` itself, outside Typer's handling
        return exc.exit_code
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else EXIT_INPUT)
    return 0


def _run(args: list[str]) -> None:
    # Inside ``guarded`` too: a failure while Typer builds the command line is still exit 3.
    build_app(_invoked(args))(args=args, prog_name="hpscale")
