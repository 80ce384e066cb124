"""The proxy/target config schema (pydantic, strict: unknown keys are refused).

A config describes one training run: its scale (width, depth, batch size, dataset size) and
the hyperparameters it used. The optimizer-level ``lr``, ``weight_decay``, ``eps`` and the
top-level ``init_std`` apply to every parameter group unless ``param_groups`` overrides that
group. ``hpscale transfer --format yaml`` writes a config in this same schema with every group
stated explicitly, so a target can be checked, committed, or used as the next proxy.

Numbers may be written as YAML floats, ints or strings such as ``"6e-4"``; sizes also take SI
suffixes (see ``hpscale.numbers``).
"""

import math
from collections.abc import Callable
from typing import Annotated, Any, Literal

# No ``from __future__ import annotations`` here: pydantic would ``eval`` every string annotation
# while building the models (~3 ms of start-up on every CLI call).
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema, model_validator

from .core.muon_shapes import CONVENTIONS as MUON_CONVENTIONS
from .core.rules import GROUPS, Group
from .limits import LIMITS, check_limit
from .numbers import json_pattern, parse_number

# Field validators: each returns the value or raises ``ValueError`` saying what is allowed
# (pydantic turns a ``ValueError`` into a located error; other exceptions would escape).

def _number(value: object) -> float:
    """Any finite number, also written as a string (``"6e-4"``)."""
    return parse_number(value)

def _size(value: object) -> float:
    """A finite number that may carry a decimal or binary suffix (``300B``, ``2M``, ``2Mi``)."""
    return parse_number(value, si=True)


def _dimension(value: object) -> float:
    """A model dimension: a number, binary suffixes only (``4Ki`` = 4096; ``4k`` is refused)."""
    return parse_number(value, dimension=True)

def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError("must be > 0")
    return value

def _non_negative(value: float) -> float:
    if value < 0:
        raise ValueError("must be ≥ 0")
    return value

def _at_least_one(value: float) -> float:
    if value < 1:
        raise ValueError("must be at least 1 (one sample or token)")
    return value


def _whole(value: float) -> int:
    if value != math.floor(value):
        raise ValueError("must be a whole number")
    if value <= 0:
        raise ValueError("must be a positive whole number")
    return int(value)

def _steps(value: float) -> int:
    """A whole number of optimizer steps, 0 allowed."""
    if value != math.floor(value) or value < 0:
        raise ValueError("must be a whole number of steps ≥ 0")
    return int(value)

def _within(name: str, check: Callable[[float], Any]) -> Callable[[float], Any]:
    """``check`` (the lower bound, with its own message), then the range of ``hpscale.limits``
    for the size ``name``: a whole number no real run exceeds (``width: 1e300`` is refused)."""

    def within(value: float) -> Any:
        checked = check(value)
        check_limit(name, value)
        return checked

    return within




def _boolean(value: object) -> bool:
    """true or false only: pydantic's lax mode would read 1, 'yes' or 'on' as true."""
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _beta(value: float) -> float:
    if not 0.0 <= value < 1.0:
        raise ValueError("must be in [0, 1)")
    return value

def _ema_decay(value: float) -> float:
    if not 0.0 < value < 1.0:
        raise ValueError("must be in (0, 1)")
    return value

# JSON Schema only (``hpscale schema``, for editors): the before-validators also accept numeric
# strings, which pydantic's generated schema would hide; runtime validation is unchanged.
_NUMBER_TEXT = json_pattern("number")
_SIZE_TEXT = json_pattern("size")
_DIMENSION_TEXT = json_pattern("dimension")


def _field(
    parse: Callable[[object], float], check: Callable[[float], Any], json_number: dict[str, object],
    text: str = _NUMBER_TEXT,
) -> tuple[PlainValidator, WithJsonSchema]:
    """One validator per field type, ``check(parse(value))``, and the JSON Schema editors see
    (a number, or a string such as ``"6e-4"``). One plain validator instead of a before- and an
    after-validator halves the functions pydantic inspects while building the models at start-up."""

    def validate(value: object) -> Any:
        return check(parse(value))

    schema = WithJsonSchema({"anyOf": [json_number, {"type": "string", "pattern": text}]})
    return PlainValidator(validate), schema


