"""Muon's shape conventions s(A, B): the per-matrix factor a Muon trainer multiplies its ``lr`` by.

Muon orthogonalises the momentum of a 2-D matrix (Newton–Schulz), so its update O has spectral
norm ‖O‖₂ ≈ 1, and steps ``W ← W·(1 − η·λ) − η·s(A, B)·O`` with A = fan_out (``shape[0]``),
B = fan_in (``shape[1]``) and η the ``lr`` the trainer is given. Trainers disagree on s, so the
same ``lr`` means steps up to 0.2·√max(A, B) apart; ``convert_lr`` turns the lr of one
convention into another's for a given shape. Weight decay uses the *unadjusted* η
(``torch.optim._muon._single_tensor_muon``: ``param.mul_(1 - lr * weight_decay)``), so an lr
conversion changes the per-step shrink unless λ is converted too (``convert_weight_decay``).

Sources read (PyTorch 2.13.0 and NVIDIA-NeMo/Emerging-Optimizers at commit fd77292671), cited
in each function; nothing copied. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..errors import InputError

#: PyTorch's definition of its two conventions.
TORCH_SOURCE = "PyTorch 2.13.0, torch/optim/_muon.py, function _adjust_lr"
#: NVIDIA's definition of its three conventions (``extra_scale_factor`` = 1, its default).
NVIDIA_SOURCE = ("NVIDIA-NeMo/Emerging-Optimizers, emerging_optimizers/orthogonalized_optimizers/muon.py, "
                 "function get_muon_scale_factor, commit fd7729267109a8848709e9406bf19e53e970c3f4")


def original_factor(fan_out: float, fan_in: float) -> float:
    """s(A, B) = √max(1, A/B), A = fan_out, B = fan_in.

    Keller Jordan's Muon (kellerjordan.github.io/posts/muon); PyTorch's default
    ``adjust_lr_fn="original"`` (``TORCH_SOURCE``); NVIDIA's ``scale_mode="shape_scaling"``
    (``NVIDIA_SOURCE``). Depends on the aspect ratio only.
    """
    return math.sqrt(max(1.0, fan_out / fan_in))


def match_rms_adamw_factor(fan_out: float, fan_in: float) -> float:
    """s(A, B) = 0.2·√max(A, B), A = fan_out, B = fan_in.

    Moonlight (Liu et al. 2025, "Muon is Scalable for LLM Training", arXiv 2502.16982, §2.2): the
    0.2 makes the update RMS match AdamW's typical 0.2–0.4 so AdamW's lr and λ can be reused;
    PyTorch's ``adjust_lr_fn="match_rms_adamw"`` (``TORCH_SOURCE``). Grows as √width.
    """
    return 0.2 * math.sqrt(max(fan_out, fan_in))


def spectral_factor(fan_out: float, fan_in: float) -> float:
    """s(A, B) = √max(A, B) (no 0.2), A = fan_out, B = fan_in.

    NVIDIA's default ``scale_mode="spectral"`` with ``extra_scale_factor=1`` (``NVIDIA_SOURCE``,
    which attributes it to K. Jordan and Kimi, arXiv 2502.16982); with ``extra_scale_factor=0.2``
    it equals ``match_rms_adamw``. Grows as √width.
    """
    return math.sqrt(max(fan_out, fan_in))


def unit_rms_norm_factor(fan_out: float, fan_in: float) -> float:
    """s(A, B) = √(A/B), A = fan_out, B = fan_in.

    NVIDIA's ``scale_mode="unit_rms_norm"`` (``NVIDIA_SOURCE``; Scion, Pethick et al. 2025,
    arXiv 2502.07529; Bernstein, "Deriving Muon"): ‖η·s·O‖₂ = η·√(A/B), the spectral condition of
    Yang, Simon & Bernstein (arXiv 2310.17813, Condition 1) with η independent of shape.
    """
    return math.sqrt(fan_out / fan_in)


#: The shape conventions a Muon trainer may use, by name (the config's ``muon.convention``).
SHAPE_FACTORS: dict[str, Callable[[float, float], float]] = {
    "original": original_factor,
    "match_rms_adamw": match_rms_adamw_factor,
    "spectral": spectral_factor,
    "unit_rms_norm": unit_rms_norm_factor,
}
CONVENTIONS: tuple[str, ...] = tuple(SHAPE_FACTORS)
#: The conventions ``torch.optim.Muon`` implements, by its ``adjust_lr_fn`` name.
TORCH_CONVENTIONS: tuple[str, ...] = ("original", "match_rms_adamw")


def check_convention(convention: str, where: str = "muon.convention") -> str:
    """``convention`` if it is known; otherwise ``InputError`` naming ``where`` and the allowed names."""
    if convention not in SHAPE_FACTORS:
        raise InputError(f"{where}: {convention!r}: allowed: {', '.join(CONVENTIONS)}")
    return convention


def shape_factor(convention: str, fan_out: float, fan_in: float) -> float:
    """s(A, B) of ``convention`` for a (fan_out, fan_in) matrix; unknown names and shapes that are
    not ≥ 1 in both dimensions raise ``InputError``."""
    check_convention(convention)
    if not (1 <= fan_out < math.inf and 1 <= fan_in < math.inf):
        raise InputError(f"matrix shape ({fan_out:g}, {fan_in:g}): both dimensions must be ≥ 1")
    return SHAPE_FACTORS[convention](fan_out, fan_in)


def convert_lr(lr: float, fan_out: float, fan_in: float, source: str, target: str) -> float:
    """η_target = η_source · s_source(A, B) / s_target(A, B): the lr a trainer using convention
    ``target`` must be given to take the same step η·s(A, B)·O on a (fan_out, fan_in) matrix as a
    trainer using ``source`` takes with ``lr``. Exact per shape (the orthogonalised O does not
    depend on the convention)."""
    return lr * shape_factor(source, fan_out, fan_in) / shape_factor(target, fan_out, fan_in)


def convert_weight_decay(lr: float, weight_decay: float, converted_lr: float) -> float:
    """λ' = λ·η/η': the weight decay that keeps the per-step shrink 1 − η·λ after the lr changed
    from η to η' (both trainers decay with the unadjusted lr)."""
    return weight_decay * lr / converted_lr
