"""A transfer plan as a training run applies it: per-group optimizer options, without PyTorch.

``read_plan`` reads the transfer JSON contract (a dict, a path, or a ``TransferResult``) into a
``Plan``: what the optimizer takes per group, with weight decay in torch's coupled convention,
and what the model applies itself (init std, multipliers). ``hpscale.torch`` builds on it;
``hpscale transfer --format overrides`` uses ``name_groups`` and ``overrides_json`` to print the
groups as name lists without importing PyTorch.

The rules for a plan's values live here, in ``ALLOWED`` (applied by ``plan_value``), because both
readers of a plan use ``read_plan``: ``hpscale.torch`` and the torch-free ``--format overrides``.
A ``Plan`` built by hand goes through the same checks as a file.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from .core.rules import GROUPS, to_coupled
from .core.transfer_result import SCHEMA_VERSION
from .errors import InputError

#: A plan file larger than this is refused before parsing (a real one is a few kB).
MAX_PLAN_BYTES = 1_048_576


class OptimizerValues(NamedTuple):
    """What the optimizer takes for one group; ``weight_decay`` in torch's coupled convention."""

    lr: float
    weight_decay: float
    betas: tuple[float, float]
    eps: float


class MuonValues(NamedTuple):
    """What ``torch.optim.Muon`` takes for one group, as the plan states it: ``lr`` for a trainer
    using shape convention ``convention``; ``adjust_lr_fn`` is PyTorch's name for that convention
    (None where PyTorch lacks it); ``weight_decay`` decays as p·(1 − lr·weight_decay)."""

    lr: float
    weight_decay: float
    momentum: float
    nesterov: bool
    eps: float
    convention: str
    adjust_lr_fn: str | None


class Plan(NamedTuple):
    """A transfer plan as a training run applies it (built by ``read_plan``). ``optimizer`` holds
    the AdamW groups, ``muon`` the groups Muon trains (empty for an AdamW-only plan)."""

    optimizer: dict[str, OptimizerValues]
    init_std: dict[str, float | None]
    multiplier: dict[str, float]
    residual_multiplier: float | None
    readout_rule: str | None
    muon: Mapping[str, MuonValues] | None = None

    def options(self, group: str) -> dict[str, Any]:
        """One optimizer param group's options: ``lr`` (the peak), ``weight_decay`` (coupled),
        ``betas``, ``eps`` and ``hpscale_group`` (optimizers keep extra keys)."""
        if self.muon and group in self.muon:
            raise InputError(f"plan: optimizers.{group}: 'muon': these options are AdamW's; build a "
                             "hybrid run's optimizers with hpscale.torch.optimizers(model, plan)")
        o = self.optimizer[group]
        return {"lr": o.lr, "weight_decay": o.weight_decay, "betas": o.betas, "eps": o.eps,
                "hpscale_group": group}


#: float32's smallest normal and largest finite number (IEEE 754 binary32: 2⁻¹²⁶ and
#: (2 − 2⁻²³)·2¹²⁷). A plan's magnitudes end up in float32 (or narrower) weights, activations and
#: optimizer state: a positive value outside this range becomes a subnormal, 0 or inf there, so
#: it is refused rather than handed to torch.
F32_TINY = 2.0**-126
F32_MAX = (2 - 2.0**-23) * 2.0**127


class _Allowed(NamedTuple):
    zero: bool  # 0 is allowed (else the value must be > 0)
    below_one: bool  # the value must be < 1 (a β or a momentum), else ≤ F32_MAX and, if > 0, ≥ F32_TINY
    text: str


_POSITIVE = _Allowed(False, False, f"a finite number > 0 within float32's range [{F32_TINY:.3g}, {F32_MAX:.3g}]")
_NON_NEGATIVE = _Allowed(True, False, f"a finite number ≥ 0: 0 or within float32's range [{F32_TINY:.3g}, "
                                      f"{F32_MAX:.3g}]")
_UNIT = _Allowed(True, True, "a finite number ≥ 0 and < 1")

#: What each value of a plan may be: the one table of the rules ``read_plan`` applies, to a
#: transfer JSON (a dict, a path, a ``TransferResult``) and to a ``Plan`` built by hand alike.
ALLOWED: dict[str, _Allowed] = {
    "lr": _POSITIVE,
    "weight_decay": _NON_NEGATIVE,
    "eps": _NON_NEGATIVE,
    "beta": _UNIT,
    "momentum": _UNIT,
    "init_std": _POSITIVE,
    "multiplier": _POSITIVE,
    "residual_multiplier": _POSITIVE,
}


