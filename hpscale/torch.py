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

This is the only module of hpscale that imports PyTorch (the ``hpscale[torch]`` extra).
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import torch
from torch import nn

from .core.roles import OUTPUT_NAMES, matrix_group, vector_like
from .core.rules import GROUPS
from .core.spectrum import Grouper, MatrixStats, as_matrix, matrix_stats
from .errors import InputError
from .plan import Plan, override_groups, plan_value, read_plan

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

#: Names (last component) of output layers in common code (``hpscale.core.roles.OUTPUT_NAMES``,
#: shared with ``hpscale spectrum``): ``lm_head``, ``embed_out``, ``output``, ``head``,
#: ``classifier``, ``fc``, ``logits``, transformers' ``score`` and ``qa_outputs``.
READOUT_NAMES = OUTPUT_NAMES

#: The attribute that marks a module carrying one of hpscale's multiplier hooks.
_MARK = "_hpscale_multiplier"


# ---------------------------------------------------------------------------------------------
# Structure: which tensor is what
# ---------------------------------------------------------------------------------------------


class Layout(NamedTuple):
    """How a layer stores its weight: ``kind`` and the axes of fan-out and fan-in (None: unknown)."""

    kind: str  # "embedding" | "linear" | "conv" | "norm" | "bare"
    fan_out: int | None
    fan_in: int | None


_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_T = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_MHA_WEIGHTS = frozenset({"in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"})


def _is_conv1d_layout(module: nn.Module) -> bool:
    """GPT-2's ``Conv1D`` (Hugging Face transformers): a linear layer stored transposed, weight
    (in, out) = (nx, nf), computing x·W + b. Recognised by name and its ``nf`` attribute, so
    hpscale needs no import of transformers."""
    return type(module).__name__ == "Conv1D" and hasattr(module, "nf")


def _is_norm(module: nn.Module) -> bool:
    """LayerNorm, RMSNorm, GroupNorm, BatchNorm… and custom ``*Norm`` classes (LLaMA's RMSNorm)."""
    return "norm" in type(module).__name__.lower()


def layout_of(module: nn.Module, attr: str, tensor: torch.Tensor) -> Layout:
    """The layout of ``module``'s parameter ``attr``.

    | layer | weight | fan-out axis | fan-in axis |
    |---|---|---|---|
    | ``nn.Linear`` (and subclasses), ``MultiheadAttention`` projections | (out, in) | 0 | 1 |
    | ``nn.Conv{1,2,3}d`` | (out, in/groups, *k) | 0 | 1 |
    | ``nn.ConvTranspose{1,2,3}d`` | (in, out/groups, *k) | 1 | 0 |
    | GPT-2 ``Conv1D`` | (in, out) | 1 | 0 |
    | ``nn.Embedding``, ``nn.EmbeddingBag`` | (vocabulary, dim) | 1 | 0 |

    Anything else is ``bare`` (a parameter used by the model's own code; its axes are unknown),
    except the parameters of normalisation layers (``norm``).
    """
    if isinstance(module, nn.Embedding | nn.EmbeddingBag) and attr == "weight":
        return Layout("embedding", 1, 0)
    if tensor.dim() >= 2:
        if (isinstance(module, nn.Linear) and attr == "weight") or (
            isinstance(module, nn.MultiheadAttention) and attr in _MHA_WEIGHTS
        ):
            return Layout("linear", 0, 1)
        if _is_conv1d_layout(module) and attr == "weight" and tensor.dim() == 2:
            return Layout("linear", 1, 0)
        if isinstance(module, _CONV) and attr == "weight":
            return Layout("conv", 0, 1)
        if isinstance(module, _CONV_T) and attr == "weight":
            return Layout("conv", 1, 0)
    if _is_norm(module):
        return Layout("norm", None, None)
    return Layout("bare", None, None)


class Owner(NamedTuple):
    """One place a tensor is registered: ``module_name.attr`` with the module's layout for it."""

    name: str
    module_name: str
    module: nn.Module
    attr: str
    layout: Layout


def _vector_like(shape: Sequence[int]) -> bool:
    return vector_like(shape)


def _weight_vector_like(tensor: torch.Tensor, owner: Owner) -> bool:
    """Vector-like, except a layer's weight with a fan-in or fan-out > 1: a d → 1 linear weight
    (a reward model's ``score``, Qwen2-MoE's ``shared_expert_gate``) is a matrix with one
    output, its group set by its axes and role (``hpscale.core.roles.matrix_group``)."""
    lay = owner.layout
    if lay.kind in ("linear", "conv") and lay.fan_in is not None and lay.fan_out is not None \
            and tensor.dim() >= 2:
        return int(tensor.shape[lay.fan_in]) <= 1 and int(tensor.shape[lay.fan_out]) <= 1
    return _vector_like(tensor.shape)


