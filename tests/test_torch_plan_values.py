"""hpscale.torch refuses unusable plan values before it touches a model or an optimizer (issue 18).

Every entry point reads its plan through ``hpscale.plan.read_plan`` (a transfer JSON as a dict or a
path, a ``TransferResult``, a ``Plan``), whose table ``ALLOWED`` holds the rules; the values torch
computes from them (coupled weight decay, Muon's per-shape lr and weight decay, the init draws and
the multiplier hooks in the model's dtype) are checked before they are written.
"""

from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch", reason="hpscale.torch needs PyTorch (pip install 'hpscale[torch]')")

from test_torch import GPT, plan_at, quiet, tokens  # noqa: E402
from test_torch_muon import plan as hybrid_plan  # noqa: E402

import hpscale.torch as hpt  # noqa: E402
from hpscale.errors import InputError  # noqa: E402
from hpscale.plan import F32_MAX, F32_TINY, read_plan  # noqa: E402


def state(model):
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def unchanged(model, before) -> bool:
    after = model.state_dict()
    return before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def refused(fn, *args, **kwargs) -> str:
    """The one-line ``InputError`` message ``fn`` raises (no other exception type)."""
    with pytest.raises(InputError) as err:
        quiet(fn, *args, **kwargs)
    message = str(err.value)
    assert "\n" not in message and message.startswith("plan: "), message
    return message


def with_value(section, group, field, value, plan=None):
    plan = plan or plan_at(64)
    plan[section][group][field] = value
    return plan


# ---------------------------------------------------------------------------------------------
# The three defects the campaign found
# ---------------------------------------------------------------------------------------------


def test_init_std_1e308_is_refused_and_the_weights_are_untouched():
    model = GPT(64, tied=False)
    before = state(model)
    message = refused(hpt.apply_init, model, with_value("model_groups", "hidden", "init_std", 1e308))
    assert "model_groups.hidden.init_std: 1e+308" in message and "float32's range" in message
    assert unchanged(model, before)


def test_init_std_whose_draws_overflow_the_weights_dtype_is_refused_before_any_draw():
    # 1e38 is a float32, but N(0, σ²) draws of a few σ are not: the first tensors drawn would be
    # inf. Refused before the first draw, so no tensor changes.
    model = GPT(64, tied=False)
    before = state(model)
    message = refused(hpt.apply_init, model, with_value("model_groups", "hidden", "init_std", 1e38))
    assert "model_groups.hidden.init_std: 1e+38" in message and "float32" in message
    assert unchanged(model, before)
    # float16 (largest 65504): σ = 1e4 overflows, σ = 1e3 does not.
    half = GPT(64, tied=False).half()
    before = state(half)
    message = refused(hpt.apply_init, half, with_value("model_groups", "embedding", "init_std", 1e4))
    assert "float16" in message and "must be ≤ 6.55e+03" in message
    assert unchanged(half, before)
    hpt.apply_init(half, with_value("model_groups", "embedding", "init_std", 1e3))
    assert all(torch.isfinite(p).all() for p in half.parameters())


def test_independent_lr_1e_320_cannot_make_the_coupled_weight_decay_inf():
    plan = plan_at(64)
    plan["weight_decay_convention"] = "independent"
    plan["optimizer_groups"]["hidden"]["lr"] = 1e-320
    assert "optimizer_groups.hidden.lr: 1e-320" in refused(hpt.param_groups, GPT(64, tied=False), plan)
    # A representable lr whose λ_ind/η leaves float32's range: named by its weight decay.
    plan["optimizer_groups"]["hidden"].update(lr=1e-30, weight_decay=1e10)
    message = refused(hpt.param_groups, GPT(64, tied=False), plan)
    assert "optimizer_groups.hidden.weight_decay: 10000000000.0 at lr 1e-30 is 1e+40" in message
    assert "coupled" in message


@pytest.mark.parametrize(("section", "group", "field"), [
    ("optimizer_groups", "hidden", "lr"),
    ("optimizer_groups", "vector", "weight_decay"),
    ("optimizer_groups", "readout", "eps"),
    ("model_groups", "hidden", "init_std"),
    ("model_groups", "readout", "multiplier"),
])
def test_an_integer_too_large_for_a_float_is_an_input_error(section, group, field):
    message = refused(hpt.apply_multipliers if field == "multiplier" else hpt.param_groups
                      if section == "optimizer_groups" else hpt.apply_init,
                      GPT(64, tied=False), with_value(section, group, field, 10**400))
    assert f"{section}.{group}.{field}: an integer of 401 digits: must be" in message


# ---------------------------------------------------------------------------------------------
# Every rule of ALLOWED, on every value of a plan
# ---------------------------------------------------------------------------------------------

