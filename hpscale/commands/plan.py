"""``hpscale plan``: the published laws' lr and batch size for a planned run, side by side.

parse → ``hpscale.api.plan_from_laws`` (each shipped law evaluated at the request; with
``--proxy`` also one ``transfer``) → ``hpscale.outputs.plan`` (table | json | yaml). The JSON
contract (``schema_version`` 1, ``kind: hpscale-plan``) is documented in docs/plan.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..outputs.plan import FORMATS
from . import options as O


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
    format: O.format_option(FORMATS) = "table",  # type: ignore[valid-type]
    output: O.OutputOpt = None,
) -> None:
    """Plan a run from the published laws: each law's lr and batch size side by side.

    Example: hpscale plan --params 1B --tokens 100B --seq-len 2048. Each law is evaluated in its
    own variables (docs/plan.md); the table shows how far the request lies beyond each law's
    fitted range, and the spread between laws.
    """
    from ..api import plan_from_laws
    from ..output import emit
    from ..outputs.plan import render

    output_file = O.output_option(output)
    fmt = O.choice("--format", format, FORMATS)
    result = plan_from_laws(params=params, width=width, depth=depth, model=model, tokens=tokens, seq_len=seq_len,
                            compute=compute, laws=law, proxy=proxy, batch_size=batch_size, extrapolate=extrapolate)
    inputs = [Path(path) for path in (model, proxy) if path is not None]
    emit(render(result, fmt, None if output_file is None else False), output_file, inputs)
