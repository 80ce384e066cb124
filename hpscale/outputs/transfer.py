"""``hpscale transfer``'s outputs: its ``--format`` choices, the report's Rich tables, the JSON
contract's text and the target config as YAML (the result and its contract are
``hpscale.core.transfer_result.TransferResult``; ``--format overrides`` is
``hpscale.plan.overrides_json``, a trainer's config ``hpscale.export``).

Rich is imported only for the table format (it is the slowest import on the JSON path), yaml
only for the YAML one.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..export import FORMATS as EXPORT_FORMATS
from .common import fmt_exponent, fmt_value, render_rich, table_width

if TYPE_CHECKING:
    from ..core.transfer_result import Quantity, TransferResult

#: ``--format`` choices (the first is the default): the report, the JSON contract, a target
#: config; ``overrides``: the groups as parameter-name lists (``hpscale.plan.overrides_json``);
#: then one trainer config per exporter (``hpscale.export``).
FORMATS = ("table", "json", "yaml", "overrides", *EXPORT_FORMATS)


def render(result: TransferResult, fmt: str, *, color: bool | None = None, derivation: bool = False) -> str:
    """The result as text in ``fmt`` (table | json | yaml); ``derivation`` adds JSON ``factors``."""
    if fmt == "json":
        from ..contract import dumps_json

        return dumps_json(result.to_json_dict(derivation=derivation))
    if fmt == "yaml":
        return dumps_target_yaml(result)
    return render_rich(transfer_renderables(result), color=color)


def fmt_size(value: float) -> str:
    """A batch or dataset size written out exactly (491,520), or in scientific notation beyond
    the digits a reader can count."""
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.1f}" if abs(value) < 1e15 else f"{value:.4g}"


def fmt_factors(quantity: Quantity) -> str:
    """'µP ×0.0625 · √κ ×2' — every factor that is not exactly 1, with its symbol."""
    parts = [f"{f.symbol} ×{f.value:.4g}" for f in quantity.factors if f.value != 1.0]
    return " · ".join(parts) if parts else "×1"


def fmt_rules(quantity: Quantity) -> str:
    return ", ".join(dict.fromkeys(f.rule for f in quantity.factors if f.value != 1.0)) or "—"


#: Below this width the per-group table leaves out its rules column (the factors name each
#: rule's symbol; ``--format json --derivation`` and ``hpscale explain`` give the rule keys).
WIDE_TABLE = 110


def transfer_renderables(result: TransferResult, width: int | None = None) -> list[Any]:
    """The Rich tables of the report, in reading order, laid out for ``width`` columns."""
    from rich import box
    from rich.table import Table

    from ..text import printable

    wide = (width or table_width()) >= WIDE_TABLE
    r = result.ratios
    scale = Table(title=f"hpscale transfer — {printable(result.name or 'proxy')}", box=box.SIMPLE_HEAD,
                  title_justify="left")
    for column in ("scale", "proxy", "target", "ratio"):
        scale.add_column(column, justify="left" if column == "scale" else "right")
    unit = result.unit
    scale.add_row("width W", f"{result.proxy.width:,}", f"{result.target.width:,}", f"m = {r.width:.4g}")
    scale.add_row(f"batch size B ({unit}/step)", fmt_size(result.proxy.batch_size),
                  fmt_size(result.target.batch_size), f"κ = {r.batch:.4g}")
    scale.add_row(f"dataset size N ({unit}/epoch)", fmt_size(result.proxy.dataset_size),
                  fmt_size(result.target.dataset_size), f"ν = {r.dataset:.4g}")
    if result.target.depth is not None:
        scale.add_row("depth L", str(result.proxy.depth), str(result.target.depth),
                      f"m_L = {r.depth:.4g}" if r.depth is not None else "1")
    spe = result.steps_per_epoch
    scale.add_row("steps per epoch N/B", f"{spe[0]:,.1f}", f"{spe[1]:,.1f}", f"ν/κ = {spe[1] / spe[0]:.4g}")
    epochs = f"{result.epochs:g} epoch{'' if result.epochs == 1 else 's'}"
    scale.add_row(f"total steps ({epochs})", f"{spe[0] * result.epochs:,.0f}",
                  f"{spe[1] * result.epochs:,.0f}", "")
    if r.tokens_per_param is not None:
        scale.add_row("tokens per parameter (TPP)", "", "", f"TPP_t/TPP_p = {r.tokens_per_param:.4g}")

    groups = Table(title=f"Per parameter group (weight decay: {result.convention} convention)",
                   box=box.SIMPLE_HEAD, title_justify="left")
    columns = [("group", "left"), ("", "left"), ("proxy", "right"), ("target", "right"), ("factors", "left")]
    for column, justify in columns + ([("rules", "left")] if wide else []):
        groups.add_column(column, justify=justify, no_wrap=column in ("proxy", "target"))  # type: ignore[arg-type]
    for name, g in result.groups.items():
        for label, quantity in (("lr η", g.lr), ("wd λ", g.weight_decay), ("init σ", g.init_std),
                                ("mult.", g.multiplier),
                                ("Muon ε" if result.optimizers[name] == "muon" else "Adam ε", g.eps)):
            cells = [name if label == "lr η" else "", label, fmt_value(quantity.proxy),
                     fmt_value(quantity.target), fmt_factors(quantity)]
            groups.add_row(*cells, *([fmt_rules(quantity)] if wide else []))
        groups.add_section()
    if not wide:
        groups.caption = "rule keys: --format json --derivation; formulas: hpscale explain\n"
        groups.caption_justify = "left"

    adam = Table(title="Adam, warmup and model EMA", box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("hyperparameter", "proxy", "target", "rule"):
        adam.add_column(column, justify="right" if column in ("proxy", "target") else "left")
    beta_rule = {"linear": "1 − κ(1 − β)", "exponential": "β^κ", "keep": "kept"}[result.choices.beta_rule]
    for label, quantity in (("β1", result.betas[0]), ("β2", result.betas[1])):
        adam.add_row(label, fmt_value(quantity.proxy, 6), fmt_value(quantity.target, 6), f"sqrt-batch-beta: {beta_rule}")
    # The run's one ε is the embedding group's (batch and width rules), as JSON's optimizer.eps.
    moved = [f"{f.rule}: {f.symbol}" for f in result.eps.factors if f.value != 1.0]
    adam.add_row("ε (optimizer)", fmt_value(result.eps.proxy), fmt_value(result.eps.target),
                 ", ".join(moved) or "kept")
    if result.ema_decay is not None:
        adam.add_row("EMA decay ρ", fmt_value(result.ema_decay.proxy, 6),
                     fmt_value(result.ema_decay.target, 6), "ema-decay: ρ^κ")
    if result.warmup_steps is not None:
        adam.add_row("warmup steps", f"{result.warmup_steps.proxy:,.0f}",
                     f"{round(result.warmup_steps.target or 0):,}", "warmup-samples: w/κ")
    for group, options in result.optimizer_options.items():
        adam.add_row(f"Muon momentum ({group})", fmt_value(options["momentum"]), fmt_value(options["momentum"]),
                     "kept (assumed)")
        adam.add_row(f"Muon convention ({group})", "", str(options["convention"]), "s(A, B) of the target trainer")
    if result.residual_multiplier is not None:
        adam.add_row("residual multiplier", fmt_value(result.residual_multiplier.proxy),
                     fmt_value(result.residual_multiplier.target),
                     f"depth-residual: m_L^−α ({result.choices.depth_rule})")

    scales = Table(title="AdamW timescales, proxy → target", box=box.SIMPLE_HEAD, title_justify="left",
                   caption="τ_iter = 1/(η·λ) steps, τ_epoch = B/(η·λ·N) epochs; ∞: no weight decay\n",
                   caption_justify="left")
    for column in ("group", "τ_iter (steps)", "τ_epoch (epochs)", "target τ / run"):
        scales.add_column(column, justify="left" if column == "group" else "right")
    for name, g in result.groups.items():
        p, t = g.timescales_proxy, g.timescales_target
        scales.add_row(name, f"{_tau(p.tau_iter)} → {_tau(t.tau_iter)}",
                       f"{_tau(p.tau_epoch, 4)} → {_tau(t.tau_epoch, 4)}", _tau(t.tau_run_fraction, 3))

    alternatives = Table(title="Hidden weight decay vs width: the three published rules",
                         box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("width rule", "λ ∝", "hidden λ", "τ_epoch", "σ_top ratio", ""):
        alternatives.add_column(column, justify="left" if column in ("width rule", "λ ∝", "") else "right")
    laws = {"timescale": "m (Wang & Aitchison)", "sqrt": "√m (Fan et al.)", "constant": "1 (plain µP)"} \
        if wide else {"timescale": "m", "sqrt": "√m", "constant": "1"}
    law_width = any(f.rule.startswith("law:") and f.axis in ("width", "params")
                    for f in result.groups["hidden"].weight_decay.factors)
    chosen_rule: str = result.choices.wd_width_rule
    if result.optimizers["hidden"] == "muon":
        alternatives.title = "Hidden (Muon) weight decay vs width: the four published rules"
        laws = {"timescale": "1/f_η (η·λ kept)", "independent": "1/m (Qiu et al.)", "fixed": "1 (Moonlight)",
                "zero": "0"}
        chosen_rule = result.choices.muon_wd_width_rule
    for alt in result.alternatives:
        chosen = "◀ chosen" if alt.rule == chosen_rule and not law_width else ""
        alternatives.add_row(alt.rule, laws[alt.rule], fmt_value(alt.weight_decay), _tau(alt.tau_epoch, 4),
                             fmt_value(alt.sigma_top_ratio, 4), chosen)
    alternatives.caption = (
        "f_η: the Muon lr's width factor. σ_top: Fan et al.'s law is AdamW's. Choose with "
        "--muon-wd-width-rule." if result.optimizers["hidden"] == "muon" else
        ("" if wide else "timescale: Wang & Aitchison 2024; sqrt: Fan et al. 2025; constant: plain µP. ")
        + "σ_top ratio: Fan et al.'s √((η_t/λ_t)/(η_p/λ_p))·m^0.75 with this target's η and λ "
        "(batch and data included). Choose with --wd-width-rule"
        + (", or fit a law: here the hidden λ follows the law." if law_width else ".")
    )
    alternatives.caption_justify = "left"
    tables = [scale, groups, adam, scales, alternatives]
    if result.lr_horizon_alternatives and result.ratios.dataset != 1:
        alternatives.caption += "\n"
        tables.append(_horizon_table(result))
    if result.law is not None:
        tables.insert(2, law_table(result))
    return tables


def _horizon_table(result: TransferResult) -> Any:
    """The hidden lr under each token-horizon rule (``--lr-horizon-rule``), the chosen one marked."""
    from rich import box
    from rich.table import Table

    table = Table(title="Hidden lr vs token horizon (at a fixed model)",
                  box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("horizon rule", "η ∝", "hidden η", ""):
        table.add_column(column, justify="right" if column == "hidden η" else "left")
    sources = {"none": "1 (kept)", "deepseek": "D^−0.125 (DeepSeek)", "steplaw": "D^0.3075 (Step Law)"}
    law_data = any(f.rule.startswith("law:") and f.axis == "dataset" for f in result.groups["hidden"].lr.factors)
    for alt in result.lr_horizon_alternatives:
        chosen = "◀ chosen" if alt.rule == result.choices.lr_horizon_rule and not law_data else ""
        table.add_row(alt.rule, sources.get(alt.rule, f"D^{alt.exponent:g}"), fmt_value(alt.lr), chosen)
    table.caption = ("The laws disagree in sign (docs/rules.md). Choose with --lr-horizon-rule"
                     + (", or fit a law: here the hidden η follows the law." if law_data else "."))
    table.caption_justify = "left"
    return table


def law_table(result: TransferResult) -> Any:
    """The fitted law a transfer used: each applied exponent, its interval, the groups it moves,
    and what the published rules predict for the same hp and axis (``hpscale.core.fit``)."""
    from rich import box
    from rich.table import Table

    from ..core.fit import rule_lines
    from ..core.law import GROUP_AXES
    from ..core.published import law_at_scale
    from ..core.scale import params_of
    from ..text import printable

    law = result.law
    assert law is not None
    level = f"{law.confidence:.0%}" if law.confidence else "interval"
    table = Table(title=f"Fitted law {printable(law.name)} ({printable(law.path)}), used instead of the rules "
                  "on its axes", box=box.SIMPLE_HEAD, title_justify="left", caption_justify="left")
    for column, justify in (("hp", "left"), ("axis", "left"), ("groups", "left"), ("law a", "right"),
                            (level, "right"), ("published rules: a", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    lines = rule_lines(law.group, lr_optimized=law.lr_optimized)
    for term in law.applied():
        for axis, exponent in term.exponents.items():
            lo, hi = term.exponent_ci[axis]
            published = ", ".join(f"{line.label} {fmt_exponent(line.exponent)}"
                                  for line in lines if (line.hp, line.axis) == (term.hp, axis)) or "—"
            table.add_row(term.hp, axis, law.group if axis in GROUP_AXES else "all",
                          f"{exponent:+.3f}".replace("-", "−"),
                          f"[{lo:+.2f}, {hi:+.2f}]".replace("-", "−"), published)
    skipped = [hp for hp in law.terms if hp not in ("lr", "weight_decay")]
    beyond = ", ".join(f"{o.quantity} ×{o.beyond:.3g}"
                       for o in law_at_scale(law, result.target, params_of(result.target), result.unit)[1])
    table.caption = (f"factors named law:{printable(law.name)}; sha256 {law.sha256[:16]}…"
                     + (f"; not applied here: {', '.join(skipped)}" if skipped else "")
                     + (f"\ntarget beyond the law's fitted range: {beyond}" if beyond else "") + "\n")
    return table


def _tau(value: float | None, digits: int = 5) -> str:
    """A timescale; ``None`` is ∞ (λ = 0: no decay)."""
    return fmt_value(value if value is not None else float("inf"), digits)


def _repeat_header(result: TransferResult) -> list[str]:
    """What the target's run-level values are: true for this target, not in general."""
    eps = {g.eps.target for g in result.groups.values()}
    same = "optimizer.eps is every group's ε" if len(eps) == 1 else \
        "the groups' ε differ: pass param_groups.*.eps (optimizer.eps is the embedding group's)"
    return ["# every group is explicit in param_groups, and check compares every value stated;",
            "# optimizer.lr/weight_decay and init_std repeat the embedding group's values;",
            f"# {same}"]



