"""Run tables: CSV, TSV and JSON Lines files of training runs → a ``Sweep`` for the fit.

One row per run. Formats by file suffix:

- ``.csv`` (comma) and ``.tsv``/``.tab`` (tab): a header row, then one row per run. Lines
  before the header that start with ``#`` are comments (a sweep can say where it came from).
  A W&B "Export CSV" is read as it is: its columns look like ``Name``, ``State``,
  ``optimizer.lr``, ``val/loss``.
- ``.jsonl``/``.ndjson``: one JSON object per line; nested objects are flattened with ``.``
  (``{"config": {"lr": 0.01}}`` → column ``config.lr``), so W&B API dumps work too.

Columns are found by name (``--column NAME=COLUMN`` maps one explicitly): a column named exactly
like the quantity (``lr``), else case-insensitively, else the one column whose name ends in
``.NAME`` or ``/NAME`` (``optimizer.lr``, ``config/lr``, ``val/loss``); when none matches, the
same rules for the usual aliases (``ALIASES``: ``d_model``, ``learning_rate``, …). Two candidates
are an error that names both; every quantity without a single column is named in one error. The run name comes from ``name``/``run``/``run_id``/``id`` and the state from
``state``/``status``, case-insensitively.

Run states: ``finished`` (or empty) runs count; ``failed`` and ``crashed`` runs are *diverged*
(as is any run whose metric is empty, NaN or ±inf) and are used as evidence; ``running``,
``killed``, ``preempted`` and ``pending`` runs are *incomplete*: their metric is not final, so
they are counted and reported, not fitted.

Every problem raises ``InputError`` naming the file, line, column and what is allowed.

Length (over ~600 lines, on purpose): three formats share one row model, one error style (file,
line, column) and one run-state policy; column finding is already its own module
(``hpscale.columns``).
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from .columns import listing, locate
from .core.sweep import AXES, DECAY_RATES, HYPERPARAMETERS, Sweep
from .errors import InputError, InputFileError, mention
from .numbers import MAX_DIGITS, parse_number

if TYPE_CHECKING:
    import numpy as np

#: Larger run tables are refused before parsing (a W&B export of 100,000 runs is ~20 MB).
MAX_TABLE_BYTES = 512 * 1024 * 1024
FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
NAME_COLUMNS = ("name", "run", "run_id", "id")
STATE_COLUMNS = ("state", "status")
FINISHED_STATES = frozenset({"finished", "completed", "success", "succeeded", ""})
DIVERGED_STATES = frozenset({"failed", "crashed", "diverged"})
INCOMPLETE_STATES = frozenset({"running", "killed", "preempted", "pending", "queued"})
#: Quantities read per cell when present (not optimized): τ and tokens per parameter need them.
CONTEXT = ("lr", "weight_decay", "batch_size", "dataset_size", "steps", "params")
_MISSING = frozenset({"", "nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity",
                      "-infinity", "null", "none", "na", "n/a"})


class RunTable(NamedTuple):
    """One input: its columns and rows as read (values are strings, numbers or ``None``)."""

    source: str
    sha256: str | None
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    lines: tuple[int, ...]  # the line each row starts on (1-based; the row number for mappings)

    def where(self, row: int) -> str:
        return f"{self.source}:{self.lines[row]}"


def read_table(path: str | os.PathLike[str]) -> RunTable:
    """Read one run table (format by suffix); raises ``InputError`` / ``InputFileError``."""
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if path.is_dir():
        raise InputFileError(f"{path}: is a directory, expected a run table (.csv, .tsv, .jsonl)")
    if kind is None:
        raise InputError(f"{path}: unknown run-table format {path.suffix or '(no suffix)'!r}; "
                         f"allowed: {', '.join(FORMATS)}")
    from .loader import read_bytes

    # read_bytes asks the OS for limit + 1 bytes at once; a limit near the file's own size keeps
    # that buffer (and a tracemalloc peak) at the input's real size, not 512 MiB.
    try:
        size = path.stat().st_size
    except OSError:
        size = MAX_TABLE_BYTES
    limit = MAX_TABLE_BYTES if size > MAX_TABLE_BYTES else min(MAX_TABLE_BYTES, size + 65_536)
    what = "run table (.csv, .tsv, .jsonl)"
    try:
        data = read_bytes(path, limit=limit, what=what)
    except InputFileError:
        if limit == MAX_TABLE_BYTES:
            raise
        data = read_bytes(path, limit=MAX_TABLE_BYTES, what=what)  # it grew while we looked
    digest = hashlib.sha256(data).hexdigest()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    if kind == "jsonl":
        return _read_jsonl(str(path), digest, text)
    return _read_delimited(str(path), digest, text, "\t" if kind == "tsv" else ",")


#: A line that holds more than blanks, with its line break; ``^`` and the possessive ``*+`` keep
#: the scan linear (no retry inside a long blank line).
_NONBLANK = re.compile(r"^[^\S\n]*+\S[^\n]*\n?", re.MULTILINE)
#: Nesting deeper than this in a JSON Lines record is refused (W&B dumps nest 3–4 levels).
MAX_NESTING = 32


def _nonblank_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line with its break) of every line that is not blank, in order.

    Lines end at ``\n``, ``\r\n`` or a lone ``\r`` (old Mac and some Excel exports; read as
    ``\n``), never at the other characters ``str.splitlines`` breaks at (U+2028 may sit inside
    a JSON string). Blank lines are skipped by the regex engine, so a file of millions of them
    costs no Python objects (issue 18: 50 MB of blank lines took 942 MB and 25 s).
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    line, position = 1, 0
    for match in _NONBLANK.finditer(text):
        line += text.count("\n", position, match.start())
        yield line, match.group()
        line += 1
        position = match.end()


def _read_delimited(source: str, digest: str, text: str, delimiter: str) -> RunTable:
    kind = "TSV" if delimiter == "\t" else "CSV"
    numbered = _nonblank_lines(text)
    starts_of: list[int] = []  # the line number of every line handed to the csv reader

    def feed() -> Iterator[str]:
        for number, line in numbered:
            starts_of.append(number)
            yield line

    header_line = 0
    for number, line in numbered:
        if not line.lstrip().startswith("#"):
            header_line = number
            starts_of.append(number)
            break
    if not header_line:
        raise InputError(f"{source}: no header row; expected column names such as lr,loss")
    reader = csv.reader(itertools.chain([line], feed()), delimiter=delimiter, strict=True)
    rows, starts = [], []
    try:
        columns = tuple(name.strip() for name in next(reader))
        _check_header(source, header_line, columns)
        while True:
            first = len(starts_of)  # the next record starts at the next line the reader takes
            record = next(reader, None)
            if record is None:
                break
            start = starts_of[first] if first < len(starts_of) else starts_of[-1]
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(columns):
                raise InputError(f"{source}:{start}: {len(record)} fields, the header has {len(columns)}")
            rows.append(tuple(record))
            starts.append(start)
    except csv.Error as exc:
        raise InputError(f"{source}:{starts_of[-1]}: not valid {kind}: {exc}") from None
    return RunTable(source, digest, columns, tuple(rows), tuple(starts))


def _check_header(source: str, line: int, columns: Sequence[str]) -> None:
    seen: dict[str, int] = {}
    for index, name in enumerate(columns):
        if not name:
            raise InputError(f"{source}:{line}: column {index + 1} has no name")
        if name in seen:
            raise InputError(f"{source}:{line}: column {name!r} appears twice (columns {seen[name] + 1} and {index + 1})")
        seen[name] = index


def _flatten(obj: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Nested mappings as one level, keys joined with ``.``; at most ``MAX_NESTING`` deep."""
    out: dict[str, Any] = {}
    stack: list[tuple[str, Mapping[str, Any], int]] = [("", obj, 1)]
    while stack:
        prefix, mapping, depth = stack.pop()
        if depth > MAX_NESTING:
            raise InputError(f"{where}: nesting deeper than {MAX_NESTING} levels; a run table nests a few")
        for key, value in mapping.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, Mapping):
                stack.append((name, value, depth + 1))
            else:
                out[name] = value
    return out


