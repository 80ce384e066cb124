"""Grouping of a checkpoint's tensors: group, sublayer role, layer, and how to cut fused tensors.

Pure (no I/O, no printing); part of ``hpscale.core.spectrum`` (see ``hpscale.core.spectrum`` for
the map of its modules). ``Grouper().place(name, shape)`` → :class:`Placement`;
:func:`tensor_matrices` cuts one tensor into the matrices it holds.

Why one module of ~410 lines: the name tables and :func:`_by_name` are one decision list read
top to bottom; splitting them would scatter the order the rules are tried in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import InputError
from .namepattern import NamePattern
from .roles import OUTPUT_NAMES, is_router, matrix_group
from .sigma import as_matrix
from .sigma_passes import is_torch

GROUPS: tuple[str, ...] = ("embedding", "hidden", "readout", "vector")
"""Groups a user may assign. ``unmatched`` is reported too but is never assignable."""

UNMATCHED = "unmatched"

MAX_NAME_CHARS = 1024
"""Longest tensor name accepted (real names are < 150 characters); bounds grouping time."""


@dataclass(frozen=True)
class ModelInfo:
    """Width, depth, vocabulary, heads and tied embeddings of a model, if known.

    Read from a Hugging Face ``config.json`` by ``hpscale.checkpoints`` (``source`` says so),
    or inferred from the tensor shapes (:meth:`infer`; then only ``width``).
    """

    width: int | None = None
    depth: int | None = None
    vocab_size: int | None = None
    num_heads: int | None = None
    num_kv_heads: int | None = None
    head_dim: int | None = None
    tied: bool | None = None
    model_type: str | None = None
    source: str = "none"

    @staticmethod
    def infer(shapes: Iterable[Sequence[int]]) -> ModelInfo:
        """The width as the most common axis length among the matrices (d appears in nearly
        every matrix of a transformer: d×d, d×4d, vocab×d, …); ties go to the larger."""
        counts: dict[int, int] = {}
        for shape in shapes:
            dims = [int(d) for d in shape if int(d) != 1]
            if len(dims) >= 2:
                for d in set(dims):
                    counts[d] = counts.get(d, 0) + 1
        if not counts:
            return ModelInfo(source="tensor shapes")
        width = max(counts, key=lambda d: (counts[d], d))
        return ModelInfo(width=width, source="tensor shapes")

    def attention_sizes(self) -> tuple[int, int] | None:
        """(q rows, k/v rows) of a fused projection: heads·head_dim and kv_heads·head_dim."""
        if self.num_heads is None or self.width is None:
            return None
        head = self.head_dim or self.width // self.num_heads
        kv = self.num_kv_heads or self.num_heads
        return self.num_heads * head, kv * head


# ----------------------------------------------------------------------------------------
# Grouping
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """How a fused tensor is cut along ``axis`` into named matrices.

    The axis holds ``heads`` repeats of the parts, each of ``sizes`` (in order of
    ``labels``): heads = 1 for contiguous blocks (GPT-2 ``c_attn`` columns q|k|v, timm
    ``qkv`` rows), heads = n_heads for GPT-NeoX ``query_key_value`` whose rows are laid out
    per head as (head, {q,k,v}, head_dim).
    """

    axis: int
    labels: tuple[str, ...]
    sizes: tuple[int, ...]
    heads: int = 1


@dataclass(frozen=True)
class Placement:
    """What grouping says about one tensor.

    - ``group``: embedding / hidden / readout / vector / unmatched;
    - ``role``: sublayer type (q, k, v, o, qkv, up, gate, down, gate_up, tok_embed, pos_embed,
      readout, router, conv, …; "(experts)" is appended for routed MoE experts);
    - ``layer``: the block index (the first integer in the name) and ``stack`` the name up to
      it (``model.layers``); None outside blocks;
    - ``split``: how a fused tensor is cut (None: one matrix); ``experts``: axis 0 stacks one
      matrix per expert; ``transposed``: stored (in, out), as GPT-2's ``Conv1D``;
    - ``grouped_by``: "pattern" (user ``--group``), "name", "shape" (the heuristic),
      "vector" (≤ 1 non-unit axis);
    - ``tied``: the input embedding also serves as the readout (tied embeddings).
    """

    group: str
    role: str
    layer: int | None = None
    stack: str | None = None
    indices: tuple[int, ...] = ()
    split: Split | None = None
    experts: bool = False
    transposed: bool = False
    grouped_by: str = "name"
    tied: bool = False


_PARAM_SUFFIXES = frozenset({"weight", "bias", "scale", "gamma", "beta", "g", "b", "w", "kernel"})
_ATTN = frozenset({"attn", "attention", "self_attn", "self_attention", "selfattention", "self",
                   "encdecattention", "cross_attn", "crossattention", "mha", "mixer_attn"})
_CONV1D_TYPES = frozenset({"gpt2", "openai-gpt", "imagegpt", "decision_transformer"})
_HEAD_INTERLEAVED_TYPES = frozenset({"gpt_neox", "bloom", "gpt_neox_japanese"})

_TOK = frozenset({"wte", "embed_tokens", "tok_embeddings", "word_embeddings", "embed_in",
                  "shared", "token_embedding", "tok_embed", "embedding", "embeddings"})
_POS = frozenset({"wpe", "position_embeddings", "pos_embed", "position_embedding",
                  "embed_positions", "pos_emb"})
_TOKENS = frozenset({"cls_token", "class_embedding", "dist_token", "mask_token", "reg_token",
                     "register_tokens"})
_READOUT_TOP = frozenset({"output", "head", "fc", "ff_out", "decoder", "heads"})  # outside blocks only
_READOUT = OUTPUT_NAMES - _READOUT_TOP
_Q = frozenset({"q_proj", "wq", "query", "q_lin", "to_q"})
_K = frozenset({"k_proj", "wk", "key", "k_lin", "to_k"})
_V = frozenset({"v_proj", "wv", "value", "v_lin", "to_v"})
_O = frozenset({"o_proj", "out_lin", "attn_out", "to_out"})
_QKV = frozenset({"c_attn", "query_key_value", "qkv", "qkv_proj", "att_proj", "wqkv", "w_pack"})
_UP = frozenset({"up_proj", "c_fc", "fc1", "fc_in", "dense_h_to_4h", "wi", "wi_1", "lin1"})
_GATE = frozenset({"gate_proj", "wi_0"})
_DOWN = frozenset({"down_proj", "fc2", "fc_out", "dense_4h_to_h", "lin2"})


def _components(name: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Name components without the parameter suffix, and (position, value) of integer ones."""
    comps = name.split(".")
    if len(comps) > 1 and comps[-1].lower() in _PARAM_SUFFIXES:
        comps = comps[:-1]
    numbers = [(i, int(c)) for i, c in enumerate(comps) if c.isdigit() and len(c) < 10]
    return comps, numbers


