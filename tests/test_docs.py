"""Every command has help text and a README section; the README's quick start is the CI command."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpscale.cli import COMMANDS, app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", [name for name, _, _ in COMMANDS])
def test_every_command_has_help_and_a_readme_section(name):
    result = CliRunner().invoke(app, [name, "--help"])
    assert result.exit_code == 0 and "Usage" in result.stdout
    assert f"## hpscale {name}" in README


def test_ci_runs_the_readme_test_command():
    command = "pip install -e '.[test]' && pytest"
    assert command in README
    assert command in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_readme_python_example_runs(monkeypatch):
    block = README.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 — our own documentation
    assert namespace["result"].groups["hidden"].lr.target > 0
