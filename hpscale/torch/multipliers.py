"""``apply_multipliers``: the plan's forward multipliers (readout, embedding, residual branches)
as forward hooks, each returned as a ``MultiplierHandle``."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from ..errors import InputError
from .structure import _describe
from .values import fits_dtype, planned

#: The attribute that marks a module carrying one of hpscale's multiplier hooks.
_MARK = "_hpscale_multiplier"


class MultiplierHandle:
    """A forward hook that multiplies one module's output by ``value``; ``remove()`` undoes it.

    ``name`` is the module's fully-qualified name, ``role`` what the multiplier is for
    (``readout``, ``embedding`` or ``residual``).
    """

    def __init__(self, name: str, role: str, module: nn.Module, value: float) -> None:
        self.name, self.role, self.module, self.value = name, role, module, value
        self._handle = module.register_forward_hook(_Scale(value))
        setattr(module, _MARK, self)

    def remove(self) -> None:
        """Remove the hook (and the mark that refuses a second multiplier on the module)."""
        self._handle.remove()
        if getattr(self.module, _MARK, None) is self:
            delattr(self.module, _MARK)

    def __repr__(self) -> str:
        return f"MultiplierHandle({self.name!r}, {self.role}, × {self.value:g})"


class _Scale:
    """The forward hook: output × value (a tensor output, or the first tensor of a tuple)."""

    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self, module: nn.Module, args: Any, output: Any) -> Any:
        if isinstance(output, torch.Tensor):
            return output * self.value
        if isinstance(output, tuple) and output and isinstance(output[0], torch.Tensor):
            return (output[0] * self.value, *output[1:])
        raise TypeError(f"hpscale multiplier hook on {type(module).__name__}: the output is a "
                        f"{type(output).__name__}, expected a tensor")


def _has_own_readout_multiplier(module: nn.Module) -> bool:
    """The reference µP library's ``MuReadout``/``MuSharedReadout`` divide their output by the
    width multiplier in ``forward`` (they have ``width_mult()`` and ``output_mult``)."""
    return type(module).__name__ in ("MuReadout", "MuSharedReadout") or (
        callable(getattr(module, "width_mult", None)) and hasattr(module, "output_mult")
    )


def _resolve_modules(model: nn.Module, residual: Iterable[nn.Module | str]) -> list[tuple[str, nn.Module]]:
    names = {id(m): n for n, m in model.named_modules()}
    resolved = []
    for item in residual:
        if isinstance(item, str):
            try:
                resolved.append((item, model.get_submodule(item)))
            except AttributeError:
                raise InputError(f"residual: {item!r}: no such module in {_describe(model)}") from None
        elif isinstance(item, nn.Module) and id(item) in names:
            resolved.append((names[id(item)], item))
        else:
            raise InputError(f"residual: {type(item).__name__}: expected a module of the model or its name")
    return resolved


def apply_multipliers(model: nn.Module, plan: Any, base: nn.Module | None = None, *,
                      patterns: Mapping[str, str] | None = None,
                      residual: Iterable[nn.Module | str] | None = None) -> list[MultiplierHandle]:
    """Forward hooks that apply the plan's multipliers; returns their handles (``h.remove()``).

    - the output layer's output × ``model_groups.readout.multiplier`` (µP's MuReadout W₀/W; for
      tied weights this is where the readout's 1/m goes);
    - each embedding layer's output × ``model_groups.embedding.multiplier`` when it is not 1;
    - each residual-branch module in ``residual`` (modules or their names, e.g. every block's
      attention and MLP) × ``residual_multiplier`` on a depth transfer.

    A multiplier of exactly 1 needs no hook and gets none.

    Raises:
        InputError: the output layer already applies µP's multiplier itself (the reference
            library's ``MuReadout``) or already carries hpscale's hook (``apply_multipliers``
            called twice: remove the first handles) — either would apply it twice; a depth
            transfer's residual multiplier without ``residual=`` (pass the branches, or
            ``residual=[]`` to apply none); a hidden or vector multiplier other than 1.
    """
    values, structure = planned(plan, model, base, patterns)
    for group in ("hidden", "vector"):
        if values.multiplier[group] != 1:
            raise InputError(f"plan: model_groups.{group}.multiplier: {values.multiplier[group]:g}: "
                             "hpscale.torch applies readout, embedding and residual multipliers only; "
                             "apply this one in the model's forward")
    targets: list[tuple[str, str, nn.Module, float]] = []
    readout = values.multiplier["readout"]
    if readout != 1:
        for owner in structure.readouts:
            if owner.layout.kind not in ("linear", "conv"):
                raise InputError(
                    f"{owner.name}: the readout is not a layer's weight (the model's own code uses it, "
                    "e.g. F.linear(x, wte.weight)), so no hook can scale its output: multiply the "
                    f"logits by model_groups.readout.multiplier ({readout:g}) in the model's forward"
                )
            if _has_own_readout_multiplier(owner.module):
                raise InputError(
                    f"{owner.module_name}: {type(owner.module).__name__} already divides its output "
                    "by the width multiplier; a hook would apply the readout multiplier twice. Keep "
                    "param_groups and apply_init, and skip apply_multipliers (or use nn.Linear)"
                )
            targets.append((owner.module_name, "readout", owner.module, readout))
    embedding = values.multiplier["embedding"]
    if embedding != 1:
        for name, group in structure.groups.items():
            if group != "embedding":
                continue
            owner = structure.owners[name][0]
            if owner.layout.kind == "bare":
                raise InputError(f"{name}: plan: model_groups.embedding.multiplier {embedding:g}: a "
                                 "parameter used by the model's own code cannot get a hook; apply "
                                 "the multiplier in the model's forward")
            targets.append((owner.module_name, "embedding", owner.module, embedding))
    branches = values.residual_multiplier
    if residual is not None:
        if branches is None:
            warnings.warn("apply_multipliers: the plan has no residual_multiplier (no depth "
                          "transfer); the residual branches are left unchanged", stacklevel=2)
        elif branches != 1:
            targets += [(n, "residual", m, branches) for n, m in _resolve_modules(model, residual)]
    elif branches is not None and branches != 1:
        raise InputError(
            f"plan: residual_multiplier {branches:g} (depth transfer): pass the residual-branch "
            "modules, e.g. residual=[m for b in model.blocks for m in (b.attn, b.mlp)], or "
            "residual=[] to apply none"
        )
    for name, role, module, value in targets:
        for tensor in module.parameters(recurse=False):  # the output is in the weights' dtype
            fits_dtype("residual_multiplier" if role == "residual" else f"model_groups.{role}.multiplier",
                       value, tensor, name or _describe(model), "its output × the multiplier")
        existing = getattr(module, _MARK, None)
        if existing is not None:
            raise InputError(
                f"{name or _describe(model)}: already carries {existing!r}; apply_multipliers was "
                "called twice: call .remove() on the first handles (a second hook would apply the "
                f"{role} multiplier twice)"
            )
    handles: list[MultiplierHandle] = []
    for name, role, module, value in targets:
        if getattr(module, _MARK, None) is None:  # a tensor shared by two groups: hook once
            handles.append(MultiplierHandle(name, role, module, value))
    return handles
