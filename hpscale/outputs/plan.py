"""``hpscale plan``'s outputs: its ``--format`` choices, the table, JSON and YAML (the result is
``hpscale.core.plan_result.PlanResult``; its contract is ``to_json_dict``). No rich or yaml at
import time: the JSON path stays lean."""

from __future__ import annotations

from typing import Any

FORMATS = ("table", "json", "yaml")


def render(result: Any, fmt: str, color: bool | None) -> str:
    """The text ``hpscale plan --format fmt`` prints for ``result``."""
    doc = result.to_json_dict()
    if fmt == "json":
        from ..contract import dumps_json

        return dumps_json(doc)
    if fmt == "yaml":
        from ..contract import dumps_yaml

        return dumps_yaml(doc)
    return render_table(doc, color)


def _tokens(value: float) -> str:
    return f"{value / 1e6:.3g}M" if value >= 1e5 else f"{value:,.0f}"


def render_table(doc: dict[str, Any], color: bool | None) -> str:
    """One row per law (and the transfer): lr, batch in tokens and sequences, how far beyond its
    fitted range; then the spread, the disagreements and the critical batch, one line each."""
    from rich import box
    from rich.table import Table

    from ..core.published import DISAGREE, SYMBOLS
    from ..numbers import format_si
    from ..text import printable
    from .common import render_rich

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
