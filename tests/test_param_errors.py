"""The core names parameters, the CLI names flags (issue 19 item 1; ``hpscale.errors``)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import hpscale
from hpscale.cli import app
from hpscale.commands.options import cli_message, flag, shown
from hpscale.core import ramp as RP
from hpscale.errors import InputError

SWEEP = "configs/sweep-synthetic.csv"
FIT = {"by": "width", "optimize": "lr,weight_decay", "bootstrap": 100}


def _stderr_line(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize("kwargs, param", [
    ({"laws": ["lr = width"]}, "laws"),
    ({"laws": ["lr ~ width", "lr ~ width"]}, "laws"),
    ({"confidence": 1.5}, "confidence"),
    ({"bootstrap": 3}, "bootstrap"),
    ({"predict": [{"depth": 4}]}, "predict"),
])
def test_fit_api_names_the_parameter(kwargs, param):
    with pytest.raises(InputError) as info:
        hpscale.fit(SWEEP, **{**FIT, **kwargs})
    assert info.value.param == param
    assert str(info.value).startswith(param) and "--" not in str(info.value).split(":")[0]


@pytest.mark.parametrize("args, start", [
    (("--law", "lr = width"), "error: --law: "),
    (("--confidence", "1.5"), "error: --confidence: "),
    (("--predict", "depth=4"), "error: --predict: depth"),
])
def test_fit_cli_names_the_flag(args, start):
    line = _stderr_line("fit", SWEEP, "--by", "width", "--optimize", "lr,weight_decay", "--bootstrap", "100", *args)
    assert line.startswith(start)


def test_ramp_core_names_the_parameter_and_the_cli_the_flag():
    with pytest.raises(InputError) as info:
        RP.parse_ramp("linear:0", 128, 1024, 10e9)
    assert info.value.param == "ramp" and str(info.value).startswith("ramp: ")
    with pytest.raises(InputError) as info:
        RP.megatron_schedule((RP.Stage(0, 1000),), "tokens", 1024)
    assert info.value.param == "seq_len" and cli_message(info.value).startswith("--seq-len: ")
    line = _stderr_line("ramp", "configs/nanogpt-124m-proxy.yaml", "--batch-size", "4M", "--ramp", "linear:0")
    assert line.startswith("error: --ramp: fraction 0")


def test_check_api_names_rtol():
    proxy = "configs/nanogpt-124m-proxy.yaml"
    with pytest.raises(InputError) as info:
        hpscale.check(proxy, proxy, rtol=float("nan"))
    assert info.value.param == "rtol" and str(info.value).startswith("rtol: ")
    assert cli_message(info.value).startswith("--rtol: ")


def test_one_mapping_from_parameter_to_flag():
    assert flag("wd_width_rule") == "--wd-width-rule"
    assert flag("laws") == "--law"  # the API takes a list, the CLI repeats one flag
    plain = InputError("data.unit: 'x': allowed: tokens, samples")
    assert cli_message(plain) == str(plain)  # a config field is left as it is


# One face (issue 19 item 1): each command's argument checks are the API's. For a bad argument
# the CLI rejects, the API raises InputError naming the parameter, and the CLI's one line is
# that error with the parameter shown as its flag.
PROXY = "configs/nanogpt-124m-proxy.yaml"


@pytest.mark.parametrize("call, param, args", [
    (lambda: hpscale.transfer(PROXY, width="4k"), "width", ("transfer", PROXY, "--width", "4k")),
    (lambda: hpscale.transfer(PROXY, batch_size="0"), "batch_size", ("transfer", PROXY, "--batch-size", "0")),
    (lambda: hpscale.check(PROXY, PROXY, rtol="2"), "rtol",
     ("check", PROXY, PROXY, "--rtol", "2")),
    (lambda: hpscale.check_targets(PROXY, [PROXY], rtol="abc"), "rtol",
     ("check", PROXY, PROXY, "--rtol", "abc")),
    (lambda: hpscale.check(PROXY, PROXY, ignore=["optimizer.nothing"]), "ignore",
     ("check", PROXY, PROXY, "--ignore", "optimizer.nothing")),
    (lambda: hpscale.explain("depth-lrr"), "rule", ("explain", "depth-lrr")),
    (lambda: hpscale.ladder(PROXY, widths="512,,1024"), "widths", ("ladder", PROXY, "--widths", "512,,1024")),
    (lambda: hpscale.ladder_targets(PROXY), "widths", ("ladder", PROXY)),
    (lambda: hpscale.ladder_targets(PROXY, widths="512", max_rows="0"), "max_rows",
     ("ladder", PROXY, "--widths", "512", "--max-rows", "0")),
    (lambda: hpscale.ladder_targets(PROXY, widths="512,1024", batch_sizes="1M,2M,4M"), "batch_sizes",
     ("ladder", PROXY, "--widths", "512,1024", "--batch-sizes", "1M,2M,4M")),
])
def test_api_and_cli_reject_the_same_argument(call, param, args):
    with pytest.raises(InputError) as info:
        call()
    assert info.value.param == param and str(info.value).startswith(param)
    assert "--" not in str(info.value)  # the library never names a flag
    assert _stderr_line(*args) == f"error: {cli_message(info.value)}"


def test_explain_unknown_rule_names_the_argument():
    assert _stderr_line("explain", "depth-lrr").startswith("error: RULE: 'depth-lrr': unknown rule")


def test_schema_has_no_argument_to_check():
    """``hpscale schema`` takes only --output; its API is ``config_schema()``, what it prints."""
    import json

    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0 and json.loads(result.stdout) == hpscale.config_schema()


def test_core_warnings_name_parameters_and_the_cli_shows_flags():
    """The core's warning names the parameter as a caller passes it; the command line shows the
    flag in its place, on stderr and in the JSON it prints (issue 19 item 2)."""
    import json

    result = hpscale.transfer(PROXY, batch_size="2M")
    line = next(w for w in result.warnings if w.startswith("optimizer.betas"))
    assert line.endswith("use `beta_rule='keep'`") and "--" not in line
    flags = next(w for w in shown(result).warnings if w.startswith("optimizer.betas"))
    assert flags.endswith("use --beta-rule keep")
    cli = CliRunner().invoke(app, ["transfer", PROXY, "--batch-size", "2M", "--format", "json"])
    assert cli.exit_code == 0 and flags in json.loads(cli.stdout)["warnings"]
    assert f"warning: {flags}" in cli.stderr.splitlines()


def test_mentions_inside_errors_are_flags_on_the_command_line():
    config = {"model": {"width": 256}, "data": {"batch_size": 1, "dataset_size": 1000},
              "optimizer": {"lr": 1e-3, "weight_decay": 0.1}}
    with pytest.raises(InputError) as info:
        hpscale.transfer(config, depth=8)
    assert "depth transfer (`depth`)" in str(info.value)
    assert "depth transfer (--depth)" in cli_message(info.value)


@pytest.mark.parametrize("text, flags", [
    ("use `beta_rule='keep'`", "use --beta-rule keep"),
    ("`laws`", "--law"),
    ("`tau_exponent=0.3` and `depth`", "--tau-exponent 0.3 and --depth"),
    ("no mention, a `Code.path` and ``literal``", "no mention, a `Code.path` and ``literal``"),
])
def test_flagged(text, flags):
    from hpscale.commands.options import flagged

    assert flagged(text) == flags