def _joined(prefix: str, attr: str) -> str:
    return f"{prefix}.{attr}" if prefix else attr


@dataclass
class Structure:
    """A model's parameters, every name each tensor is registered under, its output layer(s) and
    the group of every tensor. Built by ``analyse``; the public functions use it."""

    model: nn.Module
    params: dict[str, nn.Parameter]  # canonical name (as named_parameters() gives it) → tensor
    owners: dict[str, list[Owner]]  # canonical name → every registration, canonical first
    readouts: list[Owner]  # the output layer(s): modules whose output is the model's output
    groups: dict[str, str]  # canonical name → group
    tied: dict[str, list[str]]  # canonical name → its other names, for tensors registered twice

    def tied_to_embedding(self, name: str) -> bool:
        """Whether tensor ``name`` is both an embedding table and a linear layer's weight."""
        kinds = {o.layout.kind for o in self.owners[name]}
        return "embedding" in kinds and "linear" in kinds


def _owners(model: nn.Module) -> tuple[dict[str, nn.Parameter], dict[str, list[Owner]]]:
    params = dict(model.named_parameters())
    canonical = {id(p): name for name, p in params.items()}
    owners: dict[str, list[Owner]] = {name: [] for name in params}
    for module_name, module in model.named_modules():
        for attr, tensor in module.named_parameters(recurse=False):
            name = canonical[id(tensor)]
            owner = Owner(_joined(module_name, attr), module_name, module, attr, layout_of(module, attr, tensor))
            if owner.name == name:
                owners[name].insert(0, owner)
            elif all(o.name != owner.name for o in owners[name]):
                owners[name].append(owner)
    return params, owners


def _module_order(model: nn.Module) -> dict[str, int]:
    return {name: index for index, (name, _) in enumerate(model.named_modules())}


def _structural_readout(model: nn.Module, owners: dict[str, list[Owner]]) -> Owner | None:
    """The output layer by structure: (1) a linear layer whose output size is an embedding's
    vocabulary and feeds no other layer (the LM head; tied or not); else (2) the last linear
    layer named like an output layer (``READOUT_NAMES``); else (3) a linear layer to the
    vocabulary that feeds another layer (its size matches the vocabulary by chance more often
    than an output layer feeds on). Registration order breaks ties."""
    order = _module_order(model)
    linear = sorted((o for regs in owners.values() for o in regs if o.layout.kind == "linear"),
                    key=lambda o: order.get(o.module_name, 0))
    vocab = {_sizes(o)[1] for regs in owners.values() for o in regs if o.layout.kind == "embedding"}
    consumed = _fan_in_sizes(owners)
    heads = [o for o in linear if _sizes(o)[0] in vocab]
    sinks = [o for o in heads if _sizes(o)[0] not in consumed]
    named = [o for o in linear if o.module_name.rsplit(".", 1)[-1] in READOUT_NAMES]
    for candidates in (sinks, named, heads):  # a head that feeds another layer is not the output
        if candidates:
            return candidates[-1]
    return None


def _sizes(owner: Owner) -> tuple[int, int]:
    """(fan-out size, fan-in size) of a weight with a known layout."""
    shape = owner.module.get_parameter(owner.attr).shape
    lay = owner.layout
    assert lay.fan_out is not None and lay.fan_in is not None
    return int(shape[lay.fan_out]), int(shape[lay.fan_in])


def _fan_in_sizes(owners: dict[str, list[Owner]]) -> set[int]:
    return {_sizes(o)[1] for name in owners for o in owners[name] if o.layout.kind in ("linear", "conv")}


def _produced_sizes(owners: dict[str, list[Owner]]) -> dict[int, set[str]]:
    """Output size → the layers that produce activations of that size (fan-outs, embedding dims)."""
    produced: dict[int, set[str]] = {}
    for name in owners:
        for o in owners[name]:
            if o.layout.fan_out is not None:
                produced.setdefault(_sizes(o)[0], set()).add(o.module_name)
    return produced


def _compile_patterns(patterns: Mapping[str, str] | None) -> list[tuple[str, re.Pattern[str], str]]:
    if patterns is None:
        return []
    if not isinstance(patterns, Mapping):
        raise InputError(f"patterns: {type(patterns).__name__}: expected a mapping {{regex: group}}")
    compiled: list[tuple[str, re.Pattern[str], str]] = []
    for pattern, group in patterns.items():
        if group not in GROUPS:
            raise InputError(f"patterns: {pattern!r}: group {group!r}: allowed: {', '.join(GROUPS)}")
        try:
            compiled.append((pattern, re.compile(pattern), group))
        except re.error as exc:
            raise InputError(f"patterns: {pattern!r}: not a valid regular expression ({exc})") from None
    return compiled


