"""Numbers written the way people write them, read exactly or refused — never guessed.

Grammar (ASCII only; leading and trailing spaces ignored)::

    number  = [+|-] mantissa [e|E [+|-] digits]
    mantissa = digits [. [digits]] | . digits
    digits  = d{1,3} (, ddd)+        thousands separated by commas (1,048,576)
            | d [_ d | d]*            underscores between digits (9_035_582_198)

So ``6e-4``, ``2e9``, ``524_288`` and ``1,048,576`` are numbers, while ``'1,,0'``, ``'_1'``,
``'1_'``, ``'１２'`` (full-width digits) and ``'10%'`` are refused with a message saying what is
allowed. (PyYAML follows YAML 1.1, where ``6e-4`` without a dot is a string; hpscale reads it as
the number it is. The YAML 1.1 integer forms that change a number's value — ``0100`` octal,
``0x10`` hex, ``1:30`` base 60 — are refused by ``hpscale.loader`` before they get here.)

Sizes take a unit suffix, case-insensitive:

- decimal: ``K`` = 10³, ``M`` = 10⁶, ``B`` or ``G`` = 10⁹, ``T`` = 10¹² (``300B`` tokens, ``2M``);
- binary: ``Ki`` = 2¹⁰, ``Mi`` = 2²⁰, ``Gi`` = 2³⁰, ``Ti`` = 2⁴⁰ (``2Mi`` = 2,097,152).

Model dimensions (width, depth) take only binary suffixes: ``4k`` would be 4,000, not the 4,096
people usually mean, so it is refused with both readings; ``4Ki`` is 4,096. A bool is never a
number; NaN and ±inf are refused, and so are integers of more than ``MAX_DIGITS`` digits.
"""

from __future__ import annotations

import math
import re

DECIMAL_SUFFIXES = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}
BINARY_SUFFIXES = {"ki": 2.0**10, "mi": 2.0**20, "gi": 2.0**30, "ti": 2.0**40}
#: Longer digit strings are refused before conversion (Python refuses ints above 4,300 digits
#: with an error of its own, and no hyperparameter needs more than a few dozen).
MAX_DIGITS = 400

_DIGITS = r"(?:\d{1,3}(?:,\d{3})+|\d(?:_?\d)*)"
_NUMBER_TEXT = rf"[+-]?(?:{_DIGITS}(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d+)?"
_SUFFIX_TEXT = {"number": "", "size": r"(?:[kKmMbBgGtT][iI]?)?", "dimension": r"(?:[kKmMgGtT][iI])?"}
_NUMBER = re.compile(rf"\s*(?P<number>{_NUMBER_TEXT})\s*(?P<suffix>[kKmMbBgGtT][iI]?)?\s*", re.ASCII)


def json_pattern(kind: str) -> str:
    """The JSON Schema ``pattern`` of a number written as text: ``kind`` is ``number``, ``size``
    (decimal or binary suffix) or ``dimension`` (binary suffix) — the grammar ``parse_number``
    reads, for editors (``hpscale schema``)."""
    return rf"^\s*{_NUMBER_TEXT}\s*{_SUFFIX_TEXT[kind]}\s*$"


FORMS = "a number such as 6e-4 or 0.1"
SIZE_FORMS = "a number such as 4096, 2e9, 300B (decimal) or 2Mi (binary)"
DIM_FORMS = "a whole number such as 4096 or 4Ki"


def parse_number(value: object, *, si: bool = False, dimension: bool = False) -> float:
    """``value`` as a finite float, or ``ValueError`` saying what was found and what is allowed.

    Accepts ints, floats and strings in the grammar above; ``si=True`` also takes decimal and
    binary suffixes, ``dimension=True`` only binary ones (and implies ``si``).
    """
    forms = DIM_FORMS if dimension else SIZE_FORMS if si else FORMS
    if isinstance(value, bool):
        raise ValueError(f"expected {forms}, found the boolean {str(value).lower()}")
    if isinstance(value, int):
        if abs(value) >= 10**MAX_DIGITS:
            raise ValueError(f"expected {forms}, found an integer of more than {MAX_DIGITS} digits")
        number = float(value) if abs(value) < 10**308 else math.inf
    elif isinstance(value, float):
        number = value
    elif isinstance(value, str):
        number = _parse_text(value, si=si or dimension, dimension=dimension)
    elif value is None:
        raise ValueError(f"expected {forms}, found an empty value")
    else:
        raise ValueError(f"expected {forms}, found {_kind(value)}")
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, found {value!r}")
    return number