BAD = {
    "lr": [True, "1e-3", None, math.nan, math.inf, -1e-3, 0, 1e-39, 1e39],
    "weight_decay": [False, math.nan, -0.1, math.inf, 1e-40, 1e39],
    "eps": [True, math.nan, -1e-8, 1e39],
    "init_std": [True, math.nan, math.inf, -0.02, 0, 1e308],
    "multiplier": [True, math.nan, math.inf, -1.0, 0, 0.0, 1e39],
}


@pytest.mark.parametrize(("field", "value"), [(f, v) for f, values in BAD.items() for v in values])
def test_each_bad_value_is_one_line_naming_field_and_value(field, value):
    section = "model_groups" if field in ("init_std", "multiplier") else "optimizer_groups"
    message = refused(hpt.param_groups, GPT(64, tied=False), with_value(section, "embedding", field, value))
    assert message.startswith(f"plan: {section}.embedding.{field}: {value!r}: ")
    assert "must be" in message or "expected a number" in message


@pytest.mark.parametrize("betas", [[True, 0.95], [0.9, 1.0], [0.9, math.nan], [-0.1, 0.95], [0.9, 10**400]])
def test_betas_are_numbers_in_0_1(betas):
    message = refused(hpt.param_groups, GPT(64, tied=False), with_value("optimizer_groups", "hidden", "betas", betas))
    assert "optimizer_groups.hidden.betas[" in message


@pytest.mark.parametrize("value", [True, 0, -1.0, math.nan, 10**400, 1e39])
def test_residual_multiplier(value):
    plan = plan_at(64) | {"residual_multiplier": value}
    message = refused(hpt.apply_multipliers, GPT(64, tied=False), plan, residual=[])
    assert message.startswith("plan: residual_multiplier: ")


@pytest.mark.parametrize(("field", "value"), [("momentum", True), ("momentum", 10**400), ("lr", 1e-39),
                                              ("weight_decay", math.nan), ("eps", -1.0)])
def test_muon_values_follow_the_same_rules(field, value):
    plan = hybrid_plan(64)
    plan["optimizer_groups"]["hidden"][field] = value
    assert f"optimizer_groups.hidden.{field}: " in refused(hpt.optimizers, GPT(64, tied=False), plan)


def test_muon_per_shape_conversions_are_checked_before_torch_gets_them():
    # spectral → original multiplies the lr by 8 (16 for the 64 × 256 projection): 1e38 becomes
    # 8e38, beyond float32; unit_rms_norm → original halves the lr of the 64 × 256 matrix and so
    # doubles its weight decay (λ' = λ·η/η').
    plan = hybrid_plan(64, "spectral")
    plan["optimizer_groups"]["hidden"]["lr"] = 1e38
    message = refused(hpt.muon_param_groups, GPT(64, tied=False), plan)
    assert "optimizer_groups.hidden.lr converted to adjust_lr_fn='original' for " in message
    assert "float32's range" in message
    plan = hybrid_plan(64, "unit_rms_norm")
    plan["optimizer_groups"]["hidden"]["weight_decay"] = 3e38
    message = refused(hpt.muon_param_groups, GPT(64, tied=False), plan)
    assert "optimizer_groups.hidden.weight_decay converted" in message and "(64, 256)" in message


def test_a_multiplier_beyond_the_models_dtype_is_refused_before_any_hook():
    half = GPT(64, tied=False).half()
    plan = with_value("model_groups", "readout", "multiplier", 1e5)
    message = refused(hpt.apply_multipliers, half, plan)
    assert "model_groups.readout.multiplier: 1e+05" in message and "float16" in message
    assert not any(hooks for m in half.modules() for hooks in (m._forward_hooks,))
    assert len(hpt.apply_multipliers(GPT(64, tied=False), plan)) == 1  # float32 takes it


# ---------------------------------------------------------------------------------------------
# Every entry point, every form of plan
# ---------------------------------------------------------------------------------------------

