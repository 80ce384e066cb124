"""Coverage-guided fuzzing of hpscale's config reading and command line (atheris).

Run for as long as you like (``pip install atheris`` first)::

    python tests/fuzz/fuzz_config.py -max_total_time=600 -timeout=10 -rss_limit_mb=1024

Each input is split by ``atheris.FuzzedDataProvider`` into a YAML document, written to a file,
and a command line built from hpscale's own options with fuzzed values; ``hpscale.cli.main``
then runs ``transfer``, ``check``, ``ladder`` or ``timescale`` on it in this process. The
contract checked on every run: exit code 0, 1 or 2 (never 3, never an exception escaping
``main``), nothing on stdout when the exit code is 2, and every stderr line a one-line
``error:`` / ``warning:`` / ``wrote`` message. libFuzzer's ``-timeout`` and ``-rss_limit_mb`` bound
time and memory per input; a crash or a violated assertion stops the run and saves the input.
"""

from __future__ import annotations

import os
import sys
import tempfile

import atheris
from contract import run_checked  # tests/fuzz/contract.py, beside this file

with atheris.instrument_imports():
    # Everything the commands import lazily, imported here so that it is instrumented too.
    import hpscale.api
    import hpscale.commands.check
    import hpscale.commands.ladder
    import hpscale.commands.options
    import hpscale.commands.timescale
    import hpscale.commands.transfer
    import hpscale.config
    import hpscale.contract
    import hpscale.core.check
    import hpscale.core.compose
    import hpscale.core.ladder
    import hpscale.core.rules
    import hpscale.core.timescale
    import hpscale.loader
    import hpscale.numbers
    import hpscale.outputs.check
    import hpscale.outputs.common
    import hpscale.outputs.ladder
    import hpscale.outputs.transfer  # noqa: F401 — instrumented for coverage guidance
    from hpscale.cli import main

COMMANDS = ("transfer", "check", "ladder", "timescale")
OPTIONS = {
    "transfer": ("--width", "--batch-size", "--dataset-size", "--depth", "--wd-width-rule", "--beta-rule",
                 "--tau-rule", "--tau-exponent", "--eps-width-rule", "--format", "--derivation"),
    "check": ("--rtol", "--format", "--jobs", "--ignore", "--wd-width-rule", "--eps-batch-rule"),
    "ladder": ("--widths", "--batch-sizes", "--dataset-sizes", "--depths", "--product", "--format",
               "--max-rows"),
    "timescale": ("--lr", "--weight-decay", "--batch-size", "--dataset-size", "--tau-epoch", "--tau-iter",
                  "--solve", "--epochs", "--total-steps", "--convention", "--format"),
}
FLAGS = {"--derivation", "--product"}
SEED = b"""name: fuzz
model: {width: 256, base_width: 256, depth: 8, params: 6.3M}
data: {dataset_size: 2e9, batch_size: 524288, unit: tokens, epochs: 1}
optimizer: {lr: 1e-2, weight_decay: 0.1, betas: [0.9, 0.95], eps: 1e-8, warmup_steps: 2000}
init_std: 0.02
ema_decay: 0.999
param_groups: {vector: {weight_decay: 0}}
"""

FOLDER = tempfile.mkdtemp(prefix="hpscale-fuzz-")
CONFIG = os.path.join(FOLDER, "config.yaml")
with open(os.path.join(FOLDER, "proxy.yaml"), "wb") as seed:
    seed.write(SEED)


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    command = COMMANDS[fdp.ConsumeIntInRange(0, len(COMMANDS) - 1)]
    if fdp.ConsumeBool():  # a valid config with a fuzzed splice: reaches the validators and rules
        start = fdp.ConsumeIntInRange(0, len(SEED))
        end = fdp.ConsumeIntInRange(start, len(SEED))
        document = SEED[:start] + fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64)) + SEED[end:]
    else:
        document = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4096))
    with open(CONFIG, "wb") as handle:
        handle.write(document)
    if command == "check":
        args = [command, os.path.join(FOLDER, "proxy.yaml"), CONFIG]
    elif command == "timescale":
        args = [command] + (["--config", CONFIG] if fdp.ConsumeBool() else [])
    else:
        args = [command, CONFIG]
    for _ in range(fdp.ConsumeIntInRange(0, 6)):
        options = OPTIONS[command]
        option = options[fdp.ConsumeIntInRange(0, len(options) - 1)]
        args.append(option)
        if option not in FLAGS:
            args.append(fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 40)))
    run_checked(main, args)


if __name__ == "__main__":
    atheris.Setup([sys.argv[0], *sys.argv[1:]], one_input)
    atheris.Fuzz()
