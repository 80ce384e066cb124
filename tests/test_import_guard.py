"""Structural start-up guard: the JSON and YAML paths import neither Rich nor numpy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import contextlib, io, json, sys
from hpscale.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = main(sys.argv[1:])
heavy = sorted({m.split('.')[0] for m in sys.modules} & {'rich', 'numpy', 'markdown_it', 'pygments'})
print(json.dumps({'code': code, 'heavy': heavy, 'out': len(out.getvalue())}))
"""


def probe(*args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_transfer_json_path_stays_light():
    result = probe("transfer", "configs/llama-mup-w256.yaml", "--width", "4096", "--format", "json")
    assert result["code"] == 0 and result["out"] > 0
    assert result["heavy"] == []


def test_transfer_yaml_path_stays_light():
    result = probe("transfer", "configs/nanogpt-124m-proxy.yaml", "--batch-size", "2M", "-f", "yaml")
    assert result["code"] == 0 and result["heavy"] == []


def test_table_path_uses_rich_but_not_numpy():
    result = probe("transfer", "configs/llama-mup-w256.yaml", "--width", "4096")
    assert result["code"] == 0
    assert "rich" in result["heavy"] and "numpy" not in result["heavy"]
