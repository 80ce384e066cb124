"""The documented Python API: what the CLI commands call, with keyword arguments.

Everything here is re-exported by ``hpscale`` itself (``from hpscale import transfer``). The
functions take a config as a ``RunConfig``, a path to a YAML file or a plain mapping, and sizes
as numbers or as the strings the CLI takes (``"2M"``, ``"300B"``); every bad value raises
``hpscale.InputError`` (a ``ValueError``) with one line per problem, naming the parameter
(``InputError.param``; the command line shows the flag instead, through
``hpscale.commands.options``).

One module per part of the workflow, each function with its reference docstring and doctest;
the work is done by the modules each function calls (``hpscale.core``, the readers,
``hpscale.targets``):

- ``configs``: ``load_config``, ``config_schema``, ``explain``;
- ``scaling``: ``target_scale``, ``transfer``, ``ladder_targets``, ``ladder``;
- ``sweeps``: ``fit``, ``to_law_yaml``, ``load_law``;
- ``review``: ``check``, ``check_targets``;
- ``spectra``: ``scan_checkpoint``, ``compare_checkpoints``, ``compare_scans``;
- ``planning``: ``ramp``, ``timescale``, ``plan_from_laws``;
- ``_args``: the argument checks they share (sizes through ``hpscale.limits``).

A new command's function goes in the module of its part of the workflow (or a new one listed
here) and is re-exported below and in ``hpscale/__init__.py``'s ``_LAZY``.
"""

from __future__ import annotations

from .configs import SCHEMA_DIALECT as SCHEMA_DIALECT
from .configs import config_schema as config_schema
from .configs import explain as explain
from .configs import load_config as load_config
from .planning import plan_from_laws as plan_from_laws
from .planning import ramp as ramp
from .planning import timescale as timescale
from .review import check as check
from .review import check_targets as check_targets
from .scaling import ladder as ladder
from .scaling import ladder_targets as ladder_targets
from .scaling import target_scale as target_scale
from .scaling import transfer as transfer
from .spectra import compare_checkpoints as compare_checkpoints
from .spectra import compare_scans as compare_scans
from .spectra import scan_checkpoint as scan_checkpoint
from .sweeps import fit as fit
from .sweeps import load_law as load_law
from .sweeps import to_law_yaml as to_law_yaml

__all__ = [
    "SCHEMA_DIALECT", "check", "check_targets", "compare_checkpoints", "compare_scans", "config_schema",
    "explain", "fit", "ladder", "ladder_targets", "load_config", "load_law", "plan_from_laws", "ramp",
    "scan_checkpoint", "target_scale", "timescale", "to_law_yaml", "transfer",
]