def _sized(name: str, parse: Callable[[object], float], check: Callable[[float], Any],
           json_number: dict[str, object], text: str) -> tuple[PlainValidator, WithJsonSchema]:
    """``_field`` for the size ``name``: ``check`` (its lower bound), then the range of
    ``hpscale.limits``; the JSON Schema carries the maximum."""
    return _field(parse, _within(name, check), {**json_number, "maximum": int(LIMITS[name].high)}, text)


PositiveFloat = Annotated[float, *_field(_number, _positive, {"type": "number", "exclusiveMinimum": 0})]
NonNegativeFloat = Annotated[float, *_field(_number, _non_negative, {"type": "number", "minimum": 0})]
PositiveSize = Annotated[
    float, *_field(_size, _positive, {"type": "number", "exclusiveMinimum": 0}, _SIZE_TEXT)]
# Sizes bounded by ``hpscale.limits``: whole samples or tokens (at least 1), model dimensions,
# parameter counts and steps.
_COUNT, _DIMENSION = (_size, _at_least_one, {"type": "number", "minimum": 1}, _SIZE_TEXT), \
    (_dimension, _whole, {"type": "integer", "exclusiveMinimum": 0}, _DIMENSION_TEXT)
BatchSize = Annotated[float, *_sized("batch_size", *_COUNT)]
DatasetSize = Annotated[float, *_sized("dataset_size", *_COUNT)]
Width = Annotated[int, *_sized("width", *_DIMENSION)]
Depth = Annotated[int, *_sized("depth", *_DIMENSION)]
Params = Annotated[float, *_sized("params", _size, _positive, {"type": "number", "exclusiveMinimum": 0}, _SIZE_TEXT)]
Steps = Annotated[int, *_sized("warmup_steps", _size, _steps, {"type": "integer", "minimum": 0}, _SIZE_TEXT)]
Beta = Annotated[float, *_field(_number, _beta, {"type": "number", "minimum": 0, "exclusiveMaximum": 1})]
Boolean = Annotated[bool, PlainValidator(_boolean), WithJsonSchema({"type": "boolean"})]
EmaDecay = Annotated[
    float, *_field(_number, _ema_decay, {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1})]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, validate_default=False)


class ModelSection(_Strict):
    """Model shape. ``width`` is the µP width dimension (d_model for transformers)."""

    width: Width = Field(description="Model width (d_model); a positive integer.")
    base_width: Width | None = Field(
        None,
        description="µP base width W₀: the width at which every µP multiplier is 1 (the mup "
        "library's base shapes). Sets the absolute readout multiplier W₀/W; defaults to the "
        "proxy width. All transfer ratios use W_target/W_proxy.",
    )
    depth: Depth | None = Field(
        None, description="Number of residual blocks L; needed for --depth transfer."
    )
    params: Params | None = Field(
        None,
        description="Parameter count, used for tokens per parameter (--tau-rule power-lines). "
        "If absent it is estimated as 12·L·W² (non-embedding transformer parameters).",
    )
    residual_multiplier: PositiveFloat = Field(
        1.0, description="Forward multiplier of every residual branch (depth-µP / CompleteP)."
    )
    parametrization: Literal["mup", "standard"] | None = Field(
        None,
        description="How the proxy was parametrized: mup or standard. Width transfer assumes µP; "
        "it warns for 'standard', and says that µP is assumed when this is not stated.",
    )


class DataSection(_Strict):
    """Data per epoch and per step, in one unit (samples or tokens)."""

    dataset_size: DatasetSize = Field(description="Dataset size N per epoch (samples or tokens), at least one batch.")
    batch_size: BatchSize = Field(description="Batch size B per optimizer step, same unit as N; at least 1.")
    unit: Literal["tokens", "samples"] = Field(
        "tokens", description="Unit of dataset_size and batch_size."
    )
    epochs: PositiveFloat = Field(
        1.0, description="Passes over dataset_size in the run; sets the run length for τ checks."
    )

    @model_validator(mode="after")
    def _an_epoch_holds_a_batch(self) -> "DataSection":
        if self.dataset_size < self.batch_size:
            raise ValueError(f"dataset_size {self.dataset_size:g} is smaller than one batch "
                             f"(batch_size {self.batch_size:g}); an epoch holds at least one step")
        return self


