"""A plan as the functions of ``hpscale.torch`` read it: checked before anything is changed.

``planned`` is the one way they read a plan (a path, a dict, a ``TransferResult`` or a
``hpscale.plan.Plan``): ``hpscale.plan.read_plan`` checks every value against the rule table
``hpscale.plan.ALLOWED``, then the model's structure and the tied-weights rule are checked.
``fits_dtype`` checks a value computed for a tensor against that tensor's dtype.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ..errors import InputError
from ..plan import Plan, read_plan
from .structure import Structure, analyse


def planned(plan: Any, model: nn.Module, base: nn.Module | None,
            patterns: Mapping[str, str] | None, *, warn: bool = False) -> tuple[Plan, Structure]:
    """The one way every function here reads a plan: ``read_plan`` (every value checked against
    ``hpscale.plan.ALLOWED``, whatever the plan's form), then the model's structure (``analyse``)
    and the check that the plan's readout rule suits its tied weights — all before anything is
    changed."""
    values = read_plan(plan)
    structure = analyse(model, base, patterns, warn=warn)
    _check_tied_rule(structure, values)
    return values, structure


def _check_tied_rule(structure: Structure, plan: Plan) -> None:
    if plan.readout_rule == "table3" and any(structure.tied_to_embedding(n) for n in structure.tied):
        name = next(n for n in structure.tied if structure.tied_to_embedding(n))
        raise InputError(
            f"plan: rules.readout_rule 'table3' with tied weights ({name}): Table 3 puts the "
            "readout's 1/m into its lr and init, which the shared tensor cannot take; re-run "
            "hpscale transfer with --readout-rule mureadout (1/m as a forward multiplier)"
        )


#: How far from 0, in σ, ``apply_init``'s N(0, σ²) draws are taken to reach: P(|z| > 10) ≈ 1.5e-23
#: for a standard normal z, so no real model (≤ 10¹³ weights) draws beyond 10σ, while the most
#: extreme of 10¹² draws lies near 7σ.
Z_MAX = 10.0


def fits_dtype(where: str, value: float, tensor: torch.Tensor, name: str, how: str, reach: float = 1.0) -> None:
    """``InputError`` unless ``reach`` × ``value`` (a magnitude torch writes into ``tensor``'s
    dtype; ``how`` says how) stays within that dtype's largest finite number. Called before
    anything is changed, so a refused plan leaves the model as it was."""
    if not tensor.is_floating_point():
        return
    largest = torch.finfo(tensor.dtype).max
    if value * reach > largest:
        dtype = str(tensor.dtype).removeprefix("torch.")
        raise InputError(f"plan: {where}: {value:.3g}: {how} would overflow {name}'s {dtype} (largest "
                         f"finite number {largest:.3g}): must be ≤ {largest / reach:.3g} for it")
