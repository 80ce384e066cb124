"""The law file: its format, and its reader (``read_law``, the shipped laws by name).

Why here and not beside the law: ``hpscale.core.law`` (the ``Law`` a reader returns, and how it
applies) is pure — no I/O — so the reader, which opens files, sits with the other input readers
at the package's top level (``loader``, ``runs``, ``targets``); the writer is an output of
``hpscale fit`` and sits with its outputs (``hpscale.outputs.fit.dumps_law``). This module states
the format both follow.

**Law file** (``hpscale fit --output law.yaml``; read by ``transfer --law`` and ``check --law``):
a YAML mapping, ``kind: hpscale-law``, ``schema_version: 1``::

    schema_version: 1
    kind: hpscale-law
    hpscale_version: 0.2.0
    name: sweep-synthetic          # the first input's file name without suffix
    group: hidden                  # the parameter group whose lr / weight_decay were swept
    confidence: 0.95               # level of every interval below
    laws:
      lr:                          # one entry per fitted hyperparameter
        of: value                  # or "1 - value" (β1, β2, ema_decay)
        formula: lr* = 1.21 · width^-0.993
        coefficient: 1.208         # hp* = coefficient · Π axis^exponent (axes in the table's units)
        coefficient_ci: [1.1, 1.3]
        exponents: {width: -0.993}
        exponent_ci: {width: [-1.06, -0.946]}
        axes_range: {width: [128, 1024]}   # the swept range of each axis
        r2: 0.99997                # weighted R² (null with as many cells as coefficients)
        cells: 4
    provenance:                    # where the law came from
      inputs: [{path: sweep.csv, sha256: …, rows: 140}]
      columns: {metric: val/loss, lr: optimizer.lr}
      metric: {column: val/loss, maximize: false}
      runs: 140
      diverged: 6
      incomplete: 0
      cells: 4
      by: [width]
      optimize: [lr, weight_decay]
      method: {optimum: …, law: …, window: 5, resample: noise, resamples: 1000, seed: 0, keep_edge: false}

Only ``schema_version``, ``kind``, ``group`` and, per law, ``exponents`` and ``exponent_ci`` are
needed to apply a law; the rest documents it. Unknown keys are refused.

**Published laws** ship with the package as law files in ``hpscale/laws/`` and are named by their
file stem (``--law deepseek``, ``--law steplaw``); ``shipped_laws`` lists them. A value that names
an existing file is always read as that file; a bare name (no folder, no suffix) that is not shipped
is refused with the list of shipped names. Each shipped file's header comment states its source,
variables and what was (not) verified; docs/fit.md lists them.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from .core.law import Law, LawTerm
from .errors import InputError

#: The version of the law file format (``kind: hpscale-law``).
SCHEMA_VERSION = 1
LAW_KIND = "hpscale-law"
#: A law file is a few kB; anything larger is refused before parsing.
MAX_LAW_BYTES = 1_048_576


#: The folder of the published law files shipped with the package.
LAWS_DIR = Path(__file__).resolve().parent / "laws"


def shipped_laws() -> list[str]:
    """The names of the published laws shipped with hpscale (file stems in ``LAWS_DIR``), sorted."""
    return sorted(p.stem for p in LAWS_DIR.glob("*.yaml"))


def law_path(value: str | os.PathLike[str]) -> Path:
    """The file ``--law VALUE`` names: an existing file, else a shipped law's file by name.

    Raises ``InputError`` for a bare name that is neither, listing the shipped laws.
    """
    path = Path(value)
    if path.exists():
        return path
    text = str(value)
    if text in shipped_laws():
        return LAWS_DIR / f"{text}.yaml"
    if path.name == text and not path.suffix:
        raise InputError.of("law", f": {text!r}: no such file or shipped law; shipped laws: {', '.join(shipped_laws())}")
    return path


def read_law(path: str | os.PathLike[str]) -> Law:
    """Read and validate a law file (safe YAML, ``MAX_LAW_BYTES``, strict schema), or a shipped law
    named by ``law_path``.

    Raises ``InputError`` naming the file and the key for every problem.
    """
    from .loader import parse_yaml, read_text

    path = law_path(path)
    source = str(path)
    text = read_text(Path(path), limit=MAX_LAW_BYTES, what="law")
    data = parse_yaml(text, source)
    if not isinstance(data, Mapping):
        raise InputError(f"{source}: expected a law file (a mapping with kind: {LAW_KIND}), got "
                         f"{type(data).__name__}")
    if data.get("kind") != LAW_KIND:
        raise InputError(f"{source}: kind: {data.get('kind')!r}: expected {LAW_KIND!r} (write one with hpscale fit --output)")
    version = data.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:  # a bool is never a number (true == 1)
        raise InputError(f"{source}: schema_version: {_shown(version)}: this hpscale reads "
                         f"version {SCHEMA_VERSION}; refit with this version")
    document = _validate_law(data, source)
    terms: dict[str, LawTerm] = {}
    for hp, law in document.laws.items():
        if set(law.exponents) != set(law.exponent_ci):
            raise InputError(f"{source}: laws.{hp}: exponents and exponent_ci must name the same axes")
        for axis, value in law.exponents.items():
            if not math.isfinite(value) or abs(value) > 10:
                raise InputError(f"{source}: laws.{hp}.exponents.{axis}: {value!r}: must be a finite number in [-10, 10]")
        terms[hp] = LawTerm(hp, dict(law.exponents), {a: (lo, hi) for a, (lo, hi) in law.exponent_ci.items()},
                            {a: (lo, hi) for a, (lo, hi) in law.axes_range.items()}, law.formula,
                            law.coefficient)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    provenance = document.provenance.model_dump(exclude_unset=True)
    optimized = provenance.get("optimize", [])
    return Law(document.name, source, digest, document.group, document.confidence, terms,
               "lr" in optimized if isinstance(optimized, list) else False, provenance)


def _finite(value: Any) -> float:
    """A law file's number: finite, never a bool (YAML's ``true`` is not 1); ``ValueError`` else."""
    from .numbers import parse_number

    return parse_number(value)


def _coefficient(value: Any) -> float:
    """A law's coefficient c in hp* = c · Π axisᵉ: finite and > 0 (hp* and 1 − β are positive;
    ``plan`` works in log space), ``ValueError`` else."""
    number = _finite(value)
    if not number > 0:
        raise ValueError(f"expected a finite number > 0 (hp* = coefficient · Π axis^exponent), found {_shown(value)}")
    return number


def _name(value: Any) -> str:
    """A law's name: text of 1 to ``MAX_NAME`` characters (it is printed in every table and warning)."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_NAME:
        raise ValueError(f"expected a name of 1 to {MAX_NAME} characters, found {_shown(value)}")
    return value


