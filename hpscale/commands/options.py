"""Options shared by the commands that transfer (``transfer``, ``check``, ``ladder``).

Choices are plain strings validated by ``RuleChoices`` itself (not click.Choice), so a bad value
gives the same one-line ``--option: value: allowed …`` error as every other input. The allowed
values and defaults come from ``hpscale.core``, so a new rule variant shows up here without
touching the CLI.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import MENTION, InputError
from ..limits import limit_name
from ..numbers import parse_positive


def _completer(values: tuple[str, ...]) -> Callable[[str], list[str]]:
    """Tab completion of an option's allowed values (Typer's public ``autocompletion``)."""
    return lambda incomplete: [value for value in values if value.startswith(incomplete)]


def format_option(formats: tuple[str, ...], help: str = "Output format.") -> Any:
    """``--format/-f`` with ``formats`` (the first is the default) as metavar and completions."""
    return Annotated[str, typer.Option("--format", "-f", help=help, metavar="|".join(formats),
                                       autocompletion=_completer(formats))]


# Metavars follow one convention: arguments and option values are UPPERCASE nouns (PROXY, FILE,
# N) or the list of allowed values (table|json); flags show none.
ProxyArg = Annotated[Path, typer.Argument(metavar="PROXY", help="The proxy run's config (YAML; - reads stdin).",
                                          show_default=False)]
WidthOpt = Annotated[str | None, typer.Option("--width", metavar="W", show_default=False,
                                              help="Target width, a whole number (4096 or 4Ki); default: the proxy's.")]
BatchOpt = Annotated[str | None, typer.Option("--batch-size", metavar="B", show_default=False,
                                              help="Target batch size per step in the config's unit: 983040, 2M (10⁶) or 2Mi (2²⁰).")]
DatasetOpt = Annotated[str | None, typer.Option("--dataset-size", metavar="N", show_default=False,
                                                help="Target dataset size per epoch: 36142328792, 300B or 1.5T.")]
DepthOpt = Annotated[str | None, typer.Option("--depth", metavar="L", show_default=False,
                                              help="Target depth in residual blocks; needs model.depth in the proxy.")]
LawOpt = Annotated[str | None, typer.Option("--law", metavar="FILE|NAME", show_default=False,
                                            help="A law file from hpscale fit --output, or a shipped published law "
                                            "by name (deepseek, steplaw): its exponents replace the rules for the "
                                            "hyperparameters and axes it covers.")]


def law_option(value: str | None) -> Any:
    """``--law FILE|NAME`` read and validated (``hpscale.lawfile.read_law``), or None."""
    if value is None:
        return None
    from ..lawfile import read_law

    return read_law(value)


# A string, not a Path: Path("out/") drops the slash that says the user named a folder.
OutputOpt = Annotated[str | None, typer.Option("--output", "-o", metavar="FILE", show_default=False,
                                               help="Write the result to FILE (atomically) instead of stdout.")]


def output_option(value: str | None) -> Path | None:
    """``--output``, checked before any work (``hpscale.output.output_path``, then what
    ``check_destination`` can tell without the inputs: a device, a folder, a missing folder), so
    that no warning about a result is printed before the error. Each command checks that it is
    not one of its inputs once it knows them, before it warns."""
    from ..output import check_destination, output_path

    path = output_path(value)
    if path is not None:
        check_destination(path)
    return path
JobsOpt = Annotated[str, typer.Option("--jobs", "-j", metavar="N",
                                      help="Worker processes: 0 (automatic: one per CPU from 200 items on) "
                                      "up to the number of CPUs.")]


def jobs_option(value: str) -> int:
    """``--jobs``: a whole number ≥ 0 (0 = automatic); more than the CPUs is capped, with a note."""
    import os

    text = value.strip()
    if not (text.isascii() and text.isdigit() and len(text) < 10):
        raise InputError(f"--jobs: expected a whole number ≥ 0 (0 = automatic), found {value!r}")
    jobs = int(text)
    cpus = os.cpu_count() or 1
    if jobs > cpus:
        from ..output import warn

        warn([f"--jobs: {value} is more than the {cpus} CPUs here; using {cpus}"])
        return cpus
    return int(jobs)


def choice(option: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        from ..text import shown

        raise InputError(f"{option}: {shown(value, 60)}: allowed: {', '.join(allowed)}")
    return value


def size_option(option: str, value: str | None, *, whole: bool = False) -> float | None:
    """Parse a CLI size (SI suffixes allowed); ``None`` keeps the proxy's value."""
    if value is None:
        return None
    try:
        return parse_positive(value, whole=whole, limit=limit_name(option))
    except ValueError as exc:
        raise InputError(f"{option}: {exc}") from None


