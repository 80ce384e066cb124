"""The optimizer registry: one module per optimizer, one line here.

To add an optimizer (Lion, SOAP, …): write ``hpscale/core/optimizers/<name>.py`` declaring an
``OptimizerSpec`` (see ``base``) and add it to ``OPTIMIZERS``.
"""

from __future__ import annotations

from .adamw import ADAMW
from .base import GroupContext, GroupValues, OptimizerSpec
from .muon import MUON

#: Every optimizer hpscale can transfer, by name; the first is the default of every group.
OPTIMIZERS: dict[str, OptimizerSpec] = {
    ADAMW.name: ADAMW,
    MUON.name: MUON,
}
DEFAULT = ADAMW.name

__all__ = ["DEFAULT", "OPTIMIZERS", "GroupContext", "GroupValues", "OptimizerSpec"]
