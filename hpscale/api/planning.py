"""Planning a run: ``ramp`` (batch ramps), ``timescale`` (one run's AdamW timescale), ``plan_from_laws``.

Part of the one face, ``hpscale.api`` (its docstring says what every function shares).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.rules import RuleChoices
from ..errors import InputError, mention
from ._args import _choice, _config, _number, _placeholder, _size
from .scaling import target_scale, transfer

if TYPE_CHECKING:
    from ..config import RunConfig
    from ..core.law import Law
    from ..core.plan_result import PlanResult
    from ..core.ramp import RampResult
    from ..core.timescale import TimescaleReport


def ramp(
    config: RunConfig | str | os.PathLike[str] | Mapping[str, Any],
    *,
    batch_size: float | str,
    ramp: str,
    start_batch: float | str | None = None,
    width: float | str | None = None,
    dataset_size: float | str | None = None,
    depth: float | str | None = None,
    critical_batch: float | str | None = None,
    seq_len: float | str | None = None,
    world_size: float | str | None = None,
    micro_batch: float | str | None = None,
    **rule_choices: Any,
) -> RampResult:
    """A batch ramp from a proxy: per stage its batch and every hyperparameter ``transfer``
    gives at κ = B_stage / B_proxy, as ``hpscale ramp`` (docs/ramp.md).

    Args:
        config: the proxy run.
        batch_size: the target batch the ramp reaches (the last stage's), in the config's unit.
        ramp: ``"linear:F"`` or ``"linear:F:K"`` (K stages, default 4, over the first fraction
            F ∈ (0, 1] of the data) or ``"stages:0=B0,S1=B1,…"`` (stage starts in the config's
            unit of data seen, strictly increasing batches ending at ``batch_size``).
        start_batch: ``linear``: the first stage's batch; default the proxy's.
        width, dataset_size, depth: the target's, as for ``transfer``.
        critical_batch: a critical batch you measured (config's unit): stages above it are
            flagged; without it, Zhang et al.'s estimate flags them.
        seq_len: tokens per sequence: adds Megatron-LM's ``--step-batch-size-schedule`` string
            (``result.megatron``).
        world_size, micro_batch: with ``seq_len``: data-parallel ranks and sequences per rank per
            forward pass; every stage's batch must divide over them (default: one rank, any
            micro-batch). Given without ``seq_len`` they are refused, not ignored.
        **rule_choices: the fields of ``RuleChoices``, as for ``transfer``.

    Returns:
        A ``RampResult``: ``.stages``, ``.results`` (one ``TransferResult`` per stage),
        ``.megatron``, ``.warnings()``, ``.to_json_dict()`` (the ``ramp --format json`` contract).

    >>> result = ramp("configs/nanogpt-124m-proxy.yaml", batch_size=3932160, ramp="linear:0.1",
    ...               dataset_size="100B", seq_len=1024)
    >>> [stage.batch for stage in result.stages]
    [491520.0, 1638400.0, 2785280.0, 3932160.0]
    >>> result.megatron
    '0:480 2500000000:1600 5000000000:2720 7500000000:3840'
    """
    from ..core.compose import read_proxy
    from ..core.ramp import parse_ramp, run_ramp, training_data

    choices = RuleChoices(**rule_choices)
    if not isinstance(ramp, str):
        raise InputError.of("ramp", f": {ramp!r}: expected a text such as 'linear:0.1' or 'stages:0=1M,5B=2M'")
    if batch_size is None:
        raise InputError.of("batch_size", ": missing; the target batch the ramp reaches is needed")
    target_batch = _size("batch_size", batch_size)
    first = _size("start_batch", start_batch)
    critical = _size("critical_batch", critical_batch)
    seq = _size("seq_len", seq_len, whole=True)
    ranks = _size("world_size", world_size, whole=True)
    micro = _size("micro_batch", micro_batch, whole=True)
    if seq is None and (ranks is not None or micro is not None):
        raise InputError.of("world_size" if ranks is not None else "micro_batch",
                            f": only used with {mention('seq_len')} (the Megatron-LM schedule)")
    proxy = _config(config)
    target = target_scale(proxy, width=width, batch_size=target_batch, dataset_size=dataset_size, depth=depth)
    run = read_proxy(proxy)
    stages = parse_ramp(ramp, first or run.scale.batch_size, target.batch_size, training_data(run, target))
    if seq is not None and (ranks is not None or micro is not None):
        # Without them a stage need only be whole sequences, which megatron_schedule checks (seq_len).
        from ..export.ramp import check_stages

        check_stages(stages, run.unit, run.scale.batch_size, int(seq), int(ranks or 1),
                     None if micro is None else int(micro))
    return run_ramp(run, target, stages, choices, critical, None if seq is None else int(seq))


def timescale(
    *,
    lr: float | str | None = None,
    weight_decay: float | str | None = None,
    batch_size: float | str | None = None,
    dataset_size: float | str | None = None,
    convention: str | None = None,
    config: RunConfig | str | os.PathLike[str] | Mapping[str, Any] | None = None,
    group: str | None = None,
    epochs: float | str | None = None,
    total_steps: float | str | None = None,
    tau_epoch: float | str | None = None,
    tau_iter: float | str | None = None,
    solve: str = "weight-decay",
) -> TimescaleReport:
    """The AdamW EMA timescale of one run, forward or solved for λ (or η), as ``hpscale
    timescale`` (Wang & Aitchison 2024, arXiv 2405.13698; docs/timescale.md).

    Forward: τ_iter = 1/(η·λ), τ_epoch = B/(η·λ·N), the iterations per epoch M = N/B and, given
    the run length, τ as a fraction of the run. Inverse (``tau_epoch`` or ``tau_iter`` given):
    solve for λ (``solve="weight-decay"``) or η (``solve="lr"``); the solved one is not passed.

    Args:
        lr: η; weight_decay: λ in ``convention`` (``coupled``: torch's ``weight_decay``;
            ``independent``: λ_ind = η·λ, the decay per step).
        batch_size, dataset_size: B per step and N per epoch, in one unit (both or neither).
        convention: ``coupled`` or ``independent``; default the config's, else ``coupled``.
        config: a run config giving η, λ, B, N and epochs (explicit arguments win); its
            ``group`` (default ``hidden``) is the parameter group read.
        epochs, total_steps: the run length (one of them), for τ as a fraction of the run.
        tau_epoch, tau_iter: the timescale to solve for (one of them).

    Returns:
        A ``TimescaleReport``: ``.tau_iter``, ``.tau_epoch`` (``None``: ∞, λ = 0), ``.lr``,
        ``.weight_decay``, ``.warnings``, ``.to_json_dict()`` (the ``--format json`` contract).

    >>> report = timescale(lr=6e-4, weight_decay=0.1, batch_size=491520, dataset_size=9035582198)
    >>> round(report.tau_epoch, 4)
    0.9066
    >>> round(timescale(lr=6e-4, tau_epoch=1, batch_size=491520, dataset_size="9035582198").weight_decay, 5)
    0.09066
    """
    from ..core import rules as R
    from ..core.timescale import CONVENTIONS, SOLVE_FOR, compute_timescale

    solve_for = _choice("solve", solve, SOLVE_FOR)
    if convention is not None:
        _choice("convention", convention, CONVENTIONS)
    inverse = tau_epoch is not None or tau_iter is not None
    if not inverse and solve_for != "weight-decay":
        raise InputError.of("solve", f": needs {mention('tau_epoch')} or {mention('tau_iter')} (the timescale to "
                            "solve for)")
    if inverse and solve_for == "weight-decay" and weight_decay is not None:
        raise InputError.of(
            "weight_decay", f": given together with {mention('tau_epoch')}/{mention('tau_iter')}, which solve "
            f"for the weight decay; drop {mention('weight_decay')}, or add {mention('solve', 'lr')} to solve "
            "for the learning rate instead")
    if inverse and solve_for == "lr" and lr is not None:
        raise InputError.of("lr", f": given together with {mention('solve', 'lr')}, which solves for the learning "
                            f"rate; drop {mention('lr')}")
    if group is not None and config is None:
        raise InputError.of("group", f": needs {mention('config')} (the run whose parameter group to read)")
    values: dict[str, Any] = {
        "lr": _number("lr", lr),
        "weight_decay": _number("weight_decay", weight_decay, positive=False),
        "batch_size": _size("batch_size", batch_size),
        "dataset_size": _size("dataset_size", dataset_size),
        "epochs": _number("epochs", epochs),
        "total_steps": _size("total_steps", total_steps),
    }
    source: dict[str, Any] = {}
    chosen = convention
    if config is not None:
        from ..core.compose import resolve_groups

        run = _config(config)
        group = _choice("group", group or "hidden", R.GROUPS)
        resolved = resolve_groups(run)[group]  # type: ignore[index]
        chosen = convention or run.optimizer.weight_decay_convention
        # The config's λ is in its own convention; re-express it in the chosen one.
        config_wd = (resolved.weight_decay_coupled if chosen == "coupled"
                     else R.to_independent(resolved.lr, resolved.weight_decay_coupled))
        defaults = {"lr": resolved.lr, "weight_decay": config_wd, "batch_size": run.data.batch_size,
                    "dataset_size": run.data.dataset_size}
        if values["total_steps"] is None and values["epochs"] is None:
            values["epochs"] = run.data.epochs
        for key, default in defaults.items():
            if values[key] is None:
                values[key] = default
        name = run.name or (Path(config).name if isinstance(config, str | os.PathLike) else None)
        source = {"config": name, "group": group, "unit": run.data.unit}
    if inverse:
        # The solved quantity comes from the equation, never from the config.
        values["weight_decay" if solve_for == "weight-decay" else "lr"] = None
    report = compute_timescale(**values, convention=chosen or "coupled", tau_epoch=_number("tau_epoch", tau_epoch),
                               tau_iter=_number("tau_iter", tau_iter), solve=solve_for)
    return dataclasses.replace(report, **source) if source else report


def plan_from_laws(
    *,
    tokens: float | str | None = None,
    params: float | str | None = None,
    width: float | str | None = None,
    depth: float | str | None = None,
    model: RunConfig | str | os.PathLike[str] | Mapping[str, Any] | None = None,
    seq_len: float | str = 2048,
    compute: float | str | None = None,
    laws: Sequence[str | os.PathLike[str] | Law] | None = None,
    proxy: RunConfig | str | os.PathLike[str] | Mapping[str, Any] | None = None,
    batch_size: float | str | None = None,
    extrapolate: bool = False,
) -> PlanResult:
    """The published laws' lr and batch size for a planned run, side by side, as ``hpscale plan``
    (docs/plan.md). Not named ``plan``: ``hpscale.plan`` is the module that reads transfer plans
    for ``hpscale.torch``, and a package attribute cannot be both.

    Args:
        tokens: the token budget D.
        params: the model's non-embedding parameters N; or ``width`` and ``depth`` (N = 12·L·W²,
            and DeepSeek's FLOPs per token from the shape); or ``model``, a run config whose
            ``model`` section gives them. One of the three.
        seq_len: tokens per sequence (batches in sequences, DeepSeek's attention term).
        compute: the compute budget C in FLOPs; default M·D.
        laws: law files or shipped law names (``"deepseek"``, ``"steplaw"``) or ``Law``\\ s;
            default every shipped law.
        proxy: a tuned proxy config, also transferred to the planned model (needs ``width``):
            a law more than 2× from its lr or batch is flagged. ``batch_size``: the batch it is
            transferred to (only with ``proxy``; default the proxy's).
        extrapolate: evaluate even when the request lies outside every law's fitted range
            (without it, that is an error).

    Returns:
        A ``PlanResult``: ``.plans`` (per law its ``lr``, ``batch_tokens``, ``outside``),
        ``.values`` (N, M, D, C), ``.transfer``, ``.to_json_dict()`` (the ``plan --format json``
        contract).

    >>> result = plan_from_laws(params="1B", tokens="100B")
    >>> [(p.name, round(p.lr, 5)) for p in result.plans]
    [('deepseek', 0.00079), ('steplaw', 0.00166)]
    """
    from ..core.frozen import FrozenMap
    from ..core.law import Law as LawType
    from ..core.plan_result import PlanResult
    from ..core.published import Request, evaluate, quantities
    from ..lawfile import read_law, shipped_laws

    sizes = {"params": _size("params", params),
             "width": _size("width", width, whole=True),
             "depth": _size("depth", depth, whole=True)}
    if model is not None:
        if any(v is not None for v in sizes.values()):
            raise InputError.of("model", f": give the model size once: {mention('model')}, or {mention('params')}, "
                                f"or {mention('width')} and {mention('depth')}")
        run = _config(model)
        sizes = {"params": run.model.params, "width": run.model.width, "depth": run.model.depth}
    if sizes["params"] is None and (sizes["width"] is None or sizes["depth"] is None):
        raise InputError.of("params", f": the model size is needed: {_placeholder('params', 'N')}, or "
                            f"{_placeholder('width', 'W')} and {_placeholder('depth', 'L')}, or "
                            f"{_placeholder('model', 'FILE')}")
    if tokens is None:
        raise InputError.of("tokens", f": the token budget is needed (e.g. {mention('tokens', '100B')})")
    if batch_size is not None and proxy is None:  # it would change nothing: refused, not ignored
        raise InputError.of("batch_size", f": only used with {mention('proxy')} (the batch the proxy is "
                            "transferred to)")
    if not isinstance(extrapolate, bool):
        raise InputError.of("extrapolate", f": {extrapolate!r}: expected True or False")
    if laws is not None and (isinstance(laws, str | os.PathLike) or not isinstance(laws, Sequence)):
        raise InputError.of("laws", f": {laws!r}: expected a list of law files or shipped law names")
    request = Request(tokens=_size("tokens", tokens),  # type: ignore[arg-type]
                      seq_len=_size("seq_len", seq_len),  # type: ignore[arg-type]
                      compute=_size("compute", compute), **sizes)
    values = quantities(request)
    read = [law if isinstance(law, LawType) else read_law(law) for law in (laws or shipped_laws())]
    plans = tuple(evaluate(one, values) for one in read)
    if plans and all(p.outside for p in plans) and not extrapolate:
        nearest = min(plans, key=lambda p: max(o.beyond for o in p.outside))
        worst = max(nearest.outside, key=lambda o: o.beyond)
        raise InputError.of(
            "tokens", f"/{mention('params')}/{mention('compute')}: the request lies outside every law's fitted "
            f"range (nearest: {nearest.name}, {worst.quantity} {worst.value:.3g} is ×{worst.beyond:.3g} beyond "
            f"{worst.range[0]:.3g}–{worst.range[1]:.3g}); pass {mention('extrapolate')} to evaluate anyway")
    moved = None if proxy is None else _plan_transfer(proxy, request, batch_size)
    return PlanResult(request, FrozenMap(values), plans, moved)


def _plan_transfer(proxy: Any, request: Any, batch_size: float | str | None) -> Any:
    """The proxy transferred to the planned model (``PlanTransfer``): its hidden-group lr and its
    batch in tokens."""
    from ..core.plan_result import PlanTransfer

    if request.width is None:
        raise InputError.of("proxy", f": needs the planned model's {mention('width')} (and {mention('depth')}) "
                            "to transfer to")
    run = _config(proxy)
    result = transfer(run, width=request.width, depth=request.depth if run.model.depth else None,
                      dataset_size=request.tokens if run.data.unit == "tokens"
                      else max(1, round(request.tokens / request.seq_len)),  # whole samples
                      batch_size=batch_size)
    batch = result.target.batch_size
    tokens = batch if result.unit == "tokens" else batch * request.seq_len
    name = run.name or (Path(proxy).stem if isinstance(proxy, str | os.PathLike) else "proxy")
    lr = result.groups["hidden"].lr.target
    assert lr is not None  # a config states optimizer.lr, so every group has one
    return PlanTransfer(name, lr, tokens)

