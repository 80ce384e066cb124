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


# ramp, timescale, plan (issue 19 item 1): the same contract for the three commands that called
# the core themselves before. Each case is a bad argument the API refuses with ``.param`` set
# and a message without flags; the CLI prints that message with the flag, one line, exit 2.
LLAMA = "configs/llama-mup-w256.yaml"
RAMP = {"batch_size": "4M", "ramp": "linear:0.1"}
RAMP_ARGS = ("ramp", PROXY, "--batch-size", "4M", "--ramp", "linear:0.1")
TAU = {"batch_size": "491520", "dataset_size": "9035582198"}
TAU_ARGS = ("--batch-size", "491520", "--dataset-size", "9035582198")


@pytest.mark.parametrize("call, param, args", [
    (lambda: hpscale.ramp(PROXY, **{**RAMP, "batch_size": "0"}), "batch_size",
     ("ramp", PROXY, "--batch-size", "0", "--ramp", "linear:0.1")),
    (lambda: hpscale.ramp(PROXY, **RAMP, start_batch="8M"), "start_batch", (*RAMP_ARGS, "--start-batch", "8M")),
    (lambda: hpscale.ramp(PROXY, **RAMP, critical_batch="nan"), "critical_batch",
     (*RAMP_ARGS, "--critical-batch", "nan")),
    (lambda: hpscale.ramp(PROXY, **RAMP, seq_len="0.5"), "seq_len", (*RAMP_ARGS, "--seq-len", "0.5")),
    (lambda: hpscale.ramp(PROXY, **RAMP, world_size=4), "world_size", (*RAMP_ARGS, "--world-size", "4")),
    (lambda: hpscale.ramp(PROXY, **RAMP, micro_batch=4), "micro_batch", (*RAMP_ARGS, "--micro-batch", "4")),
    (lambda: hpscale.ramp(PROXY, **RAMP, seq_len=1024, world_size="1e30"), "world_size",
     (*RAMP_ARGS, "--seq-len", "1024", "--world-size", "1e30")),
    (lambda: hpscale.ramp(PROXY, **{**RAMP, "ramp": "linear:0"}), "ramp",
     ("ramp", PROXY, "--batch-size", "4M", "--ramp", "linear:0")),
    (lambda: hpscale.ramp(PROXY, batch_size=3932160, ramp="linear:0.1", dataset_size="100B", seq_len=1024,
                          world_size=8, micro_batch=12), "ramp",
     ("ramp", PROXY, "--batch-size", "3932160", "--ramp", "linear:0.1", "--dataset-size", "100B", "--seq-len",
      "1024", "--world-size", "8", "--micro-batch", "12")),
    (lambda: hpscale.ramp(PROXY, **RAMP, width="4k"), "width", (*RAMP_ARGS, "--width", "4k")),
    (lambda: hpscale.timescale(lr="0", weight_decay=0.1), "lr", ("timescale", "--lr", "0", "--weight-decay", "0.1")),
    (lambda: hpscale.timescale(lr=6e-4, weight_decay="-0.1"), "weight_decay",
     ("timescale", "--lr", "6e-4", "--weight-decay", "-0.1")),
    (lambda: hpscale.timescale(lr=6e-4, solve="lr"), "solve", ("timescale", "--lr", "6e-4", "--solve", "lr")),
    (lambda: hpscale.timescale(lr=6e-4, tau_epoch=1, solve="both", **TAU), "solve",
     ("timescale", "--lr", "6e-4", "--tau-epoch", "1", "--solve", "both", *TAU_ARGS)),
    (lambda: hpscale.timescale(lr=6e-4, weight_decay=0.1, tau_epoch=1, **TAU), "weight_decay",
     ("timescale", "--lr", "6e-4", "--weight-decay", "0.1", "--tau-epoch", "1", *TAU_ARGS)),
    (lambda: hpscale.timescale(lr=6e-4, tau_epoch=1, solve="lr", **TAU), "lr",
     ("timescale", "--lr", "6e-4", "--tau-epoch", "1", "--solve", "lr", *TAU_ARGS)),
    (lambda: hpscale.timescale(lr=6e-4, weight_decay=0.1, group="hidden"), "group",
     ("timescale", "--lr", "6e-4", "--weight-decay", "0.1", "--group", "hidden")),
    (lambda: hpscale.timescale(config=PROXY, group="bogus"), "group",
     ("timescale", "--config", PROXY, "--group", "bogus")),
    (lambda: hpscale.timescale(lr=6e-4, weight_decay=0.1, convention="bogus"), "convention",
     ("timescale", "--lr", "6e-4", "--weight-decay", "0.1", "--convention", "bogus")),
    (lambda: hpscale.timescale(lr=6e-4, weight_decay=0.1, total_steps="1.5"), "total_steps",
     ("timescale", "--lr", "6e-4", "--weight-decay", "0.1", "--total-steps", "1.5")),
    (lambda: hpscale.timescale(lr=6e-4, weight_decay=0.1, batch_size=512), "dataset_size",
     ("timescale", "--lr", "6e-4", "--weight-decay", "0.1", "--batch-size", "512")),
    (lambda: hpscale.timescale(lr=6e-4, tau_iter=1000, tau_epoch=1), "tau_iter",
     ("timescale", "--lr", "6e-4", "--tau-iter", "1000", "--tau-epoch", "1")),
    (lambda: hpscale.plan_from_laws(tokens="100B"), "params", ("plan", "--tokens", "100B")),
    (lambda: hpscale.plan_from_laws(params="1B"), "tokens", ("plan", "--params", "1B")),
    (lambda: hpscale.plan_from_laws(params="1B", tokens="100B", batch_size="4M"), "batch_size",
     ("plan", "--params", "1B", "--tokens", "100B", "--batch-size", "4M")),
    (lambda: hpscale.plan_from_laws(model=LLAMA, params="1B", tokens="100B"), "model",
     ("plan", "--model", LLAMA, "--params", "1B", "--tokens", "100B")),
    (lambda: hpscale.plan_from_laws(params=1, tokens=1), "tokens", ("plan", "--params", "1", "--tokens", "1")),
    (lambda: hpscale.plan_from_laws(params="1B", tokens="100B", proxy=LLAMA), "proxy",
     ("plan", "--params", "1B", "--tokens", "100B", "--proxy", LLAMA)),
    (lambda: hpscale.plan_from_laws(params="1B", tokens="100B", seq_len="1.5"), "seq_len",
     ("plan", "--params", "1B", "--tokens", "100B", "--seq-len", "1.5")),
    (lambda: hpscale.plan_from_laws(width="4k", depth=30, tokens="100B"), "width",
     ("plan", "--width", "4k", "--depth", "30", "--tokens", "100B")),
])
def test_ramp_timescale_plan_api_and_cli_reject_the_same_argument(call, param, args):
    test_api_and_cli_reject_the_same_argument(call, param, args)