#: Help of each rule option (a field of ``RuleChoices``). Allowed values and defaults are not
#: repeated here: the CLI reads them from ``hpscale.core`` (``RuleChoices`` and the tuples in
#: ``rules.py``), so a new rule variant appears on the command line without touching this file.
RULE_HELP: dict[str, str] = {
    "wd_width_rule": "Hidden weight decay vs width: timescale (λ ∝ m, Wang & Aitchison 2024), sqrt "
    "(λ ∝ √m, Fan et al. 2025) or constant (plain µP).",
    "readout_rule": "µP readout: mureadout (LR kept, forward multiplier 1/m, the mup library) or "
    "table3 (LR and init 1/m, Tensor Programs V Table 3).",
    "beta_rule": "Adam β vs batch: linear (1 − κ(1 − β), Malladi et al. 2022), exponential (β^κ: β2's half-life in tokens kept, Marek et al. 2025) or "
    "keep (β unchanged: a team policy).",
    "tau_rule": "AdamW timescale vs token horizon: constant (Wang & Aitchison) or power-lines "
    "(τ ∝ TPP^−a, Bergsma et al. 2025).",
    "tau_exponent": "Power Lines' exponent a (fit on GPT-like models of 111M–3.3B parameters).",
    "eps_width_rule": "Adam ε vs width: inverse (ε ∝ 1/m in every group, CompleteP Table 1; Everett "
    "et al. 2024) or constant.",
    "depth_rule": "Depth transfer: completep (α = 1, Dey et al. 2025) or depth-mup (α = ½, Yang et "
    "al. 2023).",
    "eps_depth_rule": "Adam ε of residual blocks vs depth: inverse (ε ∝ m_L^−α, CompleteP) or constant.",
    "eps_batch_rule": "Adam ε vs batch: sqrt (ε/√κ, Malladi et al. 2022) or keep (ε unchanged).",
    "muon_wd_width_rule": "Muon weight decay vs width: timescale (η·λ kept), independent (λ ∝ 1/m, "
    "Qiu et al.), fixed (Moonlight) or zero.",
    "muon_convention": "The target trainer's Muon shape convention (lr converted to it), or proxy "
    "(the proxy's muon.convention).",
    "lr_horizon_rule": "AdamW lr vs token horizon D at a fixed model: none (η kept), deepseek "
    "(η ∝ D^−0.125, DeepSeek LLM 2024) or steplaw (η ∝ D^0.3075, Step Law 2025).",
}


#: The parameters whose flag is not ``--name-with-dashes`` (the one exception table; see
#: ``hpscale.errors``): parameter name → flag.
FLAGS: dict[str, str] = {
    "laws": "--law",  # hpscale.fit(laws=[…]) is `hpscale fit --law … --law …`
    "columns": "--column",  # hpscale.fit(columns={…}) is `hpscale fit --column Q=COL …`
    "rule": "RULE",  # hpscale.explain(rule=…) is `hpscale explain RULE` (an argument)
    "targets": "TARGET",  # hpscale.check_targets(targets=[…]) is `hpscale check PROXY TARGET...`
}


def flag(name: str) -> str:
    """The command-line flag of a parameter or ``RuleChoices`` field: ``wd_width_rule`` →
    ``--wd-width-rule``; ``FLAGS`` lists the exceptions."""
    return FLAGS.get(name) or "--" + name.replace("_", "-")


def _flag_of(match: re.Match[str]) -> str:
    name, value = match.group(1), match.group(2)
    if value is None:
        return flag(name)
    if len(value) >= 2 and value[0] == value[-1] == "'":
        value = value[1:-1]
    return f"{flag(name)} {value}"


