"""The one face's layout: ``hpscale.api`` is a package of one module per part of the workflow,
re-exported whole, and every API function ``hpscale`` exports is the same object."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import hpscale
import hpscale.api as api

ROOT = Path(__file__).resolve().parents[1]


def test_every_public_function_of_the_api_modules_is_re_exported() -> None:
    for info in pkgutil.iter_modules(api.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"hpscale.api.{info.name}")
        public = {name for name, obj in vars(module).items()
                  if callable(obj) and not name.startswith("_") and getattr(obj, "__module__", "") == module.__name__}
        assert public, info.name
        assert public <= set(api.__all__), (info.name, public - set(api.__all__))
        assert info.name in (api.__doc__ or ""), f"hpscale.api's docstring does not list {info.name}"


def test_the_package_exports_the_api_functions_themselves() -> None:
    for name, where in hpscale._LAZY.items():
        if where == "hpscale.api":
            assert getattr(hpscale, name) is getattr(api, name), name
            assert name in api.__all__, name


def test_api_modules_stay_short() -> None:
    for path in sorted((ROOT / "hpscale" / "api").glob("*.py")):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 600, path.name
