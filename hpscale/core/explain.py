"""What ``hpscale explain`` and ``hpscale.explain`` show: each scaling rule from the registry the
numbers use. Pure: no I/O, no printing.

Each entry is ``RULES[key]`` (title, invariant, convention, validity, reference) plus
``inspect.getdoc`` of the rule's function (formula and symbols). Nothing here is written by
hand, so the explanation cannot drift from the code that computes the factors; the keys are the
``rule`` names that ``transfer --format json`` prints in its ``factors``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from .rules import RULES
from .transfer_result import SCHEMA_VERSION

_ARXIV = re.compile(r"arXiv[ :](\d{4}\.\d{4,5})")


@dataclass(frozen=True)
class RuleEntry:
    """One registered rule: its key and record, the function that computes it (``function``,
    dotted) and that function's docstring (``formula``), the arXiv ids its reference cites."""

    key: str
    title: str
    function: str
    formula: str
    invariant: str
    convention: str
    validity: str
    reference: str
    arxiv: tuple[str, ...]

    @classmethod
    def of(cls, key: str) -> RuleEntry:
        import inspect

        info = RULES[key]
        return cls(info.key, info.title, info.path,
                   inspect.getdoc(info.func) or "", info.invariant, info.convention, info.validity,
                   info.reference, tuple(dict.fromkeys(_ARXIV.findall(info.reference))))

    def to_json_dict(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "function": self.function, "formula": self.formula,
                "invariant": self.invariant, "convention": self.convention, "validity": self.validity,
                "reference": self.reference, "arxiv": list(self.arxiv)}


@dataclass(frozen=True)
class Explanation:
    """The rules explained: every registered rule (``rule`` None) or the one asked for.

    ``to_json_dict()`` is the contract of ``hpscale explain --format json`` (schema_version 1):
    ``{"schema_version", "rules": [entry, …]}``, or ``{"schema_version", **entry}`` for one rule.
    """

    rules: tuple[RuleEntry, ...]
    rule: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        if self.rule is not None:
            return {"schema_version": SCHEMA_VERSION, **self.rules[0].to_json_dict()}
        return {"schema_version": SCHEMA_VERSION, "rules": [entry.to_json_dict() for entry in self.rules]}


def resolve_rule(name: object) -> str:
    """``name`` if it is a rule key, else an ``InputError`` naming ``rule`` with the closest keys."""
    import difflib

    if isinstance(name, str) and name in RULES:
        return name
    close = difflib.get_close_matches(name, list(RULES), n=3, cutoff=0.5) if isinstance(name, str) else []
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    raise InputError.of("rule", f": {name!r}: unknown rule; {hint}allowed: {', '.join(RULES)}")


def explain(rule: str | None = None) -> Explanation:
    """Every rule (``rule`` None) or rule ``rule``, as ``Explanation``."""
    if rule is None:
        return Explanation(tuple(RuleEntry.of(key) for key in RULES))
    return Explanation((RuleEntry.of(resolve_rule(rule)),), rule)
