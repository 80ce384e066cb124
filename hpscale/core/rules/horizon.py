"""The token horizon: the AdamW timescale vs tokens per parameter, and the lr vs dataset size.

Bergsma et al. 2025, "Power Lines: Scaling Laws for Weight Decay and Batch Size in LLM
Pre-training", arXiv 2505.13738 (τ_opt ∝ TPP^−0.527); the lr's horizon laws of DeepSeek LLM
(Bi et al. 2024, arXiv 2401.02954, §3.1) and Step Law (Li et al. 2025, arXiv 2503.04715).
Symbols and conventions: ``hpscale.core.rules``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

from .registry import LR_HORIZON_RULES, POWER_LINES_EXPONENT, LrHorizonRule, _positive, rule


@rule(
    "power-lines",
    axis="horizon", hp=("weight_decay",), choice="tau_rule", symbols={"": "TPP^{exponent:g}"},
    labels={"power-lines": "Power Lines"},
    title="Token-horizon timescale (Power Lines)",
    invariant="τ follows the fitted optimum τ_opt ∝ TPP^−0.527 instead of staying constant",
    convention="coupled λ",
    validity="fit on GPT-like models of 111M–3.3B parameters, where TPP = D/N is training tokens "
    "per model parameter; hpscale takes N from model.params when the config states it (state the "
    "count the paper's N uses for your family; whether the paper counts embeddings was not "
    "verified), else estimates the non-embedding count 12·L·W² (Kaplan et al. 2020, arXiv "
    "2001.08361). Only the TPP ratio target/proxy enters; beyond ×64 either way the fit is far "
    "extrapolated (a warning)",
    reference="Bergsma et al. 2025, Power Lines: Scaling Laws for Weight Decay and Batch Size in "
    "LLM Pre-training, arXiv 2505.13738",
)
def power_lines_tau_factor(tpp_ratio: float, exponent: float = POWER_LINES_EXPONENT) -> float:
    """τ_target / τ_proxy = (TPP_t / TPP_p)^−a, a = 0.527 by default.

    Since τ = B/(η·λ·D), the weight decay picks up the inverse factor (TPP_t/TPP_p)^a on top of
    the constant-τ rule: with more data at a fixed model, λ ∝ D^(a−1) = D^−0.473, i.e. λ falls
    *more slowly* than 1/ν.

    Symbols: TPP = training tokens / parameters; a = fitted exponent.
    """
    _positive("TPP ratio", tpp_ratio)
    if not math.isfinite(exponent):
        raise ValueError(f"exponent must be finite, got {exponent!r}")
    return tpp_ratio**-exponent


class LrHorizonLaw(NamedTuple):
    """One published law's exponent of the optimal lr in the token horizon D at a fixed model,
    and where the law was fitted (its quantities as in ``hpscale/laws/NAME.yaml``)."""

    exponent: float
    fitted_range: Mapping[str, tuple[float, float]]
    source: str


#: The lr's exponent in D at a fixed model size, per ``lr_horizon_rule``, read off the two shipped
#: (verified) laws; tests/test_lr_horizon.py pins each to its law file. DeepSeek's η ∝ C^−0.125
#: with C = M·D gives D^−0.125 at fixed M; Step Law's η ∝ N^−0.713·D^0.307 gives D^+0.3075 at
#: fixed N (the authors' released mean). Bjorck et al. (arXiv 2409.19913) fit D^−β too, but its
#: β could not be read in the paper itself for this release, so it is not a choice.
LR_HORIZON_LAWS: dict[str, LrHorizonLaw] = {
    "deepseek": LrHorizonLaw(-0.125, {"compute": (1.0e17, 2.0e19)},
                             "DeepSeek LLM, arXiv 2401.02954 §3.1 Formula 1 (hpscale/laws/deepseek.yaml)"),
    "steplaw": LrHorizonLaw(0.3075, {"non_embedding_params": (214663680.0, 1073741824.0),
                                     "tokens": (4.0e9, 1.0e11)},
                            "Step Law, arXiv 2503.04715; step-law/steplaw@32a8f4c released fit "
                            "(hpscale/laws/steplaw.yaml)"),
}


@rule(
    "lr-horizon",
    axis="dataset", hp=("lr",), choice="lr_horizon_rule",
    symbols={"deepseek": "ν^−0.125", "steplaw": "ν^0.3075"},
    labels={"deepseek": "DeepSeek D^−0.125", "steplaw": "Step Law D^0.3075"},
    title="Adam lr vs token horizon (DeepSeek, Step Law)",
    invariant="the law's optimal lr, η* ∝ D^a at a fixed model size, instead of a constant η",
    convention="independent of the weight-decay convention; the weight decay keeps τ_epoch "
    "(timescale-wd × 1/f along the data)",
    validity="the laws disagree in sign: DeepSeek a = −0.125 (fit on compute budgets 1e17–2e19 "
    "FLOPs), Step Law a = +0.3075 (N 215M–1.07B non-embedding parameters, D 4e9–1e11 tokens); "
    "both fitted in standard parametrization for one global lr, both for token counts; a target "
    "outside the chosen law's fitted range is flagged. ``none`` (the default) keeps η",
    reference="Bi et al. 2024, DeepSeek LLM, arXiv 2401.02954, §3.1 Formula 1 (η = 0.3118·C^−0.1250, "
    "C = M·D); Li et al. 2025, Predictable Scale: Part I (Step Law), arXiv 2503.04715 "
    "(η = 1.79·N^−0.713·D^0.307; the authors' released fit, step-law/steplaw@32a8f4c)",
)
def lr_horizon_factor(dataset_ratio: float, horizon_rule: LrHorizonRule = "none") -> float:
    """η_target / η_proxy = (D_t / D_p)^a, a the chosen law's exponent in D at a fixed model
    (``LR_HORIZON_LAWS``): ν^−0.125 under ``deepseek``, ν^0.3075 under ``steplaw``, 1 under
    ``none``.

    Symbols: D = training tokens (dataset size × epochs; proxy and target share the epochs, so
    D_t/D_p = ν, the dataset ratio); a = exponent.

    Worked: ν = 10 → deepseek 0.7499, steplaw 2.0300; ν = 1 → 1 under every rule.
    """
    _positive("dataset ratio ν", dataset_ratio)
    if horizon_rule == "none":
        return 1.0
    if horizon_rule not in LR_HORIZON_LAWS:
        raise ValueError(f"unknown lr horizon rule {horizon_rule!r}; allowed: {LR_HORIZON_RULES}")
    return dataset_ratio ** LR_HORIZON_LAWS[horizon_rule].exponent