def _pattern_groups(
    owners: dict[str, list[Owner]], patterns: Mapping[str, str] | None
) -> dict[str, str]:
    """Canonical name → group for tensors a user pattern matches (``re.search`` on any of the
    tensor's names). A tensor matched by two patterns, or a pattern matching nothing, is an error."""
    compiled = _compile_patterns(patterns)
    assigned: dict[str, tuple[str, str]] = {}
    used: set[str] = set()
    for name, regs in owners.items():
        for pattern, regex, group in compiled:
            if any(regex.search(o.name) for o in regs) or regex.search(name):
                if name in assigned:
                    first, first_group = assigned[name]
                    raise InputError(
                        f"patterns: {name} is matched by {first!r} ({first_group}) and {pattern!r} "
                        f"({group}); make the patterns match each parameter once"
                    )
                assigned[name] = (pattern, group)
                used.add(pattern)
    unused = [pattern for pattern, _, _ in compiled if pattern not in used]
    if unused:
        example = next(iter(owners), "")
        raise InputError(
            f"patterns: {unused[0]!r} matches no parameter (names look like {example!r}); "
            "patterns are regular expressions searched in the fully-qualified names"
        )
    return {name: group for name, (_, group) in assigned.items()}


def _bare_group(name: str, shape: Sequence[int], grouper: Grouper) -> str:
    """A parameter used by the model's own code. A leading size-1 axis means it is broadcast over
    the batch and added to activations (ViT ``pos_embed`` (1, N, d), ``cls_token``): an embedding;
    so is what the spectrum grouping (``grouper``, with the width inferred from the model's
    shapes) takes as one: a name it knows, or one width-like axis beside a fixed one (Mamba's
    ``A_log``, d_inner × state: one scaled axis, so µP leaves its lr alone, as ``base=`` finds);
    anything else ≥ 2-D is a hidden matrix (a MoE router or stacked experts included:
    ``hpscale.core.roles``)."""
    if len(shape) >= 2 and shape[0] == 1:
        return "embedding"
    return "embedding" if grouper.group_of(name, shape) == "embedding" else "hidden"


def _input_layers(model: nn.Module, owners: dict[str, list[Owner]],
                  produced: dict[int, set[str]]) -> set[str]:
    """Module names of the layers fed from outside the model (a CNN's stem, a ViT patch
    embedding): linear or conv layers whose fan-in no other layer produces and that come before
    every other layer with a weight (module order). A layer with such a fan-in deeper in the
    model is fed by something hpscale cannot see — a fused or split activation (Phi-3's
    ``down_proj`` behind ``gate_up_proj``, Mamba's ``dt_proj`` on a slice of ``x_proj``) — and
    is taken as hidden. The heuristic is a convenience: ``base=`` is the reliable path."""
    order = _module_order(model)
    layers = sorted({(order.get(o.module_name, 0), o.module_name, o) for regs in owners.values()
                     for o in regs if o.layout.kind in ("linear", "conv", "embedding")},
                    key=lambda item: item[:2])
    inputs: set[str] = set()
    for _, module_name, o in layers:
        if o.layout.kind == "embedding":
            break
        fed_by = produced.get(_sizes(o)[1], set()) - {module_name}
        if fed_by:
            break
        inputs.add(module_name)
    return inputs


def _heuristic_group(name: str, tensor: torch.Tensor, owner: Owner, readout_names: set[str],
                     inputs: set[str], grouper: Grouper) -> str:
    lay = owner.layout
    if lay.kind == "embedding":
        return "embedding"
    if _weight_vector_like(tensor, owner):
        return "vector"
    if owner.name in readout_names:  # the output layer: only its fan-in scales
        return matrix_group(fan_out_scales=False, fan_in_scales=True, is_output=True)
    if lay.kind in ("linear", "conv"):
        # A layer fed from outside the model (``_input_layers``) is an input projection: the
        # fan-out scales with width, the fan-in (the data) does not; nor does a fan-in of 1 (a
        # depthwise convolution, Mamba's ``conv1d``: one input channel per group).
        fixed_in = owner.module_name in inputs or _sizes(owner)[1] == 1
        return matrix_group(fan_out_scales=True, fan_in_scales=not fixed_in, is_output=False)
    return _bare_group(name, tensor.shape, grouper)