def _kind(value: object) -> str:
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _parse_text(text: str, *, si: bool, dimension: bool) -> float:
    forms = DIM_FORMS if dimension else SIZE_FORMS if si else FORMS
    if len(text) > MAX_DIGITS:
        raise ValueError(f"expected {forms}, found text of {len(text):,} characters")
    match = _NUMBER.fullmatch(text)
    if match is None:
        special = text.strip().lower().lstrip("+-")
        if special in {"nan", "inf", "infinity", ".nan", ".inf"}:
            raise ValueError(f"expected a finite number, found {text!r}")
        raise ValueError(f"expected {forms}, found {text!r}")
    digits = match.group("number").replace("_", "").replace(",", "")
    suffix = (match.group("suffix") or "").lower()
    if suffix and not si:
        raise ValueError(f"expected {forms} (no unit suffix), found {text!r}")
    if suffix in DECIMAL_SUFFIXES and dimension:
        binary_suffix = {"k": "Ki", "m": "Mi", "b": "Gi", "g": "Gi", "t": "Ti"}[suffix]
        decimal = float(digits) * DECIMAL_SUFFIXES[suffix]
        binary = float(digits) * BINARY_SUFFIXES[binary_suffix.lower()]
        raise ValueError(
            f"expected {forms}, found {text!r}: a decimal suffix makes that {decimal:,.0f}, not "
            f"{binary:,.0f}; write {binary:.0f} or {match.group('number')}{binary_suffix}"
        )
    scale = BINARY_SUFFIXES.get(suffix) or DECIMAL_SUFFIXES.get(suffix, 1.0)
    return float(digits) * scale


def parse_positive(value: object, *, whole: bool = False, limit: str | None = None) -> float:
    """A size from the command line: > 0, with decimal or binary suffixes; a whole number when
    ``whole`` (a model dimension: binary suffixes only); within ``hpscale.limits.LIMITS[limit]``
    when ``limit`` names a size there. Raises ``ValueError`` saying what is allowed."""
    from .limits import check_limit

    number = parse_number(value, si=True, dimension=whole)
    if number <= 0:
        raise ValueError(f"must be > 0, found {value!r}")
    if whole and number != int(number):
        raise ValueError(f"must be a whole number, found {value!r}")
    if limit is not None:
        try:
            check_limit(limit, number)
        except ValueError as exc:
            raise ValueError(f"{exc}, found {value!r}") from None
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


# ---------------------------------------------------------------------------------------------
# Numbers as the outputs write them (JSON, YAML, CSV): one rounding for every contract
# ---------------------------------------------------------------------------------------------

#: Significant digits of every float in hpscale's outputs: far beyond any hyperparameter's
#: precision, short enough to hide binary noise (0.0012000000000000001).
SIGNIFICANT_DIGITS = 12

_CLEAN_CACHE: dict[float, float | int | None] = {}
_CLEAN_CACHE_MAX = 65_536  # bounded; a ladder repeats the same proxy values, β, ε and factors


def clean(value: float | None) -> float | int | None:
    """Round to ``SIGNIFICANT_DIGITS`` (hides 0.0012000000000000001-style noise); whole numbers
    below 2⁵³ are written exactly; ∞/NaN → None.

    Memoised: ``hpscale ladder`` cleans ~100 values per row and most of them repeat.
    """
    if value is None:
        return None
    if value in _CLEAN_CACHE:
        return _CLEAN_CACHE[value]
    result: float | int | None
    if value != value or value in (float("inf"), float("-inf")):
        result = None
    elif float(value).is_integer() and abs(value) < 2**53:
        result = int(value)  # a count (batch size, tokens) is written exactly, all its digits
    else:
        rounded = float(f"{value:.{SIGNIFICANT_DIGITS}g}")
        result = int(rounded) if rounded.is_integer() and abs(rounded) < 2**53 else rounded
    if len(_CLEAN_CACHE) < _CLEAN_CACHE_MAX:
        _CLEAN_CACHE[value] = result
    return result


def exact(value: float | None) -> float | int | None:
    """A size (batch, dataset, parameter count) as it is: no rounding — a target written with
    12 digits could hold fewer tokens per epoch than per step — and whole numbers as ints."""
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else value


def clean_fraction(value: float | None) -> float | int | None:
    """``clean`` for decay rates in [0, 1) (β, ρ), which rules scale through 1 − value: keep
    ``SIGNIFICANT_DIGITS`` digits of the smaller of value and 1 − value. So ρ = 0.99999999999666…
    is written as such, not rounded to 0.999999999997 (a 10 % error in its averaging window) or
    to 1, and ρ^κ = 0.5^64 ≈ 5.4e-20 stays positive instead of becoming 1 − (1 − ρ) = 0."""
    if value is None or not 0.5 <= value < 1:
        return clean(value)
    return 1.0 - float(f"{1.0 - value:.{SIGNIFICANT_DIGITS}g}")
