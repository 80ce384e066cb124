"""Hybrid (Muon + AdamW) plans in a trainer's file: the Muon group in the trainer's own shape
convention. A helper of the exporters, not an output format (``EXPORTERS`` lists those).

A Muon trainer multiplies the ``lr`` it is given by its shape factor s(A, B) per matrix
(``hpscale.core.muon_shapes``), so the plan's Muon lr — stated in the plan's (target) convention
— becomes the trainer's lr by ``convert_lr`` for each of the trainer's hidden matrix shapes. The
trainer takes one lr for all of them: where the converted values agree for every shape the file
is exact; where they differ (e.g. ``match_rms_adamw`` → ``original`` on d×4d vs d×d) the file
carries the reference shape's value (the first shape the exporter lists, the width × width
matrices), says so in a note with every shape's value, and leaves the lr out of ``check``.
Weight decay is converted with ``convert_weight_decay`` (λ' = λ·η/η'): every trainer here decays
with the lr it is given, so the per-step shrink η·λ stays exact for every shape.

An exporter that writes Muon settings defines ``muon_convention(plan) → str`` (the convention its
trainer's Muon uses for this plan) and ``muon_shapes(plan) → [(fan_out, fan_in), …]`` (its hidden
matrices, the reference shape first); one without them refuses a hybrid plan in one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from ..core import muon_shapes as S
from .common import TrainerPlan, _clean

if TYPE_CHECKING:
    from ..core.transfer_result import TransferResult


def other_optimizer(result: TransferResult) -> tuple[str, str] | None:
    """(group, optimizer) of a group trained by neither AdamW nor Muon, which no exporter
    writes; ``None`` if there is none."""
    for group, name in result.optimizers.items():
        if name not in ("adamw", "muon"):
            return group, name
    return None


def in_convention(plan: TrainerPlan, convention: str, shapes: Sequence[tuple[int, int]],
                  trainer: str) -> tuple[TrainerPlan, list[str], tuple[str, ...]]:
    """``plan`` with its Muon group's lr and λ in ``convention`` (the trainer's), converted at
    ``shapes[0]``; the notes where the conversion differs by shape; the fields such a file cannot
    carry exactly (left out of ``check``).

    η' = η·s_plan(A, B)/s_trainer(A, B) per shape (``muon_shapes.convert_lr``); λ' = λ·η/η'
    (``muon_shapes.convert_weight_decay``), which keeps the shrink η·λ of every matrix.
    """
    muon = plan.muon
    assert muon is not None and shapes
    source = muon.convention
    group = plan.groups[muon.group]
    per_shape = [S.convert_lr(group.lr, out, inp, source, convention) for out, inp in shapes]
    lr = per_shape[0]
    converted = group._replace(lr=_clean(lr), weight_decay=_clean(S.convert_weight_decay(group.lr, group.weight_decay,
                                                                                          lr)))
    new = replace(plan, groups={**plan.groups, muon.group: converted},
                  muon=muon._replace(convention=convention))
    if all(abs(value - lr) <= 1e-9 * abs(lr) for value in per_shape):
        return new, [], ()
    values = ", ".join(f"{out}×{inp} {value:.6g}" for (out, inp), value in zip(shapes, per_shape, strict=True))
    off = ", ".join(f"the {out}×{inp} matrices take ×{lr / value:.4g}" for (out, inp), value
                    in zip(shapes, per_shape, strict=True) if abs(value - lr) > 1e-9 * abs(lr))
    note = (f"{trainer} cannot express param_groups.{muon.group}.lr exactly: its Muon takes one lr for every "
            f"matrix with the {convention} shape factor, and the plan's {source} lr converts by shape to "
            f"{values}; this file writes {lr:.6g} (the {shapes[0][0]}×{shapes[0][1]} matrices'), so {off} "
            f"the plan's step; train the plan's {source} convention, or get every matrix's lr with "
            "hpscale.torch.optimizers(model, plan)")
    return new, [note], (f"param_groups.{muon.group}.lr",)
