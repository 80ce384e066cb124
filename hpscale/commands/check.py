"""``hpscale check``: does each TARGET config match PROXY under the transfer rules?

parse → ``hpscale.api.check_targets`` → write what ``hpscale.outputs.check`` renders.

Exit codes: 0 every target matches; 1 at least one finding; 2 a usage or input error in *any*
file (every input is loaded and transferred before anything is printed, so an input error
never produces a partial report: stdout stays empty and every problem of every file is
listed on stderr); 3 an internal error.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..outputs.check import FORMATS
from . import options as O

if TYPE_CHECKING:
    from ..core.rules import RuleChoices



def expand_targets(targets: list[Path]) -> list[Path]:
    """Targets as given; a target that is not a file but a glob pattern (``'configs/target-*.yaml'``,
    quoted so that no shell expands it — as pre-commit passes it) is expanded here, sorted. A
    pattern that matches nothing is an error, not an empty check."""
    import glob

    from ..errors import InputFileError

    expanded: list[Path] = []
    for target in targets:
        text = str(target)
        if not target.exists() and any(char in text for char in "*?["):
            matches = sorted(glob.glob(text))
            if not matches:
                raise InputFileError(f"{text}: no target config matches this pattern")
            expanded += [Path(match) for match in matches]
        else:
            expanded.append(target)
    return expanded


@O.with_rule_options
def check_command(
    proxy: O.ProxyArg,
    targets: Annotated[
        list[Path],
        typer.Argument(metavar="TARGET...", help="Target configs to check (YAML), e.g. configs/target-*.yaml, or files an exporter wrote (transfer -f hf, …).",
                       show_default=False),
    ],
    rtol: Annotated[
        str, typer.Option("--rtol", metavar="REL", help="Relative tolerance: |found − expected| ≤ rtol·|expected|.")
    ] = "0.01",
    format: O.format_option(FORMATS) = "table",  # type: ignore[valid-type]
    output: O.OutputOpt = None,
    jobs: O.JobsOpt = "0",
    ignore: Annotated[list[str] | None, typer.Option(
        "--ignore", metavar="FIELD",
        help="Leave out a field the team sets by policy (glob; repeatable): optimizer.betas, "
        "param_groups.*.eps, ema_decay, …",
    )] = None,
    law: O.LawOpt = None,
    choices: RuleChoices | None = None,
) -> None:
    """Check that each TARGET states the hyperparameters PROXY transfers to at its scale.

    Exit 0 if every target matches, 1 if any value differs by more than --rtol, 2 on a usage
    or input error (nothing on stdout).
    """
    output_file = O.output_option(output)
    fmt = O.choice("--format", format, FORMATS)
    jobs_wanted = O.jobs_option(jobs)
    from dataclasses import asdict

    from ..api import check_targets
    from ..output import emit, warn
    from ..outputs.check import render

    targets = expand_targets(targets)
    law_file = O.law_option(law)
    results = O.shown(check_targets(proxy, targets, rtol=rtol, law=law_file, ignore=tuple(ignore or ()),
                                    jobs=jobs_wanted, **asdict(choices)))  # type: ignore[arg-type]
    inputs = [proxy, *targets, *([Path(law_file.path)] if law_file else [])]
    color = None if output_file is None else False
    if fmt == "table":  # JSON carries each report's warnings in its own field
        for path, report in results.reports:
            warn(f"{path}: {line}" for line in report.warnings)
    emit(render(results, fmt, color=color, law=law_file), output_file, inputs)
    if not results.ok:
        raise typer.Exit(1)