def shown(value: Any) -> str:
    """A value for an error line: ``repr``, except an integer too long to read (``10**400``)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**20:
        return f"an integer of {len(str(abs(value)))} digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def plan_value(where: str, kind: str, value: Any, *, source: str = "plan") -> float:
    """``value`` as a float if ``ALLOWED[kind]`` allows it, else ``InputError`` naming ``where``
    (``{source}: {where}: {value}: must be {what is allowed}``). Booleans are not numbers; an
    integer too large for a float (``10**400``) is refused, not an ``OverflowError``."""
    allowed = ALLOWED[kind]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{source}: {where}: {shown(value)}: expected a number ({allowed.text})")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    ok = math.isfinite(number) and (number > 0 or (allowed.zero and number == 0))
    if ok and number > 0:
        ok = number < 1 if allowed.below_one else F32_TINY <= number <= F32_MAX
    if not ok:
        raise InputError(f"{source}: {where}: {shown(value)}: must be {allowed.text}")
    return number


def _plan_dict(plan: Any) -> dict[str, Any]:
    from .core.transfer_result import TransferResult

    if isinstance(plan, TransferResult):
        return plan.to_json_dict()
    if isinstance(plan, str | os.PathLike):
        from .loader import read_text

        path = Path(plan)
        try:
            data = json.loads(read_text(path, limit=MAX_PLAN_BYTES, what="plan"))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: not JSON ({exc.msg}, line {exc.lineno}); expected the output "
                             "of `hpscale transfer -f json`") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: expected a JSON object (the output of `hpscale transfer -f json`)")
        return data
    if isinstance(plan, Mapping):
        return dict(plan)
    raise InputError(
        f"plan: {type(plan).__name__}: expected a transfer result: the JSON contract as a dict, a "
        "path to it, or hpscale.transfer(...)'s TransferResult"
    )


def read_plan(plan: Any) -> Plan:
    """Read and check a transfer plan: a JSON-contract dict, a path to one, a ``TransferResult``
    or a ``Plan`` (checked again: one may be built by hand). Every value is checked against
    ``ALLOWED``; the result holds floats only.

    Takes ``optimizer_groups`` and ``model_groups`` (or, from an older schema-1 file,
    ``param_groups`` and ``optimizer.betas``) and converts weight decay to torch's coupled
    convention per group: λ = λ_ind/η (``hpscale.core.rules.to_coupled``).

    Raises:
        InputError: not a plan, an incompatible ``schema_version``, or a missing or bad value
            (one line naming the field).
    """
    if isinstance(plan, Plan):
        trainer: dict[str, str] = {group: "muon" if group in (plan.muon or {}) else "optimizer" for group in GROUPS}
        return _checked(plan, lambda group, field: _path(trainer.get(group, "optimizer"), group, field),
                        lambda group, field: _path(field or "init_std/multiplier", group))
    data = _plan_dict(plan)
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        found = "missing" if version is None else repr(version)
        raise InputError(
            f"plan: schema_version {found}: this hpscale reads schema_version {SCHEMA_VERSION} "
            "(the JSON of `hpscale transfer -f json`); re-run the transfer with this hpscale"
        )
    convention = data.get("weight_decay_convention")
    if convention not in ("coupled", "independent"):
        raise InputError(f"plan: weight_decay_convention: {convention!r}: allowed: coupled, independent")
    legacy = "optimizer_groups" not in data
    section, model_section = ("param_groups", "param_groups") if legacy else ("optimizer_groups", "model_groups")
    source, model_source = data.get(section), data.get(model_section)
    if not isinstance(source, Mapping) or not isinstance(model_source, Mapping):
        raise InputError(f"plan: {section}/{model_section}: missing; expected the output of "
                         "`hpscale transfer -f json`")
    optimizer: dict[str, OptimizerValues] = {}
    muon: dict[str, MuonValues] = {}
    init_std: dict[str, Any] = {}
    multiplier: dict[str, Any] = {}
    by = data.get("optimizers")
    trained_by: Mapping[str, Any] = by if isinstance(by, Mapping) else {}
    for group in GROUPS:
        values: Any = source.get(group)
        model_values: Any = model_source.get(group)
        if not isinstance(values, Mapping) or not isinstance(model_values, Mapping):
            raise InputError(f"plan: {section}.{group}: missing")
        where = f"{section}.{group}"
        if trained_by.get(group, "adamw") == "muon":
            muon[group] = _muon_values(values)
        else:
            betas = values.get("betas")
            if legacy and isinstance(data.get("optimizer"), Mapping):
                betas = data["optimizer"].get("betas")
            if not isinstance(betas, Sequence) or isinstance(betas, str) or len(betas) != 2:
                raise InputError(f"plan: {where}.betas: {shown(betas)}: expected [β1, β2]")
            optimizer[group] = OptimizerValues(_given(values, "lr"), _given(values, "weight_decay"),
                                               (betas[0], betas[1]), _given(values, "eps"))
        init_std[group] = model_values.get("init_std")
        multiplier[group] = model_values.get("multiplier")
    rules = data.get("rules")
    raw = Plan(optimizer=optimizer, init_std=init_std, multiplier=multiplier,
               residual_multiplier=data.get("residual_multiplier"),
               readout_rule=rules.get("readout_rule") if isinstance(rules, Mapping) else None, muon=muon)
    checked = _checked(raw, lambda group, field: _path(section, group, field),
                       lambda group, field: _path(model_section, group, field))
    if convention == "coupled":
        return checked
    return checked._replace(optimizer={group: o._replace(weight_decay=_coupled(f"{section}.{group}", o))
                                       for group, o in checked.optimizer.items()})


def _coupled(where: str, values: OptimizerValues) -> float:
    """The group's weight decay in torch's coupled convention, λ = λ_ind/η
    (``hpscale.core.rules.to_coupled``), refused when it leaves float32's range (λ_ind = 0.1 at
    η = 1e-320 would hand torch an infinite weight decay)."""
    coupled = to_coupled(values.lr, values.weight_decay)
    allowed = ALLOWED["weight_decay"]
    if not (coupled == 0 or F32_TINY <= coupled <= F32_MAX):
        raise InputError(f"plan: {where}.weight_decay: {values.weight_decay!r} at lr {values.lr!r} is "
                         f"{coupled:.3g} in torch's coupled convention (λ_ind/η): must be {allowed.text}")
    return coupled


def _path(*parts: str) -> str:
    return ".".join(part for part in parts if part)


def _checked(plan: Plan, at: Callable[[str, str], str], model_at: Callable[[str, str], str]) -> Plan:
    """Every value of ``plan`` checked against ``ALLOWED`` (``plan_value``) and returned as floats;
    ``at(group, field)`` and ``model_at(group, field)`` name an optimizer and a model value in the
    errors. Each group must be trained by AdamW (``optimizer``) or Muon (``muon``), and have an
    ``init_std`` (None: not stated) and a ``multiplier``."""
    muon = dict(plan.muon or {})
    for name, table in (("optimizer", plan.optimizer), ("muon", muon), ("init_std", plan.init_std),
                        ("multiplier", plan.multiplier)):
        if not isinstance(table, Mapping):
            raise InputError(f"plan: {name}: {type(table).__name__}: expected a mapping group → values")
        unknown = [group for group in table if group not in GROUPS]
        if unknown:
            raise InputError(f"plan: {name}.{shown(unknown[0])}: not a group; allowed: {', '.join(GROUPS)}")
    optimizer: dict[str, OptimizerValues] = {}
    for group, o in plan.optimizer.items():
        if not isinstance(o, OptimizerValues):
            raise InputError(f"plan: {at(group, '')}: {type(o).__name__}: expected OptimizerValues")
        if not isinstance(o.betas, Sequence) or len(o.betas) != 2:
            raise InputError(f"plan: {at(group, 'betas')}: {shown(o.betas)}: expected [β1, β2]")
        optimizer[group] = OptimizerValues(
            plan_value(at(group, "lr"), "lr", o.lr),
            plan_value(at(group, "weight_decay"), "weight_decay", o.weight_decay),
            (plan_value(at(group, "betas[0]"), "beta", o.betas[0]),
             plan_value(at(group, "betas[1]"), "beta", o.betas[1])),
            plan_value(at(group, "eps"), "eps", o.eps))
    for group, m in muon.items():
        muon[group] = _checked_muon(partial(at, group), m)
    for group in GROUPS:
        if (group in optimizer) == (group in muon):
            raise InputError(f"plan: {at(group, '')}: missing (each group is trained by one optimizer)")
        if group not in plan.init_std or group not in plan.multiplier:
            raise InputError(f"plan: {model_at(group, '')}: missing")
    init_std = {group: None if std is None else plan_value(model_at(group, "init_std"), "init_std", std)
                for group, std in plan.init_std.items()}
    multiplier = {group: plan_value(model_at(group, "multiplier"), "multiplier", value)
                  for group, value in plan.multiplier.items()}
    residual = plan.residual_multiplier
    if plan.readout_rule is not None and not isinstance(plan.readout_rule, str):
        raise InputError(f"plan: rules.readout_rule: {shown(plan.readout_rule)}: expected a rule's name or null")
    return plan._replace(
        optimizer=optimizer, muon=muon, init_std=init_std, multiplier=multiplier,
        residual_multiplier=None if residual is None else plan_value(
            "residual_multiplier", "residual_multiplier", residual))


def _given(values: Mapping[str, Any], key: str) -> Any:
    """``values[key]`` as given (None if absent), for ``_checked`` to check."""
    return values.get(key)


def _muon_values(values: Any) -> MuonValues:
    """A Muon group of the plan (``optimizer_groups.<group>`` where ``optimizers.<group>`` is
    ``muon``) as given; ``_checked`` checks it."""
    return MuonValues(lr=values.get("lr"), weight_decay=values.get("weight_decay"),
                      momentum=values.get("momentum"), nesterov=values.get("nesterov"),
                      eps=values.get("eps"), convention=values.get("convention"),
                      adjust_lr_fn=values.get("adjust_lr_fn"))


def _checked_muon(where: Callable[[str], str], m: MuonValues) -> MuonValues:
    """A Muon group's values checked: its numbers (``plan_value``), ``nesterov`` a boolean, a
    known shape ``convention`` and PyTorch's ``adjust_lr_fn`` name or None."""
    from .core.muon_shapes import TORCH_CONVENTIONS, check_convention

    if not isinstance(m, MuonValues):
        raise InputError(f"plan: {where('')}: {type(m).__name__}: expected MuonValues")
    if not isinstance(m.nesterov, bool):
        raise InputError(f"plan: {where('nesterov')}: {shown(m.nesterov)}: expected true or false")
    given = m.convention
    convention = check_convention(given if isinstance(given, str) else repr(given), f"plan: {where('convention')}")
    adjust = m.adjust_lr_fn
    if adjust is not None and adjust not in TORCH_CONVENTIONS:
        raise InputError(f"plan: {where('adjust_lr_fn')}: {shown(adjust)}: allowed: null, "
                         f"{', '.join(TORCH_CONVENTIONS)}")
    return m._replace(
        lr=plan_value(where("lr"), "lr", m.lr),
        weight_decay=plan_value(where("weight_decay"), "weight_decay", m.weight_decay),
        momentum=plan_value(where("momentum"), "momentum", m.momentum),
        eps=plan_value(where("eps"), "eps", m.eps),
        convention=convention)