def dumps_target_yaml(result: TransferResult) -> str:
    """The target config as YAML, with a header naming the rules that produced it."""
    import yaml

    from ..text import json_safe

    choices = result.choices
    header = [
        # json.dumps escapes line breaks and control characters: a name cannot inject YAML.
        f"# generated by hpscale {__version__} transfer from "
        f"{json_safe(json.dumps(result.name, ensure_ascii=False)) if result.name else 'the proxy'}",
        f"# rules: wd-width={choices.wd_width_rule} readout={choices.readout_rule} "
        f"beta={choices.beta_rule} tau={choices.tau_rule} eps-width={choices.eps_width_rule}"
        + (f" depth={choices.depth_rule}" if result.ratios.depth is not None else "")
        + (f" lr-horizon={choices.lr_horizon_rule}" if choices.lr_horizon_rule != "none" else ""),
        *([f"# law: {json_safe(json.dumps(result.law.name, ensure_ascii=False))} from "
           f"{json_safe(json.dumps(result.law.path, ensure_ascii=False))} "
           f"(sha256 {result.law.sha256[:16]}…) replaces the rules on the axes it covers"] if result.law else []),
        *_repeat_header(result),
    ]
    header += [f"# warning: {w}" for w in result.warnings]
    body = yaml.safe_dump(
        result.to_target_config(), sort_keys=False, allow_unicode=True, default_flow_style=None
    )
    return "\n".join(header) + "\n" + body
