"""A transfer plan as a training run applies it: per-group optimizer options, without PyTorch.

``read_plan`` reads the transfer JSON contract (a dict, a path, or a ``TransferResult``) into a
``Plan``: what the optimizer takes per group, with weight decay in torch's coupled convention,
and what the model applies itself (init std, multipliers). ``hpscale.torch`` builds on it;
``hpscale transfer --format overrides`` uses ``name_groups`` and ``overrides_json`` to print the
groups as name lists without importing PyTorch.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
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


def _number(where: str, value: Any, *, low: float, low_inclusive: bool, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"plan: {where}: {value!r}: expected a number")
    ok = (value >= low if low_inclusive else value > low) and value < high
    if not ok or not math.isfinite(value):
        bound = f"{'≥' if low_inclusive else '>'} {low:g}" + (f" and < {high:g}" if high < math.inf else "")
        raise InputError(f"plan: {where}: {value!r}: must be a finite number {bound}")
    return float(value)


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
    (or a ``Plan`` already read).

    Takes ``optimizer_groups`` and ``model_groups`` (or, from an older schema-1 file,
    ``param_groups`` and ``optimizer.betas``) and converts weight decay to torch's coupled
    convention per group: λ = λ_ind/η (``hpscale.core.rules.to_coupled``).

    Raises:
        InputError: not a plan, an incompatible ``schema_version``, or a missing or bad value
            (one line naming the field).
    """
    if isinstance(plan, Plan):
        return plan
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
    init_std: dict[str, float | None] = {}
    multiplier: dict[str, float] = {}
    by = data.get("optimizers")
    trained_by: Mapping[str, Any] = by if isinstance(by, Mapping) else {}
    for group in GROUPS:
        values, model_values = source.get(group), model_source.get(group)
        if not isinstance(values, Mapping) or not isinstance(model_values, Mapping):
            raise InputError(f"plan: {section}.{group}: missing")
        where, model_where = f"{section}.{group}", f"{model_section}.{group}"
        if trained_by.get(group, "adamw") == "muon":
            muon[group] = _muon_values(where, values)
        else:
            lr = _number(f"{where}.lr", values.get("lr"), low=0, low_inclusive=False)
            wd = _number(f"{where}.weight_decay", values.get("weight_decay"), low=0, low_inclusive=True)
            betas = values.get("betas")
            if legacy and isinstance(data.get("optimizer"), Mapping):
                betas = data["optimizer"].get("betas")
            if not isinstance(betas, Sequence) or isinstance(betas, str) or len(betas) != 2:
                raise InputError(f"plan: {where}.betas: {betas!r}: expected [β1, β2]")
            pair = (_number(f"{where}.betas[0]", betas[0], low=0, low_inclusive=True, high=1),
                    _number(f"{where}.betas[1]", betas[1], low=0, low_inclusive=True, high=1))
            eps = _number(f"{where}.eps", values.get("eps"), low=0, low_inclusive=True)
            coupled = wd if convention == "coupled" else to_coupled(lr, wd)
            optimizer[group] = OptimizerValues(lr, coupled, pair, eps)
        std = model_values.get("init_std")
        init_std[group] = None if std is None else _number(f"{model_where}.init_std", std, low=0,
                                                           low_inclusive=False)
        multiplier[group] = _number(f"{model_where}.multiplier", model_values.get("multiplier"), low=0,
                                    low_inclusive=False)
    residual = data.get("residual_multiplier")
    rules = data.get("rules")
    return Plan(
        optimizer=optimizer,
        init_std=init_std,
        multiplier=multiplier,
        residual_multiplier=None if residual is None else _number(
            "residual_multiplier", residual, low=0, low_inclusive=False),
        readout_rule=rules.get("readout_rule") if isinstance(rules, Mapping) else None,
        muon=muon,
    )


def _muon_values(where: str, values: Mapping[str, Any]) -> MuonValues:
    """A Muon group of the plan (``optimizer_groups.<group>`` where ``optimizers.<group>`` is
    ``muon``), checked field by field."""
    from .core.muon_shapes import TORCH_CONVENTIONS, check_convention

    nesterov = values.get("nesterov")
    if not isinstance(nesterov, bool):
        raise InputError(f"plan: {where}.nesterov: {nesterov!r}: expected true or false")
    given = values.get("convention")
    convention = check_convention(given if isinstance(given, str) else repr(given), f"plan: {where}.convention")
    adjust = values.get("adjust_lr_fn")
    if adjust is not None and adjust not in TORCH_CONVENTIONS:
        raise InputError(f"plan: {where}.adjust_lr_fn: {adjust!r}: allowed: null, {', '.join(TORCH_CONVENTIONS)}")
    return MuonValues(
        lr=_number(f"{where}.lr", values.get("lr"), low=0, low_inclusive=False),
        weight_decay=_number(f"{where}.weight_decay", values.get("weight_decay"), low=0, low_inclusive=True),
        momentum=_number(f"{where}.momentum", values.get("momentum"), low=0, low_inclusive=True, high=1),
        nesterov=nesterov,
        eps=_number(f"{where}.eps", values.get("eps"), low=0, low_inclusive=True),
        convention=convention,
        adjust_lr_fn=adjust,
    )


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
