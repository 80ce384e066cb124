"""``hpscale schema``: the JSON Schema of a run config, for editors and CI validators.

Point an editor at it with a first line in the config (the yaml-language-server convention,
honoured by VS Code's YAML extension, Neovim's yamlls, Helix, …)::

    # yaml-language-server: $schema=hpscale-config.schema.json
"""

from __future__ import annotations

from . import options as O


def schema_command(output: O.OutputOpt = None) -> None:
    """Print the JSON Schema of proxy/target config files (pass --output to write it to a file)."""
    output_file = O.output_option(output)
    from ..api import config_schema
    from ..contract import dumps_json
    from ..output import emit

    emit(dumps_json(config_schema()), output_file)
