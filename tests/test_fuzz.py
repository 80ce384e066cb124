"""Property-based fuzzing in the suite (seconds): the loader and the command line keep the
contract on generated input — exit 0, 1 or 2 only, one line per problem, no traceback, bounded
time. The long-running harness is ``tests/fuzz/fuzz_config.py`` (atheris)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpscale.cli import main
from hpscale.errors import InputError
from hpscale.loader import config_from_data, parse_yaml

ROOT = Path(__file__).resolve().parents[1]
SEED = (ROOT / "configs" / "llama-mup-w256.yaml").read_text()
FAST = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))

#: Pieces YAML is made of, and the ones that broke parsers before (deep brackets, tabs, anchors,
#: aliases, tags, base-60 and octal numbers, control characters).
TOKENS = st.sampled_from([
    "[", "]", "{", "}", ",", ":", ": ", "- ", "\n", "  ", "\t", "#", "'", '"', "&a ", "*a", "!!str ",
    "!!python/object ", "<<: ", "width", "lr", "0100", "1:30", "0x1F", "6e-4", "1e400", ".nan", "~",
    "true", "---", "...", "\x1b[2J", "\u202e", "9" * 50, "model", "optimizer", "param_groups",
])
TEXT = st.one_of(
    st.lists(TOKENS, max_size=60).map("".join),
    st.text(max_size=200),
    st.tuples(st.integers(0, len(SEED)), st.integers(0, 40), st.lists(TOKENS, max_size=8).map("".join))
    .map(lambda t: SEED[:t[0]] + t[2] + SEED[t[0] + t[1]:]),
)


@FAST
@given(text=TEXT)
def test_the_loader_refuses_with_input_errors_only(text):
    try:
        config_from_data(parse_yaml(text, "fuzz.yaml"), "fuzz.yaml")
    except InputError as exc:
        assert str(exc) and all(line.startswith("fuzz.yaml") for line in str(exc).splitlines())


VALUES = st.one_of(
    st.sampled_from(["0", "-1", "1e400", "nan", "4k", "4Ki", "2M", "2Mi", "1,,0", "_1", "abc", "", "１２",
                     "json", "yaml", "csv", "table", "sqrt", "keep", "inverse", "1e-300", "9" * 30]),
    st.text(max_size=12),
)
OPTIONS = {
    "transfer": ["--width", "--batch-size", "--dataset-size", "--depth", "--wd-width-rule", "--beta-rule",
                 "--tau-rule", "--tau-exponent", "--eps-width-rule", "--eps-batch-rule", "--format"],
    "ladder": ["--widths", "--batch-sizes", "--dataset-sizes", "--depths", "--format", "--max-rows", "--jobs"],
    "timescale": ["--lr", "--weight-decay", "--batch-size", "--dataset-size", "--tau-epoch", "--tau-iter",
                  "--solve", "--epochs", "--total-steps", "--convention", "--format"],
}


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from(sorted(OPTIONS)))
    args = [command] + ([] if command == "timescale" else [str(ROOT / "configs" / "llama-mup-w256.yaml")])
    for _ in range(draw(st.integers(0, 5))):
        args += [draw(st.sampled_from(OPTIONS[command])), draw(VALUES)]
    return args


@FAST
@given(args=command_lines())
def test_the_command_line_keeps_the_exit_code_contract(args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    assert code in (0, 1, 2), (code, args, err.getvalue())
    if code == 2:
        assert out.getvalue() == ""
    assert all(line.startswith(("error: ", "warning: ")) for line in err.getvalue().splitlines()), err.getvalue()
    assert "nan" not in out.getvalue().lower().replace("nanogpt", "")
