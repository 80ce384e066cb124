"""Field validators of the config schema, kept free of pydantic imports.

``hpscale.config`` attaches them to the pydantic models; the compiled schema
(``hpscale.compiled``) refers to them by name, so loading a config on the CLI's fast path never
imports pydantic's model machinery. Each raises ``ValueError`` with what is allowed.
"""

from __future__ import annotations

import math

from .numbers import parse_number


def number(value: object) -> float:
    """Any finite number, also written as a string (``"6e-4"``)."""
    return parse_number(value)


def size(value: object) -> float:
    """A finite number that may carry an SI suffix (``300B``, ``2M``)."""
    return parse_number(value, si=True)


def positive(value: float) -> float:
    if value <= 0:
        raise ValueError("must be > 0")
    return value


def non_negative(value: float) -> float:
    if value < 0:
        raise ValueError("must be ≥ 0")
    return value


def whole(value: float) -> int:
    if value != math.floor(value):
        raise ValueError("must be a whole number")
    if value <= 0:
        raise ValueError("must be a positive whole number")
    return int(value)


def steps(value: float) -> int:
    """A whole number of optimizer steps, 0 allowed."""
    if value != math.floor(value) or value < 0:
        raise ValueError("must be a whole number of steps ≥ 0")
    return int(value)


def beta(value: float) -> float:
    if not 0.0 <= value < 1.0:
        raise ValueError("must be in [0, 1)")
    return value


def ema_decay(value: float) -> float:
    if not 0.0 < value < 1.0:
        raise ValueError("must be in (0, 1)")
    return value
