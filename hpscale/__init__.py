"""hpscale: move tuned hyperparameters from a small proxy run to a large target run.

The Python API is what the CLI commands call::

    import hpscale

    proxy = hpscale.load_config("configs/nanogpt-124m-proxy.yaml")
    result = hpscale.transfer(proxy, width=3072, batch_size="983040")
    result.groups["hidden"].lr.target      # the hidden group's target learning rate
    result.to_json_dict()                  # the JSON contract of `hpscale transfer -f json`

Public names (each documented in its docstring and in docs/api.md):
``load_config``, ``transfer``, ``check``, ``check_targets``, ``ladder``, ``ladder_targets``, ``fit``, ``load_law``,
``scan_checkpoint``, ``compare_checkpoints``, ``to_law_yaml``, ``explain``, ``config_schema``,
``ramp``, ``timescale``, ``plan_from_laws``, ``RampResult``, ``TimescaleReport``, ``PlanResult``,
``RunConfig``, ``Scale``, ``RuleChoices``, ``TransferResult``, ``CheckReport``,
``CheckResults``, ``FitResult``, ``Law``,
``Scan``, ``CheckpointComparison``, ``RULES``, ``HpscaleError``, ``InputError``,
``RuleDomainError``. No public name is also the name of a submodule, so
``from hpscale import transfer`` is always the function.

Names are imported on first use (PEP 562), so ``import hpscale`` stays cheap for the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:  # what type checkers and editors see; at run time the same names load lazily
    from .api import check as check
    from .api import check_targets as check_targets
    from .api import compare_checkpoints as compare_checkpoints
    from .api import config_schema as config_schema
    from .api import explain as explain
    from .api import fit as fit
    from .api import ladder as ladder
    from .api import ladder_targets as ladder_targets
    from .api import load_config as load_config
    from .api import load_law as load_law
    from .api import plan_from_laws as plan_from_laws
    from .api import ramp as ramp
    from .api import scan_checkpoint as scan_checkpoint
    from .api import timescale as timescale
    from .api import to_law_yaml as to_law_yaml
    from .api import transfer as transfer
    from .checkpoints import CheckpointComparison as CheckpointComparison
    from .checkpoints import Scan as Scan
    from .config import RunConfig as RunConfig
    from .core.check import CheckReport as CheckReport
    from .core.check import CheckResults as CheckResults
    from .core.fit_result import FitResult as FitResult
    from .core.law import Law as Law
    from .core.plan_result import PlanResult as PlanResult
    from .core.ramp import RampResult as RampResult
    from .core.rules import RULES as RULES
    from .core.rules import RuleChoices as RuleChoices
    from .core.scale import Scale as Scale
    from .core.timescale import TimescaleReport as TimescaleReport
    from .core.transfer_result import TransferResult as TransferResult
    from .errors import HpscaleError as HpscaleError
    from .errors import InputError as InputError
    from .errors import RuleDomainError as RuleDomainError

#: Public name → the module that defines it.
_LAZY = {
    "load_config": "hpscale.api",
    "transfer": "hpscale.api",
    "check": "hpscale.api",
    "check_targets": "hpscale.api",
    "config_schema": "hpscale.api",
    "explain": "hpscale.api",
    "ladder": "hpscale.api",
    "ladder_targets": "hpscale.api",
    "fit": "hpscale.api",
    "load_law": "hpscale.api",
    "scan_checkpoint": "hpscale.api",
    "compare_checkpoints": "hpscale.api",
    "to_law_yaml": "hpscale.api",
    "ramp": "hpscale.api",
    "timescale": "hpscale.api",
    "plan_from_laws": "hpscale.api",  # not `plan`: hpscale.plan is a module (reading plans)
    "RampResult": "hpscale.core.ramp",
    "TimescaleReport": "hpscale.core.timescale",
    "PlanResult": "hpscale.core.plan_result",
    "Scan": "hpscale.checkpoints",
    "CheckpointComparison": "hpscale.checkpoints",
    "RunConfig": "hpscale.config",
    "CheckReport": "hpscale.core.check",
    "CheckResults": "hpscale.core.check",
    "RuleChoices": "hpscale.core.rules",
    "Scale": "hpscale.core.scale",
    "TransferResult": "hpscale.core.transfer_result",
    "FitResult": "hpscale.core.fit_result",
    "Law": "hpscale.core.law",
    "RULES": "hpscale.core.rules",
    "HpscaleError": "hpscale.errors",
    "InputError": "hpscale.errors",
    "RuleDomainError": "hpscale.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'hpscale' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
