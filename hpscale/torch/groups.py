"""Optimizer parameter groups from a plan: AdamW's, a hybrid plan's Muon + AdamW, and the same
groups as plain data (name lists)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ..errors import InputError
from ..plan import override_groups, plan_value
from .structure import _group_names
from .values import planned


def param_groups(model: nn.Module, plan: Any, base: nn.Module | None = None, *,
                 patterns: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Parameter groups for ``torch.optim.AdamW`` (or any optimizer taking ``lr``,
    ``weight_decay``, ``betas``, ``eps``) with the plan's target values.

    One dict per non-empty group, in the order embedding, hidden, readout, vector: ``params``
    (the tensors, each exactly once), ``lr`` (the group's peak lr), ``weight_decay`` (torch's
    coupled convention: converted per group, λ = λ_ind/η, when the plan is in the independent
    one), ``betas``, ``eps`` and ``hpscale_group`` (the group's name; optimizers keep extra keys).

    Schedules must keep the ratios between groups: a ``LambdaLR``-style scheduler multiplies
    each group's own peak lr; a loop that sets ``group["lr"] = lr`` for every group erases them
    (see docs/torch.md).

    ``base`` and ``patterns`` are those of ``classify``.
    """
    values, structure = planned(plan, model, base, patterns, warn=True)
    return [{"params": [structure.params[name] for name in names], **values.options(group)}
            for group, names in _group_names(structure).items() if names]


def muon_param_groups(model: nn.Module, plan: Any, base: nn.Module | None = None, *,
                      patterns: Mapping[str, str] | None = None
                      ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Parameter groups of a hybrid plan: ``(muon_groups, adamw_groups)``, for
    ``torch.optim.Muon`` and ``torch.optim.AdamW``. ``optimizers`` builds both.

    ``adamw_groups`` are ``param_groups``'s dicts for the groups AdamW trains. ``muon_groups``
    hold the groups Muon trains (the hidden matrices): ``params``, ``lr``, ``weight_decay``,
    ``momentum``, ``nesterov``, ``eps``, ``adjust_lr_fn`` and ``hpscale_group``. Where the plan's
    shape convention is one ``torch.optim.Muon`` implements (``original``, ``match_rms_adamw``;
    ``torch/optim/_muon.py``, ``_adjust_lr``) one dict takes the whole group with that
    ``adjust_lr_fn``. Where it is not (NVIDIA's ``spectral``, ``unit_rms_norm``), each matrix
    gets its own dict with ``adjust_lr_fn="original"`` and lr and weight decay converted by its
    own shape (A, B) = tensor.shape: η' = η·s_plan(A, B)/s_original(A, B)
    (``muon_shapes.convert_lr``) and λ' = λ·η/η' (``muon_shapes.convert_weight_decay``), so the
    step η·s·O and the shrink 1 − η·λ are the plan's.

    For an AdamW-only plan ``muon_groups`` is empty. Raises ``InputError`` (one line naming the
    parameter and its shape) for a tensor of a Muon group that is not 2-D: torch.optim.Muon
    orthogonalises matrices only (a conv kernel or a 1-D tensor must go to an AdamW group, e.g.
    with ``patterns``).
    """
    from ..core.muon_shapes import TORCH_CONVENTIONS, convert_lr, convert_weight_decay

    values, structure = planned(plan, model, base, patterns, warn=True)
    muon = values.muon or {}
    muon_groups: list[dict[str, Any]] = []
    adamw_groups: list[dict[str, Any]] = []
    for group, names in _group_names(structure).items():
        if not names:
            continue
        if group not in muon:
            adamw_groups.append({"params": [structure.params[n] for n in names], **values.options(group)})
            continue
        m = muon[group]
        for name in names:
            shape = tuple(structure.params[name].shape)
            if len(shape) != 2:
                raise InputError(
                    f"{name}: shape {list(shape)} in the {group} group, which the plan trains with "
                    "Muon: torch.optim.Muon takes 2-D matrices only; move it to an AdamW group "
                    "(patterns={...: 'vector'} or a group AdamW trains)")
        options = {"momentum": m.momentum, "nesterov": m.nesterov, "eps": m.eps, "hpscale_group": group}
        if m.convention in TORCH_CONVENTIONS:
            muon_groups.append({"params": [structure.params[n] for n in names], "lr": m.lr,
                                "weight_decay": m.weight_decay, "adjust_lr_fn": m.convention, **options})
            continue
        for name in names:
            fan_out, fan_in = structure.params[name].shape
            # The per-shape conversions are products of checked values: checked again before
            # torch gets them (a large lr times a large shape ratio leaves float32's range).
            where = f"optimizer_groups.{group}.{{}} converted to adjust_lr_fn='original' for {name} " \
                f"({fan_out}, {fan_in})"
            lr = plan_value(where.format("lr"), "lr", convert_lr(m.lr, fan_out, fan_in, m.convention, "original"))
            weight_decay = plan_value(where.format("weight_decay"), "weight_decay",
                                      convert_weight_decay(m.lr, m.weight_decay, lr))
            muon_groups.append({"params": [structure.params[name]], "lr": lr, "weight_decay": weight_decay,
                                "adjust_lr_fn": "original", **options})
    return muon_groups, adamw_groups


def optimizers(model: nn.Module, plan: Any, base: nn.Module | None = None, *,
               patterns: Mapping[str, str] | None = None) -> list[torch.optim.Optimizer]:
    """The optimizers of a plan: ``[torch.optim.Muon(muon_groups), torch.optim.AdamW(adamw_groups)]``
    for a hybrid plan (``muon_param_groups``), ``[torch.optim.AdamW(param_groups(...))]`` for an
    AdamW-only one; step and zero each of them every iteration."""
    muon_groups, adamw_groups = muon_param_groups(model, plan, base, patterns=patterns)
    made: list[torch.optim.Optimizer] = []
    if muon_groups:
        made.append(torch.optim.Muon(muon_groups))
    if adamw_groups:
        made.append(torch.optim.AdamW(adamw_groups))
    return made


def overrides(model: nn.Module, plan: Any, base: nn.Module | None = None, *,
              patterns: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The groups of ``param_groups`` as plain data: ``params`` is a list of fully-qualified
    parameter names instead of tensors (``betas`` a list), ready for JSON or a trainer that
    takes per-group overrides as name lists with options. ``hpscale transfer --format
    overrides --model-names FILE`` prints the same shape without PyTorch."""
    values, structure = planned(plan, model, base, patterns, warn=True)
    return override_groups(structure.groups, values)
