"""Regular expressions over tensor names, matched in time linear in the name's length.

Python's ``re`` backtracks: ``\\w*norm\\w*`` searched in a 400 KB name takes minutes, and a
``--group`` pattern comes from the user while the name comes from a downloaded file. This
module compiles the common regex subset to a Thompson NFA (Thompson 1968, "Regular expression
search algorithm", CACM 11(6)) and runs it as a lazily built DFA (Cox 2007, "Regular
Expression Matching Can Be Simple And Fast"): every character of the name is looked at once,
so a search costs O(len(name)) dictionary steps after the first names have filled the cache
(at most :data:`MAX_DFA_STATES` states; past that the cache is rebuilt, still linear).

Supported syntax (what people write for parameter names): literal characters, ``.``,
escapes ``\\. \\\\ \\d \\D \\w \\W \\s \\S`` and any escaped punctuation, classes ``[a-z_]``
and ``[^...]``, groups ``(...)`` and ``(?:...)``, alternation ``|``, quantifiers ``* + ?``
(a trailing ``?`` for laziness is accepted: it does not change whether a name matches) and
``{m}``, ``{m,}``, ``{m,n}`` with bounds ≤ :data:`MAX_REPEAT`, and the anchors ``^`` and
``$``. Semantics are ``re.search``'s: the pattern may match anywhere unless anchored.
Anything else (backreferences, lookaround, flags) raises ``ValueError`` naming it.

Public: :class:`NamePattern` (``NamePattern(text).search(name) -> bool``).
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

MAX_REPEAT = 100
"""Largest bound accepted in ``{m,n}`` (the NFA grows with the bound)."""
MAX_PATTERN_CHARS = 1000
MAX_NESTING = 50
MAX_DFA_STATES = 4096

_WORD = frozenset(string.ascii_letters + string.digits + "_")
_DIGIT = frozenset(string.digits)
_SPACE = frozenset(" \t\n\r\f\v")


def _word(c: str) -> bool:
    return c in _WORD or (c.isalnum() and not c.isascii()) or c == "_"


_CLASSES: dict[str, Callable[[str], bool]] = {
    "d": lambda c: c in _DIGIT or (not c.isascii() and c.isdecimal()),
    "D": lambda c: not (c in _DIGIT or (not c.isascii() and c.isdecimal())),
    "w": _word,
    "W": lambda c: not _word(c),
    "s": lambda c: c in _SPACE or (not c.isascii() and c.isspace()),
    "S": lambda c: not (c in _SPACE or (not c.isascii() and c.isspace())),
}

# NFA node kinds: ("char", predicate, out), ("split", out1, out2), ("bol", out), ("eol", out),
# ("match",). Nodes live in a list; "out" fields are indices, patched while compiling.


@dataclass
class _Frag:
    start: int
    holes: list[tuple[int, int]]  # (node index, field index) still to be connected


class _Parser:
    """Recursive-descent parser straight to NFA fragments (nesting bounded by the length)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.nodes: list[list[object]] = []
        self.depth = 0

    def error(self, what: str) -> ValueError:
        return ValueError(f"{what} at position {self.i} (supported: literals, ., \\d \\w \\s, "
                          "[...], (...), (?:...), |, * + ? {m,n}, ^ $)")

    def node(self, *fields: object) -> int:
        self.nodes.append(list(fields))
        return len(self.nodes) - 1

    def patch(self, holes: list[tuple[int, int]], target: int) -> None:
        for index, slot in holes:
            self.nodes[index][slot] = target

    def peek(self) -> str | None:
        return self.text[self.i] if self.i < len(self.text) else None

    # grammar: alt := seq ('|' seq)* ; seq := repeat* ; repeat := atom quantifier?
    def alternation(self) -> _Frag | None:
        left = self.sequence()
        while self.peek() == "|":
            self.i += 1
            right = self.sequence()
            left = self.either(left, right)
        return left

    def either(self, a: _Frag | None, b: _Frag | None) -> _Frag:
        split = self.node("split", None, None)
        holes: list[tuple[int, int]] = []
        for slot, frag in ((1, a), (2, b)):
            if frag is None:
                holes.append((split, slot))
            else:
                self.nodes[split][slot] = frag.start
                holes += frag.holes
        return _Frag(split, holes)

    def sequence(self) -> _Frag | None:
        frag: _Frag | None = None
        while self.peek() not in (None, "|", ")"):
            piece = self.repeat()
            if piece is None:
                continue
            if frag is None:
                frag = piece
            else:
                self.patch(frag.holes, piece.start)
                frag = _Frag(frag.start, piece.holes)
        return frag

    def repeat(self) -> _Frag | None:
        start = self.i
        atom = self.atom()
        c = self.peek()
        if c not in ("*", "+", "?", "{"):
            return atom
        if c == "{":
            bounds = self.braces()
            if bounds is None:  # a literal "{", as in re
                return atom
            low, high = bounds
        else:
            self.i += 1
            low, high = {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
        if self.peek() == "?":  # lazy: the same names match
            self.i += 1
        if self.peek() in ("*", "+", "{"):
            raise self.error("multiple repeat")
        return self.expand(atom, start, low, high)

    def braces(self) -> tuple[int, int | None] | None:
        close = self.text.find("}", self.i)
        if close < 0:
            return None
        inner = self.text[self.i + 1:close]
        low_text, comma, high_text = inner.partition(",")
        if comma and not low_text and high_text.isdigit():
            low_text = "0"  # x{,n} is x{0,n}, as in re
        if not low_text.isdigit() or not (high_text == "" or high_text.isdigit()):
            return None
        low = int(low_text)
        high = None if comma and high_text == "" else int(high_text or low_text)
        if low > MAX_REPEAT or (high is not None and (high > MAX_REPEAT or high < low)):
            raise self.error(f"repeat bounds {{{inner}}} (at most {MAX_REPEAT}, min ≤ max)")
        self.i = close + 1
        return low, high

    def join(self, a: _Frag | None, b: _Frag | None) -> _Frag | None:
        if a is None or b is None:
            return b if a is None else a
        self.patch(a.holes, b.start)
        return _Frag(a.start, b.holes)

    def expand(self, atom: _Frag, atom_start: int, low: int, high: int | None) -> _Frag | None:
        """x{low,high} as low copies of x, then high − low nested optional copies (or a loop)."""
        copies = [atom]
        after = self.i
        while len(copies) < max(low, high or 0, 1):  # fragments cannot be shared: re-parse x
            self.i = atom_start
            copies.append(self.atom())
        self.i = after
        frag: _Frag | None = None
        for copy in copies[:low]:
            frag = self.join(frag, copy)
        if high is None:  # x{low,}: the last required copy (or the only one) loops
            loop = copies[max(low - 1, 0)]
            split = self.node("split", loop.start, None)
            if low == 0:
                self.patch(loop.holes, split)
                return _Frag(split, [(split, 2)])
            assert frag is not None
            self.patch(frag.holes, split)
            return _Frag(frag.start, [(split, 2)])
        tail: _Frag | None = None
        for copy in reversed(copies[low:high]):  # x?(x?(x?)) nested from the end
            split = self.node("split", copy.start, None)
            if tail is None:
                tail = _Frag(split, [(split, 2), *copy.holes])
            else:
                self.patch(copy.holes, tail.start)
                tail = _Frag(split, [(split, 2), *tail.holes])
        return self.join(frag, tail)

    def atom(self) -> _Frag:
        c = self.peek()
        assert c is not None
        self.i += 1
        if c == "(":
            if self.text.startswith("?:", self.i):
                self.i += 2
            elif self.peek() == "?":
                raise self.error("group extension (?...) other than (?:...)")
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise self.error(f"groups nested more than {MAX_NESTING} deep")
            inner = self.alternation()
            self.depth -= 1
            if self.peek() != ")":
                raise self.error("missing )")
            self.i += 1
            return inner if inner is not None else self.either(None, None)  # "()": empty
        if c == ")":
            raise self.error("unbalanced )")
        if c in "*+?":
            raise self.error("nothing to repeat")
        if c == "^":
            n = self.node("bol", None)
            return _Frag(n, [(n, 1)])
        if c == "$":
            n = self.node("eol", None)
            return _Frag(n, [(n, 1)])
        if c == ".":
            return self.char(lambda ch: ch != "\n")
        if c == "[":
            return self.char(self.charclass())
        if c == "\\":
            return self.char(self.escape())
        return self.char(c)

    def char(self, pred: Callable[[str], bool] | str) -> _Frag:
        n = self.node("char", pred, None)
        return _Frag(n, [(n, 2)])

    def escape(self) -> Callable[[str], bool] | str:
        c = self.peek()
        if c is None:
            raise self.error("trailing backslash")
        self.i += 1
        if c in _CLASSES:
            return _CLASSES[c]
        simple = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v"}
        if c in simple:
            return simple[c]
        if c.isalnum():
            raise self.error(f"escape \\{c}")
        return c

    def charclass(self) -> Callable[[str], bool]:
        negate = self.peek() == "^"
        if negate:
            self.i += 1
        items: list[Callable[[str], bool]] = []
        chars: set[str] = set()
        first = True
        while True:
            c = self.peek()
            if c is None:
                raise self.error("missing ]")
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            self.i += 1
            if c == "\\":
                esc = self.escape()
                if callable(esc):
                    items.append(esc)
                    continue
                c = esc
            if self.peek() == "-" and self.i + 1 < len(self.text) and self.text[self.i + 1] != "]":
                self.i += 1
                hi = self.peek()
                assert hi is not None
                self.i += 1
                if hi == "\\":
                    esc = self.escape()
                    if callable(esc):
                        raise self.error("class escape as a range end")
                    hi = esc
                if ord(hi) < ord(c):
                    raise self.error(f"bad range {c}-{hi}")
                items.append(_in_range(ord(c), ord(hi)))
                continue
            chars.add(c)
        frozen = frozenset(chars)

        def member(ch: str) -> bool:
            return (ch in frozen or any(p(ch) for p in items)) != negate

        return member


def _in_range(low: int, high: int) -> Callable[[str], bool]:
    def member(ch: str) -> bool:
        return low <= ord(ch) <= high

    return member


class NamePattern:
    """A regex subset compiled for linear-time ``search`` (see the module docstring).

    >>> NamePattern(r"\\.mixer\\.in_proj\\.weight$").search("backbone.layers.3.mixer.in_proj.weight")
    True
    >>> NamePattern(r"^head").search("blocks.0.head")
    False
    """

    def __init__(self, text: str) -> None:
        if len(text) > MAX_PATTERN_CHARS:
            raise ValueError(f"pattern of {len(text)} characters: at most {MAX_PATTERN_CHARS}")
        self.text = text
        parser = _Parser(text)
        frag = parser.alternation()
        if parser.peek() is not None:
            raise parser.error("unbalanced )")
        match = parser.node("match")
        if frag is None:
            self._start = match
        else:
            parser.patch(frag.holes, match)
            self._start = frag.start
        self._nodes = [tuple(n) for n in parser.nodes]
        self._match = match
        self._steps: dict[tuple[frozenset[int], str, bool], tuple[frozenset[int], bool]] = {}
        self._closures: dict[tuple[frozenset[int], bool, bool], tuple[frozenset[int], bool]] = {}

    def __repr__(self) -> str:
        return f"NamePattern({self.text!r})"

    def _closure(self, states: frozenset[int], bol: bool, eol: bool) -> tuple[frozenset[int], bool]:
        key = (states, bol, eol)
        hit = self._closures.get(key)
        if hit is not None:
            return hit
        seen: set[int] = set()
        stack = list(states)
        chars: set[int] = set()
        matched = False
        while stack:
            s = stack.pop()
            if s is None or s in seen:
                continue
            seen.add(s)
            node = self._nodes[s]
            kind = node[0]
            if kind == "split":
                stack += [node[1], node[2]]  # type: ignore[list-item]
            elif kind == "bol":
                if bol:
                    stack.append(node[1])  # type: ignore[arg-type]
            elif kind == "eol":
                if eol:
                    stack.append(node[1])  # type: ignore[arg-type]
            elif kind == "char":
                chars.add(s)
            else:
                matched = True
        result = (frozenset(chars), matched)
        if len(self._closures) > MAX_DFA_STATES:
            self._closures.clear()
        self._closures[key] = result
        return result

    def search(self, name: str) -> bool:
        """Whether the pattern matches anywhere in ``name`` (``re.search`` semantics)."""
        start = frozenset({self._start})
        current, matched = self._closure(start, True, not name)
        last = len(name) - 1
        for i, c in enumerate(name):
            if matched:
                return True
            key = (current, c, i == last)
            step = self._steps.get(key)
            if step is None:
                moved = {cast(int, self._nodes[s][2]) for s in current if self._accepts(s, c)}
                step = self._closure(frozenset(moved) | start, False, i == last)
                if len(self._steps) > MAX_DFA_STATES:
                    self._steps.clear()
                self._steps[key] = step
            current, matched = step
        return matched

    def _accepts(self, state: int, c: str) -> bool:
        pred = self._nodes[state][1]
        return pred == c if isinstance(pred, str) else bool(pred(c))  # type: ignore[operator]