class _Unrepresentable(str):
    """A JSON number no float holds, kept as its text: an integer of more than ``MAX_DIGITS``
    digits (Python refuses ints above 4,300 digits on its own) or beyond ±1.8e308 (``1e500``)."""

    def too_long(self) -> bool:
        """More digits than any number may have (else: only beyond a float's range, ±inf)."""
        return len(self.lstrip("-")) > MAX_DIGITS

    def problem(self) -> str:
        if self.too_long():
            return f"an integer of {len(self.lstrip('-')):,} digits; a number has at most {MAX_DIGITS}"
        return f"{_short(str(self))}: beyond a float's range (±1.8e308)"


def _json_int(text: str) -> int | str:
    if len(text.lstrip("-")) > MAX_DIGITS or abs(int(text)) >= _FLOAT_MAX_INT:
        return _Unrepresentable(text)
    return int(text)


def _json_float(text: str) -> float | str:
    value = float(text)
    return value if math.isfinite(value) else _Unrepresentable(text)


_FLOAT_MAX_INT = 2**1024


def _read_jsonl(source: str, digest: str, text: str) -> RunTable:
    records: list[dict[str, Any]] = []
    starts: list[int] = []
    for number, line in _nonblank_lines(text):
        try:
            obj = json.loads(line, parse_int=_json_int, parse_float=_json_float)
        except json.JSONDecodeError as exc:
            raise InputError(f"{source}:{number}: not valid JSON: {exc.msg} (column {exc.colno})") from None
        except RecursionError:  # the C decoder recurses once per [ or {
            raise InputError(f"{source}:{number}: nesting deeper than {MAX_NESTING} levels; "
                             "a run table nests a few") from None
        if not isinstance(obj, dict):
            raise InputError(f"{source}:{number}: expected a JSON object per line, got {type(obj).__name__}")
        records.append(_flatten(obj, f"{source}:{number}"))
        starts.append(number)
    return _table_from_records(source, digest, records, starts)


