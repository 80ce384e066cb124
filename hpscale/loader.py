"""Reading configs safely: YAML → plain data → ``RunConfig``, every failure an ``InputError``.

Guarantees (each one has a test):

- only the YAML safe schema: ``!!python/...`` and any other object tag is refused;
- duplicate keys and merge keys (``<<``) are refused (PyYAML silently keeps the last key);
- files larger than ``MAX_CONFIG_BYTES`` are refused before parsing;
- nesting deeper than ``MAX_DEPTH`` and documents that expand (through aliases) to more than
  ``MAX_NODES`` values are refused while the data is built, so alias bombs cost bounded time
  and memory;
- every problem is one line: ``file: field.path: value found: what is allowed``.

libyaml's C parser (``yaml.CSafeLoader``) is used when present; the checks above run on the
composed node graph (``_Builder``), so they hold for both parsers.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .errors import InputError, InputFileError

if TYPE_CHECKING:
    from .config import RunConfig

MAX_CONFIG_BYTES = 1_048_576  # 1 MiB: real configs are a few hundred bytes
MAX_DEPTH = 32
MAX_NODES = 10_000

_SafeLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVED: dict[tuple[Any, ...], str] = {}
_RESOLVED_MAX = 65_536


class _Loader(_SafeLoader):  # type: ignore[misc, valid-type]
    """The safe loader with its tag resolution memoised.

    Resolving a plain scalar runs the YAML 1.1 regular expressions in Python for every value;
    configs repeat the same keys and numbers (``hpscale check`` reads thousands of them), and the
    answer depends only on (node kind, text, implicit flags), so it is cached: the same tags as
    the safe loader, about a quarter less parsing time.
    """

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        key = (kind, value, implicit)
        try:
            return _RESOLVED[key]
        except KeyError:
            tag = super().resolve(kind, value, implicit)
            if len(_RESOLVED) < _RESOLVED_MAX:
                _RESOLVED[key] = tag
            return tag
        except TypeError:  # an unhashable argument: resolve without the cache
            return super().resolve(kind, value, implicit)


def read_text(path: Path, *, limit: int = MAX_CONFIG_BYTES, what: str = "config") -> str:
    """Read a UTF-8 text file of at most ``limit`` bytes, or raise ``InputFileError``."""
    try:
        # os.open/os.read, no stat calls first: hpscale check reads thousands of small files.
        fd = os.open(path, os.O_RDONLY)
        try:
            chunks, size = [], 0
            while size <= limit:
                chunk = os.read(fd, limit + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        finally:
            os.close(fd)
        data = b"".join(chunks)
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputFileError(f"{path}: is a directory, expected a YAML {what} file") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputFileError(f"{path}: larger than the {limit:,}-byte limit for a {what} file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from None


_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_STR = "tag:yaml.org,2002:str"
_FLOAT = "tag:yaml.org,2002:float"
_INT = "tag:yaml.org,2002:int"
_PLAIN_FLOAT = re.compile(r"[-+]?[0-9]*\.[0-9]*(?:[eE][-+]?[0-9]+)?")


class _Builder:
    """Composed YAML nodes → plain Python data in one recursive pass, with the safety checks.

    Scalars go through PyYAML's safe constructors (the same values as ``yaml.safe_load``);
    mappings and sequences are built here, which lets one pass also refuse duplicate and merge
    keys, nesting deeper than ``MAX_DEPTH`` (an alias that contains itself nests without end)
    and any document whose aliases expand to more than ``MAX_NODES`` values: the count stops
    the construction itself, so an alias bomb costs at most ``MAX_NODES`` steps.
    """

    def __init__(self, loader: Any, source: str) -> None:
        self.loader = loader
        self.source = source
        self.constructors = loader.yaml_constructors
        self.count = 0

    def _where(self, node: yaml.Node) -> str:
        return f"{self.source}:{node.start_mark.line + 1}"

    def build(self, node: yaml.Node, depth: int = 1) -> Any:
        if depth > MAX_DEPTH:
            raise InputError(f"{self._where(node)}: nesting deeper than {MAX_DEPTH} levels")
        self.count += 1
        if self.count > MAX_NODES:
            raise InputError(
                f"{self.source}: document expands to more than {MAX_NODES:,} values "
                "(YAML aliases?); write the values out"
            )
        tag = node.tag
        if isinstance(node, yaml.ScalarNode):
            # Fast paths for the commonest scalars, equal to what the safe constructors return:
            # strings as written; plain decimal floats and ints (no '_', sign-free ints without
            # a leading 0, which YAML 1.1 reads as octal, no base-60 ':').
            value = node.value
            if tag == _STR:
                return value
            if tag == _FLOAT and _PLAIN_FLOAT.fullmatch(value):
                return float(value)
            if tag == _INT and value.isdigit() and (value[0] != "0" or value == "0"):
                return int(value)
        if isinstance(node, yaml.MappingNode) and tag == _MAP:
            result: dict[Any, Any] = {}
            lines: dict[Any, int] = {}
            for key_node, value_node in node.value:
                line = key_node.start_mark.line + 1
                if key_node.tag == _MERGE:
                    raise InputError(f"{self.source}:{line}: YAML merge keys (<<) are not supported")
                key = self.build(key_node, depth + 1)
                try:
                    first = lines.get(key)
                except TypeError:
                    raise InputError(f"{self.source}:{line}: a mapping key must be a plain value") from None
                if first is not None:
                    raise InputError(
                        f"{self.source}:{line}: duplicate key {key!r} (first at line {first}); "
                        "each key may appear once"
                    )
                lines[key] = line
                result[key] = self.build(value_node, depth + 1)
            return result
        if isinstance(node, yaml.SequenceNode) and tag == _SEQ:
            return [self.build(child, depth + 1) for child in node.value]
        constructor = self.constructors.get(tag) if isinstance(node, yaml.ScalarNode) else None
        if constructor is None:
            mark = node.start_mark
            raise InputError(
                f"{self.source}:{mark.line + 1}:{mark.column + 1}: YAML error: tag {tag!r} is not "
                "allowed (only plain YAML values)"
            )
        return constructor(self.loader, node)


def parse_yaml(text: str, source: str) -> Any:
    """Parse one YAML document with the safe schema and the limits of this module."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        return _Builder(loader, source).build(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = exc.problem or exc.context or "invalid YAML"
        if "could not determine a constructor" in str(problem):
            problem = f"{problem} (only plain YAML values are allowed)"
        raise InputError(f"{where}: YAML error: {problem}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{source}: YAML error: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise InputError(f"{source}: nesting too deep") from None
    finally:
        loader.dispose()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _field_path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def _suggest(loc: tuple[Any, ...]) -> str:
    from .config import SECTION_FIELDS

    section = ".".join(str(part) for part in loc[:-1])
    if section.startswith("param_groups."):
        section = "param_groups.*"
    allowed = SECTION_FIELDS.get(section, ())
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key; {hint}allowed: {', '.join(allowed)}"


def validation_messages(exc: Any) -> list[str]:
    """One ``field.path: message (found …)`` line per pydantic error."""
    lines = []
    for error in exc.errors(include_url=False, include_context=False):
        loc = tuple(error["loc"])
        # pydantic appends validator names for Annotated/union members; they are noise here.
        loc = tuple(part for part in loc if not (isinstance(part, str) and "[" in part))
        path = _field_path(loc) or "(document)"
        kind = error["type"]
        if kind == "extra_forbidden":
            lines.append(f"{path}: {_suggest(loc)}")
            continue
        if kind == "missing":
            lines.append(f"{path}: required field is missing")
            continue
        message = str(error["msg"]).removeprefix("Value error, ")
        found = error.get("input")
        lines.append(f"{path}: {message} (found {_short(found)})")
    return lines


def config_from_data(data: Any, source: str) -> RunConfig:
    """Validate parsed YAML against ``RunConfig``; one ``InputError`` lists every problem."""
    from pydantic import ValidationError

    from .config import RunConfig

    if data is None:
        raise InputError(f"{source}: empty document, expected a mapping with model, data, optimizer")
    if not isinstance(data, Mapping):
        raise InputError(
            f"{source}: the document is a {type(data).__name__}, expected a mapping "
            "with model, data, optimizer"
        )
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise InputError("\n".join(f"{source}: {line}" for line in validation_messages(exc))) from None


def load_config(source: str | os.PathLike[str] | Mapping[str, Any]) -> RunConfig:
    """A validated, immutable ``RunConfig`` from a YAML file path or from a mapping.

    A mapping is validated as it is (the same rules as a file: unknown keys refused, numbers
    such as ``"6e-4"`` and sizes such as ``"300B"`` accepted). Every problem raises one
    ``InputError`` (a ``ValueError``) with one ``source: field.path: …`` line per problem.

    >>> config = load_config({"model": {"width": 256}, "data": {"dataset_size": "2e9",
    ...     "batch_size": 524288}, "optimizer": {"lr": 0.01, "weight_decay": 0.1}})
    >>> config.model.width, config.data.dataset_size
    (256, 2000000000.0)
    """
    if isinstance(source, Mapping):
        return config_from_data(source, "<mapping>")
    path = Path(source)
    return config_from_data(parse_yaml(read_text(path), str(path)), str(path))
