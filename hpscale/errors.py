"""One error hierarchy for hpscale; the CLI maps each class to one exit code.

Every concrete error also subclasses the matching builtin, so library users can catch
``ValueError``/``OSError`` as usual.

| class              | meaning                                   | CLI exit code |
|--------------------|-------------------------------------------|---------------|
| ``InputError``     | bad config, bad option, unreadable file   | 2             |
| ``RuleDomainError``| a rule is undefined for the requested scale | 2           |
| anything else      | a bug in hpscale                          | 3             |

Exit code 1 is reserved for ``hpscale check`` findings and is never an error.
"""

from __future__ import annotations


class HpscaleError(Exception):
    """Base class of every error hpscale raises on purpose."""


class InputError(HpscaleError, ValueError):
    """Bad user input. The message is one line per problem: field path, value found, what is allowed."""


class RuleDomainError(InputError):
    """A scaling rule is undefined at the requested target scale (e.g. κ(1 − β) ≥ 1)."""


class InputFileError(InputError, OSError):
    """A path that cannot be read or written as asked (missing, a directory, too large, an input file)."""
