"""Muon (``torch.optim.Muon``; Jordan et al. 2024) for the hidden matrices of a hybrid run,
declared once: its hyperparameters, its group, its rules. The other groups stay AdamW's and keep
AdamW's rules (``adamw``). Pure.

Muon steps ``W ← W·(1 − η·λ) − η·s(A, B)·O`` on a 2-D matrix: O is the orthogonalised momentum
(‖O‖₂ ≈ 1), s(A, B) the trainer's shape convention (``hpscale.core.muon_shapes``), and the weight
decay uses the unadjusted η (``torch/optim/_muon.py``, ``_single_tensor_muon``). A config states
it in a ``muon`` section (``hpscale.config.MuonSection``): that section's lr, weight decay,
momentum, Nesterov flag, Newton–Schulz ε and convention are the hidden group's.

Status of the rules, stated in each rule's record and shown by ``hpscale explain``:

- width: *derived* from the spectral condition (Yang, Simon & Bernstein, arXiv 2310.17813) and
  checked by hpscale's coordinate check with ``torch.optim.Muon`` (tests/test_torch_muon.py);
- batch and data (√κ lr, timescale λ): *assumed* — nanochat states √κ for Muon as an assumption
  and hpscale knows no published batch sweep of Muon's lr; the momentum is kept and flagged;
- weight decay vs width: four published alternatives, chosen by ``muon_wd_width_rule``;
- depth, model EMA and warmup: as for AdamW (the composition's run-wide rules).
"""

from __future__ import annotations

import functools
import math
from dataclasses import replace
from typing import Any, NamedTuple

from ...errors import InputError, mention
from .. import muon_shapes as S
from .. import rules as R
from ..rules import Group, RuleChoices
from ..scale import Factor, Ratios
from ..transfer_result import GroupResult, Quantity, WidthRuleAlternative
from .base import (
    GroupContext,
    GroupValues,
    OptimizerSpec,
    RuleLine,
    group_timescales,
    model_quantities,
    product,
    rule_exponent,
)

#: The groups Muon trains in a hybrid run: the hidden matrices (the rest cannot be orthogonalised
#: as one matrix: 1-D vectors, or the embedding/readout whose update Muon's authors leave to AdamW).
MUON_GROUPS: tuple[Group, ...] = ("hidden",)


@R.rule(
    "muon-width-lr",
    axis="width", hp=("lr",), groups=MUON_GROUPS,
    symbols={"original": "1", "unit_rms_norm": "1", "match_rms_adamw": "1/√m", "spectral": "1/√m"},
    title="Muon lr vs width (spectral condition)",
    invariant="‖ΔW‖₂ = η·s(A, B)·‖O‖₂ of every hidden matrix, with ‖O‖₂ ≈ 1",
    convention="the proxy trainer's shape convention s(A, B) (muon.convention)",
    validity="hidden matrices whose aspect ratio A/B stays fixed as the width grows (d×d, 4d×d, "
    "d×4d); derived, and checked by hpscale's coordinate check with torch.optim.Muon",
    reference="Yang, Simon & Bernstein 2023, A Spectral Condition for Feature Learning, arXiv "
    "2310.17813, Condition 1; " + S.TORCH_SOURCE + "; " + S.NVIDIA_SOURCE,
)
def muon_width_lr_factor(convention: str, width_ratio: float) -> float:
    """η_target / η_proxy = s(A, B) / s(m·A, m·B) for a hidden matrix of fixed aspect ratio A/B.

    Derivation: Muon's step is η·s(A, B)·O with ‖O‖₂ ≈ 1, so ‖ΔW‖₂ ≈ η·s(A, B). The spectral
    condition (arXiv 2310.17813, Condition 1) asks ‖ΔW‖₂ = Θ(√(A/B)), which does not change with
    width at a fixed aspect ratio; so η_t·s(m·A, m·B) = η_p·s(A, B). Under ``original``
    (√max(1, A/B)) and ``unit_rms_norm`` (√(A/B)) s depends on A/B only: the factor is 1. Under
    ``match_rms_adamw`` (0.2·√max(A, B)) and ``spectral`` (√max(A, B)) s grows as √m: the factor
    is 1/√m, for every aspect ratio (so the value below uses A = B = 1).

    Symbols: m = width_target / width_proxy; A = fan_out, B = fan_in.
    """
    R._positive("width ratio m", width_ratio)
    s = S.SHAPE_FACTORS[S.check_convention(convention)]
    return s(1.0, 1.0) / s(width_ratio, width_ratio)


