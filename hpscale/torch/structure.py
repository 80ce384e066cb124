"""Which tensor is what: every parameter's layout, owners and group, and the model's output layer.

``analyse`` builds a ``Structure`` (every name a tensor is registered under, the output layer(s),
each tensor's group); ``classify`` is its public face. The groups follow Tensor Programs V (Yang
et al. 2022, arXiv 2203.03466, Table 3) and the reference µP library (``mup``): ``embedding``
(one width-scaled dim, the fan-out), ``hidden`` (two), ``readout`` (one, the fan-in; the output
layer) and ``vector`` (biases, norm gains). Everything else in ``hpscale.torch`` builds on it.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from ..core.roles import OUTPUT_NAMES, matrix_group, vector_like
from ..core.rules import GROUPS
from ..core.spectrum import Grouper
from ..errors import InputError

#: Names (last component) of output layers in common code (``hpscale.core.roles.OUTPUT_NAMES``,
#: shared with ``hpscale spectrum``): ``lm_head``, ``embed_out``, ``output``, ``head``,
#: ``classifier``, ``fc``, ``logits``, transformers' ``score`` and ``qa_outputs``.
READOUT_NAMES = OUTPUT_NAMES


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


def _group_names(structure: Structure) -> dict[str, list[str]]:
    by: dict[str, list[str]] = {group: [] for group in GROUPS}
    for name, group in structure.groups.items():
        by[group].append(name)
    return by