def _table_from_records(source: str, digest: str | None, records: Sequence[Mapping[str, Any]],
                        starts: Sequence[int]) -> RunTable:
    columns: dict[str, None] = {}
    for record in records:
        for key in record:
            columns.setdefault(key, None)
    names = tuple(columns)
    rows = tuple(tuple(record.get(name) for name in names) for record in records)
    return RunTable(source, digest, names, rows, tuple(starts))


def table_from_rows(rows: Iterable[Mapping[str, Any]], source: str = "<rows>") -> RunTable:
    """A run table from mappings (one per run; nested mappings flattened with ``.``), e.g.
    ``pandas.DataFrame.to_dict("records")`` or a W&B API ``run.config | run.summary``."""
    records: list[dict[str, Any]] = []
    for index, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            raise InputError(f"{source}: row {index}: expected a mapping of column → value, got {type(row).__name__}")
        records.append(_flatten(row, f"{source}: row {index}"))
    return _table_from_records(source, None, records, list(range(1, len(records) + 1)))


# ---------------------------------------------------------------------------------------------
# Columns
# ---------------------------------------------------------------------------------------------


def _number(table: RunTable, row: int, column: str, value: Any, *, si: bool = False) -> float:
    if isinstance(value, _Unrepresentable):
        raise InputError(f"{table.where(row)}: column {column!r}: {value.problem()}")
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()  # numpy scalars (np.int64 from a DataFrame) as the Python number they hold
    try:
        return parse_number(value.strip() if isinstance(value, str) else value, si=si)
    except ValueError as exc:
        raise InputError(f"{table.where(row)}: column {column!r}: {_short(value)}: {exc}") from None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…'"


def _is_missing(value: Any) -> bool:
    """Empty, NaN or ±inf (a metric so: the run diverged), as text, a float or JSON's ``1e500``."""
    if value is None:
        return True
    if isinstance(value, _Unrepresentable):
        return not value.too_long()
    if isinstance(value, float) and not math.isfinite(value):
        return True
    return isinstance(value, str) and value.strip().lower() in _MISSING


# ---------------------------------------------------------------------------------------------
# Sweep
# ---------------------------------------------------------------------------------------------


class SweepInput(NamedTuple):
    """The sweep and what the outputs record about how it was read."""

    sweep: Sweep
    columns: dict[str, str]  # quantity → column (of the first table; per-table differences noted)
    inputs: tuple[tuple[str, str | None, int], ...]