def _base_group(name: str, tensor: torch.Tensor, base_shape: Sequence[int], owner: Owner,
                is_readout: bool) -> str:
    """The reference µP library's rule (``mup.set_base_shapes``): axes whose size differs from the
    base model's scale with width. Two (fan-in and fan-out) → hidden; only fan-out → embedding;
    only fan-in → readout if the layer is the model's output, else hidden (an inner matrix with a
    fixed output, e.g. grouped-query attention's key/value projection with a fixed number of
    key/value heads: under Adam its update Δy = ΔW·x sums fan-in correlated terms, so its lr
    scales as 1/fan_in, Tensor Programs V Table 3, like any hidden matrix); none → vector-like.
    The rule is ``hpscale.core.roles.matrix_group``. A parameter the model's own code uses (no
    known layout) with one 2-D matrix named like a router (``F.linear(x, weight)``: (out, in))
    follows the same rule; other such parameters: two scaled axes → hidden, one → embedding."""
    if _weight_vector_like(tensor, owner):
        return "vector"
    scaled = {axis for axis, (a, b) in enumerate(zip(tensor.shape, base_shape, strict=True)) if a != b}
    lay = owner.layout
    if lay.fan_out is None or lay.fan_in is None:
        if tensor.dim() == 2 and Grouper().place(name, tuple(tensor.shape)).role == "router":
            return matrix_group(0 in scaled, 1 in scaled, is_readout)
        return "hidden" if len(scaled) >= 2 else "embedding" if scaled else "vector"
    return matrix_group(lay.fan_out in scaled, lay.fan_in in scaled, is_readout)


def _describe(model: nn.Module) -> str:
    return type(model).__name__


def analyse(model: nn.Module, base: nn.Module | None = None,
            patterns: Mapping[str, str] | None = None, *, warn: bool = False) -> Structure:
    """Classify every parameter of ``model`` and find its output layer (see ``classify``);
    ``warn``: say how tied tensors are treated (``classify`` and ``param_groups`` do)."""
    if not isinstance(model, nn.Module):
        raise InputError(f"model: {type(model).__name__}: expected a torch.nn.Module")
    params, owners = _owners(model)
    if not params:
        raise InputError(f"model: {_describe(model)} has no parameters")
    tied = {name: [o.name for o in regs[1:]] for name, regs in owners.items() if len(regs) > 1}
    chosen = _pattern_groups(owners, patterns)
    base_shapes: dict[str, tuple[int, ...]] | None = None
    if base is not None:
        base_shapes = _base_shapes(model, base, params)

    readout_owner = None
    if any(group == "readout" for group in chosen.values()):
        # The layer(s) the user named: for a tied tensor its linear registration, not the table.
        readouts = [next((o for o in owners[name] if o.layout.kind in ("linear", "conv")), owners[name][0])
                    for name, group in chosen.items() if group == "readout"]
    else:
        readout_owner = _structural_readout(model, owners)
        if readout_owner is None and base_shapes is not None:
            readout_owner = _fan_in_only(model, owners, base_shapes)
        if readout_owner is None:
            raise InputError(
                f"model: {_describe(model)}: no output layer found: no linear layer maps to an "
                f"embedding's vocabulary and none is named {', '.join(sorted(READOUT_NAMES))}; name "
                "it with patterns={r'^my_head\\.weight$': 'readout'}, or pass base= (the model at "
                "another width)"
            )
        readouts = [readout_owner]
    readout_names = {o.name for o in readouts}
    inputs = _input_layers(model, owners, _produced_sizes(owners)) if base_shapes is None else set()
    grouper = Grouper().for_tensors(p.shape for p in params.values()) if base_shapes is None else Grouper()

    groups: dict[str, str] = {}
    for name, tensor in params.items():
        regs = owners[name]
        if name in chosen:
            groups[name] = chosen[name]
        elif any(o.layout.kind == "embedding" for o in regs) and len(regs) > 1:
            groups[name] = "embedding"  # tied: the tensor trains as the input embedding
        elif base_shapes is not None:
            is_readout = any(o.name in readout_names for o in regs)
            groups[name] = _base_group(name, tensor, base_shapes[name], regs[0], is_readout)
        else:
            groups[name] = _heuristic_group(name, tensor, regs[0], readout_names, inputs, grouper)
    structure = Structure(model, params, owners, readouts, groups, tied)
    if warn:
        _warn_tied(structure)
    return structure


def _base_shapes(model: nn.Module, base: nn.Module,
                 params: dict[str, nn.Parameter]) -> dict[str, tuple[int, ...]] | None:
    """The base model's shapes by name; None when every shape equals the model's (m = 1)."""
    if not isinstance(base, nn.Module):
        raise InputError(f"base: {type(base).__name__}: expected a torch.nn.Module (the model at another width)")
    shapes = {name: tuple(int(d) for d in p.shape) for name, p in base.named_parameters()}
    missing = [name for name in params if name not in shapes]
    extra = [name for name in shapes if name not in params]
    if missing or extra:
        which = f"{missing[0]} is missing in base" if missing else f"base has {extra[0]}, the model has not"
        raise InputError(f"base: {which}; base must be the same architecture at another width")
    for name, p in params.items():
        if p.dim() != len(shapes[name]):
            raise InputError(f"base: {name}: shape {shapes[name]} vs the model's {tuple(p.shape)}: "
                             "a different number of axes; base must be the same architecture")
    if all(tuple(p.shape) == shapes[name] for name, p in params.items()):
        # m = 1 (a width sweep that includes the base width): the reference µP library accepts
        # it and every width multiplier is 1. No axis says which scale, so the groups come from
        # structure, as without base; the plan at m = 1 holds the proxy's own (unscaled) values.
        return None
    return shapes


