"""Reading configs safely: YAML → plain data → ``RunConfig``, every failure an ``InputError``.

Guarantees (each one has a test):

- only regular files are read (a FIFO or a device is refused before it is read, never waited
  on), and at most ``MAX_CONFIG_BYTES``; ``-`` reads standard input under the same limit;
- the document is built from the parser's event stream by a loop with an explicit stack — no
  recursion anywhere, so nesting can never overflow a stack: depth beyond ``MAX_DEPTH`` is
  refused at the first event that exceeds it, before anything deeper is read;
- only plain YAML values: ``!!python/...`` and every other object tag is refused;
- duplicate keys and merge keys (``<<``) are refused (PyYAML silently keeps the last key);
- aliases may expand to at most ``MAX_NODES`` values in all, counted as they are used (an
  alias bomb costs bounded time and memory); a recursive alias is refused;
- YAML 1.1 integer forms that silently change a number — ``0100`` (octal 64), ``0x10``, ``0b11``,
  ``1:30`` (base 60: 90) — are refused with their reading; decimal numbers with ``_``
  separators are read as written;
- every problem is one line: ``file:line: field.path: what was found: what is allowed``.

libyaml's C parser is used when PyYAML has it (``yaml.CSafeLoader``); only its event stream is
used, so the checks above hold for both parsers.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import yaml

from .errors import InputError, InputFileError

if TYPE_CHECKING:
    from .config import RunConfig

MAX_CONFIG_BYTES = 1_048_576  # 1 MiB: real configs are a few hundred bytes
MAX_DEPTH = 32
MAX_NODES = 10_000
#: The path that means standard input.
STDIN = "-"

_SafeLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_bytes(path: str | os.PathLike[str], *, limit: int = MAX_CONFIG_BYTES,
               what: str = "YAML config file") -> bytes:
    """At most ``limit`` bytes of a regular file (``-``: standard input), or ``InputFileError``.

    The file is opened without blocking and refused unless it is a regular file, so a FIFO or a
    device named as an input fails at once instead of waiting or reading without end; ``what``
    names what was expected in the messages.
    """
    if os.fspath(path) == STDIN:
        data = sys.stdin.buffer.read(limit + 1)
    else:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            raise InputFileError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise InputFileError(f"{path}: is a directory, expected a {what}") from None
        except OSError as exc:
            raise InputFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
        try:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                raise InputFileError(f"{path}: is a directory, expected a {what}")
            if not stat.S_ISREG(mode):
                raise InputFileError(f"{path}: not a regular file (a pipe or a device?); expected a {what}")
            chunks, size = [], 0
            while size <= limit:
                chunk = os.read(fd, limit + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            data = b"".join(chunks)
        except OSError as exc:
            raise InputFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
        finally:
            os.close(fd)
    if len(data) > limit:
        raise InputFileError(f"{path}: larger than the {limit:,}-byte limit for a {what}")
    return data


def read_text(path: str | os.PathLike[str], *, limit: int = MAX_CONFIG_BYTES,
              what: str = "YAML config file") -> str:
    """``read_bytes`` decoded as UTF-8 (a byte-order mark is dropped), or ``InputError``."""
    data = read_bytes(path, limit=limit, what=what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from None


_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_DECIMAL_INT = re.compile(r"[-+]?(?:0|[1-9](?:_?[0-9])*)", re.ASCII)
_PLAIN_FLOAT = re.compile(r"[-+]?(?:[0-9](?:_?[0-9])*)?\.[0-9]*(?:[eE][-+]?[0-9]+)?", re.ASCII)
_SPECIAL_FLOAT = re.compile(r"[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")
_MAX_INT_DIGITS = 400


class _Open:
    """A mapping or sequence being built: its value, where it goes, and what it has seen."""

    __slots__ = ("value", "key", "keys", "anchor", "count", "path", "pending")

    def __init__(self, value: Any, anchor: str | None, path: str) -> None:
        self.value = value
        self.anchor = anchor
        self.path = path
        self.count = 1  # values in this subtree (for alias expansion)
        self.keys: dict[Any, int] = {}  # mapping keys → line (duplicates)
        self.pending = False  # a mapping key was read and its value is awaited
        self.key: Any = None


def _where(source: str, event: Any) -> str:
    mark = event.start_mark
    return f"{source}:{mark.line + 1}" if mark is not None else source


def _scalar(loader: Any, event: Any, source: str, path: str) -> Any:
    """A plain value exactly as YAML's safe schema reads it, except the YAML 1.1 number forms
    that change a value silently, which are refused with their reading."""
    tag = event.tag
    if tag is None or tag == "!":
        tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
    text = event.value
    where = f"{_where(source, event)}: {path or '(document)'}"
    if tag == _STR:
        return text
    if tag == _INT:
        if _DECIMAL_INT.fullmatch(text):
            if len(text) > _MAX_INT_DIGITS:
                raise InputError(f"{where}: an integer of {len(text):,} digits; at most {_MAX_INT_DIGITS} are read")
            return int(text.replace("_", ""))
        reading = _yaml11_int(loader, event, tag)
        raise InputError(
            f"{where}: {text!r} is not a decimal number: YAML 1.1 reads it as {reading}; write the "
            "decimal value you mean (quote it to keep it as text)"
        )
    if tag == _FLOAT:
        if _PLAIN_FLOAT.fullmatch(text):
            number = float(text.replace("_", ""))
            if number in (float("inf"), float("-inf")):  # a finite literal of 309+ digits: not "inf"
                shown = text if len(text) <= 40 else f"{text[:37]}…"
                raise InputError(f"{where}: {shown!r} ({len(text):,} characters) is beyond floating-point "
                                 "range; numbers are finite, at most about 1.8e308")
            return number
        if _SPECIAL_FLOAT.fullmatch(text):  # .inf, .nan: read as what they are; validators refuse them
            return float(text.replace(".", "").lower())
        raise InputError(
            f"{where}: {text!r} is a base-60 number in YAML 1.1 "
            f"({_yaml11_float(loader, event, tag)}); write the decimal value you mean"
        )
    constructor = loader.yaml_constructors.get(tag)
    if constructor is None or tag.startswith("tag:yaml.org,2002:python"):
        raise InputError(f"{where}: YAML tag {tag!r} is not allowed (only plain values)")
    node = yaml.ScalarNode(tag, text, event.start_mark, event.end_mark, event.style)
    try:
        return constructor(loader, node)
    except (ValueError, yaml.YAMLError) as exc:
        raise InputError(f"{where}: {text!r} cannot be read as {tag.rsplit(':', 1)[-1]}: {exc}") from None


def _yaml11_int(loader: Any, event: Any, tag: str) -> str:
    text = event.value
    if len(text) > _MAX_INT_DIGITS:
        return "a number in another base"
    try:
        value = loader.yaml_constructors[tag](loader, yaml.ScalarNode(tag, text, event.start_mark, event.end_mark))
    except (ValueError, yaml.YAMLError):
        return "a number in another base"
    body = text.lstrip("+-").replace("_", "")
    base = "base-60" if ":" in body else "hexadecimal" if body[:2] in ("0x", "0X") else \
        "binary" if body[:2] in ("0b", "0B") else "octal"
    return f"{base} {value}"


def _yaml11_float(loader: Any, event: Any, tag: str) -> str:
    try:
        return f"= {loader.yaml_constructors[tag](loader, yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark)):g}"
    except (ValueError, yaml.YAMLError):
        return "not a decimal number"


def _build(loader: Any, source: str) -> Any:
    """The document's data from the event stream, with every check of the module docstring."""
    stack: list[_Open] = []
    anchors: dict[str, tuple[Any, int]] = {}
    open_anchors: set[str] = set()
    total = 0
    document: Any = None
    seen_document = False

    def child_path() -> str:
        top = stack[-1]
        if isinstance(top.value, list):
            return f"{top.path}[{len(top.value)}]"
        return f"{top.path}.{top.key}" if top.path else str(top.key)

    def add(value: Any, count: int, event: Any, *, is_key_allowed: bool = True) -> None:
        nonlocal document
        if not stack:
            document = value
            return
        top = stack[-1]
        if isinstance(top.value, list):
            top.value.append(value)
        elif not top.pending:
            line = event.start_mark.line + 1 if event.start_mark is not None else 0
            if not is_key_allowed:
                raise InputError(f"{_where(source, event)}: {top.path or '(document)'}: a mapping key "
                                 "must be a plain value, not a list or a mapping")
            try:
                first = top.keys.get(value)
            except TypeError:
                raise InputError(f"{_where(source, event)}: {top.path or '(document)'}: a mapping "
                                 "key must be a plain value") from None
            if first is not None:
                raise InputError(f"{_where(source, event)}: {top.path or '(document)'}: duplicate key "
                                 f"{value!r} (first at line {first}); each key may appear once")
            top.keys[value] = line
            top.key, top.pending = value, True
        else:
            top.value[top.key] = value
            top.pending = False
        top.count += count

    def count_up(n: int, event: Any) -> None:
        nonlocal total
        total += n
        if total > MAX_NODES:
            raise InputError(f"{_where(source, event)}: the document expands to more than "
                             f"{MAX_NODES:,} values (YAML aliases?); write the values out")

    while True:
        event = loader.get_event()
        if isinstance(event, yaml.StreamEndEvent):
            return document
        if isinstance(event, yaml.DocumentStartEvent):
            if seen_document:
                raise InputError(f"{_where(source, event)}: a second YAML document ('---'); a config "
                                 "file holds one")
            seen_document = True
            continue
        if isinstance(event, yaml.StreamStartEvent | yaml.DocumentEndEvent):
            continue
        if isinstance(event, yaml.AliasEvent):
            name = event.anchor
            if name in open_anchors:
                raise InputError(f"{_where(source, event)}: alias *{name} refers to a value that "
                                 "contains it (a recursive alias)")
            if name not in anchors:
                raise InputError(f"{_where(source, event)}: alias *{name} names no anchor defined before it")
            value, size = anchors[name]
            count_up(size, event)
            add(value, size, event, is_key_allowed=not isinstance(value, list | dict))
            continue
        if isinstance(event, yaml.ScalarEvent):
            path = child_path() if stack and (isinstance(stack[-1].value, list) or stack[-1].pending) else \
                (stack[-1].path if stack else "")
            if stack and isinstance(stack[-1].value, dict) and not stack[-1].pending and event.value == "<<" \
                    and loader.resolve(yaml.ScalarNode, event.value, event.implicit) == _MERGE:
                raise InputError(f"{_where(source, event)}: YAML merge keys (<<) are not supported; "
                                 "write the keys out")
            count_up(1, event)
            value = _scalar(loader, event, source, path)
            if event.anchor:
                anchors[event.anchor] = (value, 1)
            add(value, 1, event)
            continue
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            kind = yaml.MappingNode if isinstance(event, yaml.MappingStartEvent) else yaml.SequenceNode
            tag = event.tag if event.tag not in (None, "!") else loader.resolve(kind, None, event.implicit)
            expected = _MAP if kind is yaml.MappingNode else _SEQ
            if tag != expected:
                raise InputError(f"{_where(source, event)}: YAML tag {tag!r} is not allowed (only plain values)")
            if stack and isinstance(stack[-1].value, dict) and not stack[-1].pending:
                raise InputError(f"{_where(source, event)}: {stack[-1].path or '(document)'}: a mapping "
                                 "key must be a plain value, not a list or a mapping")
            if len(stack) + 1 > MAX_DEPTH:
                raise InputError(f"{_where(source, event)}: nesting deeper than {MAX_DEPTH} levels")
            count_up(1, event)
            path = (child_path() if stack else "")
            stack.append(_Open({} if kind is yaml.MappingNode else [], event.anchor, path))
            if event.anchor:
                open_anchors.add(event.anchor)
            continue
        if isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            done = stack.pop()
            if done.anchor:
                open_anchors.discard(done.anchor)
                anchors[done.anchor] = (done.value, done.count)
            add(done.value, done.count, event)
            continue
        raise InputError(f"{_where(source, event)}: unexpected YAML event {type(event).__name__}")


