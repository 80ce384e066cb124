"""The contract every fuzz harness checks on each input (``fuzz_config.py``, ``fuzz_tables.py``).

``main(args)`` runs in this process with stdout and stderr captured; then: exit code 0, 1 or 2
(never 3, never an exception escaping ``main``), nothing on stdout when the exit code is 2, every
stderr line a one-line ``error:`` / ``warning:`` / ``note:`` / ``wrote`` message, and (with
``finite``) no NaN or inf in a successful result.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable, Sequence

PREFIXES = ("error: ", "warning: ", "note: ", "wrote ")
NONFINITE = re.compile(r"\b[+-]?(?:nan|inf)\b", re.IGNORECASE)


def run_checked(main: Callable[[list[str]], int], args: Sequence[str], *, finite: bool = False) -> int:
    """Run ``main(args)`` and assert the contract above; returns the exit code."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    assert code in (0, 1, 2), (code, args, err.getvalue())
    if code == 2:
        assert out.getvalue() == "", args
    elif finite and code == 0:
        assert not NONFINITE.search(out.getvalue()), (args, out.getvalue())
    for line in err.getvalue().splitlines():
        assert line.startswith(PREFIXES), (line, args)
    return code
