"""The compiled config schema is fresh and validates exactly like the pydantic models."""

from __future__ import annotations

import json

import pydantic_core
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pydantic_core import ValidationError as CoreValidationError

from hpscale.compiled import SCHEMA_FILE, compile_schema, source_digest, validate
from hpscale.config import RunConfig


def test_compiled_schema_file_is_fresh():
    stored = json.loads(SCHEMA_FILE.read_text())
    assert stored["source_sha256"] == source_digest(), (
        "hpscale/config_schema.json is stale: run `python -m hpscale.compiled`"
    )
    if stored["pydantic_core_version"] == pydantic_core.__version__:
        # Same pydantic: the file is exactly what the models compile to. (Another release may
        # spell the schema differently; the agreement test below covers behaviour then.)
        assert stored["schema"] == json.loads(json.dumps(compile_schema()))


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-10, max_value=10**6),
    st.sampled_from(["6e-4", "2e9", "300B", "1.5T", "abc", "", "nan", "-1", "0", True, None, [1]]),
)
sections = {
    "model": st.fixed_dictionaries({"width": numbers}, optional={
        "base_width": numbers, "depth": numbers, "params": numbers, "widht": numbers,
        "parametrization": st.sampled_from(["mup", "standard", "sp"])}),
    "data": st.fixed_dictionaries({"dataset_size": numbers, "batch_size": numbers}, optional={
        "unit": st.sampled_from(["tokens", "samples", "bytes"]), "epochs": numbers}),
    "optimizer": st.fixed_dictionaries({"lr": numbers, "weight_decay": numbers}, optional={
        "betas": st.lists(numbers, min_size=1, max_size=3), "eps": numbers,
        "weight_decay_convention": st.sampled_from(["coupled", "independent", "decoupled"])}),
}
configs = st.fixed_dictionaries(sections, optional={
    "name": st.one_of(st.text(max_size=5), st.integers()),
    "init_std": numbers, "ema_decay": numbers,
    "param_groups": st.dictionaries(st.sampled_from(["hidden", "vector", "hiden"]),
                                    st.one_of(st.none(), st.fixed_dictionaries({}, optional={
                                        "lr": numbers, "weight_decay": numbers, "eps": numbers})),
                                    max_size=2),
})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs)
def test_compiled_validator_agrees_with_pydantic_models(data):
    try:
        expected = RunConfig.model_validate(data)
    except ValidationError as exc:
        with pytest.raises(CoreValidationError) as info:
            validate(data)
        assert sorted(e["loc"] for e in info.value.errors()) == sorted(e["loc"] for e in exc.errors())
        assert sorted(e["msg"] for e in info.value.errors()) == sorted(e["msg"] for e in exc.errors())
    else:
        assert _plain(validate(data).to_dict()) == _plain(expected.model_dump())


def test_view_is_read_only_and_has_group_overrides():
    view = validate({"model": {"width": 8}, "data": {"dataset_size": 10, "batch_size": 2},
                     "optimizer": {"lr": 1e-3, "weight_decay": 0.1}})
    with pytest.raises(AttributeError):
        view.model = None
    assert view.group_override("hidden").lr is None
    assert view.model.base_width is None and view.optimizer.betas[1] == 0.999
    assert RunConfig.model_validate(view.to_dict()).model.width == 8


def test_falls_back_to_the_models_when_the_compiled_schema_cannot_be_built(monkeypatch):
    import hpscale.compiled as compiled

    monkeypatch.setattr(compiled, "_validator", lambda: None)
    view = validate({"model": {"width": "2K"}, "data": {"dataset_size": "1e9", "batch_size": 8},
                     "optimizer": {"lr": "1e-3", "weight_decay": 0}})
    assert view.model.width == 2000 and view.group_override("hidden").lr is None
    with pytest.raises(CoreValidationError):
        validate({"model": {"width": 0}})