def _fan_in_only(model: nn.Module, owners: dict[str, list[Owner]],
                 base_shapes: dict[str, tuple[int, ...]]) -> Owner | None:
    """With a base model and no output layer found by structure: the last linear layer whose
    only width-scaled axis is its fan-in."""
    order = _module_order(model)
    found = []
    for name, regs in owners.items():
        for o in regs:
            lay = o.layout
            if lay.kind != "linear" or lay.fan_in is None or lay.fan_out is None:
                continue
            shape = o.module.get_parameter(o.attr).shape
            base = base_shapes[name]
            if shape[lay.fan_in] != base[lay.fan_in] and shape[lay.fan_out] == base[lay.fan_out]:
                found.append(o)
    found.sort(key=lambda o: order.get(o.module_name, 0))
    return found[-1] if found else None


def _warn_tied(structure: Structure) -> None:
    for name, others in structure.tied.items():
        if structure.tied_to_embedding(name):
            warnings.warn(
                f"{', '.join(others)} is tied to {name}: the shared tensor trains in the "
                f"{structure.groups[name]} group (its lr, weight decay and init std); the readout's "
                "µP multiplier goes into the output layer's forward pass (apply_multipliers), as "
                "public µP ports of tied models do",
                stacklevel=4,
            )
        else:
            warnings.warn(
                f"{', '.join(others)} is the same tensor as {name}: it appears once, in the "
                f"{structure.groups[name]} group",
                stacklevel=4,
            )


# ---------------------------------------------------------------------------------------------
# The public functions
# ---------------------------------------------------------------------------------------------


