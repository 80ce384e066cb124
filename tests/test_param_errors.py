"""The core names parameters, the CLI names flags (issue 19 item 1; ``hpscale.errors``)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import hpscale
from hpscale.cli import app
from hpscale.commands.options import cli_message, flag
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
