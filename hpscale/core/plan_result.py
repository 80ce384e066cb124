"""The result of ``hpscale plan`` (``hpscale.plan_from_laws``) and its JSON contract. Pure: no
I/O, no printing.

The contract (``schema_version`` 1, ``kind: hpscale-plan``; fields in docs/plan.md): the request
and its quantities (``hpscale.core.published.quantities``), each law's lr and batch with the
quantities beyond its fitted range, the spread between laws, the proxy's transfer with the laws
more than ``DISAGREE``× away from it, and Zhang et al.'s critical-batch estimate at the planned
tokens with the batches above it (``hpscale.core.critical``; additive, issue 21).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .frozen import FrozenMap
from .published import LawPlan, Request

#: The version of the ``hpscale plan --format json`` contract (docs/plan.md).
PLAN_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class PlanTransfer:
    """The proxy moved to the planned model: its hidden-group lr and its batch in tokens."""

    proxy: str
    lr: float
    batch_tokens: float


@dataclass(frozen=True)
class PlanResult:
    """Each law evaluated at one planned run, and the proxy's transfer there when one was given."""

    request: Request
    #: ``quantities(request)``: non_embedding_params, flops_per_token, tokens, compute.
    values: FrozenMap[str, float]
    plans: tuple[LawPlan, ...]
    transfer: PlanTransfer | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """The ``hpscale plan --format json`` contract (docs/plan.md)."""
        from .published import DISAGREE, disagreement, spread

        request, seq_len = self.request, self.request.seq_len
        request_json = {"tokens": request.tokens, "seq_len": seq_len, **self.values,
                        "flops_per_token_from": "72·L·W² + 12·L·W·l_seq" if request.width and request.depth
                        else "6·N", "compute_from": "given" if request.compute is not None else "M·D"}
        laws = []
        for p in self.plans:
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
        transfer: dict[str, Any] | None = None
        if self.transfer is not None:
            moved = self.transfer
            flags = []
            for p in self.plans:
                for hp, law_value, ours in (("lr", p.lr, moved.lr), ("batch_size", p.batch_tokens, moved.batch_tokens)):
                    ratio = disagreement(ours, law_value)
                    if ratio is not None and ratio > DISAGREE:
                        flags.append({"law": p.name, "hp": hp, "transfer": ours, "law_value": law_value,
                                      "ratio": ratio})
            transfer = {"proxy": moved.proxy, "lr": moved.lr,
                        "batch_size": {"tokens": moved.batch_tokens, "sequences": moved.batch_tokens / seq_len},
                        "disagree": flags}
        plans = list(self.plans)
        return {"schema_version": PLAN_SCHEMA_VERSION, "kind": "hpscale-plan", "request": request_json,
                "laws": laws, "spread": {"lr": spread(plans, "lr"), "batch_size": spread(plans, "batch_size")},
                "transfer": transfer, "critical_batch": _critical(request.tokens, seq_len, laws, transfer)}


def _critical(tokens: float, seq_len: float, laws: list[dict[str, Any]],
              transfer: dict[str, Any] | None) -> dict[str, Any]:
    """Zhang et al.'s critical-batch estimate at the planned tokens (``hpscale.core.critical``) and
    the laws (and the transfer) whose batch lies above it (additive field, issue 21)."""
    from .critical import ZHANG_FITTED_TOKENS, zhang_critical_batch

    estimate = zhang_critical_batch(tokens)
    batches = [(law["name"], law["batch_size"]) for law in laws]
    if transfer is not None:
        batches.append(("transfer", transfer["batch_size"]))
    return {"tokens": estimate.tokens, "sequences": estimate.tokens / seq_len, "training_tokens": tokens,
            "fitted_tokens": list(ZHANG_FITTED_TOKENS), "beyond": estimate.beyond, "source": estimate.source,
            "above": [name for name, batch in batches if batch is not None and batch["tokens"] > estimate.tokens]}
