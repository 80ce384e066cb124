"""The ranges a real training run's sizes can have, one table for configs, the command line and
the API.

Every integer-valued size (width, depth, batch, dataset, steps, sequence length, ranks) is a
whole number in ``[1, high]`` (steps may be 0). The upper bounds are far beyond any published
run — so no real value is refused — and low enough that products of them (tokens = steps ×
batch, 12·L·W² parameters, FLOPs) stay finite and whole numbers stay exact in float64 (below
2⁵³). Without them ``width: 1e300`` read as a valid integer and failed later, far from its cause,
or overflowed into inf. The largest published values the bounds are set against:

- width: PaLM 540B, d_model 18,432 (arXiv 2204.02311, Table 1) → 2²⁰ = 1,048,576 (×57);
- depth: DeepNet, 1,000 layers (arXiv 2203.00555) → 100,000 (×100);
- data: Llama 3, 15.6T tokens (arXiv 2407.21783, section 3) → 10¹⁵ (×64);
- parameters: Switch-C, 1.6T (arXiv 2101.03961) → 10¹⁹, so that the estimate 12·L·W² of any
  width and depth above (at most 1.3·10¹⁸) is in range; any number > 0 (an estimate, scaled);
- compute: Llama 3 405B, 3.8·10²⁵ FLOPs (arXiv 2407.21783) → 10³⁰;
- context: Gemini 1.5, 10M tokens (arXiv 2403.05530) → 2²⁴ = 16,777,216 per sequence;
- batch: a few million tokens per step (GPT-3 3.2M, arXiv 2005.14165 Table 2.1) → 10¹²;
- steps: 10¹² (10⁵ times a million-step run); ranks and micro-batches: 2²⁴.

Names are parameter names (``batch_size``), as the core speaks; ``limit_name`` maps a flag
(``--batch-size``) to one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """A size's allowed range: ``low ≤ value ≤ high``, a whole number when ``whole``."""

    low: float
    high: float
    whole: bool = True
    shown: str = ""  # how ``high`` is written in messages, when not as a plain number

    def allowed(self) -> str:
        kind = "a whole number" if self.whole else "a number"
        high = self.shown or (f"{self.high:,.0f}" if self.high < 1e7 else f"{self.high:.0e}".replace("+", ""))
        return f"{kind} from {self.low:g} to {high}"


_WIDTH = Limit(1, 2**20, shown="1,048,576 (2^20)")
_DEPTH = Limit(1, 100_000)
_BATCH = Limit(1, 1e12)
_DATA = Limit(1, 1e15)
_STEPS = Limit(0, 1e12)
_LAYOUT = Limit(1, 2**24, shown="16,777,216 (2^24)")

LIMITS: dict[str, Limit] = {
    "width": _WIDTH, "widths": _WIDTH, "base_width": _WIDTH,
    "depth": _DEPTH, "depths": _DEPTH,
    "batch_size": _BATCH, "batch_sizes": _BATCH, "start_batch": _BATCH,
    "critical_batch": Limit(1, 1e12, whole=False),
    "dataset_size": _DATA, "dataset_sizes": _DATA, "tokens": _DATA,
    # > 0 is checked first (a target scaled down from a tiny proxy may hold 0.25 "parameters").
    "params": Limit(0, 1e19, whole=False),
    "compute": Limit(1, 1e30, whole=False),
    "warmup_steps": _STEPS, "total_steps": Limit(1, 1e12),
    "seq_len": _LAYOUT, "world_size": _LAYOUT, "micro_batch": _LAYOUT,
}


def limit_name(option: str) -> str:
    """The parameter name of a flag: ``--batch-size`` → ``batch_size``."""
    return option.lstrip("-").replace("-", "_")


def check_limit(name: str, value: float) -> float:
    """``value`` if it lies in ``LIMITS[name]`` (any value when the name has no limit), else
    ``ValueError`` saying what is allowed (the caller adds what was found)."""
    limit = LIMITS.get(name)
    if limit is None:
        return value
    if not limit.low <= value <= limit.high or (limit.whole and value != int(value)):
        raise ValueError(f"must be {limit.allowed()}")
    return value
