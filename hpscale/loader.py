"""Reading configs safely: YAML → plain data → ``RunConfig``, every failure an ``InputError``.

Guarantees (each one has a test):

- only the YAML safe schema: ``!!python/...`` and any other object tag is refused;
- duplicate keys are refused (PyYAML silently keeps the last one);
- files larger than ``MAX_CONFIG_BYTES`` are refused before parsing;
- nesting deeper than ``MAX_DEPTH`` and documents that expand (through aliases) to more than
  ``MAX_NODES`` nodes are refused after composing and before constructing, so alias bombs
  cost bounded time and memory;
- every problem is one line: ``file: field.path: value found: what is allowed``.

libyaml's C parser (``yaml.CSafeLoader``) is used when present; the checks above run on the
composed node graph, so they hold for both parsers.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml

from .compiled import ConfigView
from .errors import InputError, InputFileError

MAX_CONFIG_BYTES = 1_048_576  # 1 MiB: real configs are a few hundred bytes
MAX_DEPTH = 32
MAX_NODES = 10_000

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_text(path: Path, *, limit: int = MAX_CONFIG_BYTES, what: str = "config") -> str:
    """Read a UTF-8 text file of at most ``limit`` bytes, or raise ``InputFileError``."""
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    if path.is_dir():
        raise InputFileError(f"{path}: is a directory, expected a YAML {what} file")
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputFileError(f"{path}: larger than the {limit:,}-byte limit for a {what} file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _check_graph(node: yaml.Node, source: str) -> None:
    """Refuse deep nesting and alias expansion before any Python object is built."""
    expanded: dict[int, int] = {}
    # Iterative post-order walk over the node DAG; aliases share node objects, so the
    # memo counts each shared subtree's expanded size once per node, not per use.
    stack: list[tuple[yaml.Node, int, bool]] = [(node, 1, False)]
    while stack:
        current, depth, done = stack.pop()
        if depth > MAX_DEPTH:
            line = current.start_mark.line + 1
            raise InputError(f"{source}:{line}: nesting deeper than {MAX_DEPTH} levels")
        children: list[yaml.Node] = []
        if isinstance(current, yaml.MappingNode):
            children = [item for pair in current.value for item in pair]
        elif isinstance(current, yaml.SequenceNode):
            children = list(current.value)
        if done:
            total = 1 + sum(expanded[id(child)] for child in children)
            if total > MAX_NODES:
                raise InputError(
                    f"{source}: document expands to more than {MAX_NODES:,} nodes "
                    "(YAML aliases); write the values out"
                )
            expanded[id(current)] = total
        elif id(current) not in expanded:
            stack.append((current, depth, True))
            stack.extend((child, depth + 1, False) for child in children if id(child) not in expanded)


def _refuse_duplicates(node: yaml.Node, source: str) -> None:
    stack = [node]
    seen_nodes: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen_nodes:
            continue
        seen_nodes.add(id(current))
        if isinstance(current, yaml.MappingNode):
            keys: dict[str, int] = {}
            for key_node, value_node in current.value:
                key = str(key_node.value)
                line = key_node.start_mark.line + 1
                if key == "<<":
                    raise InputError(f"{source}:{line}: YAML merge keys (<<) are not supported")
                if key in keys:
                    raise InputError(
                        f"{source}:{line}: duplicate key {key!r} (first at line {keys[key]}); "
                        "each key may appear once"
                    )
                keys[key] = line
                stack.extend((key_node, value_node))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)


def parse_yaml(text: str, source: str) -> Any:
    """Parse one YAML document with the safe schema and the limits of this module."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_graph(node, source)
        _refuse_duplicates(node, source)
        return loader.construct_document(node)
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


def config_from_data(data: Any, source: str) -> ConfigView:
    """Validate parsed YAML against the config schema; one ``InputError`` lists every problem.

    Validation runs on the compiled form of ``hpscale.config.RunConfig`` (see
    ``hpscale.compiled``): the same rules and messages, without building pydantic models.
    """
    from pydantic_core import ValidationError

    from .compiled import validate

    if data is None:
        raise InputError(f"{source}: empty document, expected a mapping with model, data, optimizer")
    if not isinstance(data, dict):
        raise InputError(
            f"{source}: the document is a {type(data).__name__}, expected a mapping "
            "with model, data, optimizer"
        )
    try:
        return validate(data)
    except ValidationError as exc:
        raise InputError("\n".join(f"{source}: {line}" for line in validation_messages(exc))) from None


def load_config(path: str | Path) -> ConfigView:
    """Load and validate a YAML run config into a read-only ``ConfigView``.

    ``RunConfig.model_validate(view.to_dict())`` gives the pydantic model when you need one.
    """
    path = Path(path)
    source = str(path)
    return config_from_data(parse_yaml(read_text(path), source), source)