def parse_names(option: str, text: str | Sequence[str], allowed: Mapping[str, str]) -> tuple[str, ...]:
    """``'width,params'`` → ('width', 'params'), each checked against ``allowed``."""
    items = [part.strip() for part in text.split(",")] if isinstance(text, str) else [str(t).strip() for t in text]
    if not items or not all(items):
        raise InputError.of(option, f": {text!r}: expected a comma list, e.g. {','.join(list(allowed)[:2])}")
    for item in items:
        if item not in allowed:
            raise InputError.of(option, f": {item!r}: allowed: {', '.join(allowed)}")
    if len(set(items)) != len(items):
        raise InputError.of(option, f": {text!r}: a name appears twice")
    return tuple(items)


def parse_mapping(option: str, items: Sequence[str], *, example: str = "lr=optimizer.lr") -> dict[str, str]:
    """``['lr=optimizer.lr']`` → {'lr': 'optimizer.lr'}: ``--column`` items, ``--predict`` points.

    Only the first ``=`` separates, so a column name may contain ``=``; each name once.
    """
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise InputError(f"{option}: {item!r}: expected NAME=VALUE, e.g. {example}")
        if name in out:
            raise InputError(f"{option}: {name} is given twice")
        out[name] = value
    return out


class _Columns(NamedTuple):
    """Where each quantity is in one table."""

    metric: str
    axes: tuple[str, ...]
    hps: tuple[str, ...]
    name: str | None
    state: str | None
    context: dict[str, str | None]


def _columns(table: RunTable, by: Sequence[str], optimize: Sequence[str], mapping: Mapping[str, str],
             metric: str) -> _Columns:
    """Every quantity's column; every one that has none (or several) is named in one error
    (issue 17 item 8: a W&B export revealed them one run at a time)."""
    problems: dict[str, str] = {}  # quantity → what is wrong

    def look(quantity: str, *, required: bool, aliases: Sequence[str] | None = None) -> str | None:
        column, problem = locate(table, quantity, mapping, required=required, aliases=aliases)
        if problem:
            problems[quantity] = problem
        return column

    metric_column = mapping.get("metric") or look(metric, required=True, aliases=())
    if metric_column is not None and metric_column not in table.columns:
        raise InputError(f"{mention('metric', metric)}: {table.source} has no column {metric_column!r}; "
                         f"columns: {listing(table.columns)}")
    found = _Columns(
        metric=str(metric_column),
        axes=tuple(str(look(axis, required=True)) for axis in by),
        hps=tuple(str(look(hp, required=True)) for hp in optimize),
        name=look("name", required=False, aliases=NAME_COLUMNS[1:]),
        state=look("state", required=False, aliases=STATE_COLUMNS[1:]),
        context={name: look(name, required=False) for name in CONTEXT if name not in by and name not in optimize},
    )
    if len(problems) == 1:
        [(quantity, problem)] = problems.items()
        raise InputError(f"{table.source}: {problem}; columns: {listing(table.columns)}; "
                         f"map it with --column {quantity}=COLUMN")
    if problems:
        raise InputError(f"{table.source}: {len(problems)} quantities have no single column: "
                         f"{'; '.join(problems.values())}; columns: {listing(table.columns)}; "
                         "map each with --column NAME=COLUMN")
    return found


def column_numbers(table: RunTable, column: str, rows: np.ndarray, *, si: bool = False,
                   missing_ok: bool = False) -> np.ndarray:
    """The values of ``column`` in ``rows`` as float64 (NaN where missing, if ``missing_ok``).

    A column whose every value is a plain finite number (``_fast_floats``) is converted in one
    numpy call; any other is read value by value with ``parse_number`` (SI suffixes, the
    400-digit limit, the exact message naming the first bad row). Memory stays a fixed multiple
    of the column's real size: no value is copied at the width of the longest (issue 18: one
    120,003-character cell made a 28 GiB array).
    """
    import numpy as np

    position = table.columns.index(column)
    values = [table.rows[i][position] for i in rows]
    if missing_ok:
        missing = np.fromiter((_is_missing(v) for v in values), bool, len(values))
    else:
        missing = np.zeros(len(values), bool)
    fast = _fast_floats(values, missing)
    if fast is not None:
        return np.where(missing, np.nan, fast)
    out = np.empty(len(values))
    for k, (i, value) in enumerate(zip(rows, values, strict=True)):
        out[k] = math.nan if missing[k] else _number(table, int(i), column, value, si=si)
    return out


