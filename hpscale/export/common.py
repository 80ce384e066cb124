"""What every exporter shares: the trainer's sizes, the plan in trainer units, what a trainer
applies, what it cannot express, and the header that lets ``hpscale check`` read a file back.

One model per trainer (its module's ``apply``) says what the trainer does with the fields it
is given: for every hpscale parameter group, the learning rate, weight decay (torch's coupled
convention: the weights shrink by η·λ per step) and Adam ε it uses; its β, warmup and batch.
The writer compares that with the plan: every value the trainer would use differently is
*missing*, said in the file (a comment) and on stderr, with how to get it. The reader
(``check``) parses the file and applies the same model, so ``check`` judges what the trainer
will actually do.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from .._version import __version__
from ..core.rules import GROUPS, to_coupled
from ..errors import InputError, mention

if TYPE_CHECKING:
    from ..core.transfer_result import TransferResult

#: The first line of every exported file: ``# hpscale-export: {JSON}`` (see ``Header``).
HEADER_PREFIX = "# hpscale-export: "
#: Version of the header's JSON (additive changes keep it).
HEADER_VERSION = 1
#: Two values closer than this (relative) are the same value: the plan is written with 12
#: significant digits, and a trainer's own arithmetic (an lr divided by a width ratio) adds
#: a few ulps.
SAME = 1e-9


class TrainerSizes(NamedTuple):
    """Sizes a trainer needs that a transfer does not have (``--seq-len``, ``--world-size``,
    ``--micro-batch``); ``None``: not given."""

    seq_len: int | None = None
    world_size: int = 1
    micro_batch: int | None = None


class Layout(NamedTuple):
    """One optimizer step as a trainer lays it out.

    ``sequences`` per step = ``world_size`` × ``micro_batch`` × ``accumulation``; ``seq_len``
    tokens each (``None`` where the plan counts samples and no length was given).
    """

    sequences: int
    micro_batch: int
    accumulation: int
    world_size: int
    seq_len: int | None
    micro_batch_given: bool

    @property
    def tokens(self) -> int | None:
        return None if self.seq_len is None else self.sequences * self.seq_len


def nearest_batches(batch: float, granule: int) -> tuple[int, ...]:
    """The valid batches next to ``batch``: the multiples of ``granule`` just below (if ≥ one
    granule) and just above it, ``k·g`` with ``k = ⌊B/g⌋`` and ``⌈B/g⌉``.

    A trainer steps on whole sequences split evenly over ranks and micro-batches, so a batch
    (in the plan's unit) is valid iff it is a multiple of ``g = world × micro-batch [× seq_len]``.
    """
    low, high = math.floor(batch / granule) * granule, math.ceil(batch / granule) * granule
    return tuple(dict.fromkeys(b for b in (low, high) if b >= granule))


def _fmt_int(value: float) -> str:
    return f"{int(value):,}" if value == int(value) else f"{value:,.6g}"


def divisibility(batch: float, unit: str, proxy_batch: float, seq_len: int | None, world: int,
                 micro: int | None) -> tuple[int, str] | None:
    """``None`` where ``batch`` (in ``unit``) is a whole number of sequences split evenly over
    ``world`` ranks and ``micro``-sequence micro-batches; else (the granule g, one phrase:
    "B unit is not a multiple of g (its factors); nearest valid batches: … (κ = …) or …"), κ the
    batch ratio B_valid / B_proxy each nearest batch implies for the rules."""
    per_sequence = seq_len if unit == "tokens" and seq_len is not None else 1
    granule = per_sequence * world * (micro or 1)
    if batch % granule == 0:
        return None
    parts = [f"{per_sequence:,}-token sequences"] if per_sequence > 1 else []
    parts += [f"world size {world}"] + ([f"micro-batch {micro}"] if micro else [])
    options = " or ".join(f"{_fmt_int(b)} (κ = {b / proxy_batch:.4g})" for b in nearest_batches(batch, granule))
    return granule, (f"{_fmt_int(batch)} {unit} is not a multiple of {granule:,} ({' × '.join(parts)}); "
                     f"nearest valid batches: {options}")


def layout(batch: float, unit: str, proxy_batch: float, sizes: TrainerSizes, *,
           needs_seq_len: bool, trainer: str) -> Layout:
    """Split a target batch (in ``unit``) into sequences, ranks, micro-batches and accumulation.

    Raises ``InputError`` naming the option: a missing ``--seq-len`` where the plan counts
    tokens (or the trainer needs one), and a batch that does not divide, with the nearest valid
    batches and the batch ratio κ = B_valid / B_proxy each implies for the rules.
    """
    seq_len, world, micro = sizes
    if seq_len is None and (unit == "tokens" or needs_seq_len):
        why = "the plan counts tokens" if unit == "tokens" else f"{trainer} needs one"
        raise InputError.of("seq_len", f": missing: {why}; give the sequence length in tokens, e.g. "
                            f"{mention('seq_len', 2048)}")
    per_sequence = seq_len if unit == "tokens" and seq_len is not None else 1
    refused = divisibility(batch, unit, proxy_batch, seq_len, world, micro)
    if refused is not None:
        raise InputError.of("batch_size", f": {refused[1]}; transfer to one of them with {mention('batch_size')}")
    sequences = int(batch // per_sequence)
    micro_batch = micro if micro is not None else sequences // world
    return Layout(sequences, micro_batch, sequences // (world * micro_batch), world, seq_len, micro is not None)


class MuonPlan(NamedTuple):
    """The Muon group of a hybrid plan: its name, the convention its lr is stated in, and the
    run-wide settings ``torch.optim.Muon`` takes (``optimizer_groups`` in the transfer JSON)."""

    group: str
    convention: str
    momentum: float
    nesterov: bool


class MuonApplied(NamedTuple):
    """What a trainer's file sets for its Muon: the convention of the lr ``apply`` reports for
    the Muon group, and the momentum and Nesterov flag it trains with (``None``: the trainer's
    own, e.g. a schedule hpscale does not plan)."""

    convention: str
    momentum: float | None
    nesterov: bool | None


def muon_plan(result: TransferResult) -> MuonPlan | None:
    """The plan's Muon group, or ``None`` for an AdamW-only plan."""
    for group, options in result.optimizer_options.items():
        if result.optimizers[group] == "muon":
            return MuonPlan(group, str(options["convention"]), float(options["momentum"]), bool(options["nesterov"]))
    return None


class GroupPlan(NamedTuple):
    """One parameter group as a trainer takes it: ``weight_decay`` in torch's coupled convention."""

    lr: float
    weight_decay: float
    eps: float
    init_std: float | None
    multiplier: float


@dataclass(frozen=True)
class TrainerPlan:
    """A transfer result in the units trainers count in (built by ``trainer_plan``).

    ``steps`` = round(N·epochs / B), the whole optimizer steps of the run (``steps_exact``
    unrounded); ``warmup_steps`` the plan's warmup (already whole steps).
    """

    result: TransferResult
    layout: Layout
    groups: Mapping[str, GroupPlan]
    betas: tuple[float, float]
    steps: int
    steps_exact: float
    warmup_steps: int | None
    ema_decay: float | None
    residual_multiplier: float | None
    width: int
    base_width: int
    depth: int | None
    unit: str
    #: The Muon group of a hybrid plan (its lr in ``muon.convention``), ``None`` for AdamW only.
    muon: MuonPlan | None = None

    @property
    def batch(self) -> float:
        return self.result.target.batch_size


def trainer_plan(result: TransferResult, sizes: TrainerSizes, *, needs_seq_len: bool = False,
                 trainer: str = "this trainer") -> TrainerPlan:
    """The plan a trainer takes from ``result``: the batch laid out (``layout``), the run in
    whole steps, weight decay converted per group to torch's coupled convention (λ = λ_ind/η,
    ``hpscale.core.rules.to_coupled``) — every trainer here runs torch-style AdamW."""
    target = result.target
    groups: dict[str, GroupPlan] = {}
    for name, g in result.groups.items():
        lr, wd = g.lr.target, g.weight_decay.target
        assert lr is not None and wd is not None and g.eps.target is not None and g.multiplier.target is not None
        coupled = wd if result.convention == "coupled" else to_coupled(lr, wd)
        groups[name] = GroupPlan(_clean(lr), _clean(coupled), _clean(g.eps.target),
                                 None if g.init_std.target is None else _clean(g.init_std.target),
                                 _clean(g.multiplier.target))
    exact = target.dataset_size * result.epochs / target.batch_size
    warmup = result.warmup_steps
    return TrainerPlan(
        result=result,
        layout=layout(target.batch_size, result.unit, result.proxy.batch_size, sizes,
                      needs_seq_len=needs_seq_len, trainer=trainer),
        groups=groups,
        betas=(_fraction(result.betas[0].target), _fraction(result.betas[1].target)),
        steps=max(1, round(exact)),
        steps_exact=exact,
        warmup_steps=None if warmup is None or warmup.target is None else round(warmup.target),
        ema_decay=None if result.ema_decay is None else _fraction(result.ema_decay.target),
        residual_multiplier=None if result.residual_multiplier is None else _clean(result.residual_multiplier.target),
        width=target.width,
        base_width=result.base_width,
        depth=target.depth,
        unit=result.unit,
        muon=muon_plan(result),
    )


def _clean(value: float | None) -> float:
    """The value as the JSON contract writes it (12 significant digits), as a float."""
    from ..numbers import clean

    cleaned = clean(value)
    assert cleaned is not None
    return float(cleaned)


def _fraction(value: float | None) -> float:
    """A decay rate (β, ρ) as the JSON contract writes it (``numbers.clean_fraction``)."""
    from ..numbers import clean_fraction

    cleaned = clean_fraction(value)
    assert cleaned is not None
    return float(cleaned)


# ---------------------------------------------------------------------------------------------
# What a trainer applies, and what it cannot express
# ---------------------------------------------------------------------------------------------


class GroupApplied(NamedTuple):
    """What the trainer uses for one group; ``None``: the file does not set it (the model's or
    the trainer's own default, which hpscale does not know)."""

    lr: float | None
    weight_decay: float | None  # coupled
    eps: float | None
    init_std: float | None = None
    multiplier: float | None = None


@dataclass(frozen=True)
class Applied:
    """What a trainer does with an exported file: per group, and run-wide.

    ``sequences``: sequences per optimizer step (world × micro-batch × accumulation);
    ``steps``: optimizer steps of the run; ``seq_len``: tokens per sequence, if the file says.
    """

    groups: Mapping[str, GroupApplied]
    betas: tuple[float, float] | None
    warmup_steps: int | None
    sequences: int
    steps: int
    seq_len: int | None = None
    ema_decay: float | None = None
    residual_multiplier: float | None = None
    #: The trainer's Muon, where the file trains the hidden matrices with it (hybrid plans).
    muon: MuonApplied | None = None


class Missing(NamedTuple):
    """A planned value the trainer's file cannot carry: ``field`` is the name ``check`` uses
    (``param_groups.embedding.lr``), ``wanted`` the plan's value, ``applied`` the trainer's
    (``None``: not set by the file), ``how`` where to get it instead."""

    field: str
    wanted: float
    applied: float | None
    how: str


def _differs(wanted: float | None, applied: float | None) -> bool:
    if wanted is None:
        return False
    if applied is None:
        return True
    return abs(wanted - applied) > SAME * max(abs(wanted), abs(applied), 1e-300)


def missing(plan: TrainerPlan, applied: Applied, how: Mapping[str, str]) -> list[Missing]:
    """Every planned value the trainer would use differently, in a fixed order; ``how`` maps a
    kind (``lr``, ``weight_decay``, ``eps``, ``init_std``, ``multiplier``, ``betas``,
    ``warmup_steps``, ``ema_decay``, ``residual_multiplier``) to how to get it."""
    out: list[Missing] = []
    muon = plan.muon.group if plan.muon is not None else None
    for kind in ("lr", "weight_decay", "eps", "init_std", "multiplier"):
        for group in GROUPS:
            wanted = getattr(plan.groups[group], kind)
            got = getattr(applied.groups[group], kind)
            if kind == "multiplier" and got is None:
                got = 1.0  # a trainer that sets no multiplier applies none
            if _differs(wanted, got):
                # A Muon group's ε is Newton–Schulz's, not Adam's: its own way to get it.
                way = how["muon_eps"] if kind == "eps" and group == muon else how[kind]
                out.append(Missing(f"param_groups.{group}.{kind}", wanted, got, way))
    for index, beta in enumerate(plan.betas):
        got = None if applied.betas is None else applied.betas[index]
        if _differs(1 - beta, None if got is None else 1 - got):
            out.append(Missing(f"optimizer.betas[{index}]", beta, got, how["betas"]))
    if plan.warmup_steps and plan.warmup_steps != applied.warmup_steps:
        out.append(Missing("optimizer.warmup_steps", plan.warmup_steps, applied.warmup_steps, how["warmup_steps"]))
    if plan.ema_decay is not None and _differs(1 - plan.ema_decay, None if applied.ema_decay is None
                                               else 1 - applied.ema_decay):
        out.append(Missing("ema_decay", plan.ema_decay, applied.ema_decay, how["ema_decay"]))
    if plan.residual_multiplier is not None and _differs(plan.residual_multiplier, applied.residual_multiplier or 1.0):
        out.append(Missing("model.residual_multiplier", plan.residual_multiplier, applied.residual_multiplier,
                           how["residual_multiplier"]))
    if plan.muon is not None and applied.muon is not None:
        got_momentum = applied.muon.momentum
        if _differs(1 - plan.muon.momentum, None if got_momentum is None else 1 - got_momentum):
            out.append(Missing("muon.momentum", plan.muon.momentum, got_momentum, how["muon_momentum"]))
        if applied.muon.nesterov is not None and applied.muon.nesterov != plan.muon.nesterov:
            out.append(Missing("muon.nesterov", float(plan.muon.nesterov), float(applied.muon.nesterov),
                               how["muon_momentum"]))
    return out


#: How to get what a trainer cannot express, where the trainer has no way of its own.
TORCH_HOW = {
    "lr": "per-group optimizer: torch.optim.AdamW(hpscale.torch.param_groups(model, plan))",
    "weight_decay": "per-group optimizer: torch.optim.AdamW(hpscale.torch.param_groups(model, plan))",
    "eps": "per-group optimizer: torch.optim.AdamW(hpscale.torch.param_groups(model, plan))",
    "init_std": "hpscale.torch.apply_init(model, plan)",
    "multiplier": "hpscale.torch.apply_multipliers(model, plan)",
    "betas": "per-group optimizer: torch.optim.AdamW(hpscale.torch.param_groups(model, plan))",
    "warmup_steps": "the trainer's warmup setting",
    "ema_decay": "an EMA of the weights (e.g. torch.optim.swa_utils.AveragedModel with "
                 "get_ema_multi_avg_fn(decay))",
    "residual_multiplier": "hpscale.torch.apply_multipliers(model, plan, residual=[...])",
    "muon_eps": "hpscale.torch.optimizers(model, plan) (torch.optim.Muon's eps)",
    "muon_momentum": "hpscale.torch.optimizers(model, plan) (torch.optim.Muon's momentum, nesterov)",
}


def describe(items: Sequence[Missing]) -> list[str]:
    """One line per kind of value (lr, init_std, …): what the plan wants for each group, what
    the trainer would use instead, and how to get it (``items`` as ``missing`` returns them)."""
    kinds: dict[tuple[str, str], list[Missing]] = {}
    for item in items:
        kind = item.field.rsplit(".", 1)[-1] if item.field.startswith("param_groups.") else item.field
        kinds.setdefault((kind, item.how), []).append(item)
    lines = []
    for (kind, how), group in kinds.items():
        def name(item: Missing) -> str:
            return item.field.split(".")[1] if item.field.startswith("param_groups.") else item.field
        wanted = ", ".join(f"{name(i)} {i.wanted:.6g}" for i in group)
        got = ", ".join("unset" if i.applied is None else f"{i.applied:.6g}" for i in group)
        lines.append(f"{kind}: {wanted} (this file: {got}); get them with {how}")
    return lines


# ---------------------------------------------------------------------------------------------
# The header: the target's scale and what the file does not carry, for `check`
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    """The machine-readable first line of an exported file (``HEADER_PREFIX`` + JSON).

    ``target`` holds the scale the trainer's fields do not (width, depth, parameter count,
    dataset size and unit, epochs); ``sizes`` the trainer sizes used (``seq_len``,
    ``world_size``); ``not_expressed`` the fields listed as missing, which ``check`` leaves out
    (they come from elsewhere: ``hpscale.torch``, the model code).
    """

    format: str
    target: Mapping[str, Any]
    sizes: Mapping[str, Any]
    not_expressed: tuple[str, ...] = field(default=())

    def line(self) -> str:
        obj = {"format": self.format, "header_version": HEADER_VERSION, "hpscale_version": __version__,
               "target": dict(self.target), "sizes": dict(self.sizes), "not_expressed": list(self.not_expressed)}
        return HEADER_PREFIX + json.dumps(obj, ensure_ascii=True, separators=(", ", ": ")) + "\n"


def header_for(fmt: str, plan: TrainerPlan, gaps: Sequence[Missing], unchecked: Sequence[str] = ()) -> Header:
    """The header of ``plan``'s file: ``not_expressed`` lists the ``gaps`` and the ``unchecked``
    fields (a value the file carries for some matrices only, ``hybrid.in_convention``)."""
    result = plan.result
    target = {"width": plan.width, "depth": plan.depth,
              "params": None if result.target.params is None else int(result.target.params),
              "dataset_size": _exact(result.target.dataset_size), "unit": plan.unit, "epochs": result.epochs,
              "warmup": plan.warmup_steps is not None}
    sizes = {"seq_len": plan.layout.seq_len, "world_size": plan.layout.world_size}
    # check compares no Muon momentum, so a gap in it is a note only (an ignore pattern must match).
    fields = [item.field for item in gaps if not item.field.startswith("muon.")]
    return Header(fmt, target, sizes, tuple(dict.fromkeys([*fields, *unchecked])))


def _exact(value: float) -> int | float:
    return int(value) if value == int(value) and abs(value) < 2**63 else value


def read_header(text: str) -> Header | None:
    """The header of an exported file, ``None`` if the text has none (an ordinary config).

    Raises ``InputError`` for a header that is there but not readable.
    """
    for line in text.splitlines()[:5]:
        if line.startswith(HEADER_PREFIX):
            break
    else:
        return None
    try:
        obj = json.loads(line[len(HEADER_PREFIX):])
        return Header(str(obj["format"]), dict(obj["target"]), dict(obj["sizes"]),
                      tuple(str(name) for name in obj.get("not_expressed", ())))
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"hpscale-export header: not readable ({exc}); re-export the file") from None