@pytest.mark.parametrize("call, param", [
    (lambda: hpscale.ramp(PROXY, batch_size="4M", ramp=0.1), "ramp"),
    (lambda: hpscale.ramp(PROXY, batch_size=None, ramp="linear:0.1"), "batch_size"),
    (lambda: hpscale.ramp(PROXY, batch_size=True, ramp="linear:0.1"), "batch_size"),
    (lambda: hpscale.timescale(lr=6e-4, weight_decay=0.1, solve=None), "solve"),
    (lambda: hpscale.plan_from_laws(params="1B", tokens="100B", extrapolate="yes"), "extrapolate"),
    (lambda: hpscale.plan_from_laws(params="1B", tokens="100B", laws="deepseek"), "laws"),
])
def test_arguments_only_a_python_caller_can_pass_are_refused_by_name(call, param):
    with pytest.raises(InputError) as info:
        call()
    assert info.value.param == param and str(info.value).startswith(param) and "--" not in str(info.value)


@pytest.mark.parametrize("call, args", [
    (lambda: hpscale.ramp(PROXY, batch_size=3932160, ramp="linear:0.1", dataset_size="100B", seq_len=1024),
     ("ramp", PROXY, "--batch-size", "3932160", "--ramp", "linear:0.1", "--dataset-size", "100B",
      "--seq-len", "1024")),
    (lambda: hpscale.timescale(config=PROXY, tau_epoch=1, solve="lr"),
     ("timescale", "--config", PROXY, "--tau-epoch", "1", "--solve", "lr")),
    (lambda: hpscale.plan_from_laws(width=4096, depth=30, tokens="2T", seq_len=4096, extrapolate=True,
                                    proxy=LLAMA, batch_size="4M"),
     ("plan", "--width", "4096", "--depth", "30", "--tokens", "2T", "--seq-len", "4096", "--extrapolate",
      "--proxy", LLAMA, "--batch-size", "4M")),
])
def test_the_api_result_is_what_the_command_prints(call, args):
    """The JSON a command prints is its API result's ``to_json_dict()``, its warnings shown with
    flags (``options.flagged``)."""
    import json

    from hpscale.commands.options import flagged_all

    expected = call().to_json_dict()
    expected["warnings"] = flagged_all(expected.get("warnings", []))
    cli = CliRunner().invoke(app, [*args, "--format", "json"])
    assert cli.exit_code == 0
    printed = json.loads(cli.stdout)
    printed.setdefault("warnings", [])
    assert printed == expected


def test_timescale_reads_a_mapping_config_and_names_no_file():
    config = {"model": {"width": 256}, "data": {"batch_size": 512, "dataset_size": 1_000_000},
              "optimizer": {"lr": 1e-3, "weight_decay": 0.1}}
    report = hpscale.timescale(config=config)
    # τ_iter = 1/(η·λ) = 1/(1e-3 · 0.1) = 10,000 steps; τ_epoch = B/(η·λ·N) = 512/(1e-4 · 10⁶) = 5.12
    assert report.tau_iter == pytest.approx(10_000) and report.tau_epoch == pytest.approx(5.12)
    assert (report.group, report.config, report.unit) == ("hidden", None, "tokens")
    assert report.to_json_dict()["group"] == "hidden"


@pytest.mark.parametrize("call", [
    lambda: hpscale.transfer("configs/llama-mup-w256.yaml", width=4096, law="nonsuch"),
    lambda: hpscale.plan_from_laws(tokens="1T", params="7B", laws=["nonsuch"]),
    lambda: hpscale.load_law("nonsuch"),
])
def test_an_unknown_law_names_the_parameter_not_the_flag(call):
    with pytest.raises(InputError) as info:
        call()
    assert info.value.param == "law" and "--" not in str(info.value)
    line = _stderr_line("transfer", "configs/llama-mup-w256.yaml", "--width", "4096", "--law", "nonsuch")
    assert line == "error: " + cli_message(info.value)


def test_a_trainer_export_without_seq_len_names_the_flag_on_the_command_line():
    line = _stderr_line("transfer", "configs/llama-mup-w256.yaml", "--width", "4096", "-f", "megatron")
    assert line.startswith("error: --seq-len: missing") and line.endswith("e.g. --seq-len 2048")