def override_groups(names: Mapping[str, str], plan: Plan) -> list[dict[str, Any]]:
    """The groups as plain data: for each non-empty group (embedding, hidden, readout, vector),
    ``{"params": [names…], **plan.options(group)}`` with ``betas`` as a list (JSON-ready).

    ``names`` maps each fully-qualified parameter name to its group, in the model's order.
    """
    out = []
    for group in GROUPS:
        members = [name for name, g in names.items() if g == group]
        if members:
            options = plan.options(group)
            out.append({"params": members, **options, "betas": list(options["betas"])})
    return out


# ---------------------------------------------------------------------------------------------
# Names without a model (hpscale transfer --format overrides --model-names)
# ---------------------------------------------------------------------------------------------

#: A names file larger than this is refused (a 70B model lists ~1,000 names in ~60 kB).
MAX_NAMES_BYTES = 16 * 1_048_576
_SHAPE = re.compile(r"\d+")


def parse_names(text: str, source: str) -> list[tuple[str, tuple[int, ...] | None]]:
    """Parameter names, one per line, each optionally followed by its shape in any spelling
    (``transformer.h.0.attn.c_attn.weight (768, 2304)``, ``… torch.Size([768, 2304])``, ``… 768x2304``).
    Blank lines and ``#`` comments are skipped. Raises ``InputError`` on a duplicate or no name."""
    entries: list[tuple[str, tuple[int, ...] | None]] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, *shape_text = line.split(None, 1)
        rest = shape_text[0] if shape_text else ""
        if name in seen:
            raise InputError(f"{source}: line {number}: {name!r} is listed twice (first on line {seen[name]})")
        seen[name] = number
        shape = tuple(int(d) for d in _SHAPE.findall(rest)) if rest else None
        entries.append((name, shape or None))
    if not entries:
        raise InputError(f"{source}: no parameter names; expected one name per line (as "
                         "model.named_parameters() gives them)")
    return entries


