"""The options trainers need that a transfer does not have (``transfer``/``ladder`` with an
exporter format): ``--seq-len``, ``--world-size``, ``--micro-batch``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

SeqLenOpt = Annotated[str | None, typer.Option(
    "--seq-len", metavar="T", show_default=False,
    help="Exporter formats: tokens per sequence (needed when the plan counts tokens).")]
WorldSizeOpt = Annotated[str, typer.Option(
    "--world-size", metavar="N", help="Exporter formats: data-parallel ranks (GPUs).")]
MicroBatchOpt = Annotated[str | None, typer.Option(
    "--micro-batch", metavar="M", show_default=False,
    help="Exporter formats: sequences per rank per forward pass (default: no gradient accumulation).")]


def trainer_sizes(seq_len: str | None, world_size: str, micro_batch: str | None, fmt: str) -> Any:
    """The three options as ``common.TrainerSizes``; given with a format that is not an
    exporter, they are refused (they would change nothing)."""
    from ..errors import InputError
    from ..numbers import parse_positive
    from . import FORMATS
    from .common import TrainerSizes

    given = {"--seq-len": seq_len, "--world-size": None if world_size == "1" else world_size,
             "--micro-batch": micro_batch}
    if fmt not in FORMATS:
        for option, value in given.items():
            if value is not None:
                raise InputError(f"{option}: only used with an exporter format ({', '.join(FORMATS)})")
        return None

    def whole(option: str, value: str | None) -> int | None:
        if value is None:
            return None
        try:
            number = parse_positive(value, whole=True, limit=option[2:].replace("-", "_"))
        except ValueError as exc:
            raise InputError(f"{option}: {exc}") from None
        if number >= 2**40:
            raise InputError(f"{option}: {value!r}: must be below 2⁴⁰")
        return int(number)

    world = whole("--world-size", world_size)
    assert world is not None
    return TrainerSizes(whole("--seq-len", seq_len), world, whole("--micro-batch", micro_batch))
