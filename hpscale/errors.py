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
"""

from __future__ import annotations


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
