"""``coord_check``: the µP coordinate check (Yang et al. 2022, arXiv 2203.03466, §5): train a
few steps at several widths and record how big every layer's output is."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import nn

from ..errors import InputError
from ..plan import plan_value, read_plan, shown
from .groups import optimizers
from .init import apply_init
from .multipliers import MultiplierHandle, apply_multipliers
from .structure import Structure, analyse


class CoordRecord(NamedTuple):
    """One layer's output at one width and step: ``size`` = mean |x_t| over the entries of the
    output, ``change`` = mean |x_t − x_0| (the same batch at step 0; 0 at step 0)."""

    layer: str
    group: str
    width: int
    step: int
    size: float
    change: float


def loglog_slope(widths: Sequence[float], values: Sequence[float]) -> float | None:
    """Least-squares slope b of log v = a + b·log W over the points given.

    b ≈ 0: the quantity does not grow with width (µP's promise for every layer's activations
    and their change after a few steps; Yang et al. 2022, arXiv 2203.03466, §5 and Figure 5, the
    "coordinate check"); b ≈ ½ or 1: it grows as √W or W (standard parametrization with one lr).
    None when fewer than two widths or a value ≤ 0 or non-finite (it cannot be logged).
    """
    if len(widths) < 2 or any(not (v > 0 and math.isfinite(v)) for v in values):
        return None
    xs = [math.log(w) for w in widths]
    ys = [math.log(v) for v in values]
    x_mean, y_mean = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - x_mean) ** 2 for x in xs)
    return sum((x - x_mean) * (y - y_mean) for x, y in zip(xs, ys, strict=True)) / sxx


@dataclass(frozen=True)
class CoordCheck:
    """The result of ``coord_check``: every layer's output size per width and step.

    ``parametrization`` is ``"µP"`` (with a plan) or ``"standard"`` (one lr for every group);
    ``records`` holds one ``CoordRecord`` per (width, step, layer). ``slopes`` and
    ``change_slopes`` give, per layer, the fitted slope of log size (resp. log change) vs log
    width at the last step (``loglog_slope``): near 0 under a correct µP, growing under standard
    parametrization.
    """

    parametrization: str
    widths: tuple[int, ...]
    steps: int
    records: tuple[CoordRecord, ...]

    def layers(self) -> list[str]:
        """The recorded layers, in the model's module order (the model output is ``(output)``)."""
        return list(dict.fromkeys(r.layer for r in self.records))

    def values(self, layer: str, metric: str = "size", step: int | None = None) -> list[float]:
        """``metric`` (``size`` or ``change``) of ``layer`` at ``step`` (default the last), per width."""
        step = self.steps if step is None else step
        by_width = {r.width: getattr(r, metric) for r in self.records if r.layer == layer and r.step == step}
        return [by_width.get(w, math.nan) for w in self.widths]

    def slope(self, layer: str, metric: str = "size", step: int | None = None) -> float | None:
        """Fitted slope of log ``metric`` vs log width for one layer (None if it cannot be fitted)."""
        return loglog_slope(self.widths, self.values(layer, metric, step))

    @property
    def slopes(self) -> dict[str, float | None]:
        """Layer → slope of log size vs log width at the last step."""
        return {layer: self.slope(layer, "size") for layer in self.layers()}

    @property
    def change_slopes(self) -> dict[str, float | None]:
        """Layer → slope of log change (x_t − x_0) vs log width at the last step."""
        return {layer: self.slope(layer, "change") for layer in self.layers()}

    def table(self, metric: str = "size") -> str:
        """A text table: one row per layer, ``metric`` at the last step per width, and the slope."""
        layers = self.layers()
        group = {r.layer: r.group for r in self.records}
        name_width = max(len("layer"), *(len(layer) for layer in layers))
        head = (f"{'layer':<{name_width}}  {'group':<9}"
                + "".join(f"  {f'W={w}':>9}" for w in self.widths) + f"  {'slope':>6}")
        lines = [f"{self.parametrization}: mean |{'x_t' if metric == 'size' else 'x_t − x_0'}| at step "
                 f"{self.steps}", head]
        for layer in layers:
            slope = self.slope(layer, metric)
            lines.append(
                f"{layer:<{name_width}}  {group[layer]:<9}"
                + "".join(f"  {v:>9.3g}" for v in self.values(layer, metric))
                + f"  {'—' if slope is None else f'{slope:+.2f}':>6}"
            )
        return "\n".join(lines)


def _first_tensor(output: Any) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, tuple | list) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    return None


