"""hpscale: move tuned hyperparameters from a small proxy run to a large target run.

The Python API mirrors the CLI's data flow, config → core → render::

    from hpscale.loader import load_config
    from hpscale.transfer import RuleChoices, Scale, transfer
    proxy = load_config("configs/nanogpt-124m-proxy.yaml")
    result = transfer(proxy, Scale(width=3072, batch_size=491_520, dataset_size=9e9))
    result.groups["hidden"].lr.target

(``transfer`` is imported from its module: a package attribute of that name would be
replaced by the submodule ``hpscale.transfer`` as soon as anything imports it.)

Names are imported lazily so that ``import hpscale`` stays cheap for the CLI.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "load_config": "hpscale.loader",
    "RunConfig": "hpscale.config",
    "Scale": "hpscale.transfer",
    "RuleChoices": "hpscale.transfer",
    "TransferResult": "hpscale.transfer",
    "RULES": "hpscale.rules",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hpscale' has no attribute {name!r}")
