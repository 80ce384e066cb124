"""The config schema compiled for fast start-up, and a read-only view of validated configs.

Why: building pydantic model classes costs ~50 ms per process (schema generation, plugin
discovery), about a quarter of hpscale's whole start-up, on every CLI call. The pydantic models in
``hpscale.config`` stay the single source of truth; this module compiles their pydantic-core
schema once, at development time, into ``config_schema.json`` (models become typed dicts,
validators become references into ``hpscale.validators``). At run time pydantic-core builds a
validator from that file in about a millisecond and validates with the same rules and the same
error types, locations and messages. The file records a hash of its sources;
``tests/test_compiled.py`` fails when it is stale and checks that both validators agree on random
and hostile inputs with the pydantic installed.

Regenerate after changing ``hpscale/config.py``::

    python -m hpscale.compiled
"""

from __future__ import annotations

import copy
import functools
import importlib
import json
from pathlib import Path
from typing import Any

SCHEMA_FILE = Path(__file__).with_name("config_schema.json")

_DROP = {"metadata", "serialization", "cls", "config", "custom_init", "root_model",
         "computed_fields", "model_name", "post_init", "default_factory_takes_data"}


def _compile(node: Any) -> Any:
    if isinstance(node, list | tuple):
        return [_compile(item) for item in node]
    if callable(node) and not isinstance(node, type):
        return {"$function": f"{node.__module__}:{node.__qualname__}"}
    if not isinstance(node, dict):
        return node
    if node.get("type") == "model":
        fields = {
            name: {
                "type": "typed-dict-field",
                "schema": _compile(field["schema"]),
                "required": field["schema"].get("type") != "default",
            }
            for name, field in node["schema"]["fields"].items()
        }
        compiled: dict[str, Any] = {"type": "typed-dict", "fields": fields, "extra_behavior": "forbid"}
        if "ref" in node:
            compiled["ref"] = node["ref"].split(":")[0]
        return compiled
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "default_factory":
            out["default"] = value().model_dump()  # only ParamGroups uses a factory
        elif key in ("ref", "schema_ref") and isinstance(value, str):
            out[key] = value.split(":")[0]  # pydantic appends an id() that changes per process
        else:
            out[key] = _compile(value)
    return out


def compile_schema() -> dict[str, Any]:
    """The JSON-able pydantic-core schema of ``hpscale.config.RunConfig`` (development time)."""
    from .config import RunConfig

    return _compile(RunConfig.__pydantic_core_schema__)


def _resolve(node: Any) -> Any:
    if isinstance(node, list):
        return [_resolve(item) for item in node]
    if isinstance(node, dict):
        if "$function" in node:
            module, name = node["$function"].split(":")
            return getattr(importlib.import_module(module), name)
        return {key: _resolve(value) for key, value in node.items()}
    return node


#: The files the compiled schema is generated from; their hash is stored with it.
SOURCES = ("config.py", "validators.py")


def source_digest() -> str:
    """SHA-256 of the schema's sources: a stale ``config_schema.json`` is detectable without
    comparing against pydantic's output, whose exact form may change between pydantic releases."""
    import hashlib

    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update(Path(__file__).with_name(name).read_bytes())
    return digest.hexdigest()


def compiled_file() -> dict[str, Any]:
    """The generated file: ``source_sha256``, ``pydantic_core_version`` and ``schema``."""
    from pydantic_core import __version__ as core_version

    return {"source_sha256": source_digest(), "pydantic_core_version": core_version,
            "schema": compile_schema()}


@functools.cache
def _stored() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


@functools.cache
def _validator() -> Any:
    """The compiled validator, or ``None`` if this pydantic-core cannot build it (a release that
    spells schemas differently): then ``validate`` uses the pydantic models, slower but exact."""
    from pydantic_core import SchemaError, SchemaValidator

    try:
        return SchemaValidator(_resolve(_stored()["schema"]))
    except (SchemaError, TypeError, KeyError, ValueError):
        return None


@functools.cache
def _override_fields() -> tuple[str, ...]:
    schema = _stored()["schema"]
    for definition in schema.get("definitions", []):
        if definition.get("ref", "").endswith("GroupOverride"):
            return tuple(definition["fields"])
    raise RuntimeError("compiled config schema has no GroupOverride definition")


class ConfigView:
    """Read-only attribute access to a validated config (the read API of ``RunConfig``).

    Nested sections are wrapped once, at construction, so reading ``config.optimizer.lr`` is
    two dictionary lookups (``hpscale check`` reads thousands of configs).
    """

    __slots__ = ("_data", "_attrs")

    def __init__(self, data: dict[str, Any]) -> None:
        attrs = {key: ConfigView(value) if isinstance(value, dict) else value for key, value in data.items()}
        object.__setattr__(self, "_data", data)
        object.__setattr__(self, "_attrs", attrs)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._attrs[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("configs are read-only")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConfigView) and self._data == other._data

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ConfigView({self._data!r})"

    def group_override(self, group: str) -> ConfigView:
        """The overrides of one parameter group; every field ``None`` when it has none."""
        over = self._attrs["param_groups"]._attrs[group]
        return over if over is not None else _empty_override()

    def to_dict(self) -> dict[str, Any]:
        """A deep copy as plain data (``RunConfig.model_validate(view.to_dict())`` round-trips)."""
        return copy.deepcopy(self._data)


@functools.cache
def _empty_override() -> ConfigView:
    return ConfigView(dict.fromkeys(_override_fields()))


def validate(data: Any) -> ConfigView:
    """Validate parsed YAML; raises ``pydantic_core.ValidationError`` like ``RunConfig`` would."""
    validator = _validator()
    if validator is None:
        from .config import RunConfig

        return ConfigView(RunConfig.model_validate(data).model_dump())
    return ConfigView(validator.validate_python(data))


if __name__ == "__main__":
    SCHEMA_FILE.write_text(json.dumps(compiled_file(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}")
