"""Text from input files made safe to show: every character a terminal could act on escaped.

Names, keys, paths and values that come from a config, a run table or a checkpoint can hold
control characters (an ESC sequence clears the screen or retitles the window) and bidirectional
overrides (they reorder what the reader sees). ``printable`` escapes them for tables, messages and
YAML; ``json_safe`` writes the same characters as JSON escapes.
"""

from __future__ import annotations


def printable(text: str) -> str:
    """``text`` with every character a terminal could act on written as an escape: C0/C1 control
    characters (ESC sequences clear the screen or retitle the window), bidirectional overrides and
    isolates (they reorder what the reader sees), and lone surrogates. Tabs stay; anything printed
    that came from an input file (names, keys, paths) goes through this first."""
    if text.isprintable():
        return text
    return "".join(_escape(char) for char in text)


def shown(value: object, limit: int = 80) -> str:
    """A value from the input as it goes into a message: repr, control characters escaped, cut
    to ``limit`` characters (a 5,000-character value is not echoed whole)."""
    text = printable(repr(value))
    return text if len(text) <= limit else text[:limit] + "…"


_BIDI = frozenset(chr(code) for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F))


def _escape(char: str) -> str:
    code = ord(char)
    if char == "\t" or not (code < 0x20 or 0x7F <= code <= 0x9F or char in _BIDI or 0xD800 <= code <= 0xDFFF):
        return char
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


_UNSAFE_IN_JSON = None


def json_safe(text: str) -> str:
    """JSON text with the characters ``printable`` escapes (C1 controls, DEL, bidirectional
    overrides, lone surrogates) written as ``\\uXXXX`` escapes: the same JSON value, harmless on a
    terminal. (``json.dumps`` already escapes C0 controls; it leaves these as they are.)"""
    global _UNSAFE_IN_JSON
    if text.isascii() or text.isprintable():
        return text
    if _UNSAFE_IN_JSON is None:
        import re

        _UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
