"""hpscale.torch for a hybrid Muon + AdamW plan (issue 20 items 5 and 6b): torch.optim.Muon for
the hidden matrices, torch.optim.AdamW for the rest, and the coordinate check with Muon."""

from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch", reason="hpscale.torch needs the torch extra")

from test_torch import CNN, GPT, plan_at, quiet, tokens  # noqa: E402
from torch import nn  # noqa: E402

import hpscale  # noqa: E402
import hpscale.torch as hpt  # noqa: E402
from hpscale.core.muon_shapes import shape_factor  # noqa: E402
from hpscale.errors import InputError  # noqa: E402

#: The coordinate-check model's proxy: GPT (test_torch) at width 32, hidden matrices on Muon.
HYBRID = {
    "name": "tiny-hybrid",
    "model": {"width": 32, "base_width": 32, "depth": 2},
    "data": {"dataset_size": 1e6, "batch_size": 256, "unit": "tokens"},
    "optimizer": {"lr": 1e-2, "weight_decay": 0.0, "betas": [0.9, 0.95], "eps": 1e-8},
    "init_std": 0.02,
    "muon": {"lr": 0.02, "weight_decay": 0.1, "momentum": 0.95, "convention": "match_rms_adamw"},
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def hybrid(convention="match_rms_adamw", **muon):
    data = json.loads(json.dumps(HYBRID))
    data["muon"].update(convention=convention, **muon)
    return data


def plan(width=64, convention="match_rms_adamw", **kwargs):
    return hpscale.transfer(hybrid(convention), width=width, **kwargs).to_json_dict()


def test_hybrid_groups_split_hidden_matrices_to_muon():
    model = GPT(64, tied=False)
    at = plan(64)
    muon, adamw = quiet(hpt.muon_param_groups, model, at)
    groups = quiet(hpt.classify, model)
    hidden = {id(p) for n, p in model.named_parameters() if groups[n] == "hidden"}
    assert len(muon) == 1 and {id(p) for p in muon[0]["params"]} == hidden
    m = at["optimizer_groups"]["hidden"]
    assert muon[0]["lr"] == m["lr"] == pytest.approx(0.02 / math.sqrt(2))  # 1/√m, m = 2
    assert muon[0]["adjust_lr_fn"] == "match_rms_adamw" and muon[0]["momentum"] == 0.95
    assert muon[0]["weight_decay"] == m["weight_decay"] and muon[0]["nesterov"] is True
    assert [g["hpscale_group"] for g in adamw] == ["embedding", "readout", "vector"]
    everything = [id(p) for g in muon + adamw for p in g["params"]]
    assert sorted(everything) == sorted(id(p) for p in model.parameters())
    made = quiet(hpt.optimizers, model, at)
    assert [type(o) for o in made] == [torch.optim.Muon, torch.optim.AdamW]
    loss = model(tokens()[0])[0].square().mean()
    loss.backward()
    for o in made:
        o.step()


@pytest.mark.parametrize("convention", ["spectral", "unit_rms_norm"])
def test_a_convention_torch_lacks_is_converted_per_matrix(convention):
    model = GPT(64, tied=False)
    at = plan(64, convention)
    m = at["optimizer_groups"]["hidden"]
    assert m["adjust_lr_fn"] is None
    muon, _ = quiet(hpt.muon_param_groups, model, at)
    assert all(g["adjust_lr_fn"] == "original" and len(g["params"]) == 1 for g in muon)
    for g in muon:
        a, b = g["params"][0].shape
        # The step torch takes, lr'·s_original, is the plan's lr·s_convention; the shrink lr·λ kept.
        assert g["lr"] * shape_factor("original", a, b) == pytest.approx(m["lr"] * shape_factor(convention, a, b))
        assert g["lr"] * g["weight_decay"] == pytest.approx(m["lr"] * m["weight_decay"])
    shapes = {tuple(g["params"][0].shape) for g in muon}
    assert shapes == {(192, 64), (64, 64), (256, 64), (64, 256)}


def test_adamw_plans_are_unchanged_and_adamw_helpers_refuse_a_hybrid():
    model = GPT(64, tied=False)
    at = plan_at(64)
    muon, adamw = quiet(hpt.muon_param_groups, model, at)
    assert muon == [] and repr(adamw) == repr(quiet(hpt.param_groups, model, at))
    assert [type(o) for o in quiet(hpt.optimizers, model, at)] == [torch.optim.AdamW]
    with pytest.raises(InputError, match=r"optimizers\.hidden.*hpscale\.torch\.optimizers") as err:
        quiet(hpt.param_groups, model, plan(64))
    assert "\n" not in str(err.value)


def test_what_muon_cannot_take_is_one_line_naming_the_parameter():
    # A CNN's conv kernels are hidden (4-D): Muon cannot orthogonalise them.
    at = hpscale.transfer(hybrid() | {"model": {"width": 8, "base_width": 8}}, width=16).to_json_dict()
    with pytest.raises(InputError, match=r"shape \[16, 16, 3, 3\].*2-D matrices only") as err:
        quiet(hpt.muon_param_groups, CNN(16), at)
    assert "\n" not in str(err.value)

    class Gain(nn.Module):  # a 1-D tensor moved to the hidden group by a pattern
        def __init__(self):
            super().__init__()
            self.inp, self.gain, self.head = nn.Linear(4, 8), nn.Parameter(torch.ones(8)), nn.Linear(8, 3)

        def forward(self, x):
            return self.head(self.inp(x) * self.gain)

    with pytest.raises(InputError, match=r"^gain: shape \[8\] in the hidden group.*2-D"):
        quiet(hpt.muon_param_groups, Gain(), at, patterns={r"^gain$": "hidden"})


def _unconverted(width):
    """The plan at ``width`` with the hidden (Muon) lr and weight decay left at the proxy's."""
    at = hpscale.transfer(hybrid(), width=width).to_json_dict()
    at["optimizer_groups"]["hidden"].update(lr=HYBRID["muon"]["lr"], weight_decay=HYBRID["muon"]["weight_decay"])
    return at


def test_coord_check_with_muon_is_flat_only_under_the_plan():
    batch, widths = tokens(8), [32, 64, 128, 256]
    make = lambda w: GPT(w, depth=2, tied=False)  # noqa: E731
    planned = quiet(hpt.coord_check, make, widths, batch, plan=hybrid(), steps=3)
    left = quiet(hpt.coord_check, make, widths, batch, plan=_unconverted, steps=3)
    hidden = [layer for layer, r in {r.layer: r for r in planned.records}.items() if r.group == "hidden"]
    assert len(hidden) == 8
    flat = {layer: planned.change_slopes[layer] for layer in hidden}
    grown = {layer: left.change_slopes[layer] for layer in hidden}
    # Measured (docs/torch.md): under the plan −0.06…+0.03; unconverted +0.14…+0.47 (median +0.25),
    # growing toward √W, the 0.2·√max(A, B) that match_rms_adamw puts into the step.
    assert all(abs(s) <= 0.15 for s in flat.values()), planned.table("change")
    assert all(grown[layer] > flat[layer] + 0.1 for layer in hidden), left.table("change")
    assert sorted(grown.values())[len(grown) // 2] > 0.2 and max(grown.values()) > 0.4, left.table("change")


@pytest.mark.parametrize(("field", "value", "needle"), [
    ("nesterov", "yes", "optimizer_groups.hidden.nesterov: 'yes'"),
    ("convention", "keller", "optimizer_groups.hidden.convention: 'keller': allowed: original"),
    ("adjust_lr_fn", "spectral", "optimizer_groups.hidden.adjust_lr_fn: 'spectral': allowed"),
    ("momentum", 1.5, "optimizer_groups.hidden.momentum: 1.5"),
    ("lr", math.inf, "optimizer_groups.hidden.lr: inf"),
])
def test_bad_muon_values_in_a_plan(field, value, needle):
    at = plan(64)
    at["optimizer_groups"]["hidden"][field] = value
    with pytest.raises(InputError, match=r"^plan: ") as err:
        quiet(hpt.muon_param_groups, GPT(64, tied=False), at)
    assert needle in str(err.value) and "\n" not in str(err.value)
