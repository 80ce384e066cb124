"""Reading a check target: a run config, a trainer's file an exporter wrote, or a batch ramp.

``check_target`` is what ``hpscale.check`` and ``hpscale.check_targets`` do with a target file
(and so what ``hpscale check`` does with each TARGET): the raw mapping says which values the
file states (validation fills in defaults); a trainer's file is read back by its exporter
(``hpscale.export.read_export``); a ramp document (``hpscale ramp -f json|yaml``) is checked
stage by stage (``hpscale.core.staged``); rule choices the target records (``# rules:``, a
ramp's ``rules``) other than the check's own add a note naming the parameters that check it
under its own rules.

Input, not core: it reads files. The comparison itself is ``hpscale.core.check.compare``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InputError, mention

if TYPE_CHECKING:
    from .config import RunConfig
    from .core.check import CheckReport
    from .core.compose import ProxyRun
    from .core.law import Law
    from .core.rules import RuleChoices


@dataclass(frozen=True)
class CheckSetup:
    """What every target of one check shares: the proxy (config and ``read_proxy`` of it), the
    validated rule choices, tolerance, ignore patterns and law."""

    config: RunConfig
    run: ProxyRun
    choices: RuleChoices
    rtol: float
    ignore: tuple[str, ...] = ()
    law: Law | None = None


def check_target(setup: CheckSetup, path: Path) -> CheckReport:
    """Load one target file and compare it (module docstring); input errors name the file."""
    from .core.check import compare, stated_fields
    from .core.staged import is_staged
    from .export import read_export
    from .loader import config_from_data, parse_yaml, read_text

    try:
        text = read_text(path)
        exported = read_export(text, str(path))  # a trainer's file from an exporter
        data, skipped, notes = exported if exported else (parse_yaml(text, str(path)), (), [])
        if is_staged(data):  # a batch ramp (hpscale ramp -f json|yaml): every stage is checked
            report = _check_stages(data, str(path), setup)
        else:
            target = config_from_data(data, str(path))
            report = compare(setup.config, target, setup.choices, setup.rtol, stated_fields(data), setup.run,
                             (*setup.ignore, *skipped), setup.law)
    except InputError as exc:
        # Loader messages already start with the path; transfer/compare messages do not.
        prefix = f"{path}:"
        raise InputError("\n".join(line if line.startswith(prefix) else f"{prefix} {line}"
                                   for line in str(exc).splitlines())) from None
    notes = [*notes, *rules_note(_recorded_rules(text, data), setup.choices)]
    return replace(report, warnings=(*report.warnings, *notes)) if notes else report


def _check_stages(doc: Any, source: str, setup: CheckSetup) -> CheckReport:
    """A staged target: each stage checked as the target config it stands for (core/staged.py),
    the reports joined, fields named ``stages[i].…``."""
    from .core.check import compare
    from .core.staged import document_path, merge_stage_reports, reference_comparison, stage_configs
    from .loader import config_from_data

    config = setup.config
    reports = []
    for index, (data, stated) in enumerate(stage_configs(doc, config)):
        try:
            target = config_from_data(data, "stage")
        except InputError as exc:  # name the document's own paths: stages[2].batch_size, target.width
            lines = (line.removeprefix("stage: ") for line in str(exc).splitlines())
            raise InputError("\n".join(
                f"{source}: " + (document_path(line) if line.startswith(("model.", "data.dataset_size"))
                                 else f"stages[{index}].{document_path(line)}") for line in lines)) from None
        reports.append(compare(config, target, setup.choices, setup.rtol, stated, setup.run, setup.ignore,
                               setup.law))
    return merge_stage_reports(reports, reference_comparison(doc, config.data.batch_size, setup.rtol), setup.rtol)


def _recorded_rules(text: str, data: Any) -> dict[str, str]:
    """The rule choices a target records: ``transfer``'s ``# rules:`` line, or a ramp document's
    ``rules`` mapping (string values only)."""
    from .contract import recorded_rules
    from .core.staged import is_staged

    if is_staged(data) and isinstance(data.get("rules"), dict):
        return {str(k): v for k, v in data["rules"].items() if isinstance(v, str)}
    return recorded_rules(text)


def rules_note(recorded: dict[str, str], choices: RuleChoices | None) -> list[str]:
    """A note when the target records (``# rules:``, written by ``transfer``; a ramp's ``rules``)
    rule choices other than the ones this check uses, naming the parameters that check it under
    its own rules (the command line shows them as flags).

    Why a note, not an automatic switch: the rules are the review's standard; a target made
    under another rule should fail a team's check, but the reviewer must see why at once
    (issue 17 item 4)."""
    from .core.rules import RuleChoices

    used = choices or RuleChoices()
    known = {f.name for f in fields(used)}
    differ = {name: value for name, value in recorded.items()
              if name in known and getattr(used, name) != value}
    if not differ:
        return []
    params = " ".join(mention(name, value) for name, value in differ.items())
    shown = ", ".join(f"{name.removesuffix('_rule').replace('_', '-')}={value}" for name, value in differ.items())
    return [f"the target records {shown} (# rules:), this check uses "
            + ", ".join(f"{getattr(used, name)}" for name in differ)
            + f"; to check it under its own rules pass {params}"]
