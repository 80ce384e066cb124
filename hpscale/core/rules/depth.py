"""Depth rules: the residual-branch multiplier, the residual blocks' learning rate and ε vs depth.

Dey et al. 2025, "Don't be lazy: CompleteP enables compute-efficient deep transformers",
arXiv 2505.01618 (α = 1), and Yang et al. 2023, "Tensor Programs VI", arXiv 2310.02244
(depth-µP, α = ½). Symbols and conventions: ``hpscale.core.rules``.
"""

from __future__ import annotations

from .registry import DEPTH_RULES, EPS_DEPTH_RULES, DepthRule, EpsDepthRule, Group, _positive, rule

#: The groups whose parameters sit inside the residual blocks, which depth transfer rescales:
#: the hidden matrices and the vector-like norm gains and biases. (hpscale's ``vector`` group also
#: holds the final norm, a few parameters that CompleteP keeps depth-independent.)
RESIDUAL_BLOCK_GROUPS: tuple[Group, ...] = ("hidden", "vector")

_DEPTH = "Dey et al. 2025, Don't be lazy: CompleteP enables compute-efficient deep " \
    "transformers, arXiv 2505.01618 (α = 1); Yang et al. 2023, Tensor Programs VI: Feature " \
    "Learning in Infinite-Depth Neural Networks, arXiv 2310.02244 (depth-µP, α = ½)"


def depth_alpha(depth_rule: DepthRule) -> float:
    """α of the residual-branch scaling: 1 for CompleteP, ½ for depth-µP."""
    if depth_rule == "completep":
        return 1.0
    if depth_rule == "depth-mup":
        return 0.5
    raise ValueError(f"unknown depth rule {depth_rule!r}; allowed: {DEPTH_RULES}")


@rule(
    "depth-residual",
    axis="depth", hp=("residual_multiplier",), choice="depth_rule",
    title="Residual-branch multiplier vs depth",
    invariant="each block's contribution to the residual stream scales as 1/L^α",
    convention="independent of the weight-decay convention",
    validity="proxy and target differ by whole blocks; proxy trained with the same α",
    reference=_DEPTH,
)
def depth_residual_multiplier_factor(depth_ratio: float, depth_rule: DepthRule) -> float:
    """residual multiplier × m_L^−α.  Symbols: m_L = L_target/L_proxy; α by ``depth_alpha``."""
    _positive("depth ratio m_L", depth_ratio)
    return depth_ratio ** -depth_alpha(depth_rule)


@rule(
    "depth-lr",
    axis="depth", hp=("lr",), groups=RESIDUAL_BLOCK_GROUPS, choice="depth_rule",
    labels={"completep": "CompleteP", "depth-mup": "depth-µP"},
    title="Residual-block learning rate vs depth (Adam)",
    invariant="the per-block update size with residual branches scaled by L^−α",
    convention="independent of the weight-decay convention",
    validity="as depth-residual; applied to the residual-block groups (hidden matrices and the "
    "vector group's in-block norm gains and biases), as CompleteP's reference code does; the "
    "weight decay keeps η·λ (timescale-wd), where that code keeps λ",
    reference=_DEPTH + "; CompleteP reference code (EleutherAI nanoGPT-mup, completep branch, "
    "configure_optimizers: lr_scale m_L^(α−1) for in-block weights, norms and biases)",
)
def depth_lr_factor(depth_ratio: float, depth_rule: DepthRule) -> float:
    """Residual-block η × m_L^(α−1): × 1 under CompleteP (α = 1), × 1/√m_L under depth-µP (α = ½).

    Symbols: m_L = L_target / L_proxy. Applies to ``RESIDUAL_BLOCK_GROUPS``.
    """
    _positive("depth ratio m_L", depth_ratio)
    return depth_ratio ** (depth_alpha(depth_rule) - 1.0)


@rule(
    "depth-eps",
    axis="depth", hp=("eps",), groups=RESIDUAL_BLOCK_GROUPS, choice="eps_depth_rule",
    symbols={"inverse": "m_L^−α", "constant": "kept"},
    title="Adam ε vs depth",
    invariant="ε keeps its size relative to the hidden gradients, which scale as L^−α when "
    "residual branches are multiplied by L^−α",
    convention="independent of the weight-decay convention",
    validity="as depth-residual; the residual-block groups (hidden and vector); embedding and "
    "readout ε do not depend on depth; ``constant`` keeps ε",
    reference=_DEPTH + " (Table 1, Eq. 40); CompleteP reference code (EleutherAI nanoGPT-mup, "
    "completep branch, configure_optimizers: every in-block parameter — weights, norm gains, "
    "biases — gets ε·(1/m)·m_L^−α, embedding, unembedding and the final norm ε·(1/m))",
)
def depth_eps_factor(depth_ratio: float, depth_rule: DepthRule, form: EpsDepthRule = "inverse") -> float:
    """Residual-block ε × m_L^−α under ``inverse``: × 1/m_L under CompleteP (α = 1), × 1/√m_L
    under depth-µP (α = ½); × 1 under ``constant``.

    Symbols: m_L = L_target / L_proxy; α by ``depth_alpha``. Applies to ``RESIDUAL_BLOCK_GROUPS``.
    """
    _positive("depth ratio m_L", depth_ratio)
    if form == "constant":
        return 1.0
    if form != "inverse":
        raise ValueError(f"unknown ε depth rule {form!r}; allowed: {EPS_DEPTH_RULES}")
    return depth_ratio ** -depth_alpha(depth_rule)
