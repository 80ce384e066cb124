"""The pre-commit recipe of docs/check.md works as written, with the real pre-commit (issue 9).

The test copies that page's `.pre-commit-config.yaml` block verbatim into a fresh git
repository, then checks that the hook passes on good targets, fails when a target drifts, and
also runs (and fails) when only the proxy changes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARK = "<!-- pre-commit-config -->\n```yaml\n"

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def readme_config() -> str:
    text = (ROOT / "docs" / "check.md").read_text(encoding="utf-8")
    return text.split(MARK, 1)[1].split("```", 1)[0]


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_readme_recipe_with_real_pre_commit(tmp_path):
    repo = tmp_path / "repo"
    (repo / "configs").mkdir(parents=True)
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    proxy = repo / "configs" / "proxy.yaml"
    shutil.copy(ROOT / "configs" / "llama-mup-w256.yaml", proxy)
    for width in (512, 1024):
        done = run([sys.executable, "-m", "hpscale", "transfer", str(proxy), "--width", str(width), "-f", "yaml",
                    "-o", str(repo / "configs" / f"target-{width}.yaml")], repo, env)
        assert done.returncode == 0, done.stderr
    (repo / ".pre-commit-config.yaml").write_text(readme_config())
    assert run(["git", "init", "-q"], repo, env).returncode == 0
    run(["git", "add", "-A"], repo, env)
    precommit = [sys.executable, "-m", "pre_commit", "run"]

    passing = run([*precommit, "--all-files"], repo, env)
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "hpscale check" in passing.stdout and "Passed" in passing.stdout

    # Only the proxy changes (its LR): the hook must still run and find every target stale.
    proxy.write_text(proxy.read_text().replace("lr: 1e-2", "lr: 2e-2"))
    run(["git", "add", "-A"], repo, env)
    failing = run([*precommit, "--files", "configs/proxy.yaml"], repo, env)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "Failed" in failing.stdout and "target-512.yaml" in failing.stdout and "target-1024.yaml" in failing.stdout

    # A file outside the pattern does not trigger the hook.
    (repo / "notes.yaml").write_text("a: 1\n")
    run(["git", "add", "-A"], repo, env)
    skipped = run([*precommit, "--files", "notes.yaml"], repo, env)
    assert skipped.returncode == 0 and "Skipped" in skipped.stdout