def _default_loss(output: Any, target: torch.Tensor) -> torch.Tensor:
    logits = getattr(output, "logits", None)  # a Hugging Face ModelOutput (a dict with attributes)
    if not isinstance(logits, torch.Tensor):
        logits = _first_tensor(output)
    if logits is None:
        raise InputError("coord_check: the model's output is not a tensor, a tuple starting with "
                         "one or an object with .logits; pass loss_fn=lambda output, target: …")
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), target.reshape(-1))


def _plan_at(plan: Any, width: int) -> Any:
    """The plan for ``width``: ``plan(width)`` for a function; a transfer of a proxy config (or of
    a ``TransferResult``'s target config) to ``width`` otherwise."""
    from ..api import transfer
    from ..core.transfer_result import TransferResult

    if isinstance(plan, TransferResult):
        return transfer(plan.to_target_config(), width=width)
    if callable(plan):
        return plan(width)
    is_json = (isinstance(plan, Mapping) and "schema_version" in plan) or (
        isinstance(plan, str | os.PathLike) and str(plan).endswith(".json"))
    if is_json:
        raise InputError(
            "coord_check: plan: a transfer JSON holds the numbers of one width; pass the proxy config "
            "(a path, mapping or RunConfig), a TransferResult, or a function width → plan"
        )
    return transfer(plan, width=width)


def _base_model(make_model: Callable[[int], nn.Module], width: int) -> nn.Module:
    """The model at another width, for ``classify(base=)``: on the meta device when its code allows
    (no memory, no init), else built normally."""
    try:
        with torch.device("meta"):
            return make_model(width)
    except (RuntimeError, NotImplementedError, TypeError, ValueError):
        return make_model(width)


def _widths(widths: Any) -> list[int]:
    """The distinct widths, sorted: whole numbers (NumPy's too), at least two, all ≥ 1."""
    try:
        given = None if isinstance(widths, str | bytes) else list(widths)
    except TypeError:
        given = None
    if given is None or not all(isinstance(w, numbers.Integral) and not isinstance(w, bool) for w in given):
        raise InputError(f"coord_check: widths: {shown(widths)}: expected a list of whole numbers (the "
                         "model's widths)")
    ws = sorted({int(w) for w in given})
    if len(ws) < 2 or ws[0] <= 0:
        raise InputError(f"coord_check: widths: {given!r}: need at least two different positive widths")
    return ws


def coord_check(
    make_model: Callable[[int], nn.Module],
    widths: Sequence[int],
    batch: tuple[Any, Any],
    *,
    plan: Any = None,
    steps: int = 3,
    lr: float = 1e-3,
    loss_fn: Callable[[Any, Any], torch.Tensor] | None = None,
    patterns: Mapping[str, str] | None = None,
    seed: int = 0,
    vectors: str = "reset",
) -> CoordCheck:
    """The µP coordinate check: train a few steps at several widths and record how big every
    layer's output is (Yang et al. 2022, arXiv 2203.03466, §5; the reference library's
    ``coord_check``).

    For each width W: ``make_model(W)`` (seeded with ``seed``), then with a ``plan``
    ``optimizers`` (AdamW; Muon + AdamW for a hybrid plan) + ``apply_init`` + ``apply_multipliers``
    with the plan at W (µP), or without
    one, PyTorch's default init and ``torch.optim.AdamW`` with one ``lr`` for every parameter
    (standard parametrization). It runs ``steps + 1`` forward passes on ``batch`` (training mode),
    with an optimizer step after each but the last, and records every leaf module's output and
    the model's output: size = mean |x_t|, change = mean |x_t − x_0|.

    Args:
        make_model: width → a fresh model (build it without dropout: the check compares outputs
            of the same batch). Widths are whatever ``make_model`` and the plan call width
            (``model.width`` of the proxy config, e.g. d_model).
        widths: at least two different widths.
        batch: ``(inputs, target)``; ``model(inputs)`` (``model(*inputs)`` for a tuple).
        plan: None (standard parametrization), a proxy config (path, mapping or ``RunConfig``,
            transferred to each width), a ``TransferResult`` (its target config, transferred to
            each width) or a function width → plan.
        steps: optimizer steps.
        lr: the one learning rate of the standard parametrization (ignored with a plan).
        loss_fn: ``(output, target) → loss``; default cross-entropy of the output's logits (a
            Hugging Face ``ModelOutput``'s ``.logits``, else the output tensor or a tuple's
            first tensor), flattened to (-1, classes), against ``target``.
        patterns: as for ``classify``.
        seed: ``torch.manual_seed`` before each model is built.
        vectors: ``apply_init``'s ``vectors`` under a plan: ``reset`` (default; biases 0, norm
            gains 1, so PyTorch's width-dependent default bias init does not tilt the check) or
            ``keep`` (the model's own init: Gemma's x·(1 + w) norms, Mamba's SSM parameters).

    Returns:
        A ``CoordCheck``: ``.records``, ``.slopes`` (slope of log size vs log width per layer at
        the last step), ``.change_slopes``, ``.table()``; ``hpscale.plots.coord_check.figure``
        draws one or several checks (the ``hpscale[plot]`` extra).

    It keeps the step-0 output of every layer to compute the change: use a small batch.
    """
    ws = _widths(widths)
    if plan is None:  # the standard parametrization's one lr goes to torch as it is
        plan_value("lr", "lr", lr, source="coord_check")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InputError(f"coord_check: steps: {steps!r}: must be a whole number ≥ 1")
    inputs, target = batch
    loss_fn = loss_fn or _default_loss
    records: list[CoordRecord] = []
    for width in ws:
        base = _base_model(make_model, ws[1] if width == ws[0] else ws[0])
        torch.manual_seed(seed)
        model = make_model(width)
        structure = analyse(model, base, patterns)
        handles: list[MultiplierHandle] = []
        optimizer: torch.optim.Optimizer | _Optimizers
        if plan is None:
            optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
        else:
            at = read_plan(_plan_at(plan, width))
            optimizer = _Optimizers(optimizers(model, at, base, patterns=patterns))
            apply_init(model, at, base, patterns=patterns, vectors=vectors)
            handles = apply_multipliers(model, at, base, patterns=patterns)
        records += _run(model, structure, width, steps, optimizer, inputs, target, loss_fn)
        for handle in handles:
            handle.remove()
    return CoordCheck("standard" if plan is None else "µP", tuple(ws), steps, tuple(records))