@R.rule(
    "muon-wd-width",
    axis="width", hp=("weight_decay",), groups=MUON_GROUPS, choice="muon_wd_width_rule",
    symbols={"timescale": "1/f_η", "independent": "1/m", "fixed": "1", "zero": "0"},
    title="Muon weight decay vs width (four published answers)",
    invariant="timescale: τ_iter = 1/(η·λ) with the unadjusted η; independent: λ·width; "
    "fixed: λ; zero: none (no decay)",
    convention="decoupled, p ← p·(1 − η·λ) with the unadjusted η (torch.optim.Muon)",
    validity="the papers disagree: timescale is nanochat's current choice (no published width "
    "sweep for Muon); independent λ ∝ 1/width: Qiu et al. (arXiv 2512.05620); fixed λ = 0.1 at "
    "every size: Moonlight (arXiv 2502.16982, §2.2); zero: arXiv 2603.28743. The last three as "
    "issue 20 summarises them, not re-verified by hpscale",
    reference="Qiu et al., arXiv 2512.05620 (independent); Liu et al. 2025, Muon is Scalable for LLM "
    "Training, arXiv 2502.16982, §2.2 (fixed); arXiv 2603.28743 (zero); PyTorch 2.13.0, "
    "torch/optim/_muon.py, _single_tensor_muon (decay with the unadjusted lr)",
)
def muon_wd_width_factor(rule: str, width_ratio: float, lr_width_factor: float) -> float:
    """λ_target / λ_proxy along width for a Muon group.

    - ``timescale`` (default): 1/f_η, which keeps η·λ (τ_iter) where f_η is the width factor of
      the unadjusted lr (``muon_width_lr_factor``: 1 under ``original``, 1/√m under
      ``match_rms_adamw``, so λ × √m there);
    - ``independent``: 1/m (λ ∝ 1/width);
    - ``fixed``: 1;
    - ``zero``: 0 (the target trains its hidden matrices without decay).

    Symbols: m = width_target / width_proxy, f_η = η_target/η_proxy along width.
    """
    R._positive("width ratio m", width_ratio)
    R._positive("lr width factor f_η", lr_width_factor)
    factors = {"timescale": 1.0 / lr_width_factor, "independent": 1.0 / width_ratio, "fixed": 1.0, "zero": 0.0}
    if rule not in factors:
        raise InputError(f"muon_wd_width_rule: {rule!r}: allowed: {', '.join(R.MUON_WD_WIDTH_RULES)}")
    return factors[rule]


@R.rule(
    "muon-batch-lr",
    axis="batch", hp=("lr",), groups=MUON_GROUPS, symbols={"": "√κ"},
    title="Muon lr vs batch size (√κ, assumed)",
    invariant="the same as Adam's square-root rule: the update noise per sample",
    convention="independent of the shape convention",
    validity="an ASSUMPTION for Muon: Malladi et al. derive √κ for Adam's SDE; nanochat applies "
    "it to Muon and calls it an assumption; hpscale knows no published batch sweep of Muon's lr. "
    "Muon's momentum is kept (flagged in the warnings)",
    reference="Malladi et al. 2022, On the SDEs and Scaling Rules for Adaptive Gradient "
    "Algorithms, arXiv 2205.10287 (Adam); nanochat (karpathy/nanochat) for its use with Muon",
)
def muon_batch_lr_factor(batch_ratio: float) -> float:
    """η_target / η_proxy = √κ (Adam's rule, assumed for Muon). Symbols: κ = B_target/B_proxy."""
    return R.sqrt_batch_lr_factor(batch_ratio)


