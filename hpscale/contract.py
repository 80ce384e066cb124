"""JSON text every command's outputs share (``dumps_json``, ``json_line``; ``dumps_yaml`` for a
contract written as YAML), and the reader of the
``# rules:`` header that ``transfer --format yaml`` writes into a target config
(``recorded_rules``; the writer is ``hpscale.outputs.transfer.dumps_target_yaml``).

Every result builds its own JSON contract with ``to_json_dict`` (the transfer's in
``hpscale.core.transfer_result``, check's ``hpscale.core.check.CheckResults``, timescale's
``hpscale.core.timescale.TimescaleReport``); each command's module in ``hpscale.outputs`` writes
it with ``dumps_json``.

Every contract is versioned by ``schema_version`` (documented in docs/contracts.md; fields are only
ever added, never renamed or removed, within a schema version). Same input → byte-identical
output: no timestamps, keys in a fixed order, floats rounded to ``SIGNIFICANT_DIGITS``
significant digits (``hpscale.numbers.clean``), ∞ written as ``null``.
"""

from __future__ import annotations

import json
from typing import Any


def dumps_json(obj: Any) -> str:
    """Deterministic JSON text; refuses NaN/inf instead of writing invalid JSON."""
    from .text import json_safe

    return json_safe(json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False)) + "\n"


def dumps_yaml(obj: Any) -> str:
    """A contract object as YAML (``plan`` and ``ramp`` ``--format yaml``): the JSON's keys in
    its order, Unicode kept. PyYAML is imported here, off the JSON path."""
    import yaml

    return str(yaml.safe_dump(obj, sort_keys=False, allow_unicode=True))


def recorded_rules(text: str) -> dict[str, str]:
    """The rule choices a generated target records in its ``# rules:`` header line, as
    ``RuleChoices`` field names (``wd-width=sqrt`` → ``{"wd_width_rule": "sqrt"}``); ``{}`` for a
    file without one. Only the first 20 lines are read: the header is at the top."""
    for line in text.splitlines()[:20]:
        if line.startswith("# rules:"):
            pairs = (word.split("=", 1) for word in line[len("# rules:"):].split() if "=" in word)
            return {f"{key.replace('-', '_')}_rule": value for key, value in pairs}
    return {}


def json_line(obj: dict[str, Any]) -> str:
    """One compact JSON object, no spaces (deterministic; NaN/∞ refused)."""
    from .text import json_safe

    return json_safe(json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":")))
