"""Run the examples of the README and of every page under docs/; compare (or rewrite) their output.

The pages run in reading order (``ORDER``: the README, then the docs pages, then any other page
by name), all in one scratch folder, so a page may use what an earlier one wrote. Each marks every example it shows with the
command that produced it::

    <!-- setup: SHELL COMMAND -->          run first, output not shown
    <!-- run: SHELL COMMAND -->            run; the fenced block below shows its output
    ```text
    $ SHELL COMMAND
    …output (stdout, then stderr)…
    $ echo $?                             (only if the block shows it)
    2
    ```

Commands run in order in one scratch folder that holds a copy of ``configs/``, with
``COLUMNS=100`` and ``NO_COLOR=1``, so relative paths such as ``configs/…`` and ``demo/…`` work
as a user in a checkout would type them. A plain ``hpscale …`` command (no shell syntax) runs
in this process through ``hpscale.cli.main``; anything else runs in ``bash``.

    python tests/readme.py            # check: exit 1 and a diff if any output differs
    python tests/readme.py --update   # rewrite the outputs in README.md and docs/*.md
"""

from __future__ import annotations

import contextlib
import difflib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: The reading order; pages under docs/ not named here run after these, by name.
ORDER = ["concepts", "transfer", "check", "fit", "spectrum", "ladder", "timescale", "explain", "schema",
         "rules", "torch", "contracts", "api", "development"]


def pages() -> list[Path]:
    """README.md, then docs/*.md in reading order."""
    found = sorted((ROOT / "docs").glob("*.md"))
    rank = {name: index for index, name in enumerate(ORDER)}
    return [README, *sorted(found, key=lambda path: (rank.get(path.stem, len(rank)), path.stem))]
ENV = {"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}
_MARK = re.compile(r"^<!-- (run|setup): (.*) -->$")
_SHELL = set("|&;<>()$`*?[]#~=%{}\\'\"")


@dataclass
class Example:
    kind: str  # "run" or "setup"
    command: str
    line: int  # 1-based line of the marker
    start: int = 0  # index of the first output line inside the fence (runs only)
    end: int = 0  # index of the closing fence
    shows_exit: bool = False
    expected: str = ""


def parse(lines: list[str], name: str = "README.md") -> list[Example]:
    examples = []
    for index, line in enumerate(lines):
        match = _MARK.match(line.strip())
        if not match:
            continue
        example = Example(match.group(1), match.group(2), index + 1)
        if example.kind == "run":
            fence = index + 1
            if not lines[fence].startswith("```") or lines[fence + 1] != f"$ {example.command}":
                raise SystemExit(f"{name}:{index + 1}: the block after a run marker must start "
                                 f"with ```lang and '$ {example.command}'")
            end = next(i for i in range(fence + 2, len(lines)) if lines[i].startswith("```"))
            body = lines[fence + 2:end]
            if len(body) >= 2 and body[-2] == "$ echo $?":
                example.shows_exit = True
            example.start, example.end = fence + 2, end
            example.expected = "\n".join(body)
        examples.append(example)
    return examples


def _in_process(args: list[str]) -> tuple[str, int]:
    from hpscale.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return out.getvalue() + err.getvalue(), code


def run(command: str, cwd: Path) -> tuple[str, int]:
    """The combined output (stdout, then stderr) and exit code of one README command."""
    words = shlex.split(command) if not (_SHELL & set(command)) else []
    if words and words[0] == "hpscale":
        saved = {key: os.environ.get(key) for key in ENV}
        here = os.getcwd()
        os.environ.update(ENV)
        os.chdir(cwd)
        try:
            return _in_process(words[1:])
        finally:
            os.chdir(here)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, **ENV, "PATH": path}
    done = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)
    return done.stdout + done.stderr, done.returncode


def render(example: Example, output: str, code: int) -> str:
    text = output.rstrip("\n")
    if example.shows_exit:
        text = (text + "\n" if text else "") + f"$ echo $?\n{code}"
    return text


def sandbox() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="hpscale-readme-"))
    shutil.copytree(ROOT / "configs", folder / "configs")
    return folder


def check(update: bool = False) -> list[str]:
    """Run every example of every page; return a diff per example that differs (rewrite if ``update``)."""
    folder = sandbox()
    problems: list[str] = []
    try:
        for page in pages():
            problems += _check_page(page, folder, update)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return problems


def _check_page(page: Path, folder: Path, update: bool) -> list[str]:
    name = page.relative_to(ROOT).as_posix()
    lines = page.read_text(encoding="utf-8").split("\n")
    problems: list[str] = []
    replacements: list[tuple[Example, str]] = []
    for example in parse(lines, name):
        output, code = run(example.command, folder)
        if example.kind == "setup":
            if code != 0:
                problems.append(f"{name}:{example.line}: setup failed ({code}): {output[-500:]}")
            continue
        actual = render(example, output, code)
        if not example.shows_exit and code not in (0, 1):
            problems.append(f"{name}:{example.line}: exit {code} (show it with '$ echo $?'):\n{actual}")
        if actual != example.expected:
            replacements.append((example, actual))
            diff = difflib.unified_diff(example.expected.split("\n"), actual.split("\n"),
                                        name, "actual", lineterm="", n=1)
            problems.append(f"{name}:{example.line}: $ {example.command}\n" + "\n".join(diff))
    if update and replacements:
        for example, actual in sorted(replacements, key=lambda pair: -pair[0].start):
            lines[example.start:example.end] = actual.split("\n")
        page.write_text("\n".join(lines), encoding="utf-8")
    return problems


if __name__ == "__main__":
    found = check(update="--update" in sys.argv)
    for problem in found:
        print(problem, end="\n\n")
    print(f"{len(found)} example(s) {'rewritten' if '--update' in sys.argv else 'differ'}")
    raise SystemExit(1 if found and "--update" not in sys.argv else 0)