@R.rule(
    "muon-timescale-wd",
    axis="batch", hp=("weight_decay",), groups=MUON_GROUPS,
    symbols={"batch": "√κ", "dataset": "1/ν"},
    title="Muon weight decay vs batch, data (assumed)",
    invariant="τ_epoch = B/(η·λ·N), with the unadjusted η",
    convention="decoupled, with the unadjusted η (torch.optim.Muon)",
    validity="an ASSUMPTION for Muon: Wang & Aitchison derive the timescale rule for AdamW; "
    "Muon's decay has the same form p·(1 − η·λ), but no Muon sweep of it is known to hpscale",
    reference="Wang & Aitchison 2024, How to set AdamW's weight decay as you scale model and "
    "dataset size, arXiv 2405.13698 (AdamW)",
)
def muon_timescale_wd_factor(lr_ratio: float, batch_ratio: float, dataset_ratio: float) -> float:
    """λ_target / λ_proxy = κ / (f_η·ν), which keeps τ_epoch = B/(η·λ·N): with f_η = √κ it is √κ
    along batch, and 1/ν along data. Symbols: f_η = η_target/η_proxy, κ batch ratio, ν dataset ratio."""
    return R.timescale_weight_decay_factor(lr_ratio, batch_ratio, dataset_ratio)


@R.rule(
    "muon-convention",
    axis="convention", hp=("lr", "weight_decay"), groups=MUON_GROUPS, symbols={"": "s_p/s_t"},
    title="Muon shape-convention conversion",
    invariant="the step η·s(A, B)·O and the shrink η·λ of every hidden matrix",
    convention="η' = η·s_proxy(A, B)/s_target(A, B); λ' = λ·η/η'",
    validity="exact for each matrix shape; the transfer shows the target's width × width matrix, "
    "and where s_proxy/s_target depends on the shape (e.g. original → match_rms_adamw on a d×4d "
    "matrix) hpscale.torch converts each matrix by its own shape",
    reference=S.TORCH_SOURCE + "; " + S.NVIDIA_SOURCE,
)
def muon_convention_factor(source: str, target: str, fan_out: float, fan_in: float) -> float:
    """s_source(A, B) / s_target(A, B) (``muon_shapes.convert_lr`` with η = 1)."""
    return S.convert_lr(1.0, fan_out, fan_in, source, target)


class Settings(NamedTuple):
    """A Muon run's settings beyond the per-group values (the config's ``muon`` section)."""

    convention: str  # the proxy trainer's shape convention
    momentum: float
    nesterov: bool


class Shared(NamedTuple):
    batch_lr: Factor
    batch_wd: Factor
    dataset_wd: Factor


def target_convention(settings: Settings, choices: RuleChoices) -> str:
    """The target trainer's convention: ``choices.muon_convention``, or the proxy's for ``proxy``."""
    return settings.convention if choices.muon_convention == "proxy" else choices.muon_convention


def read(config: Any, groups: dict[Group, GroupValues]) -> tuple[dict[Group, GroupValues], Settings]:
    """The hidden group's values from the config's ``muon`` section (``param_groups.hidden``
    still overrides them), and the run's Muon settings."""
    section = config.muon
    if config.optimizer.weight_decay_convention != "coupled":
        raise InputError(
            "optimizer.weight_decay_convention: 'independent' with a muon section: Muon decays as "
            "p·(1 − lr·weight_decay) (coupled); state the AdamW groups' weight decay coupled too"
        )
    out = dict(groups)
    for group in MUON_GROUPS:
        over = config.group_override(group)
        lr = over.lr if over.lr is not None else section.lr
        wd = over.weight_decay if over.weight_decay is not None else section.weight_decay
        out[group] = groups[group]._replace(lr=lr, weight_decay=wd, weight_decay_coupled=wd,
                                            eps=over.eps if over.eps is not None else section.eps)
    return out, Settings(section.convention, section.momentum, section.nesterov)