#: libyaml/PyYAML problem texts, said in the project's words.
_PROBLEMS: tuple[tuple[str, str | None], ...] = (
    ("found character '\\t' that cannot start any token",
     "a tab character; YAML is indented with spaces, not tabs"),
    ("found a tab character", "a tab character; YAML is indented with spaces, not tabs"),
    ("mapping values are not allowed",
     "a ':' where a value was expected (an unquoted value that contains ': '? a key indented too far?)"),
    ("did not find expected ',' or '}'", "a '{…}' mapping that is not closed (a missing ',' or '}')"),
    ("did not find expected ',' or ']'", "a '[…]' list that is not closed (a missing ',' or ']')"),
    ("could not find expected ':'", "a line that is neither 'key: value' nor a list item '- value'"),
    ("did not find expected key", "a line indented differently from the keys around it"),
    ("did not find expected node content", "a value is missing (an empty list item or a stray ',')"),
    ("expected <document start>, but found", "text after the end of the document"),
    ("found undefined alias", "an alias (*name) with no anchor (&name) defined before it"),
    ("found unknown escape character", "an unknown backslash escape inside a double-quoted string"),
    ("found unexpected end of stream", "the file ends inside a quoted string or a bracket"),
    ("special characters are not allowed", "a control character; configs are plain text"),
    ("cannot start a value here", None),
)


