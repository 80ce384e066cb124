"""Each command's ``--format`` choices are its outputs module's ``FORMATS`` (``hpscale/outputs/``),
so the choices a user can pass and the formats the module renders cannot drift apart."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from hpscale.cli import COMMANDS, app, build_app

LLAMA = str(Path(__file__).resolve().parents[1] / "configs" / "llama-mup-w256.yaml")

#: The commands whose outputs module is hpscale/outputs/NAME.py (every command with --format).
WITH_FORMAT = [name for name, _, _ in COMMANDS if name != "schema"]


def _format_choices(name: str) -> tuple[str, ...]:
    """The values ``hpscale NAME --format`` accepts: the command's metavar ``a|b|c``, which
    ``options.format_option`` builds from the tuple it is given (the command checks the value
    against the same tuple)."""
    sub = typer.main.get_command(build_app(only=name)).commands[name]  # type: ignore[attr-defined]
    option = next(p for p in sub.params if "--format" in getattr(p, "opts", ()))
    return tuple(option.metavar.split("|"))


@pytest.mark.parametrize("name", WITH_FORMAT)
def test_format_choices_are_the_outputs_modules_formats(name: str) -> None:
    formats = importlib.import_module(f"hpscale.outputs.{name}").FORMATS
    assert _format_choices(name) == tuple(formats)
    assert formats[0] == "table"  # the default every command documents


@pytest.mark.parametrize("name", ["transfer", "check", "ladder", "explain", "spectrum", "fit"])
def test_a_format_outside_formats_is_refused_naming_the_allowed(name: str) -> None:
    args = {"transfer": [LLAMA], "check": [LLAMA, "x.yaml"], "ladder": [LLAMA], "explain": [],
            "spectrum": ["x.safetensors"], "fit": ["x.csv", "--by", "width", "--optimize", "lr"]}[name]
    formats = importlib.import_module(f"hpscale.outputs.{name}").FORMATS
    result = CliRunner().invoke(app, [name, *args, "--format", "nope"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [f"error: --format: 'nope': allowed: {', '.join(formats)}"]