def _third_split(shape: Sequence[int], axis: int, labels: tuple[str, ...]) -> Split | None:
    size = int(shape[axis])
    parts = len(labels)
    if size % parts:
        return None
    return Split(axis, labels, (size // parts,) * parts)


def _qkv_split(module: str, shape: Sequence[int], info: ModelInfo) -> tuple[Split | None, bool]:
    """(split, transposed) of a fused q/k/v projection; (None, …) when its layout is unknown."""
    labels = ("q", "k", "v")
    rows, cols = int(shape[0]), int(shape[1])
    if module == "c_attn" and cols == 3 * rows and (info.model_type in _CONV1D_TYPES or info.model_type is None):
        return _third_split(shape, 1, labels), True  # GPT-2 Conv1D: (in, out), columns q|k|v
    if module == "query_key_value":
        if info.model_type in _HEAD_INTERLEAVED_TYPES and info.num_heads and rows % (3 * info.num_heads) == 0:
            head = rows // (3 * info.num_heads)
            return Split(0, labels, (head, head, head), info.num_heads), False
        return None, False  # per-head (NeoX/Bloom) or grouped (Falcon) layout: not cut blind
    sizes = info.attention_sizes()
    if sizes is not None and rows == sizes[0] + 2 * sizes[1] and sizes[0] != sizes[1]:
        return Split(0, labels, (sizes[0], sizes[1], sizes[1])), False  # GQA: [q; k; v]
    if rows == 3 * cols:
        return _third_split(shape, 0, labels), False
    return None, False


def _by_name(comps: list[str], shape: Sequence[int], info: ModelInfo, in_block: bool,
             expert_stack: bool) -> tuple[str, str, Split | None, bool] | None:
    """(group, role, split, transposed) from the name's last components, or None."""
    module = comps[-1].lower()
    parent = comps[-2].lower() if len(comps) >= 2 else ""
    grand = comps[-3].lower() if len(comps) >= 3 else ""
    in_attn = parent in _ATTN or grand in _ATTN
    two_d = len(shape) == 2
    if module in _TOK:
        return "embedding", "tok_embed", None, False
    if module in _POS:
        return "embedding", "pos_embed", None, False
    if module == "token_type_embeddings":
        return "embedding", "type_embed", None, False
    if module in _TOKENS:
        return "embedding", "token", None, False
    if module in ("patch_embedding", "patch_embed") or (module == "proj" and parent in ("patch_embed", "patch_embedding")):
        return "embedding", "patch_embed", None, False
    if module in _READOUT or (module in _READOUT_TOP and not in_block):
        return "readout", "readout", None, False
    if is_router(module, parent):  # fan-in d, a fixed number of experts, not the output layer
        return matrix_group(fan_out_scales=False, fan_in_scales=True, is_output=False), "router", None, False
    if module in _Q or (module == "q" and in_attn):
        return "hidden", "q", None, False
    if module in _K or (module == "k" and in_attn):
        return "hidden", "k", None, False
    if module in _V or (module == "v" and in_attn):
        return "hidden", "v", None, False
    if module in _QKV and two_d:
        split, transposed = _qkv_split(module, shape, info)
        return "hidden", "qkv", split, transposed
    if module in _QKV:
        return "hidden", "qkv", None, False
    conv1d = info.model_type in _CONV1D_TYPES or info.model_type is None
    if module in _O or (module == "o" and in_attn) or (module == "out_proj" and in_attn):
        return "hidden", "o", None, False
    if module in ("dense", "proj", "c_proj", "wo") and (parent in _ATTN or (parent == "output" and grand in _ATTN)):
        return "hidden", "o", None, module == "c_proj" and conv1d
    if module == "dense" and parent == "intermediate":
        return "hidden", "up", None, False
    if module == "dense" and parent == "output":
        return "hidden", "down", None, False
    if module == "dense" and parent in ("pooler", "transform"):
        return "hidden", parent, None, False
    if module in ("c_proj", "wo", "ff_out") and in_block:
        return "hidden", "down", None, module == "c_proj" and conv1d
    qwen = info.model_type == "qwen"
    if module in ("w1", "w2", "w3"):  # Meta LLaMA / Mixtral: w1 gate, w3 up, w2 down; Qwen-1: w1 up, w2 gate
        role = {"w1": "up" if qwen else "gate", "w2": "gate" if qwen else "down", "w3": "up"}[module]
        return "hidden", role, None, False
    if module in _UP:
        return "hidden", "up", None, module == "c_fc" and conv1d
    if module in _GATE:
        return "hidden", "gate", None, False
    if module in _DOWN:
        return "hidden", "down", None, False
    if module == "gate_up_proj":
        if two_d and not expert_stack:
            return "hidden", "gate_up", _third_split(shape, 0, ("gate", "up")), False  # Phi-3
        return "hidden", "gate_up", None, False
    if module == "ff_proj" and two_d:  # OLMo-1: rows [up; gate] (x, gate = chunk(2))
        return "hidden", "up_gate", _third_split(shape, 0, ("up", "gate")), False
    if module.startswith("conv") or parent.startswith("conv"):
        return "hidden", "conv", None, False
    return None


def _by_shape(name: str, shape2: tuple[int, int], info: ModelInfo) -> tuple[str, str] | None:
    """The shape heuristic for names no rule knows; None when it cannot tell.

    With width d (config.json, or :meth:`ModelInfo.infer`) and vocabulary V: an axis is
    width-like if it lies in [max(d/16, 16), 64·d] and is not V. Stored as (out, in) (torch
    ``Linear``): a V axis → embedding (or readout if the name says head/out/logits); both
    axes width-like → hidden; only the input axis → readout (fan-in d, like an output
    layer); only the output axis → embedding (fan-out d, like an input projection).
    """
    d, vocab = info.width, info.vocab_size
    if d is None:
        return None
    low = name.lower()
    if vocab is not None and vocab in shape2:
        if any(word in low for word in ("head", "out", "logit", "decoder", "classifier")):
            return "readout", "readout"
        return "embedding", "tok_embed"

    def width_like(x: int) -> bool:
        return max(d / 16, 16) <= x <= 64 * d and x != vocab

    out_w, in_w = width_like(shape2[0]), width_like(shape2[1])
    if out_w and in_w:
        return "hidden", "other"
    if in_w:
        return "readout", "other"
    if out_w:
        return "embedding", "other"
    return None


@dataclass(frozen=True)
class Grouper:
    """Assigns each tensor a group and a sublayer role.

    Order: (1) user ``GROUP=REGEX`` patterns on the full name, first match wins (the role
    still comes from the name when known); (2) a tensor with at most one non-size-1 axis is
    ``vector`` whatever its name — it has no σ_top; (3) the built-in names of the families
    people train: LLaMA/Mistral/Qwen/Gemma/OLMo-2 (``model.layers.N.self_attn.q_proj``,
    ``mlp.gate_proj``, ``lm_head``), GPT-2 (``transformer.h.N.attn.c_attn``, ``Conv1D``
    stored (in, out), q|k|v fused in columns), GPT-NeoX/Pythia (``query_key_value`` per head,
    ``embed_out``), OLMo-1 (``att_proj``, ``ff_proj``, ``ff_out``), Phi (``dense``, ``fc1``,
    Phi-3 ``qkv_proj``/``gate_up_proj``), BERT (``attention.self.query``,
    ``intermediate.dense``, ``output.dense``), timm ViT (``blocks.N.attn.qkv``, ``mlp.fc1``,
    ``patch_embed.proj``, ``head``), Meta LLaMA (``wq``, ``w1``…), T5, MoE experts and
    routers; (4) the shape heuristic (:func:`_by_shape`) with a note; (5) ``unmatched``.
    Matching is by name components (split on "."), linear in the name's length; user
    patterns run on a linear-time matcher (``hpscale.core.namepattern``).
    """

    user: tuple[tuple[str, NamePattern], ...] = ()
    model: ModelInfo = field(default_factory=ModelInfo)

    @classmethod
    def from_specs(cls, specs: Iterable[str], option: str = "group", model: ModelInfo | None = None) -> Grouper:
        """Parse ``GROUP=REGEX`` strings; raise InputError (one line) on a bad one."""
        user: list[tuple[str, NamePattern]] = []
        for spec in specs:
            group, sep, pattern = spec.partition("=")
            group = group.strip()
            if not sep or not pattern:
                raise InputError.of(option, f": {spec!r}: expected GROUP=REGEX")
            if group not in GROUPS:
                raise InputError.of(option, f": group {group!r}: allowed {', '.join(GROUPS)}")
            try:
                user.append((group, NamePattern(pattern)))
            except ValueError as exc:
                raise InputError.of(option, f": regex {pattern!r}: {exc}") from None
        return cls(user=tuple(user), model=model or ModelInfo())

    def with_model(self, model: ModelInfo) -> Grouper:
        return replace(self, model=model)

    def for_tensors(self, shapes: Iterable[Sequence[int]], model: ModelInfo | None = None) -> Grouper:
        """This grouper with ``model`` (e.g. from config.json), its missing width inferred
        from ``shapes`` (:meth:`ModelInfo.infer`)."""
        info = model or self.model
        if info.width is None:
            inferred = ModelInfo.infer(shapes)
            info = replace(info, width=inferred.width,
                           source=info.source if info.source != "none" else inferred.source)
        return replace(self, model=info)

    def group_of(self, name: str, shape: Sequence[int]) -> str:
        """The group of one tensor (see :meth:`place` for the rest)."""
        return self.place(name, shape).group

    def place(self, name: str, shape: Sequence[int]) -> Placement:
        """Group, role, layer and matrix layout of one tensor."""
        if len(name) > MAX_NAME_CHARS:
            raise InputError(f"tensor name of {len(name)} characters: at most {MAX_NAME_CHARS} accepted")
        comps, numbers = _components(name)
        layer = numbers[0][1] if numbers else None
        stack = ".".join(comps[:numbers[0][0]]) if numbers else None
        indices = tuple(n for _, n in numbers)
        lowered = [c.lower() for c in comps]
        experts_at = lowered.index("experts") if "experts" in lowered else -1
        expert_stack = experts_at >= 0 and len(shape) == 3 and not any(i > experts_at for i, _ in numbers)
        in_block = layer is not None
        user_group = next((g for g, pat in self.user if pat.search(name)), None)
        last = name.rsplit(".", 1)[-1]
        if (as_matrix(shape) is None and not expert_stack) or last.endswith("bias"):
            # a bias is never a matrix (GPT-2 also stores its causal mask as ``attn.bias``)
            return Placement(user_group or "vector", "vector", layer, stack, indices,
                             grouped_by="pattern" if user_group else "vector")
        found = _by_name(comps, shape, self.model, in_block, expert_stack)
        if found is not None:
            group, role, split, transposed = found
            grouped_by = "name"
        else:
            split, transposed = None, False
            shape2 = tuple(int(d) for d in shape[1:]) if expert_stack else as_matrix(shape)
            guess = _by_shape(name, as_matrix(shape2) or (1, 1), self.model)  # type: ignore[arg-type]
            group, role = guess if guess is not None else (UNMATCHED, "other")
            grouped_by = "shape" if guess is not None else "none"
            if role == "other":
                role = comps[-1] if not comps[-1].isdigit() else "other"
        if experts_at >= 0 and group == "hidden":
            role = f"{role} (experts)"
        if user_group is not None:
            group, grouped_by = user_group, "pattern"
        return Placement(group, role, layer, stack, indices, split, expert_stack, transposed, grouped_by)


def tensor_matrices(array: Any, placement: Placement) -> list[tuple[str | None, int | None, Any]]:
    """The matrices one tensor holds: [(part label or None, expert index or None, 2-D array)].

    Stacked experts (axis 0) give one matrix per expert; a ``Split`` cuts a fused
    projection (row blocks are views; column blocks and per-head parts are copies, at most
    the part's size). Works on numpy arrays and torch tensors.
    """
    if placement.experts:
        out: list[tuple[str | None, int | None, Any]] = []
        for e in range(int(array.shape[0])):
            for label, _, m in tensor_matrices(array[e], replace(placement, experts=False)):
                out.append((label, e, m))
        return out
    split = placement.split
    shape2 = as_matrix(tuple(int(d) for d in array.shape))
    if shape2 is None:
        return []
    if split is None or len(array.shape) != 2:
        return [(None, None, array.reshape(shape2))]
    total = sum(split.sizes)
    if int(array.shape[split.axis]) != total * split.heads:
        return [(None, None, array.reshape(shape2))]  # layout does not fit: keep it whole
    parts: list[tuple[str | None, int | None, Any]] = []
    offset = 0
    for label, size in zip(split.labels, split.sizes, strict=True):
        if split.heads > 1:
            cols = int(array.shape[1])
            view = array.reshape(split.heads, total, cols)[:, offset:offset + size, :]
            part = view.reshape(split.heads * size, cols)
        elif split.axis == 0:
            part = array[offset:offset + size]
        else:
            part = array[:, offset:offset + size]
            part = part.contiguous() if is_torch(part) else np.ascontiguousarray(part)
        parts.append((label, None, part))
        offset += size
    return parts
