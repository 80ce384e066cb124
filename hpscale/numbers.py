"""Numbers written the way people write them: ``6e-4``, ``2e9``, ``300B``, ``1.5T``.

PyYAML follows YAML 1.1, where ``6e-4`` and ``2e9`` (no dot) are strings; hpscale reads them
as numbers. Sizes (width, batch size, dataset size, parameter count) also take SI suffixes:
K = 1e3, M = 1e6, B or G = 1e9, T = 1e12 (decimal, case-insensitive; ``_`` and ``,``
thousands separators allowed). A bool is never a number.
"""

from __future__ import annotations

import math
import re

SI_SUFFIXES = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}
_SIZE = re.compile(r"^\s*([+-]?(?:\d[\d_,]*\.?\d*|\.\d+)(?:e[+-]?\d+)?)\s*([kmbgt]?)\s*$", re.I)


def parse_number(value: object, *, si: bool = False) -> float:
    """Return ``value`` as a float; raise ``ValueError`` with the allowed forms otherwise.

    Accepts ints, floats and numeric strings (``"6e-4"``); with ``si=True`` also a trailing
    SI suffix. Rejects bools, NaN and ±inf (including overflow such as ``1e400``).
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got the boolean {str(value).lower()}")
    if isinstance(value, int):
        number = float(value) if abs(value) < 10**308 else math.inf
    elif isinstance(value, float):
        number = value
    elif isinstance(value, str):
        match = _SIZE.match(value) if si else None
        if match:
            digits = match.group(1).replace("_", "").replace(",", "")
            number = float(digits) * SI_SUFFIXES.get(match.group(2).lower(), 1.0)
        else:
            try:
                number = float(value.replace("_", ""))
            except ValueError:
                forms = "a number such as 4096, 2e9 or 300B" if si else "a number such as 6e-4"
                raise ValueError(f"expected {forms}, got {value!r}") from None
            if value.strip().lower().lstrip("+-") in {"nan", "inf", "infinity"}:
                number = math.nan
    else:
        raise ValueError(f"expected a number, got {type(value).__name__}")
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {value!r}")
    return number


def parse_positive(value: object, *, whole: bool = False) -> float:
    """A size from the command line: ``parse_number(value, si=True)`` that is > 0 (and a whole
    number when ``whole``); raises ``ValueError`` saying what is allowed."""
    number = parse_number(value, si=True)
    if number <= 0:
        raise ValueError("must be > 0")
    if whole and number != int(number):
        raise ValueError("must be a whole number")
    return number


def format_si(value: float) -> str:
    """Compact display of a size: 491520 → '491,520', 9.0e9 → '9.04B' (for tables only)."""
    if value >= 1e12:
        return f"{value / 1e12:.3g}T"
    if value >= 1e9:
        return f"{value / 1e9:.3g}B"
    if value >= 1e7:
        return f"{value / 1e6:.3g}M"
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:.4g}"
