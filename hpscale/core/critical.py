"""A published estimate of the critical batch size (issue 21 item 4). Pure: no I/O, no printing.

The critical batch B_crit is the batch past which a larger batch stops cutting the optimizer
steps to a loss in proportion (McCandlish et al. 2018, arXiv 1812.06162); the square-root batch
rules hold below it (Malladi et al. 2022). The one law shipped here is Zhang et al. 2024, "How
Does Critical Batch Size Scale in Pre-training?" (arXiv 2410.21676, ICLR 2025). Its abstract
states that the CBS "scales primarily with data size rather than model size". Its constants are
the authors' released fit, read in hlzhang109/critical-batch-size at commit c5b509d
(plots/chinchilla.ipynb, cells 5 and 7):

    CBS = 93.196814 · N_M^0.468278   sequences of 512 tokens

with N_M the model size in millions, fitted on the CBS the authors measured for 85M, 151M, 302M,
604M and 1.2B models (their definition: the batch where the steps to the target loss exceed
linear scaling by 20 %), trained on C4 with AdamW, a constant lr and weight averaging, 512-token
sequences (configs/critical-bs/*.yaml: ``max_sequence_length: 512``, ``global_train_batch_size`` in
sequences), each to a Chinchilla-optimal target loss: goal steps × 256 × 512 = D tokens with
D/N between 20.34 and 20.48 (cell 1's ``goal_steps``). Those runs scale N and D together, and the
paper's finding is that D drives the CBS, so hpscale writes the same fit in D:

    B_crit(D) = 512 · 93.196814 · (D / (20.4 · 10⁶))^0.468278   tokens

(20.4: the runs' D/N, 20.34–20.48; the choice moves B_crit by ≤ 0.2 %). Fitted range: D from
1.74e9 to 2.46e10 tokens; beyond it the estimate is an extrapolation and says how far.

Kaplan et al. 2020 (arXiv 2001.08361, B_crit(L) = B*/L^(1/α_B)) needs a loss the planned run
does not have yet; Bergsma et al. ("Power Lines", arXiv 2505.13738) and Merrill et al. (arXiv
2505.23971) state critical-batch laws or measurements whose constants could not be read in the
papers or their authors' code for this release: none of them is shipped.
"""

from __future__ import annotations

from typing import NamedTuple

#: The authors' released fit (see the module docstring): coefficient, exponent, sequence length.
ZHANG_COEFFICIENT = 93.196814043949
ZHANG_EXPONENT = 0.4682782328130422
ZHANG_SEQ_LEN = 512
#: Training tokens per parameter of the fitted runs (their D/N: 20.34–20.48).
ZHANG_TOKENS_PER_PARAM = 20.4
#: The fitted runs' training tokens, 13,282 and 187,500 steps × 256 × 512 (85M and 1.2B).
ZHANG_FITTED_TOKENS = (1.740898304e9, 2.4576e10)
ZHANG_SOURCE = ("Zhang et al. 2024, How Does Critical Batch Size Scale in Pre-training?, arXiv 2410.21676; "
                "fit: hlzhang109/critical-batch-size@c5b509d plots/chinchilla.ipynb")


class CriticalBatch(NamedTuple):
    """The estimate for one run: B_crit in tokens at its training tokens D, and how far D lies
    beyond the fitted range (× beyond the nearer end; None inside it)."""

    tokens: float
    data_tokens: float
    beyond: float | None
    source: str = ZHANG_SOURCE


def zhang_critical_batch(data_tokens: float) -> CriticalBatch:
    """B_crit(D) = 512 · 93.196814 · (D / (20.4·10⁶))^0.468278 tokens (module docstring).

    Symbols: D = the run's training tokens (dataset size × epochs). Worked: D = 20.4·1.2e9 =
    2.448e10 → 2,578.19 sequences = 1,320,032 tokens, the authors' own forecast for 1,200M.
    """
    if not 0 < data_tokens < float("inf"):
        raise ValueError(f"training tokens D must be a finite number > 0, got {data_tokens!r}")
    model_millions = data_tokens / (ZHANG_TOKENS_PER_PARAM * 1e6)
    sequences = ZHANG_COEFFICIENT * model_millions**ZHANG_EXPONENT
    lo, hi = ZHANG_FITTED_TOKENS
    beyond = None if lo <= data_tokens <= hi else max(data_tokens / hi, lo / data_tokens)
    return CriticalBatch(sequences * ZHANG_SEQ_LEN, data_tokens, beyond)
