"""``hpscale schema``: the JSON Schema of a run config, for editors and CI validators.

Point an editor at it with a first line in the config (the yaml-language-server convention,
honoured by VS Code's YAML extension, Neovim's yamlls, Helix, …)::

    # yaml-language-server: $schema=hpscale-config.schema.json
"""

from __future__ import annotations

from typing import Any

from . import options as O

#: JSON Schema dialect of pydantic's output.
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def config_schema() -> dict[str, Any]:
    """``RunConfig``'s JSON Schema (validation mode), with the ``$schema`` dialect first."""
    from ..config import RunConfig

    return {"$schema": DIALECT, **RunConfig.model_json_schema(mode="validation")}


def schema_command(output: O.OutputOpt = None) -> None:
    """Print the JSON Schema of proxy/target config files (pass --output to write it to a file)."""
    output_file = O.output_option(output)
    from ..contract import dumps_json
    from ..output import emit

    emit(dumps_json(config_schema()), output_file)
