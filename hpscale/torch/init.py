"""``apply_init``: re-initialise what the plan rescales (the embedding, hidden and readout
weights, from N(0, init_std²)), nothing else."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from ..core.spectrum import Grouper
from ..errors import InputError
from .structure import Owner, Structure, _group_names, _pattern_groups, _weight_vector_like
from .values import Z_MAX, fits_dtype, planned


def _is_norm_gain(owner: Owner) -> bool:
    return owner.layout.kind == "norm" and owner.attr == "weight"


def _rescaled(structure: Structure, name: str, named: set[str]) -> bool:
    """Whether ``apply_init`` draws tensor ``name`` from its group's N(0, init_std²): a matrix of
    the embedding, hidden or readout group that is a layer's weight, that the name grouping
    knows (``hpscale spectrum``'s names) or that a pattern names. Biases and norm parameters
    never are (a pattern can move them to another group's lr, not make µP rescale them)."""
    if structure.groups[name] == "vector":
        return False
    regs = structure.owners[name]
    if any(o.attr == "bias" or o.layout.kind == "norm" for o in regs):
        return False
    if name in named or any(o.layout.kind in ("linear", "conv", "embedding") for o in regs):
        return True
    tensor = structure.params[name]
    return Grouper().place(name, tuple(tensor.shape)).grouped_by == "name"


def apply_init(model: nn.Module, plan: Any, base: nn.Module | None = None, *,
               patterns: Mapping[str, str] | None = None,
               generator: torch.Generator | None = None, vectors: str = "keep") -> None:
    """Re-initialise ``model`` in place as the plan says: what the plan rescales, nothing else.

    - embedding, hidden, readout weights: N(0, σ²) with σ the group's ``init_std`` from the plan
      (hidden σ × 1/√m under µP); an ``nn.Embedding``'s ``padding_idx`` row stays 0. These are
      the weights of layers with a known layout (``nn.Linear``, convolutions, ``nn.Embedding``,
      GPT-2's ``Conv1D``, attention projections), parameters the name grouping knows (stacked
      MoE experts, routers, position tables) and parameters a pattern names.
    - everything else keeps the model's own init: biases, norm gains and other parameters the
      model's own code uses (Gemma's norm weights, zero-initialised because Gemma computes
      x·(1 + w); Mamba's ``A_log``, ``D`` and ``dt_proj.bias``, special SSM inits). µP does not
      rescale them; the vector group's ``init_std`` is not used.
    - ``vectors="reset"``: also set every bias to 0 and every norm gain to 1, a width-independent
      init for plain PyTorch models: PyTorch's default bias init, U(−1/√fan_in, 1/√fan_in),
      shrinks with width (standard parametrization) and tilts a coordinate check; zero is what
      nanoGPT and LLaMA use. Wrong for models whose norms compute x·(1 + w) or whose biases carry
      an init of their own (Gemma, Mamba).

    A tensor tied between embedding and output layer is initialised once, as an embedding. A
    model with per-layer init (GPT-2's residual projections at 0.02/√(2L)) gets one σ per group:
    state such a scheme in the model and skip this function, or call it and re-apply the scaling.

    Raises:
        InputError: a group with parameters has no ``init_std`` in the plan (the proxy config
            states none: add ``init_std`` to it and re-run the transfer). Nothing is changed then.
    """
    if vectors not in ("keep", "reset"):
        raise InputError(f"vectors: {vectors!r}: allowed: keep, reset")
    values, structure = planned(plan, model, base, patterns)
    named = set(_pattern_groups(structure.owners, patterns))
    chosen = {name: group for name, group in structure.groups.items() if _rescaled(structure, name, named)}
    by = _group_names(replace(structure, groups=chosen))
    missing = [g for g in ("embedding", "hidden", "readout") if by[g] and values.init_std[g] is None]
    if missing:
        raise InputError(
            f"plan: model_groups.{missing[0]}.init_std: null, and the model has {len(by[missing[0]])} "
            f"{missing[0]} parameter(s) ({by[missing[0]][0]}, …): state init_std in the proxy "
            "config and re-run hpscale transfer"
        )
    for name, group in chosen.items():  # every draw checked before the first one changes the model
        std = values.init_std[group]
        assert std is not None
        fits_dtype(f"model_groups.{group}.init_std", std, structure.params[name], name,
                   f"N(0, σ²) draws (up to {Z_MAX:g}σ)", reach=Z_MAX)
    with torch.no_grad():
        for name, group in structure.groups.items():
            tensor, owner = structure.params[name], structure.owners[name][0]
            if group == "vector" or _weight_vector_like(tensor, owner):  # also a bias a pattern moved
                if vectors == "reset" and any(o.attr == "bias" for o in structure.owners[name]):
                    tensor.zero_()
                elif vectors == "reset" and _is_norm_gain(owner):
                    tensor.fill_(1.0)
                continue
            if name not in chosen:
                continue
            std = values.init_std[group]
            assert std is not None
            tensor.normal_(0.0, std, generator=generator)
            for o in structure.owners[name]:
                padding = getattr(o.module, "padding_idx", None) if o.layout.kind == "embedding" else None
                if padding is not None:
                    tensor[padding].zero_()
