"""Which µP group a weight belongs to: one rule, used by ``hpscale.torch`` and ``hpscale spectrum``.

Pure (no I/O, no printing). Tensor Programs V (Yang et al. 2022, arXiv 2203.03466, Table 3) and
the reference µP library (``mup``, ``mup/shape.py`` ``set_base_shapes``, ``mup/infshape.py``
``InfShape``) sort a weight by which of its axes grow with width:

| fan-out scales | fan-in scales | group |
|---|---|---|
| yes | yes | hidden |
| yes | no | embedding (an input projection: a token table, a patch embedding) |
| no | yes | readout if it is the model's output layer, else hidden |
| no | no | vector (biases, norm gains, any fixed-size tensor) |

The third row is where tools differ. An inner matrix with a fixed output (a MoE router, Qwen2-MoE's
``shared_expert_gate``, a key/value projection with a fixed number of heads) has a width-scaled
fan-in: under Adam its update Δy = ΔW·x sums fan_in correlated terms, so its lr scales as
1/fan_in, as for any hidden matrix (Table 3). Only the model's output layer gets µP's readout
treatment (the 1/m multiplier or 1/m lr). So a MoE router is ``hidden`` both in
``hpscale.torch.classify`` and in ``hpscale spectrum``.

The names below are those of output layers and routers in common code; both the live-model
classifier and the checkpoint grouping read them from here.
"""

from __future__ import annotations

from collections.abc import Sequence

OUTPUT_NAMES: frozenset[str] = frozenset({
    "lm_head", "embed_out", "output", "head", "classifier", "fc", "logits", "score", "qa_outputs",
})
"""Last name component of output layers: nanoGPT/LLaMA ``lm_head``, GPT-NeoX ``embed_out``,
Meta-LLaMA ``output``, timm/ViT ``head``, ``classifier`` (BERT, ViT in transformers),
torchvision ``fc``, transformers' reward/sequence-classification ``score`` and question-answering
``qa_outputs``."""

ROUTER_NAMES: frozenset[str] = frozenset({"router"})
"""Last name component of MoE routers; ``gate`` directly under a MoE block counts too
(:func:`is_router`)."""

MOE_BLOCKS: frozenset[str] = frozenset({"mlp", "block_sparse_moe", "moe", "feed_forward", "ffn", "sparse_moe"})
"""Name components of MoE blocks in common code (Mixtral ``block_sparse_moe``, Qwen2-MoE ``mlp``)."""


def is_router(module: str, parent: str) -> bool:
    """Whether a weight named ``…parent.module.weight`` is a MoE router (lower-case components)."""
    return module in ROUTER_NAMES or parent in ROUTER_NAMES or (module == "gate" and parent in MOE_BLOCKS)


def is_output_row(name: str, shape: Sequence[int]) -> bool:
    """Whether a tensor named ``….score.weight`` (a name in :data:`OUTPUT_NAMES`) of shape
    (1, d), d > 1, is an output layer with one output: a reward model's ``score`` stored as
    torch's (out, in). It is a matrix, the readout, although only one of its axes exceeds 1;
    ``hpscale.torch`` sees the same from the layer (``nn.Linear(d, 1)``)."""
    parts = name.lower().split(".")
    return (len(shape) == 2 and int(shape[0]) == 1 and int(shape[1]) > 1 and len(parts) >= 2
            and parts[-1] == "weight" and parts[-2] in OUTPUT_NAMES)


def vector_like(shape: Sequence[int]) -> bool:
    """At most one axis of size > 1: a bias, a norm gain, a scalar (no fan-in and fan-out)."""
    return sum(1 for d in shape if d != 1) <= 1


def matrix_group(fan_out_scales: bool, fan_in_scales: bool, is_output: bool) -> str:
    """The µP group of a weight from which of its axes scale with width (the table above).

    ``is_output``: the layer is the model's output layer (its output is the model's output).
    """
    if fan_out_scales and fan_in_scales:
        return "hidden"
    if fan_out_scales:
        return "embedding"
    if fan_in_scales:
        return "readout" if is_output else "hidden"
    return "vector"
