"""Every command has help and a docs page; every example's output in the README and docs/ is real.

Examples are checked by ``tests/readme.py`` (run it with ``--update`` to rewrite them); ``>>>``
examples in the README, the docs pages and the public API's docstrings run as doctests.
"""

from __future__ import annotations

import doctest
import importlib
import os
import re
from pathlib import Path

import pytest
import readme
from typer.testing import CliRunner

from hpscale.cli import COMMANDS, app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PAGES = readme.pages()


@pytest.mark.parametrize("name", [name for name, _, _ in COMMANDS])
def test_every_command_has_help_and_a_docs_page(name):
    result = CliRunner().invoke(app, [name, "--help"])
    assert result.exit_code == 0 and "Usage" in result.stdout
    page = ROOT / "docs" / f"{name}.md"
    assert page.read_text(encoding="utf-8").startswith(f"# hpscale {name}")
    assert f"](docs/{name}.md)" in README


def test_ci_runs_the_readme_test_command():
    command = "pip install -e '.[test]' && pytest"
    assert command in README
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert command in ci
    # ... in a virtual environment made fresh just before it, so the newest releases are what it
    # tests (a Python that already holds older packages hid a failure of PyYAML 6.0.4 once).
    assert ci.index("python -m venv") < ci.index("source \"$fresh/bin/activate\"") < ci.index(command)


@pytest.mark.skipif(bool(os.environ.get("HPSCALE_OLDEST_DEPS")),
                    reason="the README shows output of the newest releases; older Rich lays tables out "
                    "with other blank lines and older numpy rounds bootstrap sums differently "
                    "(.ci/run's oldest-releases job runs every other test)")
def test_readme_examples_show_real_output():
    problems = readme.check()
    assert not problems, "\n\n".join(problems) + "\n\nregenerate with: python tests/readme.py --update"


def test_python_examples_in_the_docs(monkeypatch):
    monkeypatch.chdir(ROOT)
    attempted = 0
    for page in PAGES:
        result = doctest.testfile(str(page), module_relative=False,
                                  optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, page
        attempted += result.attempted
    assert attempted > 0


@pytest.mark.parametrize("module", ["hpscale.api.configs", "hpscale.api.scaling", "hpscale.api.sweeps",
                                    "hpscale.api.review", "hpscale.api.spectra", "hpscale.api.planning", "hpscale.loader", "hpscale.core.compose", "hpscale.core.sweep",
                                    "hpscale.core.fit"])
def test_docstring_examples(module, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def _github_anchor(heading: str) -> str:
    """GitHub's heading slug: lower case, punctuation dropped, spaces to hyphens."""
    return "".join(c for c in heading.strip().lower() if c.isalnum() or c in "-_ ").replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)
    return {_github_anchor(h) for h in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}


def test_links_point_at_pages_and_headings():
    """Every relative link of the README and docs/ names a file that exists and, with #, a heading in it."""
    broken, count = [], 0
    for page in [*PAGES, ROOT / "benchmarks" / "README.md"]:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target):
                continue
            count += 1
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists() or (anchor and anchor not in _anchors(dest)):
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert count and not broken, broken


def test_readme_stays_short():
    """The README is the front page (issue 19: about 200 lines); the reference lives in docs/."""
    assert len(README.splitlines()) <= 250