def prepare(ratios: Ratios, choices: RuleChoices) -> Shared:
    """The batch and data factors every Muon group shares (both assumed, see the rules)."""
    kappa, f_batch = ratios.batch, muon_batch_lr_factor(ratios.batch)
    return Shared(
        batch_lr=R.factor("muon-batch-lr", f_batch),
        batch_wd=R.factor("muon-timescale-wd", muon_timescale_wd_factor(f_batch, kappa, 1.0), "batch"),
        dataset_wd=R.factor("muon-timescale-wd", muon_timescale_wd_factor(1.0, 1.0, ratios.dataset), "dataset",
                            axis="dataset"),
    )


def compose_group(ctx: GroupContext) -> GroupResult:
    """One Muon group's target values: η by the spectral width rule, depth (as AdamW's hidden
    group), √κ (assumed) and the convention conversion; λ by the chosen width rule, the timescale
    along depth, batch and data, and the conversion; init std and multiplier by µP; ε kept."""
    group, values, ratios, choices, shared = ctx.group, ctx.values, ctx.ratios, ctx.choices, ctx.prepared
    settings: Settings = ctx.settings
    if ctx.law is not None:
        raise InputError.of("law", ": a fitted law is fitted on AdamW runs; hpscale does not apply it to the "
                         f"Muon-trained hidden group (leave {mention('law')} out, or fit a law on Muon runs)")
    m = ratios.width
    f_width = muon_width_lr_factor(settings.convention, m)
    lr_factors = [R.factor("muon-width-lr", f_width, settings.convention)]
    in_blocks = ratios.depth is not None and group in R.RESIDUAL_BLOCK_GROUPS
    if in_blocks:
        assert ratios.depth is not None
        lr_factors.append(R.factor("depth-lr", R.depth_lr_factor(ratios.depth, choices.depth_rule),
                                   choices.depth_rule))
    lr_factors.append(shared.batch_lr)
    rule = choices.muon_wd_width_rule
    wd_factors = [R.factor("muon-wd-width", muon_wd_width_factor(rule, m, f_width), rule)]
    if in_blocks:
        assert ratios.depth is not None
        wd_factors.append(R.factor("timescale-wd", 1.0 / R.depth_lr_factor(ratios.depth, choices.depth_rule),
                                   "depth", axis="depth"))
    wd_factors += (shared.batch_wd, shared.dataset_wd)
    lr_trainer, wd_trainer = values.lr * product(lr_factors), values.weight_decay * product(wd_factors)
    target = target_convention(settings, choices)
    if target != settings.convention:
        width = ctx.target.width
        conv = muon_convention_factor(settings.convention, target, width, width)
        lr_factors.append(R.factor("muon-convention", conv))
        wd_factors.append(R.factor("muon-convention", 1.0 / conv))
    lr_t, wd_t = values.lr * product(lr_factors), values.weight_decay * product(wd_factors)
    init_std, multiplier = model_quantities(group, values, m, choices.readout_rule)
    return GroupResult(
        lr=Quantity(values.lr, lr_t, tuple(lr_factors)),
        weight_decay=Quantity(values.weight_decay, wd_t, tuple(wd_factors)),
        init_std=init_std,
        multiplier=multiplier,
        eps=Quantity(values.eps, values.eps, ()),
        timescales_proxy=ctx.timescales_proxy,
        # η·λ is the same in either convention (the conversion keeps it).
        timescales_target=group_timescales(lr_trainer, wd_trainer, ctx.target.batch_size, ctx.target.dataset_size,
                                           ctx.epochs, f"target param_groups.{group}"),
    )