def flagged(text: str) -> str:
    """A message, warning or note of the library as the command line shows it: every parameter
    mention (`` `beta_rule='keep'` ``, written by ``hpscale.errors.mention``) becomes its flag
    (``--beta-rule keep``)."""
    return MENTION.sub(_flag_of, text) if "`" in text else text


def flagged_all(lines: Iterable[str]) -> list[str]:
    """``flagged`` of each line."""
    return [flagged(line) for line in lines]


def shown(result: Any) -> Any:
    """A result as the command line shows it: its ``warnings`` and ``notes`` (and those of the
    reports it holds, a check's ``reports``) ``flagged``, so stderr, tables, JSON and YAML
    comments name flags. Anything else is returned as it is."""
    import dataclasses

    if not dataclasses.is_dataclass(result) or isinstance(result, type):
        return result
    changes: dict[str, Any] = {}
    for name in ("warnings", "notes"):
        texts = getattr(result, name, None)
        if isinstance(texts, tuple | list) and any("`" in text for text in texts):
            changes[name] = type(texts)(flagged(text) for text in texts)
    reports = getattr(result, "reports", None)
    if isinstance(reports, tuple):
        changes["reports"] = tuple((path, shown(report)) for path, report in reports)
    return dataclasses.replace(result, **changes) if changes else result


def cli_message(exc: BaseException) -> str:
    """An error's message as the command line shows it: an ``InputError`` that names its
    parameter (``param``, the message's first word) gets that word replaced by the flag, and
    every parameter it mentions is ``flagged``."""
    message, param = str(exc), getattr(exc, "param", None)
    if param and message.startswith(param):
        message = flag(param) + message[len(param):]
    return flagged(message)


def _rule_options() -> dict[str, tuple[Any, Any]]:
    """name → (Typer annotation, default) for every ``RuleChoices`` field, in field order."""
    import dataclasses

    from ..core.rules import CHOICES, RuleChoices

    options: dict[str, tuple[Any, Any]] = {}
    for field in dataclasses.fields(RuleChoices):
        allowed = CHOICES.get(field.name)
        option = typer.Option(flag(field.name), help=RULE_HELP[field.name],
                              autocompletion=_completer(allowed) if allowed else None,
                              metavar="|".join(allowed) if allowed else "A")
        options[field.name] = (Annotated[str, option], str(field.default))
    return options


#: The rule options every transferring command takes: name → (option type, default). One field
#: of ``RuleChoices`` (and its help above) adds a rule choice to transfer, check and ladder.
RULE_OPTIONS: dict[str, tuple[Any, Any]] = _rule_options()


def rule_choices(**values: Any) -> Any:
    """The validated ``RuleChoices`` of the rule options; errors name the command-line flag."""
    from ..core.rules import RuleChoices
    from ..numbers import parse_number

    try:
        values["tau_exponent"] = parse_number(values["tau_exponent"])
    except ValueError as exc:
        raise InputError(f"--tau-exponent: {exc}") from None
    try:
        return RuleChoices(**values)
    except InputError as exc:
        field, _, rest = str(exc).partition(": ")
        raise InputError(f"{flag(field)}: {rest}") from None


def with_rule_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``command`` the ``RULE_OPTIONS`` on the command line; it receives them as one
    validated ``choices: RuleChoices`` argument.

    Typer reads a command's options from its signature, so the wrapper's signature is the
    command's own (without ``choices``) followed by the rule options.
    """
    signature = inspect.signature(command)
    # Evaluate the command's own annotations (strings under ``from __future__ import
    # annotations``) as typing.get_type_hints would; ``choices`` is typed for readers only.
    namespace = getattr(command, "__globals__", {})
    own = [
        param.replace(annotation=eval(param.annotation, namespace))  # noqa: S307 — our own source
        if isinstance(param.annotation, str) else param
        for param in signature.parameters.values()
        if param.name != "choices"
    ]
    shared = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, (annotation, default) in RULE_OPTIONS.items()
    ]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in RULE_OPTIONS}
        return command(*args, choices=rule_choices(**values), **kwargs)

    parameters = [*own, *shared]
    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {param.name: param.annotation for param in parameters}
    return wrapper