def classify(model: nn.Module, base: nn.Module | None = None, *,
             patterns: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every parameter name of ``model`` → ``embedding``, ``hidden``, ``readout`` or ``vector``.

    Names are those of ``model.named_parameters()``: a tensor registered twice (tied weights)
    appears once, under its first name.

    Without ``base`` (by module type, shape and structure):

    - ``nn.Embedding``/``nn.EmbeddingBag`` weights → embedding; tensors with at most one axis
      of size > 1 (biases, norm gains) → vector;
    - the output layer → readout. Found by structure: a linear layer (``nn.Linear``, GPT-2's
      transposed ``Conv1D``) whose output size is an embedding's vocabulary and feeds no other
      layer (the LM head), else the last linear layer named ``lm_head``, ``head``,
      ``classifier``, ``fc``, ``output``, ``embed_out`` or ``logits``;
    - a linear or convolution layer whose fan-in no other layer produces is fed from outside
      the model (a CNN stem, a patch embedding) → embedding;
    - every other ≥ 2-D weight → hidden (conv kernels, attention and MLP matrices, grouped-query
      key/value projections). A parameter used by the model's own code with a leading size-1
      axis (``pos_embed`` (1, N, d)) → embedding.

    With ``base`` (the same model at another width; cheap on the meta device: ``with
    torch.device("meta"): base = make_model(width // 2)``), exactly as the reference µP library
    does: the axes whose size differs scale with width; two (fan-in and fan-out) → hidden, only
    fan-out → embedding, only fan-in → readout (the output layer; another such matrix, e.g. a
    key/value projection with a fixed number of heads, → hidden), none → vector.

    Tied weights (one tensor as input embedding and output layer, as in nanoGPT): the tensor is
    an embedding (it follows the embedding group's lr, weight decay and init std) and the
    readout's µP multiplier goes into the output layer's forward pass (``apply_multipliers``),
    as public µP ports of tied models do; a ``UserWarning`` says so.

    Args:
        model: the model to classify.
        base: the model at another width, or None for the structural rules above.
        patterns: ``{regex: group}`` overrides, searched (``re.search``) in every name of each
            tensor (tied aliases included), checked first. A tensor matched by two patterns, or
            a pattern that matches nothing, is an error. A pattern assigning ``readout`` also
            names the output layer(s).

    Returns:
        ``{name: group}`` in ``named_parameters()`` order.

    Raises:
        InputError: no output layer found (name it with ``patterns`` or pass ``base``); a
            parameter matched by two patterns; a base model that does not match.
    """
    return dict(analyse(model, base, patterns, warn=True).groups)


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


def _group_names(structure: Structure) -> dict[str, list[str]]:
    by: dict[str, list[str]] = {group: [] for group in GROUPS}
    for name, group in structure.groups.items():
        by[group].append(name)
    return by


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
    from .core.muon_shapes import TORCH_CONVENTIONS, convert_lr, convert_weight_decay

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


#: The largest |z| of a standard normal sample as torch draws it, with room: Box–Muller from a
#: uniform of at most 53 random bits gives |z| ≤ √(−2·ln 2⁻⁵³) ≈ 8.6.
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


# ---------------------------------------------------------------------------------------------
# spectrum
# ---------------------------------------------------------------------------------------------


class WeightSpectrum(NamedTuple):
    """One weight of a live model: its group (``hpscale spectrum``'s grouping), shape and
    statistics (σ_top, Frobenius norm, stable rank)."""

    group: str
    shape: tuple[int, ...]
    stats: MatrixStats


def spectrum(model: nn.Module, *, grouper: Grouper | None = None) -> dict[str, WeightSpectrum]:
    """σ_top, Frobenius norm and stable rank of every weight matrix of a live model.

    The same grouping (``hpscale.core.spectrum.Grouper``) and the same core
    (``hpscale.core.sigma.matrix_stats``: the matrix view, conv kernels (out, in, *k) as
    out × in·k, and σ_top by the block Krylov method of ``hpscale spectrum``) as the command on
    a checkpoint, so a training loop logs what the command would report. Every pass stays on
    the weight's device (CUDA included): a bf16/f16 weight is widened to float32 a row chunk at
    a time, never copied whole, and the only device → host copy per pass is the stopping rule's
    two scalars. One record per tensor (the command also splits fused q/k/v and
    stacked experts); vector-like parameters are skipped.

    Args:
        model: any ``nn.Module``; tied tensors are measured once.
        grouper: a ``Grouper`` with your own patterns; default the built-in ones.

    Returns:
        ``{name: WeightSpectrum(group, shape, stats)}``; ``stats.sigma_max`` etc. are None for a
        weight with non-finite entries (``stats.finite`` False).
    """
    grouper = grouper or Grouper()
    out: dict[str, WeightSpectrum] = {}
    with torch.no_grad():
        for name, p in model.named_parameters():
            shape = tuple(int(d) for d in p.shape)
            if as_matrix(shape) is None:
                continue
            out[name] = WeightSpectrum(grouper.group_of(name, shape), shape, matrix_stats(p.detach()))
    return out


# ---------------------------------------------------------------------------------------------
# Coordinate check
# ---------------------------------------------------------------------------------------------


class CoordRecord(NamedTuple):
    """One layer's output at one width and step: ``size`` = mean |x_t| over the entries of the
    output, ``change`` = mean |x_t − x_0| (the same batch at step 0; 0 at step 0)."""

    layer: str
    group: str
    width: int
    step: int
    size: float
    change: float


def loglog_slope(widths: Sequence[float], values: Sequence[float]) -> float | None:
    """Least-squares slope b of log v = a + b·log W over the points given.

    b ≈ 0: the quantity does not grow with width (µP's promise for every layer's activations
    and their change after a few steps; Yang et al. 2022, arXiv 2203.03466, §5 and Figure 5, the
    "coordinate check"); b ≈ ½ or 1: it grows as √W or W (standard parametrization with one lr).
    None when fewer than two widths or a value ≤ 0 or non-finite (it cannot be logged).
    """
    if len(widths) < 2 or any(not (v > 0 and math.isfinite(v)) for v in values):
        return None
    xs = [math.log(w) for w in widths]
    ys = [math.log(v) for v in values]
    x_mean, y_mean = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - x_mean) ** 2 for x in xs)
    return sum((x - x_mean) * (y - y_mean) for x, y in zip(xs, ys, strict=True)) / sxx


@dataclass(frozen=True)
class CoordCheck:
    """The result of ``coord_check``: every layer's output size per width and step.

    ``parametrization`` is ``"µP"`` (with a plan) or ``"standard"`` (one lr for every group);
    ``records`` holds one ``CoordRecord`` per (width, step, layer). ``slopes`` and
    ``change_slopes`` give, per layer, the fitted slope of log size (resp. log change) vs log
    width at the last step (``loglog_slope``): near 0 under a correct µP, growing under standard
    parametrization.
    """

    parametrization: str
    widths: tuple[int, ...]
    steps: int
    records: tuple[CoordRecord, ...]

    def layers(self) -> list[str]:
        """The recorded layers, in the model's module order (the model output is ``(output)``)."""
        return list(dict.fromkeys(r.layer for r in self.records))

    def values(self, layer: str, metric: str = "size", step: int | None = None) -> list[float]:
        """``metric`` (``size`` or ``change``) of ``layer`` at ``step`` (default the last), per width."""
        step = self.steps if step is None else step
        by_width = {r.width: getattr(r, metric) for r in self.records if r.layer == layer and r.step == step}
        return [by_width.get(w, math.nan) for w in self.widths]

    def slope(self, layer: str, metric: str = "size", step: int | None = None) -> float | None:
        """Fitted slope of log ``metric`` vs log width for one layer (None if it cannot be fitted)."""
        return loglog_slope(self.widths, self.values(layer, metric, step))

    @property
    def slopes(self) -> dict[str, float | None]:
        """Layer → slope of log size vs log width at the last step."""
        return {layer: self.slope(layer, "size") for layer in self.layers()}

    @property
    def change_slopes(self) -> dict[str, float | None]:
        """Layer → slope of log change (x_t − x_0) vs log width at the last step."""
        return {layer: self.slope(layer, "change") for layer in self.layers()}

    def table(self, metric: str = "size") -> str:
        """A text table: one row per layer, ``metric`` at the last step per width, and the slope."""
        layers = self.layers()
        group = {r.layer: r.group for r in self.records}
        name_width = max(len("layer"), *(len(layer) for layer in layers))
        head = (f"{'layer':<{name_width}}  {'group':<9}"
                + "".join(f"  {f'W={w}':>9}" for w in self.widths) + f"  {'slope':>6}")
        lines = [f"{self.parametrization}: mean |{'x_t' if metric == 'size' else 'x_t − x_0'}| at step "
                 f"{self.steps}", head]
        for layer in layers:
            slope = self.slope(layer, metric)
            lines.append(
                f"{layer:<{name_width}}  {group[layer]:<9}"
                + "".join(f"  {v:>9.3g}" for v in self.values(layer, metric))
                + f"  {'—' if slope is None else f'{slope:+.2f}':>6}"
            )
        return "\n".join(lines)


def _first_tensor(output: Any) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, tuple | list) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    return None


def _default_loss(output: Any, target: torch.Tensor) -> torch.Tensor:
    logits = getattr(output, "logits", None)  # a Hugging Face ModelOutput (a dict with attributes)
    if not isinstance(logits, torch.Tensor):
        logits = _first_tensor(output)
    if logits is None:
        raise InputError("coord_check: the model's output is not a tensor, a tuple starting with "
                         "one or an object with .logits; pass loss_fn=lambda output, target: …")
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), target.reshape(-1))


def _plan_at(plan: Any, width: int) -> Any:
    """The plan for ``width``: ``plan(width)`` for a function; a transfer of a proxy config (or of
    a ``TransferResult``'s target config) to ``width`` otherwise."""
    from .api import transfer
    from .core.transfer_result import TransferResult

    if isinstance(plan, TransferResult):
        return transfer(plan.to_target_config(), width=width)
    if callable(plan):
        return plan(width)
    is_json = (isinstance(plan, Mapping) and "schema_version" in plan) or (
        isinstance(plan, str | os.PathLike) and str(plan).endswith(".json"))
    if is_json:
        raise InputError(
            "coord_check: plan: a transfer JSON holds the numbers of one width; pass the proxy config "
            "(a path, mapping or RunConfig), a TransferResult, or a function width → plan"
        )
    return transfer(plan, width=width)


def _base_model(make_model: Callable[[int], nn.Module], width: int) -> nn.Module:
    """The model at another width, for ``classify(base=)``: on the meta device when its code allows
    (no memory, no init), else built normally."""
    try:
        with torch.device("meta"):
            return make_model(width)
    except (RuntimeError, NotImplementedError, TypeError, ValueError):
        return make_model(width)


def coord_check(
    make_model: Callable[[int], nn.Module],
    widths: Sequence[int],
    batch: tuple[Any, Any],
    *,
    plan: Any = None,
    steps: int = 3,
    lr: float = 1e-3,
    loss_fn: Callable[[Any, Any], torch.Tensor] | None = None,
    patterns: Mapping[str, str] | None = None,
    seed: int = 0,
    vectors: str = "reset",
) -> CoordCheck:
    """The µP coordinate check: train a few steps at several widths and record how big every
    layer's output is (Yang et al. 2022, arXiv 2203.03466, §5; the reference library's
    ``coord_check``).

    For each width W: ``make_model(W)`` (seeded with ``seed``), then with a ``plan``
    ``optimizers`` (AdamW; Muon + AdamW for a hybrid plan) + ``apply_init`` + ``apply_multipliers``
    with the plan at W (µP), or without
    one, PyTorch's default init and ``torch.optim.AdamW`` with one ``lr`` for every parameter
    (standard parametrization). It runs ``steps + 1`` forward passes on ``batch`` (training mode),
    with an optimizer step after each but the last, and records every leaf module's output and
    the model's output: size = mean |x_t|, change = mean |x_t − x_0|.

    Args:
        make_model: width → a fresh model (build it without dropout: the check compares outputs
            of the same batch). Widths are whatever ``make_model`` and the plan call width
            (``model.width`` of the proxy config, e.g. d_model).
        widths: at least two different widths.
        batch: ``(inputs, target)``; ``model(inputs)`` (``model(*inputs)`` for a tuple).
        plan: None (standard parametrization), a proxy config (path, mapping or ``RunConfig``,
            transferred to each width), a ``TransferResult`` (its target config, transferred to
            each width) or a function width → plan.
        steps: optimizer steps.
        lr: the one learning rate of the standard parametrization (ignored with a plan).
        loss_fn: ``(output, target) → loss``; default cross-entropy of the output's logits (a
            Hugging Face ``ModelOutput``'s ``.logits``, else the output tensor or a tuple's
            first tensor), flattened to (-1, classes), against ``target``.
        patterns: as for ``classify``.
        seed: ``torch.manual_seed`` before each model is built.
        vectors: ``apply_init``'s ``vectors`` under a plan: ``reset`` (default; biases 0, norm
            gains 1, so PyTorch's width-dependent default bias init does not tilt the check) or
            ``keep`` (the model's own init: Gemma's x·(1 + w) norms, Mamba's SSM parameters).

    Returns:
        A ``CoordCheck``: ``.records``, ``.slopes`` (slope of log size vs log width per layer at
        the last step), ``.change_slopes``, ``.table()``; ``hpscale.plots.coord_check.figure``
        draws one or several checks (the ``hpscale[plot]`` extra).

    It keeps the step-0 output of every layer to compute the change: use a small batch.
    """
    ws = sorted({int(w) for w in widths})
    if len(ws) < 2 or ws[0] <= 0:
        raise InputError(f"coord_check: widths: {list(widths)!r}: need at least two different positive widths")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InputError(f"coord_check: steps: {steps!r}: must be a whole number ≥ 1")
    inputs, target = batch
    loss_fn = loss_fn or _default_loss
    records: list[CoordRecord] = []
    for width in ws:
        base = _base_model(make_model, ws[1] if width == ws[0] else ws[0])
        torch.manual_seed(seed)
        model = make_model(width)
        structure = analyse(model, base, patterns)
        handles: list[MultiplierHandle] = []
        optimizer: torch.optim.Optimizer | _Optimizers
        if plan is None:
            optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
        else:
            at = read_plan(_plan_at(plan, width))
            optimizer = _Optimizers(optimizers(model, at, base, patterns=patterns))
            apply_init(model, at, base, patterns=patterns, vectors=vectors)
            handles = apply_multipliers(model, at, base, patterns=patterns)
        records += _run(model, structure, width, steps, optimizer, inputs, target, loss_fn)
        for handle in handles:
            handle.remove()
    return CoordCheck("standard" if plan is None else "µP", tuple(ws), steps, tuple(records))


class _Optimizers:
    """Several optimizers stepped as one (a hybrid plan's Muon and AdamW, in ``coord_check``)."""

    def __init__(self, made: list[torch.optim.Optimizer]) -> None:
        self.made = made

    def zero_grad(self, set_to_none: bool = True) -> None:
        for optimizer in self.made:
            optimizer.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for optimizer in self.made:
            optimizer.step()


def _layer_group(structure: Structure, module: nn.Module) -> str:
    """``readout`` for the output layer (tied or not), else the group of the layer's weight (a
    matrix if it has one), else ``activation``."""
    if any(o.module is module for o in structure.readouts):
        return "readout"
    names = {id(p): n for n, p in structure.params.items()}
    owned = sorted(module.named_parameters(recurse=False), key=lambda item: -item[1].dim())
    for _, p in owned:
        group = structure.groups.get(names.get(id(p), ""))
        if group is not None:
            return group
    return "activation"


def _run(model: nn.Module, structure: Structure, width: int, steps: int, optimizer: Any,
         inputs: Any, target: Any, loss_fn: Callable[[Any, Any], torch.Tensor]) -> list[CoordRecord]:
    leaves = [(name or "(output)", m) for name, m in model.named_modules()
              if not name or not any(True for _ in m.children())]
    first: dict[str, torch.Tensor] = {}
    seen: dict[str, tuple[float, float]] = {}

    def recorder(layer: str) -> Callable[[nn.Module, Any, Any], None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            x = _first_tensor(output)
            if x is None or not x.is_floating_point():
                return
            x = x.detach().float()
            if layer not in first:
                first[layer] = x.clone()
            start = first[layer]
            change = float((x - start).abs().mean()) if start.shape == x.shape else math.nan
            seen[layer] = (float(x.abs().mean()), change)
        return hook

    hooks = [m.register_forward_hook(recorder(layer)) for layer, m in leaves]
    groups = {layer: _layer_group(structure, m) if layer != "(output)" else "output" for layer, m in leaves}
    records = []
    model.train()
    try:
        for step in range(steps + 1):
            seen.clear()
            output = model(*inputs) if isinstance(inputs, tuple) else model(inputs)
            records += [CoordRecord(layer, groups[layer], width, step, size, change)
                        for layer, (size, change) in seen.items()]
            if step < steps:
                optimizer.zero_grad(set_to_none=True)
                loss_fn(output, target).backward()
                optimizer.step()
    finally:
        for hook in hooks:
            hook.remove()
    return records