class _Optimizers:
    """Several optimizers stepped as one (a hybrid plan's Muon and AdamW, in ``coord_check``)."""

    def __init__(self, made: list[torch.optim.Optimizer]) -> None:
        self.made = made

    def zero_grad(self, set_to_none: bool = True) -> None:
        for optimizer in self.made:
            optimizer.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for optimizer in self.made:
            optimizer.step()


def _layer_group(structure: Structure, module: nn.Module) -> str:
    """``readout`` for the output layer (tied or not), else the group of the layer's weight (a
    matrix if it has one), else ``activation``."""
    if any(o.module is module for o in structure.readouts):
        return "readout"
    names = {id(p): n for n, p in structure.params.items()}
    owned = sorted(module.named_parameters(recurse=False), key=lambda item: -item[1].dim())
    for _, p in owned:
        group = structure.groups.get(names.get(id(p), ""))
        if group is not None:
            return group
    return "activation"


def _run(model: nn.Module, structure: Structure, width: int, steps: int, optimizer: Any,
         inputs: Any, target: Any, loss_fn: Callable[[Any, Any], torch.Tensor]) -> list[CoordRecord]:
    leaves = [(name or "(output)", m) for name, m in model.named_modules()
              if not name or not any(True for _ in m.children())]
    first: dict[str, torch.Tensor] = {}
    seen: dict[str, tuple[float, float]] = {}

    def recorder(layer: str) -> Callable[[nn.Module, Any, Any], None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            x = _first_tensor(output)
            if x is None or not x.is_floating_point():
                return
            x = x.detach().float()
            if layer not in first:
                first[layer] = x.clone()
            start = first[layer]
            change = float((x - start).abs().mean()) if start.shape == x.shape else math.nan
            seen[layer] = (float(x.abs().mean()), change)
        return hook

    hooks = [m.register_forward_hook(recorder(layer)) for layer, m in leaves]
    groups = {layer: _layer_group(structure, m) if layer != "(output)" else "output" for layer, m in leaves}
    records = []
    model.train()
    try:
        for step in range(steps + 1):
            seen.clear()
            output = model(*inputs) if isinstance(inputs, tuple) else model(inputs)
            records += [CoordRecord(layer, groups[layer], width, step, size, change)
                        for layer, (size, change) in seen.items()]
            if step < steps:
                optimizer.zero_grad(set_to_none=True)
                loss_fn(output, target).backward()
                optimizer.step()
    finally:
        for hook in hooks:
            hook.remove()
    return records
