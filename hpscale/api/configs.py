"""Configs and the rule reference: ``load_config``, ``config_schema``, ``explain``.

Part of the one face, ``hpscale.api`` (its docstring says what every function shares).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import RunConfig
    from ..core.explain import Explanation


def load_config(source: str | os.PathLike[str] | Mapping[str, Any]) -> RunConfig:
    """A validated, immutable ``RunConfig`` from a YAML file path or a mapping.

    The YAML is read with the safe schema and hpscale's limits (size, nesting, aliases,
    duplicate keys); a mapping is validated as it is. Numbers may be strings such as ``"6e-4"``,
    sizes may carry SI suffixes (``"300B"``).

    Raises:
        InputError: one ``source: field.path: …`` line per problem.

    >>> config = load_config("configs/nanogpt-124m-proxy.yaml")
    >>> config.model.width, config.optimizer.lr
    (768, 0.0006)
    """
    from ..loader import load_config as read

    return read(source)


#: JSON Schema dialect of pydantic's output.
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def config_schema() -> dict[str, Any]:
    """The JSON Schema of a run config (``RunConfig``, validation mode), ``$schema`` first: what
    ``hpscale schema`` prints, for editors and CI validators.

    >>> config_schema()["$schema"]
    'https://json-schema.org/draft/2020-12/schema'
    """
    from ..config import RunConfig

    return {"$schema": SCHEMA_DIALECT, **RunConfig.model_json_schema(mode="validation")}


def explain(rule: str | None = None) -> Explanation:
    """Every scaling rule (``rule`` None), or the one whose key is ``rule``: title, formula (the
    function's docstring), invariant, convention, validity, reference, as ``hpscale explain``.

    Raises:
        InputError: an unknown rule key (naming the closest keys).

    >>> entry = explain("power-lines").rules[0]
    >>> entry.function, entry.arxiv
    ('hpscale.core.rules.power_lines_tau_factor', ('2505.13738',))
    >>> from hpscale.core.rules import RULES
    >>> [entry.key for entry in explain().rules] == list(RULES)
    True
    """
    from ..core.explain import explain as explained

    return explained(rule)

