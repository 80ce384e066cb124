"""``hpscale plan``: the published laws' lr and batch size for a planned run, side by side.

parse → ``hpscale.core.published`` (each shipped law evaluated at the request; with ``--proxy``
also one ``transfer``) → render (table | json | yaml). The JSON contract (``schema_version`` 1,
``kind: hpscale-plan``) is documented in docs/plan.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import options as O

if TYPE_CHECKING:
    from ..core.published import LawPlan

PLAN_FORMATS = ("table", "json", "yaml")


def _contract(request: dict[str, Any], plans: list[LawPlan], seq_len: float,
              transfer: dict[str, Any] | None) -> dict[str, Any]:
    from ..core.published import DISAGREE, disagreement, spread

    laws = []
    for p in plans:
        provenance = p.law.provenance or {}
        laws.append({
            "name": p.name,
            "source": provenance.get("source"),
            "fitted_on": provenance.get("fitted_on"),
            "lr": p.lr,
            "batch_size": None if p.batch_tokens is None else
            {"tokens": p.batch_tokens, "sequences": p.batch_tokens / seq_len},
            "outside_range": [{"quantity": o.quantity, "value": o.value, "range": list(o.range),
                               "beyond": o.beyond} for o in p.outside],
        })
    if transfer is not None:
        flags = []
        for p in plans:
            for hp, law_value, ours in (("lr", p.lr, transfer["lr"]),
                                        ("batch_size", p.batch_tokens, transfer["batch_size"]["tokens"])):
                ratio = disagreement(ours, law_value)
                if ratio is not None and ratio > DISAGREE:
                    flags.append({"law": p.name, "hp": hp, "transfer": ours, "law_value": law_value,
                                  "ratio": ratio})
        transfer = {**transfer, "disagree": flags}
    return {"schema_version": 1, "kind": "hpscale-plan", "request": request, "laws": laws,
            "spread": {"lr": spread(plans, "lr"), "batch_size": spread(plans, "batch_size")},
            "transfer": transfer, "critical_batch": _critical(request["tokens"], seq_len, laws, transfer)}


def _critical(tokens: float, seq_len: float, laws: list[dict[str, Any]],
              transfer: dict[str, Any] | None) -> dict[str, Any]:
    """Zhang et al.'s critical-batch estimate at the planned tokens (``hpscale.core.critical``) and
    the laws (and the transfer) whose batch lies above it (additive field, issue 21)."""
    from ..core.critical import ZHANG_FITTED_TOKENS, zhang_critical_batch

    estimate = zhang_critical_batch(tokens)
    batches = [(law["name"], law["batch_size"]) for law in laws]
    if transfer is not None:
        batches.append(("transfer", transfer["batch_size"]))
    return {"tokens": estimate.tokens, "sequences": estimate.tokens / seq_len, "training_tokens": tokens,
            "fitted_tokens": list(ZHANG_FITTED_TOKENS), "beyond": estimate.beyond, "source": estimate.source,
            "above": [name for name, batch in batches if batch is not None and batch["tokens"] > estimate.tokens]}


def _tokens(value: float) -> str:
    return f"{value / 1e6:.3g}M" if value >= 1e5 else f"{value:,.0f}"


def _table(doc: dict[str, Any], color: bool | None) -> str:
    from rich import box
    from rich.table import Table

    from ..numbers import format_si
    from ..core.published import DISAGREE, SYMBOLS
    from ..outputs.common import render_rich
    from ..text import printable

    r = doc["request"]
    title = (f"hpscale plan: N {format_si(r['non_embedding_params'])} params, D {format_si(r['tokens'])} "
             f"tokens, C {r['compute']:.3g} FLOPs")
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    for column, justify in (("law", "left"), ("lr", "right"), ("batch tokens", "right"),
                            ("sequences", "right"), ("beyond fitted range", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for law in doc["laws"]:
        batch = law["batch_size"]
        where = ", ".join(f"{SYMBOLS.get(o['quantity'], o['quantity'])} ×{o['beyond']:.3g}"
                          for o in law["outside_range"]) or "inside"
        table.add_row(law["name"], "—" if law["lr"] is None else f"{law['lr']:.3g}",
                      "—" if batch is None else _tokens(batch["tokens"]),
                      "—" if batch is None else f"{batch['sequences']:,.0f}", where)
    transfer = doc["transfer"]
    lines = []
    if transfer is not None:
        batch = transfer["batch_size"]
        table.add_row("transfer", f"{transfer['lr']:.3g}", _tokens(batch["tokens"]), f"{batch['sequences']:,.0f}", "")
        lines.append(f"transfer: {printable(transfer['proxy'])} moved to the planned model (hidden-group lr)")
    spread = doc["spread"]
    if spread["lr"] is not None:
        lines.append(f"spread between laws: lr ×{spread['lr']:.3g}, batch ×{spread['batch_size']:.3g}")
    if transfer is not None:
        for flag in transfer["disagree"]:
            lines.append(f"transfer and {flag['law']} disagree on {flag['hp']}: ×{flag['ratio']:.3g} "
                         f"(more than ×{DISAGREE:g})")
    critical = doc["critical_batch"]
    far = "" if critical["beyond"] is None else f", D ×{critical['beyond']:.3g} past its fit"
    above = ", ".join(critical["above"])
    lines.append(f"critical batch ≈ {_tokens(critical['tokens'])} tokens (Zhang et al.{far}): "
                 + (f"{above} above it" if above else "no batch above it"))
    return render_rich([table, *lines], color=color)


def plan_command(
    params: Annotated[str | None, typer.Option("--params", metavar="N", show_default=False,
                                               help="Model size: non-embedding parameters (1.2B).")] = None,
    width: Annotated[str | None, typer.Option("--width", metavar="W", show_default=False,
                                              help="Model width d_model (with --depth, instead of --params: N = 12·L·W²).")] = None,
    depth: Annotated[str | None, typer.Option("--depth", metavar="L", show_default=False,
                                              help="Model depth in residual blocks (with --width).")] = None,
    model: Annotated[str | None, typer.Option("--model", metavar="FILE", show_default=False,
                                              help="Take the model size from this config (model.width, model.depth, model.params).")] = None,
    tokens: Annotated[str | None, typer.Option("--tokens", metavar="D", show_default=False,
                                               help="Token budget of the run (100B).")] = None,
    seq_len: Annotated[str, typer.Option("--seq-len", metavar="L_SEQ", help="Sequence length in tokens.")] = "2048",
    compute: Annotated[str | None, typer.Option("--compute", metavar="C", show_default=False,
                                                help="Compute budget in FLOPs (default: M·D, M the non-embedding FLOPs per token).")] = None,
    law: Annotated[list[str] | None, typer.Option("--law", metavar="NAME|FILE", show_default=False,
                                                  help="A law to evaluate (repeatable; default: every shipped law).")] = None,
    proxy: Annotated[str | None, typer.Option("--proxy", metavar="FILE", show_default=False,
                                              help="A tuned proxy config: also transfer it to the planned model and flag a law more than 2× away.")] = None,
    batch_size: O.BatchOpt = None,
    extrapolate: Annotated[bool, typer.Option("--extrapolate", help="Evaluate even when the request lies outside every law's fitted range.")] = False,
    format: O.format_option(PLAN_FORMATS) = "table",  # type: ignore[valid-type]
    output: O.OutputOpt = None,
) -> None:
    """Plan a run from the published laws: each law's lr and batch size side by side.

    Example: hpscale plan --params 1B --tokens 100B --seq-len 2048. Each law is evaluated in its
    own variables (docs/plan.md); the table shows how far the request lies beyond each law's
    fitted range, and the spread between laws.
    """
    from ..core.published import Request, evaluate, quantities
    from ..errors import InputError
    from ..lawfile import read_law, shipped_laws
    from ..output import emit

    output_file = O.output_option(output)
    fmt = O.choice("--format", format, PLAN_FORMATS)
    sizes = {"params": O.size_option("--params", params), "width": O.size_option("--width", width, whole=True),
             "depth": O.size_option("--depth", depth, whole=True)}
    inputs: list[Path] = []
    if model is not None:
        if any(v is not None for v in sizes.values()):
            raise InputError("--model: give the model size once: --model, or --params, or --width and --depth")
        from ..loader import load_config

        run = load_config(model)
        sizes = {"params": run.model.params, "width": run.model.width, "depth": run.model.depth}
        inputs.append(Path(model))
    if sizes["params"] is None and (sizes["width"] is None or sizes["depth"] is None):
        raise InputError("--params: the model size is needed: --params N, or --width W and --depth L, or --model FILE")
    if tokens is None:
        raise InputError("--tokens: the token budget is needed (e.g. --tokens 100B)")
    if batch_size is not None and proxy is None:  # it would change nothing: refused, not ignored
        raise InputError("--batch-size: only used with --proxy (the batch the proxy is transferred to)")
    request = Request(tokens=O.size_option("--tokens", tokens), seq_len=O.size_option("--seq-len", seq_len),  # type: ignore[arg-type]
                      compute=O.size_option("--compute", compute), **sizes)
    values = quantities(request)
    laws = [read_law(name) for name in (law or shipped_laws())]
    plans = [evaluate(one, values) for one in laws]
    if plans and all(p.outside for p in plans) and not extrapolate:
        nearest = min(plans, key=lambda p: max(o.beyond for o in p.outside))
        worst = max(nearest.outside, key=lambda o: o.beyond)
        raise InputError(
            f"--tokens/--params/--compute: the request lies outside every law's fitted range (nearest: "
            f"{nearest.name}, {worst.quantity} {worst.value:.3g} is ×{worst.beyond:.3g} beyond "
            f"{worst.range[0]:.3g}–{worst.range[1]:.3g}); pass --extrapolate to evaluate anyway")
    transfer = None
    if proxy is not None:
        transfer = _transfer(proxy, request, batch_size)
        inputs.append(Path(proxy))
    request_json = {"tokens": request.tokens, "seq_len": request.seq_len, **values,
                    "flops_per_token_from": "72·L·W² + 12·L·W·l_seq" if request.width and request.depth
                    else "6·N", "compute_from": "given" if request.compute is not None else "M·D"}
    doc = _contract(request_json, plans, request.seq_len, transfer)
    if fmt == "json":
        from ..contract import dumps_json

        text = dumps_json(doc)
    elif fmt == "yaml":
        import yaml

        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    else:
        text = _table(doc, None if output_file is None else False)
    emit(text, output_file, inputs)


def _transfer(proxy: str, request: Any, batch_size: str | None) -> dict[str, Any]:
    """The proxy transferred to the planned model: its hidden-group lr and its batch in tokens."""
    from ..api import transfer
    from ..errors import InputError
    from ..loader import load_config

    if request.width is None:
        raise InputError("--proxy: needs the planned model's --width (and --depth) to transfer to")
    run = load_config(proxy)
    result = transfer(run, width=request.width, depth=request.depth if run.model.depth else None,
                      dataset_size=request.tokens if run.data.unit == "tokens"
                      else max(1, round(request.tokens / request.seq_len)),  # whole samples
                      batch_size=O.size_option("--batch-size", batch_size))
    batch = result.target.batch_size
    tokens = batch if result.unit == "tokens" else batch * request.seq_len
    return {"proxy": run.name or Path(proxy).stem, "lr": result.groups["hidden"].lr.target,
            "batch_size": {"tokens": tokens, "sequences": tokens / request.seq_len}}
