"""The scaling rules, one pure function each. No I/O, no printing, only ``math``.

Every rule states its formula, its symbols, the weight-decay convention it assumes and the
paper it comes from. Rules are written for the *coupled* convention of ``torch.optim.AdamW``
(each step ``w ← w − η·λ·w − η·update``: the decay is coupled to the learning rate; PyTorch's
documentation calls the same thing "decoupled weight decay", meaning decoupled from the
gradient); ``to_independent`` / ``to_coupled`` convert to and from Loshchilov & Hutter's
*independent* form ``w ← w − λ_ind·w − η·update``.

Notation used throughout:

- η: peak learning rate of one parameter group
- λ: the ``weight_decay`` argument (coupled unless said otherwise)
- B: batch size per optimizer step; N: dataset size per epoch (same unit as B)
- m = W_target / W_proxy: width ratio; κ = B_target / B_proxy: batch ratio;
  ν = N_target / N_proxy: dataset ratio; m_L = L_target / L_proxy: depth ratio
- ρ: model-EMA decay; β1, β2, ε: Adam's moment decays and epsilon

Each rule registers itself in ``RULES`` with the invariant it keeps and its validity limits,
so ``hpscale explain`` prints exactly the text the numbers come from.

One module per family of rules, each citing its paper; every name is importable from here:

- ``registry.py``: ``RULES``, ``RuleInfo``, the ``@rule`` decorator, ``factor``, the parameter
  groups, the choice types with their allowed values, ``RuleChoices`` and ``CHOICES``
- ``mup.py``: µP width (Yang et al., Tensor Programs V)
- ``timescale.py``: AdamW as an EMA, τ_iter and τ_epoch (Wang & Aitchison), the conventions
- ``weight_decay.py``: weight decay vs width, √d and the σ_top ratio (Fan et al.)
- ``batch.py``: Adam vs batch size, lr, β, ε, weight decay, warmup (Malladi et al.)
- ``ema.py``: the model EMA (Busbridge et al.)
- ``horizon.py``: the token horizon (Power Lines; the lr's horizon laws)
- ``depth.py``: depth (CompleteP, Dey et al.; depth-µP)
- ``eps.py``: ε vs width (Everett et al.; CompleteP)

The family modules import ``registry`` (and each other), never this package. The order of the
imports below is the order of ``RULES`` (``hpscale explain`` and the docs list rules in it).
"""

from __future__ import annotations

from .registry import (
    BETA_RULES,
    CHOICES,
    DEPTH_RULES,
    EPS_BATCH_RULES,
    EPS_DEPTH_RULES,
    EPS_WIDTH_RULES,
    GROUPS,
    LR_HORIZON_RULES,
    MUON_TARGET_CONVENTIONS,
    MUON_WD_WIDTH_RULES,
    OPTIMIZER_CHOICES,
    POWER_LINES_EXPONENT,
    READOUT_RULES,
    RULES,
    TAU_RULES,
    WD_WIDTH_RULES,
    BetaRule,
    DepthRule,
    EpsBatchRule,
    EpsDepthRule,
    EpsWidthRule,
    Group,
    LrHorizonRule,
    ReadoutRule,
    RuleChoices,
    RuleInfo,
    TauRule,
    WdWidthRule,
    factor,
    rule,
)

# The argument checks: private, but an optimizer's rules use them too (``optimizers/muon.py``).
from .registry import _non_negative as _non_negative
from .registry import _positive as _positive

# The families, in registry order. Each ``isort: split`` keeps a family's import where it is:
# sorted by name (``ruff --fix``), the imports would reorder ``RULES``.
# isort: split
from .mup import _MUP as _MUP
from .mup import mup_init_std_width_factor, mup_lr_width_factor, mup_multiplier_width_factor

# isort: split
from .timescale import _WA as _WA
from .timescale import (
    tau_epoch,
    tau_iter,
    timescale_weight_decay_factor,
    to_coupled,
    to_independent,
    weight_decay_for_tau_epoch,
)

# isort: split
from .weight_decay import _FAN as _FAN
from .weight_decay import SIGMA_TOP_RTOL, SIGMA_WIDTH_EXPONENT, sigma_top_ratio, weight_decay_width_factor

# isort: split
from .batch import _MALLADI as _MALLADI
from .batch import (
    adam_beta_for_batch,
    beta_batch_limit,
    sqrt_batch_eps_factor,
    sqrt_batch_lr_factor,
    sqrt_batch_weight_decay_factor,
    warmup_steps_for_batch,
)

# isort: split
from .ema import ema_decay_for_batch

# isort: split
from .horizon import LR_HORIZON_LAWS, LrHorizonLaw, lr_horizon_factor, power_lines_tau_factor

# isort: split
from .depth import _DEPTH as _DEPTH
from .depth import (
    RESIDUAL_BLOCK_GROUPS,
    depth_alpha,
    depth_eps_factor,
    depth_lr_factor,
    depth_residual_multiplier_factor,
)

# isort: split
from .eps import eps_width_factor

__all__ = [
    # registry
    "RULES", "RuleInfo", "rule", "factor", "GROUPS", "Group", "RuleChoices", "CHOICES", "OPTIMIZER_CHOICES",
    "POWER_LINES_EXPONENT",
    "READOUT_RULES", "WD_WIDTH_RULES", "BETA_RULES", "TAU_RULES", "EPS_WIDTH_RULES", "EPS_DEPTH_RULES",
    "EPS_BATCH_RULES", "DEPTH_RULES", "LR_HORIZON_RULES", "MUON_WD_WIDTH_RULES", "MUON_TARGET_CONVENTIONS",
    "ReadoutRule", "WdWidthRule", "BetaRule", "TauRule", "EpsWidthRule", "EpsDepthRule", "EpsBatchRule",
    "DepthRule", "LrHorizonRule",
    # mup
    "mup_lr_width_factor", "mup_init_std_width_factor", "mup_multiplier_width_factor",
    # timescale
    "tau_iter", "tau_epoch", "weight_decay_for_tau_epoch", "timescale_weight_decay_factor", "to_independent",
    "to_coupled",
    # weight_decay
    "SIGMA_WIDTH_EXPONENT", "SIGMA_TOP_RTOL", "weight_decay_width_factor", "sigma_top_ratio",
    # batch
    "sqrt_batch_lr_factor", "beta_batch_limit", "adam_beta_for_batch", "sqrt_batch_eps_factor",
    "sqrt_batch_weight_decay_factor", "warmup_steps_for_batch",
    # ema
    "ema_decay_for_batch",
    # horizon
    "power_lines_tau_factor", "LrHorizonLaw", "LR_HORIZON_LAWS", "lr_horizon_factor",
    # depth
    "RESIDUAL_BLOCK_GROUPS", "depth_alpha", "depth_residual_multiplier_factor", "depth_lr_factor",
    "depth_eps_factor",
    # eps
    "eps_width_factor",
]