#: Suffixes read as checkpoints (their tensor names and shapes) rather than as a names file.
CHECKPOINT_SUFFIXES = (".safetensors", ".npz", ".pt", ".pth", ".bin")


def read_model_names(path: Path) -> list[tuple[str, tuple[int, ...] | None]]:
    """``--model-names PATH``: a text file for ``parse_names``; a checkpoint (by suffix) or a model
    directory (what ``hpscale spectrum`` accepts: ``model.safetensors``, a sharded index,
    ``pytorch_model.bin``), whose tensor names and shapes are read from the headers by the
    checkpoint readers without loading the data. A checkpoint lists every stored tensor: buffers
    too, and a tied tensor under each name it was saved with."""
    if path.is_dir() or path.suffix.lower() in CHECKPOINT_SUFFIXES:
        from .checkpoints import open_checkpoint

        with open_checkpoint(path) as checkpoint:
            return [(info.name, tuple(info.shape)) for info in checkpoint.tensors]
    from .loader import read_text

    return parse_names(read_text(path, limit=MAX_NAMES_BYTES, what="names file"), str(path))


def name_groups(entries: Sequence[tuple[str, tuple[int, ...] | None]]) -> tuple[dict[str, str], list[str]]:
    """Each name's group from its name and shape alone (no model): ``hpscale spectrum``'s
    grouping (``Grouper``: a tensor with one axis of size > 1 is a vector, then the GPT-2/LLaMA/
    ViT name patterns); a matrix no pattern knows is hidden, as ``hpscale.torch.classify`` treats
    every other ≥ 2-D weight. Returns (groups, warnings)."""
    from .core.roles import is_output_row
    from .core.spectrum import UNMATCHED, Grouper

    grouper = Grouper()
    groups: dict[str, str] = {}
    guessed: list[str] = []
    for name, shape in entries:
        if shape is not None and is_output_row(name, shape):  # a reward model's score (1, d)
            groups[name] = "readout"
            continue
        group = grouper.group_of(name, shape if shape is not None else (2, 2))
        if group == UNMATCHED:
            group = "hidden"
            guessed.append(name)
        groups[name] = group
    warnings = []
    if guessed:
        warnings.append(f"{len(guessed)} name(s) match no known pattern and are taken as hidden "
                        f"matrices: {', '.join(guessed[:3])}{', …' if len(guessed) > 3 else ''}")
    if "readout" not in groups.values():
        warnings.append("no output layer among the names (lm_head, output, head, classifier, …): if it "
                        "is tied to the input embedding it trains with the embedding group, and the "
                        "readout multiplier must go into the model's forward pass")
    return groups, warnings


def overrides_json(result: Any, entries: Sequence[tuple[str, tuple[int, ...] | None]]) -> dict[str, Any]:
    """``hpscale transfer --format overrides``: the transfer's groups as name lists with their
    optimizer options (the shape ``hpscale.torch.overrides`` returns), plus what the model applies
    itself. ``schema_version`` 1; weight decay in torch's coupled convention."""
    from ._version import __version__
    from .numbers import clean

    groups, warnings = name_groups(entries)
    contract = result.to_json_dict()
    overrides = override_groups(groups, read_plan(contract))
    for group in overrides:
        group.update(lr=clean(group["lr"]), weight_decay=clean(group["weight_decay"]), eps=clean(group["eps"]))
    return {
        "schema_version": SCHEMA_VERSION,
        "hpscale_version": __version__,
        "weight_decay_convention": "coupled",
        "overrides": overrides,
        "model_groups": contract["model_groups"],
        "residual_multiplier": contract["residual_multiplier"],
        "warnings": [*contract["warnings"], *warnings],
    }
