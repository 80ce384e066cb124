"""``spectrum``: σ_top, Frobenius norm and stable rank of the weights of a live model, with the
grouping and core of ``hpscale spectrum``."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ..core.spectrum import Grouper, MatrixStats, as_matrix, matrix_stats


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
    a checkpoint, so a training loop logs what the command would report. On an accelerator
    every pass stays on the weight's device: a bf16/f16 weight is widened to float32 a row chunk
    at a time, never copied whole, and the only device → host copy per pass is the stopping
    rule's scalars. A weight on the CPU is measured by the command's numpy row tiles, sharing
    its memory (torch's CPU products measured ~10× slower: ``hpscale.core.sigma._on_host``). One record per tensor (the command also splits fused q/k/v and
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
