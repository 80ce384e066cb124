"""``hpscale ramp --seq-len T --world-size N --micro-batch M``: every stage's batch laid out as
Megatron-LM runs it, checked before the schedule is written.

Megatron's step-wise schedule takes each stage's global batch in sequences and checks, while the
stage runs, that it divides micro-batch × data-parallel size
(NVIDIA/Megatron-LM ``megatron/core/num_microbatches_calculator.py``,
``StepBatchsizeNumMicroBatchesCalculator.update`` with ``consistency_check``; the step calculator
refuses ``--decrease-batch-size-if-needed``, so it never rounds a batch down). A stage that
does not divide would stop the run when it starts, hours in; hpscale refuses it up front with
the nearest valid batches and the κ = B / B_proxy each implies (``common.divisibility``, the
granule ``transfer``'s exporters use: seq_len × world × micro-batch tokens, or world ×
micro-batch samples).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import InputError, mention
from .common import divisibility


def check_stages(stages: Sequence[Any], unit: str, proxy_batch: float, seq_len: int,
                 world_size: int, micro_batch: int | None) -> None:
    """Raise ``InputError`` (one line, parameter ``ramp``) for the first stage whose batch is not
    a whole number of micro-batches on every rank."""
    for number, stage in enumerate(stages, start=1):
        refused = divisibility(stage.batch, unit, proxy_batch, seq_len, world_size, micro_batch)
        if refused is not None:
            raise InputError.of("ramp", f": stage {number}: batch {refused[1]}; Megatron-LM needs it while "
                                f"the stage runs: give one of them in {mention('ramp')} stages:… "
                                f"({mention('batch_size')} for the last stage)")
