"""One error hierarchy for hpscale; the CLI maps each class to one exit code.

Every concrete error also subclasses the matching builtin, so library users can catch
``ValueError``/``OSError`` as usual.

| class              | meaning                                   | CLI exit code |
|--------------------|-------------------------------------------|---------------|
| ``InputError``     | bad config, bad option, unreadable file   | 2             |
| ``RuleDomainError``| a rule is undefined for the requested scale | 2           |
| anything else      | a bug in hpscale                          | 3             |

Exit code 1 is reserved for ``hpscale check`` findings and is never an error.

Parameters, not flags: the core (``hpscale.core``) names the *parameter* at fault, never a CLI
flag. An error about one parameter is raised as ``InputError("law: …", param="law")``: the message
starts with the parameter name, so ``hpscale.fit(laws=…)`` tells a Python user about ``law``; the
CLI's error printer (``hpscale.cli.guarded``) swaps that leading name for the flag through the one
mapping ``hpscale.commands.options.flag`` (``wd_width_rule`` → ``--wd-width-rule``; the few
parameters whose flag differs are listed in ``options.FLAGS``), so the command line still reads
``error: --law: …``.

A parameter named *inside* a message or a warning (a hint such as "use --beta-rule keep") is
written with ``mention``: `` `beta_rule='keep'` `` or `` `depth` `` — what a Python caller passes
— and the command line shows it as the flag (``--beta-rule keep``, ``--depth``) through
``hpscale.commands.options.flagged``, in errors, in warnings on stderr and in the warnings its
outputs carry (JSON, YAML comments), so the command line reads as it always did.
"""

from __future__ import annotations

import re

#: A parameter mention written by ``mention``: `` `name` `` or `` `name=value` `` (not a reST
#: ````literal````).
MENTION = re.compile(r"(?<!`)`([a-z][a-z0-9_]*)(?:=([^`]*))?`(?!`)")


def mention(param: str, value: object = None) -> str:
    """Parameter ``param`` (with ``value``) named in a text, as a Python caller writes it:
    ``mention("beta_rule", "keep")`` → `` `beta_rule='keep'` ``, ``mention("depth")`` → `` `depth` ``.
    The command line shows it as its flag (module docstring)."""
    if value is None:
        return f"`{param}`"
    return f"`{param}={value!r}`" if isinstance(value, str) else f"`{param}={value}`"


class HpscaleError(Exception):
    """Base class of every error hpscale raises on purpose."""


class InputError(HpscaleError, ValueError):
    """Bad user input. The message is one line per problem: field path, value found, what is allowed.

    ``param``: the parameter the message starts with (``None`` when it starts with a config field
    or a file); the CLI shows it as its flag (module docstring).
    """

    def __init__(self, message: str = "", *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param

    @classmethod
    def of(cls, param: str, rest: str) -> InputError:
        """The error about parameter ``param``: message ``param + rest`` (``rest`` starts with
        ``": "`` or a space), ``param`` set so the CLI shows the flag."""
        return cls(param + rest, param=param)


class RuleDomainError(InputError):
    """A scaling rule is undefined at the requested target scale (e.g. κ(1 − β) ≥ 1)."""


class InputFileError(InputError, OSError):
    """A path that cannot be read or written as asked (missing, a directory, too large, an input file)."""
