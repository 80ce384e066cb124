"""Coverage-guided fuzzing of run tables and law files (atheris; issue 18).

Run for as long as you like (``pip install atheris`` first)::

    python tests/fuzz/fuzz_tables.py -max_total_time=600 -timeout=20 -rss_limit_mb=2048

Each input picks a target — a run table as CSV, TSV or JSON Lines read by ``hpscale fit``, or a
law file read by ``hpscale transfer --law`` — and is either a splice of fuzzed bytes into a valid
seed (``configs/sweep-synthetic.csv`` cut to its runs at one weight decay, the shipped ``deepseek`` law), so that
the checks behind the parser are reached, or raw fuzzed bytes. ``hpscale.cli.main`` runs the
command in this process; ``contract.run_checked`` checks hpscale's contract on every input (exit
0, 1 or 2, nothing on stdout with exit 2, one-line stderr messages, no NaN or inf in a result).
libFuzzer's ``-timeout`` and ``-rss_limit_mb`` bound time and memory per input.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import tempfile
from pathlib import Path

import atheris
from contract import run_checked  # tests/fuzz/contract.py, beside this file

with atheris.instrument_imports():
    # Everything the commands import lazily, imported here so that it is instrumented too.
    import hpscale.columns
    import hpscale.commands.fit
    import hpscale.commands.transfer
    import hpscale.core.fit
    import hpscale.core.optimum
    import hpscale.core.sweep
    import hpscale.lawfile
    import hpscale.loader
    import hpscale.numbers
    import hpscale.outputs.fit
    import hpscale.runs  # noqa: F401 — instrumented for coverage guidance
    from hpscale.cli import main

ROOT = Path(__file__).resolve().parents[2]
PROXY = str(ROOT / "configs" / "llama-mup-w256.yaml")
_LINES = (ROOT / "configs" / "sweep-synthetic.csv").read_text().splitlines()
_HEADER = next(i for i, line in enumerate(_LINES) if not line.startswith("#"))
# The runs at one weight decay (0.05): four widths × the lr grid, so a seed fits in well under a second.
_RUNS = [line for line in _LINES[_HEADER + 1:] if line.split(",")[6] == "0.05"]
CSV_SEED = "\n".join([_LINES[_HEADER], *_RUNS]) + "\n"
_RECORDS = list(csv.DictReader(io.StringIO(CSV_SEED)))
SEEDS = {
    ".csv": CSV_SEED.encode(),
    ".tsv": CSV_SEED.replace(",", "\t").encode(),
    ".jsonl": "".join(json.dumps(r) + "\n" for r in _RECORDS).encode(),
    ".yaml": (ROOT / "hpscale" / "laws" / "deepseek.yaml").read_bytes(),
}
KINDS = tuple(SEEDS)
FIT = ["--by", "width", "--optimize", "lr", "--metric", "val/loss", "--bootstrap", "20"]
FOLDER = tempfile.mkdtemp(prefix="hpscale-fuzz-tables-")


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    kind = KINDS[fdp.ConsumeIntInRange(0, len(KINDS) - 1)]
    seed = SEEDS[kind]
    if fdp.ConsumeBool():  # a valid input with a fuzzed splice: reaches the checks behind the parser
        start = fdp.ConsumeIntInRange(0, len(seed))
        end = fdp.ConsumeIntInRange(start, min(len(seed), start + 256))
        document = seed[:start] + fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 128)) + seed[end:]
    else:
        document = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 8192))
    path = os.path.join(FOLDER, f"input{kind}")
    with open(path, "wb") as handle:
        handle.write(document)
    if kind == ".yaml":
        args = ["transfer", PROXY, "--dataset-size", "8e9", "--law", path]
    else:
        args = ["fit", path, *FIT, *(["--format", "json"] if fdp.ConsumeBool() else [])]
    run_checked(main, args, finite=True)


if __name__ == "__main__":
    atheris.Setup([sys.argv[0], *sys.argv[1:]], one_input)
    atheris.Fuzz()