def alternatives(ctx: GroupContext, result: GroupResult) -> tuple[WidthRuleAlternative, ...]:
    """The hidden λ under each Muon weight-decay width rule (σ_top: Fan et al.'s law is AdamW's,
    so none), with τ_epoch of each."""
    lr_t = result.lr.target
    assert lr_t is not None
    settings: Settings = ctx.settings
    f_width = muon_width_lr_factor(settings.convention, ctx.ratios.width)
    # λ_t without its width factor; each rule's factor applied to it.
    base = ctx.values.weight_decay * product(tuple(f for f in result.weight_decay.factors if f.rule != "muon-wd-width"))
    out = []
    for rule in R.MUON_WD_WIDTH_RULES:
        wd = base * muon_wd_width_factor(rule, ctx.ratios.width, f_width)
        tau = R.tau_epoch(lr_t, wd, ctx.target.batch_size, ctx.target.dataset_size) if wd > 0 else math.inf
        out.append(WidthRuleAlternative(rule, wd, None, tau if tau < math.inf else None))  # type: ignore[arg-type]
    return tuple(out)


def notes(settings: Settings, ratios: Ratios, choices: RuleChoices) -> tuple[str, ...]:
    """Warnings of every transfer of a Muon group: the kept momentum across batch sizes."""
    if ratios.batch == 1:
        return ()
    return (f"muon.momentum: {settings.momentum:g} is kept while the batch changes ×{ratios.batch:.4g}: "
            "no published rule moves Muon's momentum with the batch, and the √κ lr rule is assumed "
            "for Muon (nanochat calls it an assumption); sweep both at the target if it matters",)


def group_options(settings: Settings, choices: RuleChoices, result: GroupResult) -> dict[str, Any]:
    """``torch.optim.Muon``'s keyword arguments of one group, and the target's convention
    (``adjust_lr_fn`` where PyTorch implements it, else null: another trainer's convention)."""
    convention = target_convention(settings, choices)
    return {
        "lr": result.lr.target,
        "weight_decay": result.weight_decay.target,
        "momentum": settings.momentum,
        "nesterov": settings.nesterov,
        "eps": result.eps.target,
        "convention": convention,
        "adjust_lr_fn": convention if convention in S.TORCH_CONVENTIONS else None,
    }


def for_target(config: Any, choices: RuleChoices) -> RuleChoices:
    """``check``: a target's ``muon.convention`` is its trainer's; predict in it (unless
    ``muon_convention`` already names one)."""
    section = getattr(config, "muon", None)
    if section is None or choices.muon_convention != "proxy":
        return choices
    return replace(choices, muon_convention=section.convention)


#: The short names ``fit`` gives the Muon predictions (``hpscale.core.fit.SOURCES`` says who).
FIT_LABELS = {"width": "spectral cond.", "batch": "√κ assumed", "timescale": "η·λ kept", "independent": "1/width",
              "fixed": "fixed λ"}