#: Larger integers take the value-by-value path (``float()`` of a bigger one overflows).
_FAST_INT = 10**300


def _fast_floats(values: Sequence[Any], missing: np.ndarray) -> np.ndarray | None:
    """``values`` as float64 in one numpy call when each (not ``missing``) is an ASCII string of
    at most ``MAX_DIGITS`` characters, a float or a not-too-large int (numpy's too) and every
    result is finite; else None. Strings go through ``float()``, whose grammar is
    ``parse_number``'s (signs, exponents, ``_`` between digits) save for the forms both read
    differently, which are refused here and fall to ``parse_number``: non-ASCII digits, names
    like ``inf``, thousands commas and unit suffixes (not floats)."""
    import numpy as np

    kept: list[Any] = []
    for value, gone in zip(values, missing, strict=True):
        if gone:
            kept.append(0.0)
        elif type(value) is str:
            if len(value) > MAX_DIGITS or not value.isascii():
                return None
            kept.append(value)
        elif isinstance(value, float | np.floating):
            kept.append(value)
        elif isinstance(value, int | np.integer) and not isinstance(value, bool):
            if not -_FAST_INT < value < _FAST_INT:
                return None
            kept.append(int(value))
        else:
            return None
    try:
        with np.errstate(all="ignore"):
            out = np.array(kept, dtype=object).astype(np.float64)
    except (ValueError, TypeError, OverflowError):
        return None
    return out if bool(np.all(np.isfinite(out))) else None


def _first_bad(table: RunTable, rows: np.ndarray, column: str, bad: np.ndarray, message: str) -> None:
    """Raise for the first row where ``bad`` holds: ``file:line: column 'c': 'value': message``."""
    import numpy as np

    if np.any(bad):
        row = int(rows[int(np.argmax(bad))])
        raw = table.rows[row][table.columns.index(column)]
        raise InputError(f"{table.where(row)}: column {column!r}: {_short(str(raw))}: {message}")


class _TableRuns(NamedTuple):
    """The checked runs of one table (incomplete runs only count)."""

    axes: np.ndarray  # (n, len(by))
    hps: np.ndarray  # (n, len(optimize))
    metric: np.ndarray  # NaN when diverged
    diverged: np.ndarray
    names: list[str | None]
    where: list[str]
    context: dict[str, np.ndarray]
    incomplete_axes: np.ndarray


def _table_runs(table: RunTable, columns: _Columns, by: Sequence[str], optimize: Sequence[str]) -> _TableRuns:
    import numpy as np

    n = len(table.rows)
    states = [""] * n
    if columns.state:
        position = table.columns.index(columns.state)
        allowed = FINISHED_STATES | DIVERGED_STATES | INCOMPLETE_STATES
        for i, row in enumerate(table.rows):
            raw = row[position]
            state = "" if raw is None else str(raw).strip().lower()
            if state not in allowed:
                raise InputError(f"{table.where(i)}: column {columns.state!r}: {_short(raw)}: unknown run state; "
                                 f"allowed: {', '.join(sorted(s for s in allowed if s))} (or empty)")
            states[i] = state
    incomplete = np.array([state in INCOMPLETE_STATES for state in states], bool)
    everything = np.arange(n)
    axes = np.zeros((n, len(by)))
    for j, (axis, column) in enumerate(zip(by, columns.axes, strict=True)):
        axes[:, j] = column_numbers(table, column, everything, si=True)
        _first_bad(table, everything, column, axes[:, j] <= 0, f"{axis} must be > 0")
    rows = np.flatnonzero(~incomplete)
    hps = np.zeros((len(rows), len(optimize)))
    for j, (hp, column) in enumerate(zip(optimize, columns.hps, strict=True)):
        values = column_numbers(table, column, rows)
        if hp in DECAY_RATES:
            _first_bad(table, rows, column, ~((values > 0) & (values < 1)),
                       f"{hp} must be in (0, 1) (it is fitted on log(1 − value))")
        else:
            _first_bad(table, rows, column, values <= 0,
                       f"{hp} must be > 0 to be placed on a log axis; leave such runs out of the sweep table")
        hps[:, j] = values
    metric = column_numbers(table, columns.metric, rows, missing_ok=True)
    failed = np.array([states[i] in DIVERGED_STATES for i in rows], bool)
    diverged = failed | ~np.isfinite(metric)
    names: list[str | None] = [None] * len(rows)
    if columns.name:
        name_at = table.columns.index(columns.name)
        for k, i in enumerate(rows.tolist()):
            raw = table.rows[i][name_at]
            text = "" if raw is None else str(raw).strip()
            names[k] = text or None
    context = {quantity: column_numbers(table, source, rows, si=True, missing_ok=True)
               for quantity, source in columns.context.items() if source}
    return _TableRuns(axes[rows], hps, np.where(diverged, np.nan, metric), diverged, names,
                      [table.where(int(i)) for i in rows], context, axes[incomplete])


