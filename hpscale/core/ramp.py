"""Batch ramps: a run whose batch grows in stages, every hyperparameter rescaled per stage.

Pure: no I/O, no printing. A ramp is a list of stages (the data seen when the stage starts, its
batch B_stage); each stage is the one ``transfer`` every command uses, run at the stage's batch,
so its η, β1, β2, ε, λ, model-EMA decay and warmup are the existing rules evaluated at
κ = B_stage / B_reference, B_reference being the proxy's batch (the batch its hyperparameters
were tuned at). No rule is restated here.

Two ways to give a ramp (``parse_ramp``):

- ``linear:F`` or ``linear:F:K``: the batch grows linearly from the start batch to the target
  in a staircase of K stages (default 4) over the first fraction F ∈ (0, 1] of the data D
  (``training_data``): see ``linear_stages``.
- ``stages:S0=B0,S1=B1,…``: explicit stages, S the data seen at the stage's start (the config's
  unit; S0 must be 0), B its batch; starts strictly increasing, batches strictly increasing, the
  last batch the target.

Megatron-LM's step-wise schedule (``--step-batch-size-schedule``): space-separated
``THRESHOLD:BATCH`` entries, the first threshold 0, thresholds strictly increasing and, as
Megatron's training loop passes ``--seq-length``, counted in tokens; batches are global batch
sizes in sequences (NVIDIA/Megatron-LM, megatron/core/num_microbatches_calculator.py,
``StepBatchsizeNumMicroBatchesCalculator._parse_schedule`` and ``_validate_schedule``;
megatron/training/global_vars.py passes ``seq_length=args.seq_length``; read at commit
d98e8a64ddf34856e74b24714e3bedb2f5a39553). ``megatron_schedule`` writes it.

The critical batch: a batch the user states (``--critical-batch``, measured, e.g., by the
branched-training method of Merrill et al. 2025, arXiv 2505.23971) wins; without one, Zhang et
al.'s estimate at the run's training tokens (``hpscale.core.critical``; tokens, so a config
counting samples needs the sequence length) flags the stages above it. Both are reported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputError, mention
from ..numbers import format_si, parse_positive
from .compose import ProxyRun, transfer_from
from .critical import ZHANG_FITTED_TOKENS, CriticalBatch, zhang_critical_batch
from .rules import GROUPS, RuleChoices
from .scale import Scale
from .transfer_result import TransferResult

#: The version of the ``hpscale ramp --format json`` contract (docs/contracts.md).
RAMP_SCHEMA_VERSION = 1
#: Stages of ``linear:F`` when K is not given.
DEFAULT_LINEAR_STEPS = 4
#: More stages than this are refused (a ramp for people is a handful; Megatron logs each).
MAX_STAGES = 1000


@dataclass(frozen=True)
class Stage:
    """One stage: it starts after ``start`` units of data (the config's unit) at ``batch``."""

    start: float
    batch: float


def linear_stages(start_batch: float, target_batch: float, fraction: float, steps: int,
                  total: float) -> tuple[Stage, ...]:
    """``linear:F:K``: a staircase of K stages over the first fraction F of the data D; stage
    i = 0 … K−1 starts at i·F·D/K with B_i = round(B_0 + (B_t − B_0)·i/(K − 1)), so stage 0 is
    the start batch and stage K−1, from (K−1)·F·D/K to the end of training, the target batch.

    Symbols: B_0 = start batch, B_t = target batch, F ∈ (0, 1], K ≥ 2 whole, D = the target's
    data. Starts are rounded to whole units; stages whose rounded batches repeat are merged
    (the earlier kept).
    """
    if not 0 < fraction <= 1:
        raise InputError.of("ramp", f": fraction {fraction:g}: must be in (0, 1]")
    if not 2 <= steps <= MAX_STAGES:
        raise InputError.of("ramp", f": {steps} steps: must be a whole number from 2 to {MAX_STAGES}")
    if not start_batch < target_batch:
        raise InputError.of("start_batch", f": {start_batch:g}: must be below the target batch "
                         f"{target_batch:g} ({mention('batch_size')}) for a ramp")
    stages: list[Stage] = []
    for i in range(steps):
        batch = float(round(start_batch + (target_batch - start_batch) * i / (steps - 1)))
        if not stages or batch > stages[-1].batch:
            stages.append(Stage(float(round(fraction * total * i / steps)), batch))
    return tuple(stages)


def explicit_stages(text: str, target_batch: float, total: float) -> tuple[Stage, ...]:
    """``stages:S0=B0,S1=B1,…`` read and checked (see the module docstring)."""
    stages = []
    for index, item in enumerate(part.strip() for part in text.split(",")):
        start_text, sep, batch_text = item.partition("=")
        if not sep:
            raise InputError.of("ramp", f": stage {index + 1} {item!r}: expected START=BATCH")
        try:
            start = 0.0 if start_text.strip() == "0" else parse_positive(start_text.strip())
            batch = parse_positive(batch_text.strip(), limit="batch_size")
        except ValueError as exc:
            raise InputError.of("ramp", f": stage {index + 1} {item!r}: {exc}") from None
        stages.append(Stage(start, batch))
    if len(stages) > MAX_STAGES:
        raise InputError.of("ramp", f": {len(stages)} stages: at most {MAX_STAGES}")
    if stages[0].start != 0:
        raise InputError.of("ramp", f": the first stage starts at {stages[0].start:g}: it must start at 0")
    for before, after in zip(stages, stages[1:], strict=False):
        if not after.start > before.start:
            raise InputError.of("ramp", f": stage starts {before.start:g} then {after.start:g}: they must "
                             "increase strictly")
        if not after.batch > before.batch:
            raise InputError.of("ramp", f": stage batches {before.batch:g} then {after.batch:g}: they must "
                             "increase strictly")
    if stages[-1].batch != target_batch:
        raise InputError.of("ramp", f": the last stage's batch {stages[-1].batch:g} does not reach the "
                         f"target batch {target_batch:g} ({mention('batch_size')})")
    if not stages[-1].start < total:
        raise InputError.of("ramp", f": the last stage starts at {stages[-1].start:g}, at or after the "
                         f"end of training ({total:g}); it would never run")
    return tuple(stages)


def parse_ramp(text: str, start_batch: float, target_batch: float, total: float) -> tuple[Stage, ...]:
    """A ``--ramp`` value (``linear:F[:K]`` or ``stages:…``) as stages."""
    kind, _, rest = text.strip().partition(":")
    if kind == "stages" and rest:
        return explicit_stages(rest, target_batch, total)
    if kind == "linear" and rest:
        fraction_text, _, steps_text = rest.partition(":")
        try:
            fraction = float(fraction_text)
            steps = int(steps_text) if steps_text else DEFAULT_LINEAR_STEPS
        except ValueError:
            raise InputError.of("ramp", f": {text!r}: expected linear:FRACTION or linear:FRACTION:STEPS "
                             "(a number and a whole number)") from None
        if not math.isfinite(fraction):
            raise InputError.of("ramp", f": fraction {fraction_text!r}: must be in (0, 1]")
        return linear_stages(start_batch, target_batch, fraction, steps, total)
    raise InputError.of("ramp", f": {text!r}: expected linear:FRACTION[:STEPS] or stages:START=BATCH,…")


def megatron_schedule(stages: Sequence[Stage], unit: str, seq_len: int) -> str:
    """Megatron-LM's ``--step-batch-size-schedule`` string: ``"0:B0 T1:B1 …"``, thresholds in
    tokens, batches in sequences (see the module docstring for the source).

    With ``unit`` tokens a batch of B tokens is B/seq_len sequences (it must divide); with
    samples a start of S sequences is S·seq_len tokens.
    """
    entries = []
    for stage in stages:
        if unit == "tokens":
            sequences, tokens = stage.batch / seq_len, stage.start
        else:
            sequences, tokens = stage.batch, stage.start * seq_len
        if sequences != int(sequences) or sequences < 1:
            raise InputError.of("seq_len", f": {seq_len}: the stage batch {stage.batch:g} tokens is not a whole "
                             "number of sequences")
        entries.append(f"{int(round(tokens))}:{int(sequences)}")
    return " ".join(entries)


@dataclass(frozen=True)
class RampResult:
    """Each stage with its ``transfer`` at the stage's batch."""

    stages: tuple[Stage, ...]
    results: tuple[TransferResult, ...]
    total: float
    reference_batch: float
    unit: str
    critical_batch: float | None
    megatron: str | None
    #: Zhang et al.'s estimate at the run's training tokens (None for samples without --seq-len).
    estimate: CriticalBatch | None = None
    #: Tokens per sequence (converts the estimate's tokens for a config counting samples).
    seq_len: int | None = None

    def estimated_batch(self) -> float | None:
        """The estimate in the config's unit (tokens, or sequences for a config counting samples)."""
        if self.estimate is None:
            return None
        return self.estimate.tokens if self.unit == "tokens" or self.seq_len is None else self.estimate.tokens / self.seq_len

    def critical_used(self) -> tuple[float | None, str | None]:
        """The critical batch the flags use and where it came from: ``given`` (--critical-batch,
        which wins), ``estimate`` (Zhang et al.), or (None, None)."""
        if self.critical_batch is not None:
            return self.critical_batch, "given"
        estimated = self.estimated_batch()
        return (estimated, "estimate") if estimated is not None else (None, None)

    def above_critical(self, stage: Stage) -> bool | None:
        used = self.critical_used()[0]
        return None if used is None else stage.batch > used

    def warnings(self) -> list[str]:
        """The stages' warnings once each (one every stage gives shows once; the others name
        their stage), then the stages above the critical batch."""
        everywhere = set.intersection(*(set(r.warnings) for r in self.results))
        seen = dict.fromkeys(w if w in everywhere else f"stage {index}: {w}"
                             for index, r in enumerate(self.results, start=1) for w in r.warnings)
        above = [s for s in self.stages if self.above_critical(s)]
        used, source = self.critical_used()
        named = ", ".join(str(self.stages.index(s) + 1) for s in above)
        why = ("the square-root batch rules hold below the critical batch (Malladi et al. 2022), so their "
               "values there are not trustworthy")
        if above and source == "given" and used is not None:
            seen[f"{mention('critical_batch')}: {format_si(used)}: stage(s) {named} run above it; {why}"] = None
        elif above and source == "estimate":
            assert self.estimate is not None and used is not None
            far = "" if self.estimate.beyond is None else (
                f", extrapolated ×{self.estimate.beyond:.3g} beyond the {format_si(ZHANG_FITTED_TOKENS[0])}–"
                f"{format_si(ZHANG_FITTED_TOKENS[1])} tokens it was fitted on")
            seen[f"critical batch ≈ {format_si(round(used))} {self.unit} (Zhang et al. 2024's estimate at "
                 f"{format_si(self.estimate.data_tokens)} training tokens{far}): stage(s) {named} run above it; "
                 f"{why}; give a measured one with {mention('critical_batch')}"] = None
        return list(seen)

    def to_json_dict(self) -> dict[str, Any]:
        """The ``hpscale ramp --format json`` contract (docs/contracts.md)."""
        rows = []
        for index, (stage, result) in enumerate(zip(self.stages, self.results, strict=True)):
            end = self.stages[index + 1].start if index + 1 < len(self.stages) else self.total
            rows.append({
                "stage": index + 1,
                "start": stage.start,
                "end": end,
                "batch_size": stage.batch,
                "batch_ratio": result.ratios.batch,
                "above_critical_batch": self.above_critical(stage),
                "param_groups": {g: {"lr": result.groups[g].lr.target,
                                     "weight_decay": result.groups[g].weight_decay.target,
                                     "eps": result.groups[g].eps.target} for g in GROUPS},
                "betas": [result.betas[0].target, result.betas[1].target],
                "eps": result.eps.target,
                "ema_decay": None if result.ema_decay is None else result.ema_decay.target,
                "warmup_steps": None if result.warmup_steps is None or result.warmup_steps.target is None
                else round(result.warmup_steps.target),
            })
        first = self.results[0]
        return {
            "schema_version": RAMP_SCHEMA_VERSION,
            "unit": self.unit,
            "reference_batch_size": self.reference_batch,
            "dataset_size": self.total,
            "width": first.target.width,
            # The target scale every stage shares (its batch is the last stage's), as transfer's
            # JSON writes it: ``check`` rebuilds each stage's target from it (core/staged.py).
            "target": {"width": first.target.width, "depth": first.target.depth,
                       "batch_size": self.stages[-1].batch, "dataset_size": first.target.dataset_size,
                       "params": first.target.params,
                       "residual_multiplier": None if first.residual_multiplier is None
                       else first.residual_multiplier.target},
            "rules": {"beta_rule": first.choices.beta_rule, "eps_batch_rule": first.choices.eps_batch_rule},
            "critical_batch_size": self.critical_batch,
            # Additive (issue 21): the estimate beside the user's value, and which one the flags use.
            "critical_batch_estimate": None if self.estimate is None else {
                "batch_size": self.estimated_batch(), "tokens": self.estimate.tokens,
                "training_tokens": self.estimate.data_tokens, "fitted_tokens": list(ZHANG_FITTED_TOKENS),
                "beyond": self.estimate.beyond, "source": self.estimate.source},
            "critical_batch_from": self.critical_used()[1],
            "megatron_step_batch_size_schedule": self.megatron,
            "stages": rows,
            "warnings": self.warnings(),
        }


def training_data(run: ProxyRun, target: Scale) -> float:
    """D, the data the target run sees: its dataset size per epoch × the proxy's epochs."""
    return target.dataset_size * run.epochs


def run_ramp(run: ProxyRun, target: Scale, stages: Sequence[Stage], choices: RuleChoices,
             critical_batch: float | None = None, seq_len: int | None = None) -> RampResult:
    """``transfer_from`` at every stage's batch (the target's width, data and depth); an error
    names the stage it came from."""
    results = []
    for index, stage in enumerate(stages, start=1):
        scale = Scale(target.width, stage.batch, target.dataset_size, target.depth, target.params)
        try:
            results.append(transfer_from(run, scale, choices, alternatives=False))
        except InputError as exc:
            raise type(exc).of("ramp", f": stage {index} (batch {stage.batch:g}): {exc}") from None
    megatron = None if seq_len is None else megatron_schedule(stages, run.unit, seq_len)
    total = training_data(run, target)
    tokens = total if run.unit == "tokens" else None if seq_len is None else total * seq_len
    estimate = None if tokens is None else zhang_critical_batch(tokens)
    return RampResult(tuple(stages), tuple(results), total, run.scale.batch_size,
                      run.unit, critical_batch, megatron, estimate, seq_len)
