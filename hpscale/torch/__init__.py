"""Apply a transfer inside a PyTorch model: parameter groups, initialisation, multipliers, checks.

``hpscale transfer`` gives per-group numbers (hidden lr 6.25e-4, readout multiplier 0.0625, init
std 0.005); this module puts them into a live ``torch.nn.Module``. Four calls in a training
script (see docs/torch.md)::

    import hpscale.torch as hpt

    print(hpt.classify(model))                                  # parameter name → group
    optimizer = torch.optim.AdamW(hpt.param_groups(model, plan))
    hpt.apply_init(model, plan)
    handles = hpt.apply_multipliers(model, plan)

``plan`` is a transfer result: the JSON contract as a dict, a path to such a JSON file
(``hpscale transfer … -f json > plan.json``), or ``hpscale.transfer(...)``'s ``TransferResult``.

Plain functions over a model, no global state: every function returns what it made (groups,
handles, records) and the caller owns it. Errors are ``hpscale.InputError`` (a ``ValueError``)
naming the parameter by its fully-qualified name and saying how to fix it.

Parameter groups follow Tensor Programs V (Yang et al. 2022, arXiv 2203.03466, Table 3) and the
reference µP library (``mup``): ``embedding`` (one width-scaled dim, the fan-out), ``hidden`` (two),
``readout`` (one, the fan-in; the output layer) and ``vector`` (biases, norm gains).

One module per job: ``structure`` (which tensor is what: ``classify``), ``values`` (reading and
checking the plan: ``planned``), ``groups`` (optimizer parameter groups, Muon included), ``init``
(``apply_init``), ``multipliers`` (``apply_multipliers``), ``coord`` (``coord_check``) and
``weights`` (``spectrum`` of a live model). This package is hpscale's PyTorch integration (the
``hpscale[torch]`` extra); the command line never imports it.
"""

from __future__ import annotations

from .coord import CoordCheck, CoordRecord, coord_check
from .groups import muon_param_groups, optimizers, overrides, param_groups
from .init import apply_init
from .multipliers import MultiplierHandle, apply_multipliers
from .structure import classify
from .weights import WeightSpectrum, spectrum

__all__ = [
    "classify",
    "param_groups",
    "muon_param_groups",
    "optimizers",
    "apply_init",
    "apply_multipliers",
    "overrides",
    "coord_check",
    "spectrum",
    "CoordCheck",
    "CoordRecord",
    "MultiplierHandle",
    "WeightSpectrum",
]
