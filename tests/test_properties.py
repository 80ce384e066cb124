"""Property tests: random valid configs and scales never give NaN/inf, a traceback, or a
target that fails its own check.

For any valid proxy, any target scale (ratios from 2⁻²⁰ to 2²⁰) and any rule choice,
``transfer`` either returns finite numbers everywhere or refuses with ``InputError`` /
``RuleDomainError``; its YAML output loads again and passes ``check``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from hpscale.contract import dumps_json
from hpscale.core import rules as R
from hpscale.core.check import compare, stated_fields
from hpscale.core.compose import transfer_to
from hpscale.core.rules import RuleChoices
from hpscale.core.scale import Scale
from hpscale.errors import InputError
from hpscale.limits import LIMITS
from hpscale.loader import config_from_data, parse_yaml
from hpscale.outputs.transfer import dumps_target_yaml

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def number(low: float, high: float, **kwargs: Any) -> st.SearchStrategy[Any]:
    """A float in [low, high], written as YAML would carry it: a float or a numeric string."""
    # Subnormal inputs (< 2.2e-308) have their own test below: they overflow ratios such as
    # β̂/β and underflow products, which transfer does not handle yet.
    values = st.floats(low, high, allow_nan=False, allow_infinity=False, allow_subnormal=False, **kwargs)
    return st.one_of(values, values.map(repr), values.map(lambda x: f"{x:.17e}"))


positive = number(1e-8, 1e3, exclude_min=True)
# Whole numbers of samples or tokens within hpscale.limits (a batch is at most 10¹²), as ints,
# floats and the texts YAML carries.
_whole_sizes = st.integers(1, 10**12)
sizes = st.one_of(_whole_sizes, _whole_sizes.map(float), _whole_sizes.map(lambda x: f"{float(x):.17e}"),
                  st.tuples(st.integers(1, 999), st.sampled_from("KMB")).map(lambda t: f"{t[0]}{t[1]}"))
beta = number(0.0, 0.9999)
widths = st.integers(1, 100_000)
# Printable run names: a control character or line break in `name` breaks the comment header
# of `transfer --format yaml` (see test_name_with_line_break_round_trips below).
names = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=20)


@st.composite
def overrides(draw: st.DrawFn) -> dict[str, Any] | None:
    fields = {"lr": positive, "weight_decay": st.one_of(st.just(0), number(0.0, 10.0)),
              "init_std": positive, "multiplier": positive, "eps": number(1e-12, 1e-3)}
    chosen = draw(st.sets(st.sampled_from(sorted(fields))))
    return {key: draw(fields[key]) for key in sorted(chosen)} if chosen or draw(st.booleans()) else None


def config_from_size(value: Any) -> float:
    from hpscale.numbers import parse_number

    return parse_number(value, si=True)


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    model: dict[str, Any] = {"width": draw(widths)}
    if draw(st.booleans()):
        model["base_width"] = draw(widths)
    if draw(st.booleans()):
        model["depth"] = draw(st.integers(1, 200))
    if draw(st.booleans()):
        model["params"] = draw(sizes)
    if draw(st.booleans()):
        model["residual_multiplier"] = draw(positive)
    model["parametrization"] = draw(st.sampled_from(["mup", "standard"]))
    batch, dataset = draw(sizes), draw(sizes)
    if config_from_size(dataset) < config_from_size(batch):  # an epoch holds at least one batch
        batch, dataset = dataset, batch
    data = {"dataset_size": dataset, "batch_size": batch,
            "unit": draw(st.sampled_from(["tokens", "samples"])), "epochs": draw(number(0.01, 1000.0))}
    optimizer = {"lr": draw(positive), "weight_decay": draw(st.one_of(st.just(0), number(0.0, 10.0))),
                 "weight_decay_convention": draw(st.sampled_from(["coupled", "independent"])),
                 "betas": [draw(beta), draw(beta)], "eps": draw(number(1e-12, 1e-3))}
    config: dict[str, Any] = {"name": draw(names), "model": model, "data": data,
                              "optimizer": optimizer}
    if draw(st.booleans()):
        config["init_std"] = draw(positive)
    if draw(st.booleans()):
        config["ema_decay"] = draw(number(1e-6, 1 - 1e-9))
    groups = {group: draw(overrides()) for group in R.GROUPS}
    config["param_groups"] = {k: v for k, v in groups.items() if v is not None}
    return config


ratios = st.integers(-20, 20).map(lambda k: 2.0**k) | st.floats(1e-6, 1e6)

choices = st.builds(
    RuleChoices,
    wd_width_rule=st.sampled_from(R.WD_WIDTH_RULES),
    readout_rule=st.sampled_from(R.READOUT_RULES),
    beta_rule=st.sampled_from(R.BETA_RULES),
    tau_rule=st.sampled_from(R.TAU_RULES),
    tau_exponent=st.floats(-2, 2),
    eps_width_rule=st.sampled_from(R.EPS_WIDTH_RULES),
    depth_rule=st.sampled_from(R.DEPTH_RULES),
    eps_depth_rule=st.sampled_from(R.EPS_DEPTH_RULES),
    eps_batch_rule=st.sampled_from(R.EPS_BATCH_RULES),
)


def scale_for(config: Any, m: float, kappa: float, nu: float, depth_ratio: float | None) -> Scale:
    depth = None
    if depth_ratio is not None and config.model.depth is not None:
        depth = max(1, round(config.model.depth * depth_ratio))
    return Scale(width=max(1, round(config.model.width * m)),
                 batch_size=float(max(1, round(config.data.batch_size * kappa))),
                 dataset_size=float(max(1, round(config.data.dataset_size * nu))), depth=depth)


#: EMA timescales may be +∞ (λ so small that 1/(η·λ) overflows): the contract writes ∞ as null.
TIMESCALE_FIELDS = {"tau_iter", "tau_epoch", "tau_run_fraction"}


def floats_in(obj: Any) -> list[float]:
    """Every float reachable from a result dataclass (through tuples, lists and dicts);
    timescales count only when they are NaN."""
    if isinstance(obj, float):
        return [obj]
    if dataclasses.is_dataclass(obj):
        return [x for f in dataclasses.fields(obj) for x in floats_in(getattr(obj, f.name))
                if f.name not in TIMESCALE_FIELDS or x != x]
    if isinstance(obj, list | tuple):
        return [x for item in obj for x in floats_in(item)]
    if isinstance(obj, dict):
        return [x for item in obj.values() for x in floats_in(item)]
    return []


@SETTINGS
@given(data=configs(), m=ratios, kappa=ratios, nu=ratios,
       depth_ratio=st.none() | st.sampled_from([0.5, 2.0, 4.0]), rule_choices=choices)
def test_transfer_is_finite_or_refuses(data, m, kappa, nu, depth_ratio, rule_choices):
    config = config_from_data(data, "random")
    scale = scale_for(config, m, kappa, nu, depth_ratio)
    try:
        result = transfer_to(config, scale, rule_choices)
    except InputError:  # RuleDomainError is an InputError
        return
    bad = [x for x in floats_in(result) if not math.isfinite(x)]
    assert bad == [], bad
    dumps_json(result.to_json_dict())  # allow_nan=False: raises on NaN/inf
    # The target YAML is a valid config that passes its own check (the round trip), within
    # ratios of 2^±10 and ρ ≥ 0.5: beyond, ρ^κ underflows to 0 or rounds to 1 in the YAML's
    # 12 digits (see the xfail tests below).
    extreme = max(abs(math.log2(r)) for r in (m, kappa, nu)) > 10
    if extreme or (config.ema_decay is not None and config.ema_decay < 0.5):
        return
    if scale.width > LIMITS["width"].high or scale.batch_size > LIMITS["batch_size"].high or \
            scale.dataset_size > LIMITS["dataset_size"].high:
        return  # beyond hpscale.limits: no config states such a target
    text = dumps_target_yaml(result)
    raw = parse_yaml(text, "target")
    target = config_from_data(raw, "target")
    report = compare(config, target, rule_choices, 0.01, stated_fields(raw))
    assert report.ok, report.findings


@settings(SETTINGS, max_examples=80)
@given(proxy=configs(), target=configs(), rule_choices=choices,
       rtol=st.floats(0, 1))
def test_compare_two_random_configs_never_crashes(proxy, target, rule_choices, rtol):
    proxy_config = config_from_data(proxy, "proxy")
    target_config = config_from_data(target, "target")
    try:
        report = compare(proxy_config, target_config, rule_choices, rtol, stated_fields(target))
    except InputError:
        return
    for comparison in report.comparisons:
        # Findings name the rules that predict the value; matches name none (nothing to explain).
        assert bool(comparison.rules) == (comparison.status != "ok"), comparison
        assert comparison.rel_error is None or math.isfinite(comparison.rel_error)
    from hpscale.core.check import CheckResults

    dumps_json(CheckResults((("target", report),), rule_choices, rtol).to_json_dict())


runner = CliRunner()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=configs(), m=ratios, kappa=ratios)
def test_cli_exit_codes_on_random_configs(tmp_path_factory, data, m, kappa):
    """End to end through the CLI: exit 0 or 2, never 3, and stdout only on success."""
    folder = tmp_path_factory.mktemp("cli")
    proxy = folder / "proxy.yaml"
    proxy.write_text(yaml.safe_dump(data, allow_unicode=True))
    config = config_from_data(data, "random")
    width = max(1, round(config.model.width * m))
    batch = float(round(config.data.batch_size * kappa))  # a batch is a whole number
    assume(1 <= batch <= 1e12)
    for fmt in ("json", "yaml"):
        result = runner.invoke(app(), ["transfer", str(proxy), "--width", str(width),
                                       "--batch-size", repr(batch), "-f", fmt])
        assert result.exit_code in (0, 2), result.stderr
        assert "Traceback" not in result.stderr
        assert (result.stdout == "") == (result.exit_code == 2)
    if result.exit_code == 0:
        target = folder / "target.yaml"
        target.write_text(result.stdout)
        checked = runner.invoke(app(), ["check", str(proxy), str(target)])
        assert checked.exit_code == 0, checked.stdout + checked.stderr


def app():
    from hpscale.cli import app as typer_app

    return typer_app


def test_underflow_is_an_input_error_not_an_internal_error(tmp_path):
    proxy = tmp_path / "proxy.yaml"
    proxy.write_text("model: {width: 256}\ndata: {dataset_size: 1e9, batch_size: 1e6}\n"
                     "optimizer: {lr: 5e-324, weight_decay: 0.1}\n")
    result = runner.invoke(app(), ["transfer", str(proxy), "--width", "65536"])
    assert "Traceback" not in result.stderr
    assert result.exit_code in (0, 2), result.stderr


def test_name_with_line_break_round_trips():
    data = {"name": "evil\nmodel: {width: 1}", "model": {"width": 256},
            "data": {"dataset_size": 1e9, "batch_size": 1e6}, "optimizer": {"lr": 1e-3, "weight_decay": 0.1}}
    config = config_from_data(data, "proxy")
    result = transfer_to(config, Scale(width=512, batch_size=1e6, dataset_size=1e9))
    target = config_from_data(parse_yaml(dumps_target_yaml(result), "target"), "target")
    assert target.model.width == 512


def test_ema_underflow_is_refused_or_round_trips():
    data = {"model": {"width": 256}, "data": {"dataset_size": 1e9, "batch_size": 1e6},
            "optimizer": {"lr": 1e-3, "weight_decay": 0.1}, "ema_decay": 1e-6}
    config = config_from_data(data, "proxy")
    try:
        result = transfer_to(config, Scale(width=256, batch_size=64e6, dataset_size=1e9),
                          RuleChoices(beta_rule="exponential"))
    except InputError:
        return
    config_from_data(parse_yaml(dumps_target_yaml(result), "target"), "target")


def test_ema_near_one_round_trips():
    data = {"model": {"width": 256}, "data": {"dataset_size": 1e9, "batch_size": 1e6},
            "optimizer": {"lr": 1e-3, "weight_decay": 0.1}, "ema_decay": 1 - 1e-9}
    config = config_from_data(data, "proxy")
    result = transfer_to(config, Scale(width=256, batch_size=1, dataset_size=1e9))
    config_from_data(parse_yaml(dumps_target_yaml(result), "target"), "target")
