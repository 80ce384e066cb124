"""Argument checks shared by the API's functions: each raises ``InputError`` naming the parameter.

Part of the one face, ``hpscale.api`` (its docstring says what every function shares).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..numbers import parse_positive

if TYPE_CHECKING:
    from ..config import RunConfig


def _config(config: Any) -> RunConfig:
    from ..config import RunConfig
    from ..loader import load_config  # YAML only when a config is read (``timescale`` may have none)

    return config if isinstance(config, RunConfig) else load_config(config)


def _size(name: str, value: float | str | None, *, whole: bool = False,
          param: str | None = None) -> float | None:
    """A size > 0 (``2M``, ``300B``; whole with ``whole``), bounded by ``hpscale.limits`` under
    ``name``; the error names ``name`` and is about ``param`` (default: ``name`` itself)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InputError(f"{name}: {value!r}: expected a number", param=param or name)
    try:
        return parse_positive(value, whole=whole, limit=name)
    except ValueError as exc:
        raise InputError(f"{name}: {exc}", param=param or name) from None


SizeList = str | Sequence[float | str] | None


def _size_list(name: str, value: SizeList, *, whole: bool = False) -> tuple[float, ...] | None:
    """A list of sizes from a list or a comma text (``"512,1024,2K"``; ``_`` as thousands
    separator); ``None`` stays ``None`` (the proxy's value)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, Sequence) or isinstance(items, bytes):
        raise InputError.of(name, f": {value!r}: expected a list of sizes or a comma list such as 512,1024")
    values: list[float] = []
    for index, item in enumerate(items):
        if isinstance(item, str) and not item.strip():
            raise InputError.of(name, f": {value!r}: item {index + 1} is empty; expected a comma list such as "
                                "512,1024")
        number = _size(name, item.strip() if isinstance(item, str) else item, whole=whole)
        assert number is not None
        values.append(number)
    return tuple(values)


def _max_rows(value: int | str) -> int:
    text = value.strip() if isinstance(value, str) else str(value) if type(value) is int else ""
    if not (text.isascii() and text.isdigit() and 0 < int(text) < 10**12):
        raise InputError.of("max_rows", f": expected a whole number ≥ 1, found {value!r}")
    return int(text)


def _number(name: str, value: float | str | None, *, positive: bool = True) -> float | None:
    """A plain number (``6e-4``; no size suffixes) > 0, or ≥ 0 when not ``positive``."""
    from ..numbers import parse_number

    if value is None:
        return None
    try:
        number = parse_number(value)
    except ValueError as exc:
        raise InputError.of(name, f": {exc}") from None
    if positive and number <= 0:
        raise InputError.of(name, f": must be > 0, found {value!r}")
    if number < 0:
        raise InputError.of(name, f": must be ≥ 0, found {value!r}")
    return number


def _choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    """``value`` if it is one of ``allowed``, else the error naming ``name`` and what is allowed."""
    if not isinstance(value, str) or value not in allowed:
        from ..text import shown

        raise InputError.of(name, f": {shown(value, 60)}: allowed: {', '.join(allowed)}")
    return value


def _placeholder(param: str, symbol: str) -> str:
    """A parameter mention (``hpscale.errors.MENTION``) whose value is a symbol for the reader to
    fill in: `` `params=N` ``, which the command line shows as ``--params N``."""
    return f"`{param}={symbol}`"

