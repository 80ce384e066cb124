"""Options shared by the commands that transfer (``transfer``, ``check``, ``ladder``).

Choices are plain strings validated here (not click.Choice) so a bad value gives the same
one-line ``--option: value: allowed …`` error as every other input. The allowed values come
from ``hpscale.rules``, so a new rule variant shows up here without touching the CLI.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from ..core import rules as R
from ..errors import InputError
from ..numbers import parse_positive

FORMATS = ("table", "json", "yaml")

WidthOpt = Annotated[str | None, typer.Option("--width", help="Target width (default: the proxy's).", show_default=False)]
BatchOpt = Annotated[str | None, typer.Option("--batch-size", help="Target batch size per step, same unit as the config; SI suffixes allowed (2M).", show_default=False)]
DatasetOpt = Annotated[str | None, typer.Option("--dataset-size", help="Target dataset size per epoch; SI suffixes allowed (300B).", show_default=False)]
DepthOpt = Annotated[str | None, typer.Option("--depth", help="Target depth (residual blocks); needs model.depth in the proxy.", show_default=False)]
WdWidthOpt = Annotated[str, typer.Option("--wd-width-rule", help="Hidden weight decay vs width: timescale (λ ∝ m, Wang & Aitchison) | sqrt (λ ∝ √m, Fan et al.) | constant (plain µP).")]
ReadoutOpt = Annotated[str, typer.Option("--readout-rule", help="µP readout formulation: mureadout (LR fixed, multiplier 1/m) | table3 (LR 1/m, init 1/m).")]
BetaOpt = Annotated[str, typer.Option("--beta-rule", help="Adam β vs batch: linear (1 − κ(1 − β), Malladi et al.) | exponential (β^κ).")]
TauOpt = Annotated[str, typer.Option("--tau-rule", help="Timescale vs token horizon: constant | power-lines (τ ∝ TPP^−a, Bergsma et al.).")]
TauExpOpt = Annotated[float, typer.Option("--tau-exponent", help="Power Lines exponent a.")]
EpsWidthOpt = Annotated[str, typer.Option("--eps-width-rule", help="Hidden Adam ε vs width: constant | inverse (ε ∝ 1/m, Everett et al.).")]
DepthRuleOpt = Annotated[str, typer.Option("--depth-rule", help="Depth transfer: completep (α = 1) | depth-mup (α = ½).")]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Write the result to FILE atomically instead of stdout.", dir_okay=False, show_default=False)]


def choice(option: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InputError(f"{option}: {value!r}: allowed: {', '.join(allowed)}")
    return value


def size_option(option: str, value: str | None, *, whole: bool = False) -> float | None:
    """Parse a CLI size (SI suffixes allowed); ``None`` keeps the proxy's value."""
    if value is None:
        return None
    try:
        return parse_positive(value, whole=whole)
    except ValueError as exc:
        raise InputError(f"{option}: {value!r}: {exc}") from None


#: The rule options every transferring command takes: name → (option type, default). One
#: line here (and a ``RuleChoices`` field) adds a rule choice to transfer, check and ladder.
RULE_OPTIONS: dict[str, tuple[Any, Any]] = {
    "wd_width_rule": (WdWidthOpt, "timescale"),
    "readout_rule": (ReadoutOpt, "mureadout"),
    "beta_rule": (BetaOpt, "linear"),
    "tau_rule": (TauOpt, "constant"),
    "tau_exponent": (TauExpOpt, R.POWER_LINES_EXPONENT),
    "eps_width_rule": (EpsWidthOpt, "constant"),
    "depth_rule": (DepthRuleOpt, "completep"),
}


def rule_choices(
    wd_width_rule: str,
    readout_rule: str,
    beta_rule: str,
    tau_rule: str,
    tau_exponent: float,
    eps_width_rule: str,
    depth_rule: str,
) -> Any:
    """The validated ``RuleChoices`` of the rule options."""
    from ..core.compose import RuleChoices

    if not (tau_exponent == tau_exponent and abs(tau_exponent) < 10):
        raise InputError(f"--tau-exponent: {tau_exponent!r}: must be a finite number in (-10, 10)")
    return RuleChoices(
        wd_width_rule=choice("--wd-width-rule", wd_width_rule, R.WD_WIDTH_RULES),  # type: ignore[arg-type]
        readout_rule=choice("--readout-rule", readout_rule, R.READOUT_RULES),  # type: ignore[arg-type]
        beta_rule=choice("--beta-rule", beta_rule, R.BETA_RULES),  # type: ignore[arg-type]
        tau_rule=choice("--tau-rule", tau_rule, R.TAU_RULES),  # type: ignore[arg-type]
        tau_exponent=tau_exponent,
        eps_width_rule=choice("--eps-width-rule", eps_width_rule, R.EPS_WIDTH_RULES),  # type: ignore[arg-type]
        depth_rule=choice("--depth-rule", depth_rule, R.DEPTH_RULES),  # type: ignore[arg-type]
    )


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


def parse_list(option: str, text: str | None, *, whole: bool = False) -> tuple[float, ...] | None:
    """``"512,1024,2K"`` → (512.0, 1024.0, 2000.0); SI suffixes allowed, ``_`` as thousands
    separator (a comma separates items). ``None`` stays ``None`` (the proxy's value)."""
    if text is None:
        return None
    values: list[float] = []
    for index, item in enumerate(text.split(",")):
        item = item.strip()
        if not item:
            raise InputError(f"{option}: {text!r}: item {index + 1} is empty; expected a comma list such as 512,1024")
        try:
            values.append(parse_positive(item, whole=whole))
        except ValueError as exc:
            raise InputError(f"{option}: {item!r}: {exc}") from None
    return tuple(values)