MAX_NAME = 100


def _interval(value: Any) -> tuple[float, float]:
    """``[low, high]``: two finite numbers with low ≤ high (a confidence interval or a range)."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f"expected [low, high], two finite numbers with low <= high, found {_shown(value)}")
    low, high = (_finite(v) for v in value)
    if low > high:
        raise ValueError(f"expected [low, high] with low <= high, found [{low:g}, {high:g}] (reversed)")
    return low, high


def _optional_interval(value: Any) -> list[float | None] | None:
    """``coefficient_ci``: null, or ``[low, high]`` where either end may be null (unknown)."""
    if value is None:
        return None
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f"expected null or [low, high], found {_shown(value)}")
    low, high = (None if v is None else _coefficient(v) for v in value)
    if low is not None and high is not None and low > high:
        raise ValueError(f"expected [low, high] with low <= high, found [{low:g}, {high:g}] (reversed)")
    return [low, high]


def _count(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"expected a whole number >= 0, found {_shown(value)}")
    return value


def _level(value: Any) -> float:
    number = _finite(value)
    if not 0 < number < 1:
        raise ValueError(f"expected a confidence level in (0, 1), found {value!r}")
    return number


def _quantity(value: Any) -> str:
    """``provenance.quantities``: the physical quantity a shipped law's axis stands for."""
    from .core.published import QUANTITIES

    if not isinstance(value, str) or value not in QUANTITIES:
        raise ValueError(f"expected one of {', '.join(QUANTITIES)}, found {_shown(value)}")
    return value


def _shown(value: Any) -> str:
    text = str(value).lower() if isinstance(value, bool) else repr(value)  # YAML's spelling
    return text if len(text) <= 40 else text[:37] + "…"


def _validate_law(data: Mapping[str, Any], source: str) -> Any:
    """The law document checked key by key (unknown keys refused with the law file's own keys;
    numbers finite and never bools; intervals ordered), or ``InputError`` naming each key."""
    from typing import Annotated

    from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

    from .loader import validation_messages

    Finite = Annotated[float, BeforeValidator(_finite)]
    Interval = Annotated[tuple[float, float], BeforeValidator(_interval)]

    class _Model(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=False)

    class LawModel(_Model):
        of: Literal["value", "1 - value"]
        formula: str = ""
        coefficient: Annotated[float, BeforeValidator(_coefficient)] | None = None
        coefficient_ci: Annotated[list[float | None] | None, BeforeValidator(_optional_interval)] = None
        exponents: dict[str, Finite]
        exponent_ci: dict[str, Interval]
        axes_range: dict[str, Interval] = {}
        r2: Finite | None = None
        cells: Annotated[int, BeforeValidator(_count)] | None = None

    class ProvenanceModel(BaseModel):
        # What transfer and plan read from it is checked; the rest only documents the law.
        model_config = ConfigDict(extra="allow")
        quantities: dict[str, Annotated[str, BeforeValidator(_quantity)]] | None = None
        fitted_range: dict[str, Interval] | None = None
        batch_unit: str | None = None
        source: Any = None
        fitted_on: str | None = None

    class Document(_Model):
        schema_version: int
        kind: str
        hpscale_version: str
        name: Annotated[str, BeforeValidator(_name)]
        group: Literal["embedding", "hidden", "readout", "vector"]
        confidence: Annotated[float, BeforeValidator(_level)] | None = None
        laws: dict[str, LawModel]
        provenance: ProvenanceModel = ProvenanceModel()

    def keys(section: list[str]) -> list[str]:
        model = LawModel if len(section) == 2 and section[0] == "laws" else Document
        return list(model.model_fields)

    try:
        return Document.model_validate(data)
    except ValidationError as exc:
        raise InputError("\n".join(f"{source}: {line}" for line in validation_messages(exc, keys))) from None
