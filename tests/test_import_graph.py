"""No import circles in hpscale: no module imports, at module level, inside a function or under
``TYPE_CHECKING``, a module that imports it back (directly or through others). Read from the
source's ``import`` statements, so it holds whichever optional extras are installed."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "hpscale"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _exists(name: str) -> bool:
    base = PACKAGE.parent.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.split(".")[0] == "hpscale")
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                if source.split(".")[0] != "hpscale":
                    continue
                for alias in node.names:  # ``from pkg import module`` imports the module
                    sub = f"{source}.{alias.name}"
                    targets.add(sub if _exists(sub) else source)
        targets.discard(name)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_reader_sees_the_imports() -> None:
    graph = _edges()
    assert "hpscale.core.rules.registry" in graph["hpscale.core.rules.mup"]
    assert "hpscale.outputs.common" in graph["hpscale.outputs.timescale"]  # inside a function


def test_no_import_circles() -> None:
    assert _cycles(_edges()) == []


def test_a_circle_would_be_found() -> None:
    graph = _edges()
    graph["hpscale.core.rules.registry"] = graph["hpscale.core.rules.registry"] | {"hpscale.core.rules.mup"}
    assert ["hpscale.core.rules.mup", "hpscale.core.rules.registry"] in _cycles(graph)
