"""Exporters: a transfer written as the config a trainer reads, and read back by ``check``.

``EXPORTERS`` is the registry: an output format name → the module that writes and reads it.
Adding a trainer is one module in ``hpscale/export/`` plus one line here; the module defines

- ``TRAINER`` (its name in messages), ``USAGE`` (one comment line: how to launch with the file),
  ``NOTES`` (optional: comment lines every file of the format carries),
  ``NEEDS_SEQ_LEN`` (whether the trainer needs ``--seq-len`` even for a plan in samples) and
  ``HOW`` (how to get what it cannot express, by kind; ``common.TORCH_HOW`` fills the rest);
- ``fields(plan) → {field: value}``: what the file sets (``plan`` is a ``common.TrainerPlan``);
- ``apply(fields, sizes) → common.Applied``: what the trainer does with those fields, per
  hpscale parameter group (its own rules: which groups it decays, what it scales);
- ``render(fields) → str`` and ``parse(text) → {field: value}``: the file's syntax, both ways;
- for a trainer with a Muon option (hybrid plans), ``muon_convention(plan)`` and
  ``muon_shapes(plan)`` (``hybrid``: the Muon group converted to the trainer's shape
  convention) and optionally ``notes(plan)``: lines of what its Muon does differently. A trainer
  without them refuses a hybrid plan in one line.

The writer compares ``apply(fields(plan))`` with the plan: every value the trainer would use
differently is listed in the file (a comment) and on stderr with how to get it, and in the
header's ``not_expressed``, which ``check`` leaves out. See docs/export.md.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..errors import InputError

if TYPE_CHECKING:
    from ..core.transfer_result import TransferResult
    from . import common as C

#: Output format → module. One line per trainer.
EXPORTERS: dict[str, str] = {
    "hf": "hpscale.export.hf",
    "torchtitan": "hpscale.export.torchtitan",
    "megatron": "hpscale.export.megatron",
    "nanogpt": "hpscale.export.nanogpt",
    "nanochat": "hpscale.export.nanochat",
    "litgpt": "hpscale.export.litgpt",
}

#: The format names, in registry order (what ``--format`` lists).
FORMATS: tuple[str, ...] = tuple(EXPORTERS)


def exporter(fmt: str) -> ModuleType:
    """The module of format ``fmt`` (imported on first use, so the CLI starts as fast)."""
    if fmt not in EXPORTERS:
        raise InputError(f"--format: {fmt!r}: allowed exporters: {', '.join(FORMATS)}")
    return importlib.import_module(EXPORTERS[fmt])


@dataclass(frozen=True)
class Export:
    """An exported file's ``text`` and the ``notes`` it carries (also for stderr, once each)."""

    text: str
    notes: tuple[str, ...]
    missing: tuple[Any, ...]  # common.Missing
    fields: dict[str, Any]


def size_notes(plan: Any) -> list[str]:
    """What the conversion to whole steps and micro-batches decided, where it decided."""
    notes = []
    if abs(plan.steps - plan.steps_exact) > 1e-9 * plan.steps_exact:
        covered = plan.steps * plan.batch
        wanted = plan.result.target.dataset_size * plan.result.epochs
        notes.append(f"steps: N·epochs/B = {plan.steps_exact:,.6g} steps, written as {plan.steps:,} "
                     f"({covered:,.0f} {plan.unit} instead of {wanted:,.0f}, {covered / wanted - 1:+.3%})")
    if not plan.layout.micro_batch_given:
        notes.append(f"--micro-batch: not given; {plan.layout.micro_batch:,} sequences per rank and step, "
                     "no gradient accumulation: give what fits in memory")
    return notes


def export(result: TransferResult, fmt: str, sizes: C.TrainerSizes) -> Export:
    """Write ``result`` as format ``fmt``'s file. Raises ``InputError`` where the sizes do not
    lay out the batch (``common.layout``) or the trainer refuses the target (e.g. a width it
    cannot build)."""
    from . import common as C
    from . import hybrid as H
    module = exporter(fmt)
    refused = H.other_optimizer(result)
    if refused is None and "muon" in result.optimizers.values() and not hasattr(module, "muon_convention"):
        refused = next((g, name) for g, name in result.optimizers.items() if name == "muon")
    if refused is not None:
        # Writing another optimizer's lr into the trainer's AdamW settings would be a confident
        # wrong answer; a trainer without that optimizer gets none of it.
        group, name = refused
        raise InputError(f"--format {fmt}: the plan trains param_groups.{group} with {name}; {module.TRAINER}'s "
                         f"file has no {name} option (it trains with AdamW only): use --format json "
                         "(optimizer_groups) and hpscale.torch.optimizers(model, plan) for a hybrid run")
    plan = C.trainer_plan(result, sizes, needs_seq_len=module.NEEDS_SEQ_LEN, trainer=module.TRAINER)
    inexact: list[str] = []
    unchecked: tuple[str, ...] = ()
    if plan.muon is not None:
        plan, inexact, unchecked = H.in_convention(plan, module.muon_convention(plan), module.muon_shapes(plan),
                                                   module.TRAINER)
    values = module.fields(plan)
    applied = module.apply(values, {"seq_len": plan.layout.seq_len, "world_size": plan.layout.world_size})
    gaps = C.missing(plan, applied, {**C.TORCH_HOW, **module.HOW})
    header = C.header_for(fmt, plan, gaps, unchecked)
    notes = [*size_notes(plan), *(f"{module.TRAINER} cannot express {line}" for line in C.describe(gaps)),
             *inexact, *getattr(module, "notes", lambda _plan: ())(plan)]
    comments = [f"# generated by hpscale transfer for {module.TRAINER}; `hpscale check PROXY FILE` "
                "reads it back", f"# {module.USAGE}",
                *(f"# {line}" for line in getattr(module, "NOTES", ())),
                *(f"# warning: {w}" for w in result.warnings), *(f"# note: {n}" for n in notes)]
    text = header.line() + "\n".join(comments) + "\n" + module.render(values)
    return Export(text, tuple(notes), tuple(gaps), values)


def emit_export(result: TransferResult, fmt: str, sizes: Any, output: Any, inputs: Any) -> None:
    """``transfer --format FMT``: the file to stdout or ``--output``; the transfer's warnings
    and the export's notes on stderr, once each."""
    from ..output import emit, warn

    exported = export(result, fmt, sizes)
    warn([*result.warnings, *exported.notes])
    emit(exported.text, output, inputs)


def read_export(text: str, source: str) -> tuple[dict[str, Any], tuple[str, ...], list[str]] | None:
    """An exported file as ``check`` reads it: (the target config in hpscale's schema, the
    fields to leave out, notes), or ``None`` for a file without an export header."""
    from . import common as C
    header = C.read_header(text)
    if header is None:
        return None
    module = exporter(header.format) if header.format in EXPORTERS else None
    if module is None:
        raise InputError(f"{source}: hpscale-export header: format {header.format!r}: allowed: {', '.join(FORMATS)}")
    try:
        values = module.parse(text)
        applied = module.apply(values, header.sizes)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{source}: not a {module.TRAINER} file as hpscale wrote it ({exc})") from None
    config = C.target_config(applied, header, module.TRAINER)
    notes = [f"not checked, as this {module.TRAINER} file cannot carry them (its comments say how "
             f"to get them): {', '.join(header.not_expressed)}"] if header.not_expressed else []
    return config, header.not_expressed, notes
