"""Which column of a run table holds each quantity (``hpscale fit``; the rules are in
``hpscale.runs``' docstring and docs/fit.md): the quantity's own name, then its usual aliases.

Each rule is tried exact, then in another case, then as the one column ending in ``.NAME`` or
``/NAME``; several candidates are an error that names them all, never a guess.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Protocol

from .errors import InputError, mention


class RunTable(Protocol):
    """What a column lookup reads of a table (``hpscale.runs.RunTable`` has it): its name for
    messages and its column names. A protocol, so this module does not import ``runs``, which
    imports it."""

    @property
    def source(self) -> str: ...

    @property
    def columns(self) -> tuple[str, ...]: ...

#: Usual other names of each quantity (config keys of Hugging Face ``transformers``, nanoGPT,
#: Megatron and common W&B logs), tried only when no column matches the quantity's own name,
#: with the same rules (exact, case-insensitive, ``*.ALIAS`` / ``*/ALIAS``). docs/fit.md lists
#: them. Names that are per-device or that mean something else elsewhere are left out on purpose
#: (``per_device_train_batch_size`` is not the batch per step; ``hidden_dim`` is Llama's MLP width;
#: a bare ``tokens`` is often a logged counter of tokens seen, not the run's dataset size).
ALIASES: dict[str, tuple[str, ...]] = {
    "width": ("d_model", "hidden_size", "n_embd", "model_dim", "embed_dim", "dim"),
    "depth": ("n_layer", "n_layers", "num_layers", "num_hidden_layers"),
    "params": ("n_params", "num_params", "num_parameters", "param_count"),
    "batch_size": ("global_batch_size", "train_batch_size", "total_batch_size"),
    "dataset_size": ("num_tokens", "train_tokens", "total_tokens"),
    "steps": ("max_steps", "total_steps", "train_steps", "num_steps", "max_iters"),
    "lr": ("learning_rate", "peak_lr", "max_lr", "lr_max"),
    "weight_decay": ("wd",),
    "beta1": ("adam_beta1", "beta_1"),
    "beta2": ("adam_beta2", "beta_2"),
    "eps": ("adam_eps", "adam_epsilon", "epsilon"),
    "ema_decay": ("ema", "ema_beta"),
}


def find_column(table: RunTable, name: str, mapping: Mapping[str, str], *, required: bool,
                aliases: Sequence[str] | None = None) -> str | None:
    """The column that holds ``name`` (see the module docstring for the order of the rules);
    ``aliases`` defaults to ``ALIASES[name]``. Raises ``InputError`` when none or several do."""
    column, problem = locate(table, name, mapping, required=required, aliases=aliases)
    if problem:
        raise InputError(f"{table.source}: {problem}; columns: {listing(table.columns)}; "
                         f"map it with --column {name}=COLUMN")
    return column


def locate(table: RunTable, name: str, mapping: Mapping[str, str], *, required: bool,
            aliases: Sequence[str] | None = None) -> tuple[str | None, str | None]:
    """(the column of ``name``, None) or (None, what is wrong: none or several columns)."""
    columns = table.columns
    if name in mapping:
        column = mapping[name]
        if column not in columns:
            raise InputError(f"{mention('columns')} {name}={column}: {table.source} has no column {column!r}; "
                             f"columns: {listing(columns)}")
        return column, None
    others = tuple(ALIASES.get(name, ()) if aliases is None else aliases)
    for candidates in ((name,), others):
        if not candidates:
            continue
        exact = [candidate for candidate in candidates if candidate in columns]
        folded = [c for c in columns if c.lower() in {candidate.lower() for candidate in candidates}]
        several: list[str] = []
        if len(exact) > 1 and aliases is None:  # d_model and hidden_size: never guess which
            several = exact
        elif exact:
            return exact[0], None  # name/state: the first of NAME_COLUMNS / STATE_COLUMNS present
        elif len(folded) > 1 and aliases is None:
            several = folded
        else:
            for candidate in candidates:
                hit = [c for c in columns if c.lower() == candidate.lower()]
                if len(hit) == 1:
                    return hit[0], None
            several = [c for c in columns if any(c.lower().endswith(sep + candidate.lower())
                                                 for candidate in candidates for sep in "./")]
            if len(several) == 1:
                return several[0], None
        if several:
            if candidates is others and not required:
                return None, None  # an optional quantity's aliases: left unused rather than guessed
            return None, f"{name}: several columns could hold it ({listing(several)})"
    if not required:
        return None, None
    also = f" nor its aliases ({', '.join(others)})" if others else ""
    close = _closest(columns, (name, *others))
    hint = f" (closest: {close!r})" if close else ""
    return None, f"no column for {name} (looked for {name!r}, '*.{name}', '*/{name}'){also}{hint}"


def _closest(columns: Sequence[str], names: Sequence[str]) -> str | None:
    """The column whose last part (after ``.`` or ``/``) is most like one of ``names``, if any
    is close (difflib ratio ≥ 0.75: ``config.d_model_x`` for ``d_model``), else None."""
    best, score = None, 0.75
    for column in columns:
        leaf = re.split(r"[./]", column)[-1].lower()
        for name in names:
            ratio = difflib.SequenceMatcher(None, leaf, name.lower()).ratio()
            if ratio >= score:
                best, score = column, ratio
    return best


def listing(columns: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(repr(c) for c in columns[:limit])
    return shown + (f", … ({len(columns)} in all)" if len(columns) > limit else "")
