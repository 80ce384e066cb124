"""AdamW as an exponential moving average: its timescales τ_iter, τ_epoch and the weight decay
that keeps them, plus the conversion between the coupled and independent weight-decay conventions.

Wang & Aitchison 2024, "How to set AdamW's weight decay as you scale model and dataset size",
arXiv 2405.13698 (τ_iter = 1/(η·λ), τ_epoch = τ_iter/M); Loshchilov & Hutter 2019, arXiv
1711.05101 (the independent convention). (``hpscale.core.timescale`` is the ``timescale``
command's core, which reads these rules.) Symbols and conventions: ``hpscale.core.rules``.
"""

from __future__ import annotations

import math

from .registry import _non_negative, _positive, rule

_WA = "Wang & Aitchison 2024, How to set AdamW's weight decay as you scale model and dataset " \
    "size, arXiv 2405.13698 (τ_iter = 1/(ηλ), τ_epoch = τ_iter/M)"


@rule(
    "tau-iter",
    title="AdamW EMA timescale in iterations",
    invariant="(definition) the number of recent updates the weights average over",
    convention="coupled λ (torch.optim.AdamW); for independent λ_ind, τ_iter = 1/λ_ind",
    validity="λ > 0 (λ = 0 means an infinite timescale: no forgetting)",
    reference=_WA,
)
def tau_iter(lr: float, weight_decay: float) -> float:
    """τ_iter = 1 / (η·λ), in optimizer steps (coupled convention); ∞ when λ = 0.

    Symbols: η = learning rate, λ = coupled weight decay.
    """
    _positive("lr", lr)
    _non_negative("weight_decay", weight_decay)
    if weight_decay == 0:
        return math.inf
    steps = 1.0 / lr / weight_decay  # step by step: η·λ may underflow where 1/(η·λ) is finite
    if not steps < math.inf:
        raise ValueError(f"1/(η·λ) overflows for η = {lr!r}, λ = {weight_decay!r}")
    return steps


@rule(
    "tau-epoch",
    labels={"constant": "constant τ"},
    title="AdamW EMA timescale in epochs",
    invariant="the optimal τ_epoch is roughly constant across model and dataset size",
    convention="coupled λ (torch.optim.AdamW)",
    validity="λ > 0; τ_epoch ≪ 1 forgets data, τ_epoch ≫ run length leaves decay inactive",
    reference=_WA,
)
def tau_epoch(lr: float, weight_decay: float, batch_size: float, dataset_size: float) -> float:
    """τ_epoch = τ_iter / M = B / (η·λ·N), with M = N/B iterations per epoch; ∞ when λ = 0.

    Symbols: η = learning rate, λ = coupled weight decay, B = batch size per step,
    N = dataset size per epoch (same unit as B).
    """
    _positive("batch_size", batch_size)
    _positive("dataset_size", dataset_size)
    return tau_iter(lr, weight_decay) * batch_size / dataset_size


@rule(
    "tau-epoch-inverse",
    title="Weight decay (or LR) that gives a chosen τ_epoch",
    invariant="τ_epoch is the given value",
    convention="coupled λ (torch.optim.AdamW)",
    validity="τ_epoch > 0",
    reference=_WA,
)
def weight_decay_for_tau_epoch(
    lr: float, tau_epoch_target: float, batch_size: float, dataset_size: float
) -> float:
    """λ = B / (η·τ_epoch·N). By the symmetry of η·λ, the LR for a given λ is the same
    expression with η and λ swapped: ``weight_decay_for_tau_epoch(λ, τ, B, N)`` returns η.

    Symbols as in ``tau_epoch``.
    """
    for name, value in (("lr", lr), ("tau_epoch", tau_epoch_target),
                        ("batch_size", batch_size), ("dataset_size", dataset_size)):
        _positive(name, value)
    # Divide step by step: the product η·τ·N can underflow to 0 (or overflow) where the
    # quotient is still representable.
    solved = batch_size / dataset_size / lr / tau_epoch_target
    if not 0 < solved < math.inf:
        raise ValueError(f"B/(η·τ_epoch·N) = {solved!r} is outside the floating-point range")
    return solved


@rule(
    "timescale-wd",
    axis="dataset", hp=("weight_decay",), symbols={"": "1/ν", "depth": "1/η-depth", "horizon": "1/η-horizon"},
    labels={"constant": "constant τ"},
    title="Timescale weight-decay rule (keep τ_epoch per group)",
    invariant="τ_epoch = B/(η·λ·N) of every group; under µP also τ_iter = 1/(η·λ)",
    convention="coupled λ; for independent λ_ind = η·λ the rule reads λ_ind × κ/ν",
    validity="any positive ratios; the paper validates width and dataset size",
    reference=_WA + "; the mup library's MuAdamW scales weight_decay by width_mult likewise",
)
def timescale_weight_decay_factor(lr_ratio: float, batch_ratio: float, dataset_ratio: float) -> float:
    """λ_target / λ_proxy = (η_proxy / η_target) · κ / ν, which keeps τ_epoch = B/(η·λ·N).

    Under µP (hidden η × 1/m) this gives hidden λ × m; with the square-root batch rule
    (η × √κ) the batch part is λ × √κ; with more data at fixed η and B it is λ × 1/ν.

    Symbols: lr_ratio = η_target/η_proxy, κ = batch ratio, ν = dataset ratio.
    """
    for name, value in (("lr ratio", lr_ratio), ("κ", batch_ratio), ("ν", dataset_ratio)):
        _positive(name, value)
    return batch_ratio / (lr_ratio * dataset_ratio)


@rule(
    "coupled-to-independent",
    axis="convention", hp=("weight_decay",), symbols={"": "η_t/η_p"},
    title="Weight-decay convention conversion",
    invariant="the same per-step decay w ← (1 − η·λ)·w",
    convention="coupled (torch.optim.AdamW, optax.adamw: the decay is multiplied by the LR — "
    "PyTorch calls it 'decoupled' because it is decoupled from the gradient) ↔ independent "
    "(Loshchilov & Hutter's fully decoupled decay, not multiplied by the LR)",
    validity="η > 0",
    reference="Loshchilov & Hutter 2019, Decoupled Weight Decay Regularization, arXiv 1711.05101; "
    "PyTorch torch.optim.AdamW documentation",
)
def to_independent(lr: float, weight_decay_coupled: float) -> float:
    """λ_ind = η·λ: the per-step decay fraction of the independent convention."""
    _positive("lr", lr)
    _non_negative("weight_decay", weight_decay_coupled)
    return lr * weight_decay_coupled


def to_coupled(lr: float, weight_decay_independent: float) -> float:
    """λ = λ_ind / η: the inverse of ``to_independent`` (see its entry in ``RULES``)."""
    _positive("lr", lr)
    _non_negative("weight_decay", weight_decay_independent)
    return weight_decay_independent / lr