def fit_lines(group: Group, lr_optimized: bool, convention: str | None) -> list[RuleLine]:
    """The exponents Muon's rules predict for a sweep of the Muon-trained ``group`` whose lr is
    the one its trainer was given under shape ``convention`` (``hpscale fit``'s verdicts).

    lr vs width: ``muon_width_lr_factor`` (0 under ``original`` and ``unit_rms_norm``, −½ under
    ``match_rms_adamw`` and ``spectral``); vs depth: the depth rules (residual blocks, as
    AdamW's hidden group); vs batch: √κ (assumed). λ vs width: each ``muon_wd_width_factor``
    but ``zero``; vs data and batch: the timescale rule at a fixed η (λ ∝ B/N), or with η ∝ √κ
    when the lr was swept too (λ ∝ √κ). Every exponent is ``rule_exponent`` of the rule.

    Raises ``InputError`` for a group Muon does not train, a missing or unknown convention.
    """
    if group not in MUON_GROUPS:
        raise InputError.of("group", f": {group!r}: Muon trains {', '.join(MUON_GROUPS)} only; a sweep of the "
                            f"{group} group's lr is AdamW's (leave the optimizer at adamw)")
    if convention is None:
        raise InputError.of("muon_convention", ": missing: a Muon lr means a different step under each shape "
                            f"convention; give the one the sweep's trainer used: {', '.join(S.CONVENTIONS)}")
    if convention not in S.CONVENTIONS:
        raise InputError.of("muon_convention", f": {convention!r}: allowed: {', '.join(S.CONVENTIONS)}")
    label = FIT_LABELS.__getitem__
    lines = [RuleLine("lr", "width", "muon-width-lr", convention, label("width"),
                      rule_exponent(functools.partial(muon_width_lr_factor, convention)),
                      f"η as a {convention} trainer takes it")]
    if group in R.RESIDUAL_BLOCK_GROUPS:
        for depth_rule in R.DEPTH_RULES:
            lines.append(RuleLine("lr", "depth", "depth-lr", depth_rule, R.RULES["depth-lr"].label(depth_rule),
                                  rule_exponent(functools.partial(R.depth_lr_factor, depth_rule=depth_rule)),
                                  "residual branches × L^−α"))
    lines.append(RuleLine("lr", "batch_size", "muon-batch-lr", "", label("batch"),
                          rule_exponent(muon_batch_lr_factor), "assumed for Muon"))
    for rule in R.MUON_WD_WIDTH_RULES:
        if rule == "zero":
            continue  # λ = 0 has no exponent to compare
        exponent = rule_exponent(functools.partial(_wd_vs_width, rule, convention))
        lines.append(RuleLine("weight_decay", "width", "muon-wd-width", rule, label(rule), exponent,
                              f"with the {convention} lr rule"))
    if not lr_optimized:
        lines.append(RuleLine("weight_decay", "dataset_size", "muon-timescale-wd", "dataset", _CONSTANT_TAU,
                              rule_exponent(lambda nu: muon_timescale_wd_factor(1.0, 1.0, nu)), "at fixed η and B"))
        lines.append(RuleLine("weight_decay", "batch_size", "muon-timescale-wd", "batch", _CONSTANT_TAU,
                              rule_exponent(lambda k: muon_timescale_wd_factor(1.0, k, 1.0)), "at fixed η"))
    else:
        lines.append(RuleLine("weight_decay", "batch_size", "muon-timescale-wd", "batch", label("batch"),
                              rule_exponent(lambda k: muon_timescale_wd_factor(muon_batch_lr_factor(k), k, 1.0)),
                              "with η* ∝ √κ (assumed)"))
    return lines


def _wd_vs_width(rule: str, convention: str, m: float) -> float:
    """λ factor along width under ``rule`` with the lr following ``convention``'s width rule."""
    return muon_wd_width_factor(rule, m, muon_width_lr_factor(convention, m))


_CONSTANT_TAU = R.RULES["timescale-wd"].label("constant")  # the label AdamW's lines give it


MUON = OptimizerSpec(
    name="muon",
    title="Muon (torch.optim.Muon)",
    section="muon",
    groups=MUON_GROUPS,
    default_groups=MUON_GROUPS,
    options=("lr", "weight_decay", "momentum", "nesterov", "eps", "adjust_lr_fn"),
    torch_class="torch.optim.Muon",
    conventions=("coupled",),
    rules=("muon-width-lr", "depth-lr", "muon-batch-lr", "muon-wd-width", "timescale-wd", "muon-timescale-wd",
           "muon-convention", "mup-init", "mup-multiplier"),
    prepare=prepare,
    compose_group=compose_group,
    read=read,
    notes=notes,
    alternatives=alternatives,
    group_options=group_options,
    for_target=for_target,
    fit_lines=fit_lines,
)