ENTRY_POINTS = {
    "param_groups": lambda model, plan: hpt.param_groups(model, plan),
    "muon_param_groups": lambda model, plan: hpt.muon_param_groups(model, plan),
    "optimizers": lambda model, plan: hpt.optimizers(model, plan),
    "overrides": lambda model, plan: hpt.overrides(model, plan),
    "apply_init": lambda model, plan: hpt.apply_init(model, plan, vectors="reset"),
    "apply_multipliers": lambda model, plan: hpt.apply_multipliers(model, plan),
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("form", ["dict", "path", "Plan"])
def test_every_entry_point_refuses_before_touching_the_model(entry, form, tmp_path):
    plan = with_value("model_groups", "hidden", "init_std", math.inf)
    plan["optimizer_groups"]["hidden"]["lr"] = 10**400
    if form == "path":
        path = tmp_path / "plan.json"
        path.write_text(json.dumps(plan).replace("Infinity", "1e999"))  # JSON's 1e999 reads as inf
        given = path
    elif form == "Plan":
        good = read_plan(plan_at(64))
        given = good._replace(init_std={**good.init_std, "hidden": math.inf})
    else:
        given = plan
    model = GPT(64, tied=False)
    before = state(model)
    message = refused(ENTRY_POINTS[entry], model, given)
    assert ("init_std" in message and "inf" in message) or "lr: an integer of 401 digits" in message
    assert unchanged(model, before)
    assert not any(m._forward_hooks for m in model.modules())


def test_coord_check_refuses_a_bad_plan_function():
    def bad(width):
        return with_value("model_groups", "readout", "multiplier", 0, plan_at(width))

    message = refused(hpt.coord_check, lambda w: GPT(w, tied=False), [32, 64], tokens(4), plan=bad, steps=1)
    assert message.startswith("plan: model_groups.readout.multiplier: 0: must be")


@pytest.mark.parametrize(("change", "needle"), [
    (lambda p: p._replace(optimizer={**p.optimizer, "hidden": p.optimizer["hidden"]._replace(lr=True)}),
     "plan: optimizer.hidden.lr: True: expected a number"),
    (lambda p: p._replace(optimizer={**p.optimizer, "hidden": p.optimizer["hidden"]._replace(betas=(0.9, 1))}),
     "plan: optimizer.hidden.betas[1]: 1: must be a finite number ≥ 0 and < 1"),
    (lambda p: p._replace(multiplier={**p.multiplier, "readout": 0.0}), "plan: multiplier.readout: 0.0: must be"),
    (lambda p: p._replace(residual_multiplier=math.nan), "plan: residual_multiplier: nan: must be"),
    (lambda p: p._replace(optimizer={k: v for k, v in p.optimizer.items() if k != "vector"}),
     "plan: optimizer.vector: missing"),
    (lambda p: p._replace(init_std={**p.init_std, "bias": 0.02}), "plan: init_std.'bias': not a group"),
])
def test_a_plan_built_by_hand_is_checked_like_a_file(change, needle):
    good = read_plan(plan_at(64))
    assert read_plan(good) == good  # a valid Plan passes through unchanged
    message = refused(hpt.param_groups, GPT(64, tied=False), change(good))
    assert message.startswith(needle), message


def test_the_float32_bounds_are_binary32s():
    assert F32_TINY == float(torch.finfo(torch.float32).tiny)
    assert F32_MAX == float(torch.finfo(torch.float32).max)
    # The bounds themselves are allowed.
    for value in (F32_TINY, F32_MAX):
        hpt.param_groups(GPT(64, tied=False), with_value("optimizer_groups", "hidden", "lr", value))


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"lr": True}, "coord_check: lr: True: expected a number"),
    ({"lr": 1e308}, "coord_check: lr: 1e+308: must be a finite number > 0"),
    ({"lr": math.nan}, "coord_check: lr: nan: must be"),
    ({"widths": [32.5, 64]}, "coord_check: widths: [32.5, 64]: expected a list of whole numbers"),
    ({"widths": [True, 64]}, "coord_check: widths: [True, 64]: expected a list of whole numbers"),
    ({"widths": "32,64"}, "coord_check: widths: '32,64': expected a list of whole numbers"),
    ({"widths": 64}, "coord_check: widths: 64: expected a list of whole numbers"),
    ({"widths": [0, 64]}, "coord_check: widths: [0, 64]: need at least two different positive widths"),
])
def test_coord_check_arguments_are_checked_before_any_model_is_built(kwargs, needle):
    built = []
    widths = kwargs.pop("widths", [32, 64])
    with pytest.raises(InputError) as err:
        hpt.coord_check(lambda w: built.append(w) or GPT(w, tied=False), widths, tokens(4), steps=1, **kwargs)
    assert str(err.value).startswith(needle) and "\n" not in str(err.value)
    assert built == []


def test_numpy_widths_are_whole_numbers():
    np = pytest.importorskip("numpy")
    check = quiet(hpt.coord_check, lambda w: GPT(w, tied=False), np.array([32, 64]), tokens(4), steps=1)
    assert check.widths == (32, 64)


# ---------------------------------------------------------------------------------------------
# The package (issue 19): the public API as before, one module per job
# ---------------------------------------------------------------------------------------------


def test_the_package_exports_the_public_api():
    assert hpt.__all__ == ["classify", "param_groups", "muon_param_groups", "optimizers", "apply_init",
                           "apply_multipliers", "overrides", "coord_check", "spectrum", "CoordCheck",
                           "CoordRecord", "MultiplierHandle", "WeightSpectrum"]
    assert all(callable(getattr(hpt, name)) for name in hpt.__all__)
    assert hpt.spectrum.__module__ == "hpscale.torch.weights" and hpt.coord_check.__module__ == "hpscale.torch.coord"


def test_no_module_of_the_package_is_over_600_lines():
    from pathlib import Path

    sizes = {path.name: len(path.read_text().splitlines()) for path in Path(hpt.__file__).parent.glob("*.py")}
    assert len(sizes) >= 7 and max(sizes.values()) <= 600, sizes
