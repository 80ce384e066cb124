"""The floor app of the start-up benchmark: the smallest program doing the same job as
``hpscale transfer --format json`` with the same libraries.

A Typer app with two commands; ``transfer`` takes a path argument and three options (an int, an
int, a string), reads the YAML with ``yaml.safe_load``, validates it with a two-level pydantic
model and prints one JSON line. ``benchmarks/bench_cli.py`` times hpscale against it.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
import yaml
from pydantic import BaseModel

app = typer.Typer()


class Model(BaseModel):
    width: int
    depth: int | None = None


class Run(BaseModel):
    name: str | None = None
    model: Model


@app.command()
def transfer(proxy: Path, width: int = 0, depth: int = 0, format: str = "json") -> None:
    run = Run.model_validate(yaml.safe_load(proxy.read_text()))
    print(json.dumps({"name": run.name, "width": width or run.model.width, "depth": depth or run.model.depth,
                      "format": format}))


@app.command()
def version() -> None:
    print("floor 1")


if __name__ == "__main__":
    app()
