"""Optional dependencies: import them where a feature needs them, with a clear message if absent.

``hpscale[torch]`` (PyTorch: ``hpscale.torch``, ``.bin`` checkpoints) and ``hpscale[plot]``
(matplotlib: ``--plot`` figures) are extras; nothing else in hpscale imports them.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from .errors import InputError

#: Import name → (pip extra, what the user installs).
EXTRAS = {"torch": ("torch", "torch"), "matplotlib": ("plot", "matplotlib")}


def available(module: str) -> bool:
    """Whether an optional dependency is installed (without importing it)."""
    return importlib.util.find_spec(module) is not None


def require(module: str, purpose: str) -> ModuleType:
    """Import the optional dependency ``module`` for ``purpose`` (e.g. ``"--plot"``), or raise an
    ``InputError`` that says how to install it."""
    if not available(module):
        extra, package = EXTRAS.get(module, (None, module))
        how = f"pip install 'hpscale[{extra}]'" if extra else f"pip install {package}"
        raise InputError(f"{purpose}: needs {package}, which is not installed; {how}")
    return importlib.import_module(module)