def _problem(text: str) -> str:
    for library, ours in _PROBLEMS:
        if library in text:
            return ours or text
    return f"YAML syntax error ({text})"


def parse_yaml(text: str, source: str) -> Any:
    """Parse one YAML document with the safe schema and the limits of this module."""
    loader = _SafeLoader(text)
    try:
        return _build(loader, source)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = str(exc.problem or exc.context or "invalid YAML")
        if "cannot start any token" in problem and mark is not None:
            found = text[mark.index:mark.index + 1] if 0 <= mark.index < len(text) else ""
            problem = "found a tab character" if found == "\t" else \
                f"{found!r} cannot start a value here (quote the value)"
        raise InputError(f"{where}: {_problem(problem)}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{source}: {_problem(str(exc).splitlines()[0])}") from None
    finally:
        loader.dispose()


def _show(value: Any) -> str:
    """A found value as the messages show it (input text is escaped later, at printing)."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)}"
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


def _suggest(loc: tuple[Any, ...], keys: Callable[[list[str]], Sequence[str]] | None = None) -> str:
    """'unknown key; did you mean …? allowed: …' for the section the key stands in (``keys``
    maps the section's path to its allowed keys; by default the run config's sections)."""
    from .config import SECTION_FIELDS

    names = [str(part) for part in loc[:-1] if not isinstance(part, int)]
    if keys is not None:
        allowed = tuple(keys(names))
    else:
        section = "param_groups.*" if len(names) == 2 and names[0] == "param_groups" else ".".join(names)
        allowed = SECTION_FIELDS.get(section, ())
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key; {hint}allowed: {', '.join(allowed)}"


#: pydantic error types → what is allowed, in the project's words (the rest carry our own
#: validators' messages).
_TYPE_MESSAGES = {
    "tuple_type": "expected a list of two numbers [β1, β2]",
    "too_short": "expected a list of two numbers [β1, β2]",
    "too_long": "expected a list of two numbers [β1, β2]",
    "model_type": "expected a mapping of keys",
    "model_attributes_type": "expected a mapping of keys",
    "dict_type": "expected a mapping of keys",
    "string_type": "expected text",
}


def validation_messages(exc: Any, keys: Callable[[list[str]], Sequence[str]] | None = None) -> list[str]:
    """One ``field.path: what was found: what is allowed`` line per pydantic error; ``keys``
    lists the allowed keys of a section for documents other than the run config (law files)."""
    lines = []
    for error in exc.errors(include_url=False, include_context=True):
        loc = tuple(error["loc"])
        path = _field_path(loc) or "(document)"
        kind = error["type"]
        found = error.get("input")
        if kind == "extra_forbidden":
            lines.append(f"{path}: {_suggest(loc, keys)}")
        elif kind == "missing":
            lines.append(f"{path}: required field is missing")
        elif kind == "literal_error":
            lines.append(f"{path}: {_literal_message(path, found, error.get('ctx', {}))}")
        elif kind in _TYPE_MESSAGES:
            lines.append(f"{path}: {_TYPE_MESSAGES[kind]}, found {_show(found)}")
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            if "found" in message or isinstance(found, Mapping):  # a section-level check says it all
                lines.append(f"{path}: {message}")
            else:
                lines.append(f"{path}: {message}, found {_show(found)}")
    return lines


def _literal_message(path: str, found: Any, ctx: dict[str, Any]) -> str:
    allowed = str(ctx.get("expected", "")).replace(" or ", ", ")
    if path.endswith("weight_decay_convention") and str(found).lower() == "decoupled":
        return ("'decoupled' names two different things: torch.optim.AdamW calls its decay "
                "'decoupled' (from the gradient) but multiplies it by the LR — that is hpscale's "
                "'coupled' (w ← w − η·λ·w); Loshchilov & Hutter's fully decoupled decay "
                "(w ← w − λ·w) is 'independent'. Write coupled or independent")
    return f"expected one of {allowed}, found {_show(found)}"


def config_from_data(data: Any, source: str) -> RunConfig:
    """Validate parsed YAML against ``RunConfig``; one ``InputError`` lists every problem."""
    from pydantic import ValidationError

    from .config import RunConfig

    if data is None:
        raise InputError(f"{source}: empty document, expected a mapping with model, data, optimizer")
    if not isinstance(data, Mapping):
        raise InputError(
            f"{source}: the document is {_show(data)}, expected a mapping with model, data, optimizer"
        )
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise InputError("\n".join(f"{source}: {line}" for line in validation_messages(exc))) from None


def load_config(source: str | os.PathLike[str] | Mapping[str, Any]) -> RunConfig:
    """A validated, immutable ``RunConfig`` from a YAML file path (``-``: standard input) or
    from a mapping.

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
    name = os.fspath(source)
    label = "<stdin>" if name == STDIN else name
    return config_from_data(parse_yaml(read_text(name), label), label)
