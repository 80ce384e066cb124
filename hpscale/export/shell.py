"""Command-line arguments as a bash array in a file: ``NAME=( --flag value … )``, with comments.

Trainers configured by flags (Megatron-LM, nanochat, torchtitan) get a file to ``source``::

    source megatron.args
    torchrun ... pretrain_gpt.py "${MEGATRON_ARGS[@]}" <the model's other flags>

``parse`` reads it back without running bash (``shlex`` with comments, the words between
``NAME=(`` and the closing ``)``).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from .common import plain


def render(name: str, values: Mapping[str, Any]) -> str:
    """``NAME=(`` one ``--flag value`` per line ``)``; ``True`` is a bare flag, ``False``/``None``
    leave the flag out; a list is several values after one flag."""
    lines = [f"{name}=("]
    for flag, value in values.items():
        if value is None or value is False:
            continue
        if value is True:
            lines.append(f"  {flag}")
            continue
        words = value if isinstance(value, list | tuple) else [value]
        lines.append(f"  {flag} " + " ".join(shlex.quote(_word(w)) for w in words))
    return "\n".join(lines) + "\n)\n"


def _word(value: Any) -> str:
    return value if isinstance(value, str) else plain(value)


def words(text: str, name: str) -> list[str]:
    """The array's words, as bash would expand ``"${NAME[@]}"`` for this plain form."""
    match = re.search(rf"^{re.escape(name)}=\((.*?)^\)", text, re.MULTILINE | re.DOTALL)
    if match is None:
        raise ValueError(f"no {name}=( … ) array")
    return shlex.split(match.group(1), comments=True)


def flags(text: str, name: str, kinds: Mapping[str, Any], required: Iterable[str] = ()) -> dict[str, Any]:
    """The array's flags with their values converted by ``kinds`` (flag → type, ``bool`` for a
    bare flag, ``(type, n)`` for ``n`` values); an unknown flag is an error (a typo), and so is a
    ``required`` flag left out."""
    items = words(text, name)
    out: dict[str, Any] = {}
    index = 0
    while index < len(items):
        flag = items[index]
        if flag not in kinds:
            raise ValueError(f"{flag}: not a flag hpscale writes for this trainer")
        kind = kinds[flag]
        if kind is bool:
            out[flag] = True
            index += 1
            continue
        kind, count = kind if isinstance(kind, tuple) else (kind, 1)
        values = items[index + 1:index + 1 + count]
        if len(values) < count:
            raise ValueError(f"{flag}: expected {count} value(s)")
        converted = [kind(v) for v in values]
        out[flag] = converted[0] if count == 1 else converted
        index += 1 + count
    for flag in required:
        if flag not in out:
            raise ValueError(f"{flag}: missing")
    return out