def target_config(applied: Applied, header: Header, trainer: str) -> dict[str, Any]:
    """The target run a trainer file describes, in hpscale's config schema: what ``check``
    compares with the proxy. States only what the trainer sets (``stated_fields`` reads it)."""
    t = header.target
    seq_len = applied.seq_len if applied.seq_len is not None else header.sizes.get("seq_len")
    if t.get("unit") == "tokens":
        if not seq_len:
            raise InputError(f"{trainer}: the sequence length is missing; the batch in tokens cannot be read back")
        batch = applied.sequences * int(seq_len)
    else:
        batch = applied.sequences
    hidden = applied.groups["hidden"]
    model: dict[str, Any] = {"width": t["width"]}
    for key in ("depth", "params"):
        if t.get(key) is not None:
            model[key] = t[key]
    if applied.residual_multiplier is not None:
        model["residual_multiplier"] = applied.residual_multiplier
    optimizer: dict[str, Any] = {"lr": hidden.lr if hidden.lr is not None else _any_lr(applied),
                                 "weight_decay": hidden.weight_decay or 0.0, "weight_decay_convention": "coupled"}
    if applied.betas is not None:
        optimizer["betas"] = list(applied.betas)
    # A warmup of 0 is what a trainer writes for none: compared only where the plan has one.
    if applied.warmup_steps or (applied.warmup_steps == 0 and t.get("warmup")):
        optimizer["warmup_steps"] = applied.warmup_steps
    groups: dict[str, dict[str, float]] = {}
    for name, g in applied.groups.items():
        values = {key: getattr(g, key) for key in GroupApplied._fields}
        groups[name] = {key: value for key, value in values.items() if value is not None}
    config: dict[str, Any] = {
        "name": f"{trainer} export",
        "model": model,
        "data": {"dataset_size": t["dataset_size"], "batch_size": batch, "unit": t.get("unit", "tokens"),
                 "epochs": t.get("epochs", 1)},
        "optimizer": optimizer,
        "param_groups": {name: values for name, values in groups.items() if values},
    }
    if applied.ema_decay is not None:
        config["ema_decay"] = applied.ema_decay
    if applied.muon is not None:
        # The trainer's Muon section: ``check`` predicts the Muon group in its convention.
        assert hidden.lr is not None and hidden.weight_decay is not None
        muon: dict[str, Any] = {"lr": hidden.lr, "weight_decay": hidden.weight_decay,
                                "convention": applied.muon.convention}
        if applied.muon.momentum is not None:
            muon["momentum"] = applied.muon.momentum
        if applied.muon.nesterov is not None:
            muon["nesterov"] = applied.muon.nesterov
        config["muon"] = muon
    return config


def _any_lr(applied: Applied) -> float:
    for g in applied.groups.values():
        if g.lr is not None:
            return g.lr
    return 1.0  # no group's lr is in the file: every lr is left out of the comparison


def plain(value: float) -> str:
    """A number as a trainer's parser reads it back exactly: ``repr`` of the float, or an int."""
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e15):
        return str(int(value))
    return repr(float(value))