class OptimizerSection(_Strict):
    """AdamW hyperparameters used by every group unless ``param_groups`` overrides them."""

    lr: PositiveFloat = Field(description="Peak learning rate η (after warmup).")
    weight_decay: NonNegativeFloat = Field(description="The AdamW weight_decay argument λ.")
    weight_decay_convention: Literal["coupled", "independent"] = Field(
        "coupled",
        description="coupled: torch.optim.AdamW/optax (decay η·λ per step); independent: "
        "Loshchilov & Hutter (decay λ per step).",
    )
    betas: tuple[Beta, Beta] = Field((0.9, 0.999), description="Adam (β1, β2), each in [0, 1).")
    eps: PositiveFloat = Field(1e-8, description="Adam ε.")
    warmup_steps: Steps | None = Field(
        None,
        description="Linear LR warmup length in optimizer steps; moved so the warmup covers "
        "the same number of samples (tokens) at the target.",
    )


class MuonSection(_Strict):
    """Muon (``torch.optim.Muon``) for the hidden matrices of a hybrid run; the other groups keep
    the ``optimizer`` section's AdamW values. ``param_groups.hidden`` still overrides these."""

    lr: PositiveFloat = Field(description="Muon's lr η, as the proxy's trainer was given it (before its shape factor).")
    weight_decay: NonNegativeFloat = Field(
        description="Muon's weight_decay λ; decoupled, with the unadjusted lr: p ← p·(1 − η·λ).")
    momentum: Beta = Field(0.95, description="Muon's momentum μ in [0, 1).")
    nesterov: Boolean = Field(True, description="Nesterov momentum (torch.optim.Muon's default).")
    eps: PositiveFloat = Field(1e-7, description="Newton–Schulz ε (torch.optim.Muon's eps), kept as is.")
    convention: Literal[MUON_CONVENTIONS] = Field(  # type: ignore[valid-type]
        "original",
        description="The proxy trainer's shape factor s(A, B) (A = fan_out, B = fan_in): original "
        "√max(1, A/B) (torch default), match_rms_adamw 0.2·√max(A, B), spectral √max(A, B), "
        "unit_rms_norm √(A/B).",
    )


class GroupOverride(_Strict):
    """Per-group values; anything left out falls back to the optimizer-level value."""

    lr: PositiveFloat | None = None
    weight_decay: NonNegativeFloat | None = None
    init_std: PositiveFloat | None = None
    multiplier: PositiveFloat | None = Field(
        None, description="Forward multiplier of the group (µP readout: W₀/W by default)."
    )
    eps: PositiveFloat | None = None


class ParamGroups(_Strict):
    """Overrides per µP parameter group (Tensor Programs V, Table 3)."""

    embedding: GroupOverride | None = None
    hidden: GroupOverride | None = None
    readout: GroupOverride | None = None
    vector: GroupOverride | None = None


class RunConfig(_Strict):
    """One training run: the proxy you tuned, or a target you plan."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, title="hpscale run config",
        json_schema_extra={"$comment": "hpscale config schema, see `hpscale schema`"},
    )

    name: str | None = Field(None, description="Free-form run name.")
    model: ModelSection
    data: DataSection
    optimizer: OptimizerSection
    init_std: PositiveFloat | None = Field(None, description="Init std of every group.")
    ema_decay: EmaDecay | None = Field(None, description="Model-EMA decay ρ in (0, 1).")
    muon: MuonSection | None = Field(
        None, description="Muon for the hidden matrices (a hybrid Muon + AdamW run); absent: AdamW everywhere.")
    param_groups: ParamGroups = Field(default_factory=ParamGroups)

    def group_override(self, group: Group) -> GroupOverride:
        """The group's overrides; every field ``None`` when the config has none for it."""
        over: GroupOverride | None = getattr(self.param_groups, group)
        return over if over is not None else _NO_OVERRIDE


_NO_OVERRIDE = GroupOverride.model_validate({})

#: Keys of every section, for "did you mean" suggestions on unknown keys.
SECTION_FIELDS: dict[str, tuple[str, ...]] = {
    "": tuple(RunConfig.model_fields),
    "model": tuple(ModelSection.model_fields),
    "data": tuple(DataSection.model_fields),
    "optimizer": tuple(OptimizerSection.model_fields),
    "muon": tuple(MuonSection.model_fields),
    "param_groups": GROUPS,
    "param_groups.*": tuple(GroupOverride.model_fields),
}
