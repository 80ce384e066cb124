"""The layout of ``hpscale.core.rules``: one module per family of rules behind one registry.

What the layout promises a reader and the outputs: every rule is found under the package's
name (the path ``hpscale explain`` prints), ``RULES`` lists the families in the order the
package imports them, and no family module imports the package itself (no import circle).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import hpscale.core.compose  # noqa: F401 — registers the optimizers' rules too
from hpscale.core import rules as R

PACKAGE = Path(R.__file__).parent
FAMILY_PREFIX = f"{R.__name__}."


def _family_imports() -> list[str]:
    """The family modules ``__init__.py`` imports, in its order (``registry`` left out)."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    names = [node.module for node in tree.body
             if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module]
    return [name for name in dict.fromkeys(names) if name != "registry"]


def test_every_rule_is_importable_from_the_path_explain_shows():
    for info in R.RULES.values():
        module, _, name = info.path.rpartition(".")
        assert getattr(importlib.import_module(module), name) is info.func, info.key
        if info.func.__module__.startswith(FAMILY_PREFIX):
            assert module == R.__name__, info.key


def test_rules_are_registered_family_by_family_in_import_order():
    families = _family_imports()
    assert sorted(families) == sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "registry"))
    order = [info.func.__module__.removeprefix(FAMILY_PREFIX) for info in R.RULES.values()
             if info.func.__module__.startswith(FAMILY_PREFIX)]
    assert order == sorted(order, key=families.index)
    assert set(order) == set(families)  # every family registers at least one rule


def test_family_modules_import_the_registry_never_the_package():
    for path in PACKAGE.glob("*.py"):
        if path.stem == "__init__":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert not (node.level == 1 and node.module is None), path.name  # from . import …
                assert not (node.level == 2 and node.module == "rules"), path.name
                assert node.module != R.__name__, path.name
            elif isinstance(node, ast.Import):
                assert all(alias.name != R.__name__ for alias in node.names), path.name


def test_each_module_is_short_and_cites_its_paper():
    for path in PACKAGE.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert len(text.splitlines()) < 600, path.name
        doc = ast.get_docstring(ast.parse(text)) or ""
        if path.stem not in ("__init__", "registry"):
            assert "arXiv" in doc, path.name


def _defined(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def test_every_public_name_of_a_module_is_exported_by_the_package():
    assert len(set(R.__all__)) == len(R.__all__)
    internal = {"F", "PACKAGE"}  # the registry's own type variable and name
    for path in PACKAGE.glob("*.py"):
        if path.stem == "__init__":
            continue
        module = importlib.import_module(f"{FAMILY_PREFIX}{path.stem}")
        for name in _defined(ast.parse(path.read_text(encoding="utf-8"))) - internal:
            if not name.startswith("_"):
                assert name in R.__all__, f"{path.name}: {name}"
            assert getattr(R, name) is getattr(module, name), f"{path.name}: {name}"