def sweep_from_tables(
    tables: Sequence[RunTable],
    *,
    by: Sequence[str],
    optimize: Sequence[str],
    columns: Mapping[str, str] | None = None,
    metric: str = "loss",
    maximize: bool = False,
) -> SweepInput:
    """Check the runs and group them into cells: the ``Sweep`` the fit works on.

    Refuses (``InputError``, one line naming file:line and column): a missing column; text in a
    number column; a hyperparameter ≤ 0 (or a decay rate outside (0, 1)), which has no
    logarithm; an axis ≤ 0; a run that appears twice (same name, or — without names — the same
    values in every column used); a quantity that is neither optimized nor an axis yet varies
    inside a cell; a cell whose runs all diverged; no finished run at all.
    """
    import numpy as np

    mapping = dict(columns or {})
    by, optimize = tuple(by), tuple(optimize)
    overlap = set(by) & set(optimize)
    if overlap:
        both = sorted(overlap)[0]
        raise InputError(f"{mention('by')}/{mention('optimize')}: {both} is in both; a quantity is either a cell axis or swept inside cells")
    if not 1 <= len(optimize) <= 2:
        raise InputError.of("optimize", f": {','.join(optimize)}: give one or two hyperparameters (a joint 2-D fit at most)")
    if not by:
        raise InputError.of("by", f": give at least one axis, e.g. {mention('by', 'width')}")
    known = set(AXES) | set(HYPERPARAMETERS) | {"metric", "name", "state"}
    for quantity in mapping:
        if quantity not in known and quantity != metric:
            raise InputError(f"{mention('columns')} {quantity}=…: unknown quantity; allowed: {', '.join(sorted(known))}")

    parts: list[_TableRuns] = []
    used_columns: dict[str, str] = {}
    inputs: list[tuple[str, str | None, int]] = []
    context_names = [name for name in CONTEXT if name not in by and name not in optimize]
    for table in tables:
        inputs.append((table.source, table.sha256, len(table.rows)))
        if not table.rows:
            continue
        found = _columns(table, by, optimize, mapping, metric)
        named = {"metric": found.metric, **dict(zip(by, found.axes, strict=True)),
                 **dict(zip(optimize, found.hps, strict=True)),
                 **{k: v for k, v in found.context.items() if v}, "name": found.name, "state": found.state}
        for quantity, column in named.items():
            if column:
                used_columns.setdefault(quantity, column)
        parts.append(_table_runs(table, found, by, optimize))

    if not parts or not sum(len(part.metric) for part in parts):
        raise InputError(f"{', '.join(t.source for t in tables)}: no finished or diverged runs to fit")
    where = [w for part in parts for w in part.where]
    run_names = [name for part in parts for name in part.names]
    axis_array = np.concatenate([part.axes for part in parts])
    hp_array = np.concatenate([part.hps for part in parts])
    metric_array = np.concatenate([part.metric for part in parts])
    diverged_array = np.concatenate([part.diverged for part in parts])
    _check_duplicates(run_names, where, np.column_stack([axis_array, hp_array, metric_array]), diverged_array)
    if maximize:
        metric_array = -metric_array
    context_rows = {name: np.concatenate([part.context.get(name, np.full(len(part.metric), np.nan)) for part in parts])
                    for name in context_names}
    incomplete_keys = [tuple(row) for part in parts for row in part.incomplete_axes.tolist()]
    names = [name if name is not None else w for name, w in zip(run_names, where, strict=True)]

    cell_axes, cell = np.unique(axis_array, axis=0, return_inverse=True)
    cell = np.asarray(cell).reshape(-1)
    labels = [" ".join(f"{a}={v:g}" for a, v in zip(by, values, strict=True)) for values in cell_axes]
    finished = np.bincount(cell, weights=~diverged_array, minlength=len(cell_axes))
    for c, count in enumerate(finished):
        if count == 0:
            total = int(np.sum(cell == c))
            raise InputError(f"cell {labels[c]}: all {total} runs diverged; nothing to fit (extend the sweep to "
                             "smaller values, or leave the cell out of the table)")
    incomplete = np.zeros(len(cell_axes), int)
    lookup = {tuple(v): c for c, v in enumerate(cell_axes.tolist())}
    for axes_key in incomplete_keys:
        found_cell = lookup.get(tuple(axes_key))
        if found_cell is not None:
            incomplete[found_cell] += 1

    context: dict[str, np.ndarray] = {}
    order = np.argsort(cell, kind="stable")
    starts = np.searchsorted(cell[order], np.arange(len(cell_axes)))
    runs_per_cell = np.bincount(cell, minlength=len(cell_axes))
    for name, array in context_rows.items():
        if np.all(np.isnan(array)):
            continue
        values = array[order]
        finite = np.isfinite(values)
        low = np.minimum.reduceat(np.where(finite, values, np.inf), starts)
        high = np.maximum.reduceat(np.where(finite, values, -np.inf), starts)
        counted = np.add.reduceat(finite.astype(int), starts)
        with np.errstate(invalid="ignore"):
            varies = (counted > 0) & (high - low > 1e-12 * np.maximum(np.abs(high), np.abs(low)))
        if np.any(varies):
            c = int(np.argmax(varies))
            here = array[(cell == c) & np.isfinite(array)]
            distinct = ", ".join(f"{v:g}" for v in sorted(set(here.tolist()))[:4])
            raise InputError(f"column {used_columns.get(name, name)!r}: {name} varies inside cell {labels[c]} "
                             f"({distinct}) but is neither in {mention('optimize')} nor in {mention('by')}; add it to one, or split the table")
        per_cell = np.where(counted > 0, low, np.nan)
        if name in ("lr", "weight_decay"):  # unknown for some runs: not a fixed value of the cell
            per_cell = np.where(counted < runs_per_cell, np.nan, per_cell)
        context[name] = per_cell
    sweep = Sweep(
        axes=by,
        hps=optimize,
        cell_axes=cell_axes,
        cell=cell,
        values=hp_array,
        metric=metric_array,
        diverged=diverged_array,
        names=tuple(names),
        incomplete=incomplete,
        context=context,
    )
    return SweepInput(sweep, used_columns, tuple(inputs))


def _check_duplicates(names: Sequence[str | None], where: Sequence[str], values: np.ndarray,
                      diverged: np.ndarray) -> None:
    """A run listed twice: the same name, or (unnamed, finished) the same axes, hps and metric."""
    import numpy as np

    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name is None:
            continue
        if name in seen:
            raise InputError(f"{where[i]}: run {name!r} also at {where[seen[name]]}: a duplicate run; "
                             "list each run once")
        seen[name] = i
    unnamed = np.flatnonzero(np.array([name is None for name in names], bool) & ~diverged)
    if len(unnamed) < 2:
        return
    _, first, inverse, counts = np.unique(values[unnamed], axis=0, return_index=True, return_inverse=True,
                                          return_counts=True)
    inverse = np.asarray(inverse).reshape(-1)
    repeated = np.flatnonzero(counts[inverse] > 1)
    if len(repeated):
        later = repeated[repeated != first[inverse[repeated]]]
        i = int(unnamed[later.min()])
        j = int(unnamed[first[inverse[later.min()]]])
        raise InputError(f"{where[i]}: the same axes, hyperparameters and metric as {where[j]}: a duplicate run; "
                         "list each run once (or add a name column)")
