"""The documented Python API: what the CLI commands call, with keyword arguments.

Everything here is re-exported by ``hpscale`` itself (``from hpscale import transfer``). The
functions take a config as a ``RunConfig``, a path to a YAML file or a plain mapping, and sizes
as numbers or as the strings the CLI takes (``"2M"``, ``"300B"``); every bad value raises
``hpscale.InputError`` (a ``ValueError``) with one line per problem, naming the field.

Why ~700 lines in one module: it is the one face — every public function with its reference
docstring and doctest (a third of the lines) and the argument checks each command relies on,
so the whole surface and its validation read in one place; the work is done by the modules
each function calls (``hpscale.core``, the readers, ``hpscale.targets``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .core import rules as R
from .core.compose import scale_of, transfer_to
from .core.rules import RuleChoices
from .core.scale import Scale
from .core.transfer_result import TransferResult
from .errors import InputError, mention
from .loader import load_config as _load_config
from .numbers import parse_positive

if TYPE_CHECKING:
    from .checkpoints import CheckpointComparison, Scan
    from .config import RunConfig
    from .core.check import CheckReport, CheckResults
    from .core.explain import Explanation
    from .core.fit_result import FitResult
    from .core.ladder import LadderTargets
    from .core.law import Law
    from .core.spectrum import ModelInfo, Prediction

def load_config(source: str | os.PathLike[str] | Mapping[str, Any]) -> RunConfig:
    """A validated, immutable ``RunConfig`` from a YAML file path or a mapping.

    The YAML is read with the safe schema and hpscale's limits (size, nesting, aliases,
    duplicate keys); a mapping is validated as it is. Numbers may be strings such as ``"6e-4"``,
    sizes may carry SI suffixes (``"300B"``).

    Raises:
        InputError: one ``source: field.path: …`` line per problem.

    >>> config = load_config("configs/nanogpt-124m-proxy.yaml")
    >>> config.model.width, config.optimizer.lr
    (768, 0.0006)
    """
    return _load_config(source)


#: JSON Schema dialect of pydantic's output.
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def config_schema() -> dict[str, Any]:
    """The JSON Schema of a run config (``RunConfig``, validation mode), ``$schema`` first: what
    ``hpscale schema`` prints, for editors and CI validators.

    >>> config_schema()["$schema"]
    'https://json-schema.org/draft/2020-12/schema'
    """
    from .config import RunConfig

    return {"$schema": SCHEMA_DIALECT, **RunConfig.model_json_schema(mode="validation")}


def explain(rule: str | None = None) -> Explanation:
    """Every scaling rule (``rule`` None), or the one whose key is ``rule``: title, formula (the
    function's docstring), invariant, convention, validity, reference, as ``hpscale explain``.

    Raises:
        InputError: an unknown rule key (naming the closest keys).

    >>> entry = explain("power-lines").rules[0]
    >>> entry.function, entry.arxiv
    ('hpscale.core.rules.power_lines_tau_factor', ('2505.13738',))
    >>> [entry.key for entry in explain().rules] == list(R.RULES)
    True
    """
    from .core.explain import explain as explained

    return explained(rule)


def _config(config: Any) -> RunConfig:
    from .config import RunConfig

    return config if isinstance(config, RunConfig) else _load_config(config)


def _size(name: str, value: float | str | None, *, whole: bool = False,
          param: str | None = None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InputError(f"{name}: {value!r}: expected a number", param=param)
    try:
        return parse_positive(value, whole=whole, limit=name)
    except ValueError as exc:
        raise InputError(f"{name}: {exc}", param=param) from None


def target_scale(
    config: RunConfig,
    *,
    width: float | str | None = None,
    batch_size: float | str | None = None,
    dataset_size: float | str | None = None,
    depth: float | str | None = None,
    params: float | str | None = None,
) -> Scale:
    """The target ``Scale``: each size given, else the proxy's (depth: ``None`` keeps it)."""
    proxy = scale_of(config)
    new_width = _size("width", width, whole=True, param="width")
    new_depth = _size("depth", depth, whole=True, param="depth")
    return Scale(
        width=int(new_width) if new_width is not None else proxy.width,
        batch_size=_size("batch_size", batch_size, param="batch_size") or proxy.batch_size,
        dataset_size=_size("dataset_size", dataset_size, param="dataset_size") or proxy.dataset_size,
        depth=int(new_depth) if new_depth is not None else None,
        params=_size("params", params, param="params"),
    )


def transfer(
    config: RunConfig | str | os.PathLike[str] | Mapping[str, Any],
    *,
    width: float | str | None = None,
    batch_size: float | str | None = None,
    dataset_size: float | str | None = None,
    depth: float | str | None = None,
    params: float | str | None = None,
    law: str | os.PathLike[str] | Law | None = None,
    **rule_choices: Any,
) -> TransferResult:
    """Move every hyperparameter of a proxy run to a target scale, per parameter group.

    Args:
        config: the proxy run (``RunConfig``, YAML path or mapping).
        width: target width W (a whole number); default the proxy's.
        batch_size: target batch size per step B, in the config's unit; default the proxy's.
        dataset_size: target dataset size per epoch N; default the proxy's.
        depth: target depth L (residual blocks), for depth transfer; needs ``model.depth``.
        params: target parameter count for ``tau_rule="power-lines"`` (default: the proxy's
            count scaled by m²·m_L, or 12·L·W²).
        law: a law file written by ``hpscale fit --output`` (or a loaded ``Law``): its fitted
            exponents replace the rules for the hyperparameters and axes it covers.
        **rule_choices: the fields of ``RuleChoices`` (``wd_width_rule="sqrt"``, …), the same
            choices as the CLI's rule options.

    Returns:
        An immutable ``TransferResult``; ``result.groups["hidden"].lr.target`` is the hidden
        group's target learning rate, ``result.to_json_dict()`` the JSON contract.

    Raises:
        InputError: a bad config, size or rule choice; ``RuleDomainError`` (a subclass) when a
            rule is undefined at the target, e.g. κ(1 − β) ≥ 1 for the linear β rule.
        TypeError: an unknown keyword.

    >>> result = transfer("configs/nanogpt-124m-proxy.yaml", width=3072)
    >>> result.ratios.width, result.groups["hidden"].lr.target
    (4.0, 0.00015)
    >>> result.to_json_dict()["param_groups"]["hidden"]["weight_decay"]
    0.4
    """
    proxy = _config(config)
    choices = RuleChoices(**rule_choices)
    scale = target_scale(proxy, width=width, batch_size=batch_size, dataset_size=dataset_size,
                         depth=depth, params=params)
    return transfer_to(proxy, scale, choices, _law(law))


SizeList = str | Sequence[float | str] | None


def ladder_targets(
    config: RunConfig | str | os.PathLike[str] | Mapping[str, Any],
    *,
    widths: SizeList = None,
    batch_sizes: SizeList = None,
    dataset_sizes: SizeList = None,
    depths: SizeList = None,
    product: bool = False,
    max_rows: int | str = 10_000,
) -> LadderTargets:
    """The targets of a ladder from one proxy, validated, without transferring to any of them.

    Args:
        config: the proxy run.
        widths, batch_sizes, dataset_sizes, depths: each a list of sizes (numbers or the CLI's
            strings) or one comma-separated text (``"512,1024,2Ki"``); ``None`` keeps the
            proxy's value (depths: no depth transfer). At least one is needed.
        product: every combination of the lists (widths varying slowest) instead of zipping
            them (a single value broadcasts; other lists need equal lengths).
        max_rows: refuse a ladder of more targets than this, before any is built.

    Returns:
        A ``LadderTargets``: ``len()`` targets, each a ``Scale``, made one at a time when iterated.

    >>> targets = ladder_targets("configs/nanogpt-124m-proxy.yaml", widths="768,1536", batch_sizes=[1e6])
    >>> len(targets), [(t.width, t.batch_size) for t in targets]
    (2, [(768, 1000000.0), (1536, 1000000.0)])
    """
    from .core import ladder as LD

    lists = {
        "widths": _size_list("widths", widths, whole=True),
        "batch_sizes": _size_list("batch_sizes", batch_sizes),
        "dataset_sizes": _size_list("dataset_sizes", dataset_sizes),
        "depths": _size_list("depths", depths, whole=True),
    }
    if all(values is None for values in lists.values()):
        raise InputError.of("widths", ": missing; give at least one of " + ", ".join(map(mention, lists)))
    if not isinstance(product, bool):
        raise InputError.of("product", f": {product!r}: expected True or False")
    limit = _max_rows(max_rows)
    proxy = _config(config)
    ladder = LD.Ladder(**lists, product=product)
    size = ladder.size(scale_of(proxy))
    if size > limit:
        shape = " × ".join(str(len(v)) for v in lists.values() if v) if product else str(size)
        raise InputError.of(
            "max_rows", f": the ladder has {size:,} rows ({shape}), more than the limit of {limit:,}; "
            f"raise it with {mention('max_rows')}, or use fewer values")
    return LD.LadderTargets(proxy, ladder, scale_of(proxy), size)


def ladder(
    config: RunConfig | str | os.PathLike[str] | Mapping[str, Any],
    *,
    widths: SizeList = None,
    batch_sizes: SizeList = None,
    dataset_sizes: SizeList = None,
    depths: SizeList = None,
    product: bool = False,
    max_rows: int | str = 10_000,
    **rule_choices: Any,
) -> list[TransferResult]:
    """``transfer`` to every target of a ladder (``ladder_targets``), as ``hpscale ladder``:
    one ``TransferResult`` per target, in order; an error names the target it came from.

    >>> results = ladder("configs/nanogpt-124m-proxy.yaml", widths="768,1536")
    >>> [result.groups["hidden"].lr.target for result in results]
    [0.0006, 0.0003]
    """
    from .core.ladder import run_ladder

    choices = RuleChoices(**rule_choices)
    targets = ladder_targets(config, widths=widths, batch_sizes=batch_sizes, dataset_sizes=dataset_sizes,
                             depths=depths, product=product, max_rows=max_rows)
    return run_ladder(targets.config, list(targets), choices)


def _size_list(name: str, value: SizeList, *, whole: bool = False) -> tuple[float, ...] | None:
    """A list of sizes from a list or a comma text (``"512,1024,2K"``; ``_`` as thousands
    separator); ``None`` stays ``None`` (the proxy's value)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, Sequence) or isinstance(items, bytes):
        raise InputError.of(name, f": {value!r}: expected a list of sizes or a comma list such as 512,1024")
    values: list[float] = []
    for index, item in enumerate(items):
        if isinstance(item, str) and not item.strip():
            raise InputError.of(name, f": {value!r}: item {index + 1} is empty; expected a comma list such as "
                                "512,1024")
        number = _size(name, item.strip() if isinstance(item, str) else item, whole=whole, param=name)
        assert number is not None
        values.append(number)
    return tuple(values)


def _max_rows(value: int | str) -> int:
    text = value.strip() if isinstance(value, str) else str(value) if type(value) is int else ""
    if not (text.isascii() and text.isdigit() and 0 < int(text) < 10**12):
        raise InputError.of("max_rows", f": expected a whole number ≥ 1, found {value!r}")
    return int(text)


def to_law_yaml(result: FitResult) -> str:
    """The law file of a fit (YAML with provenance), as ``hpscale fit --output`` writes it; what
    ``transfer(..., law=...)``, ``check(..., law=...)`` and ``load_law`` read."""
    from .core.fit_result import FitResult
    from .outputs.fit import dumps_law

    if not isinstance(result, FitResult):
        raise TypeError(f"to_law_yaml: expected a FitResult, found {type(result).__name__}")
    return dumps_law(result)


def check(
    proxy: RunConfig | str | os.PathLike[str] | Mapping[str, Any],
    target: RunConfig | str | os.PathLike[str] | Mapping[str, Any],
    *,
    rtol: float | str = 0.01,
    law: str | os.PathLike[str] | Law | None = None,
    ignore: Collection[str] = (),
    **rule_choices: Any,
) -> CheckReport:
    """Compare every hyperparameter ``target`` states with ``proxy`` transferred to its scale.

    The target's scale comes from its own ``model`` and ``data`` sections. Values the target
    leaves to a default are not compared (what a file states is read from the file itself; for
    a ``RunConfig``, from the fields it was created with). A target file may also be a trainer's
    file an exporter wrote (``transfer -f hf``, …) or a batch ramp (``ramp -f json|yaml``,
    checked stage by stage), as for ``hpscale check``.

    Args:
        proxy: the tuned proxy run; target: the planned run (``RunConfig``, path or mapping).
        rtol: relative tolerance in [0, 1], |found − expected| ≤ rtol·|expected|.
        law: a law file (or ``Law``) to compare under, as for ``transfer``.
        ignore: glob patterns of fields a team sets by policy, left out (``optimizer.betas``,
            ``param_groups.*.eps``); a pattern that matches no checked field is an error.
        **rule_choices: the fields of ``RuleChoices``, as for ``transfer``.

    Returns:
        A ``CheckReport``: ``.ok``, ``.findings`` (each a ``Comparison`` naming the field, the
        expected and found values and the rules), ``.warnings``, ``.to_json_dict(path)``.

    >>> report = check("configs/nanogpt-124m-proxy.yaml", "configs/nanogpt-124m-proxy.yaml")
    >>> report.ok, report.checked
    (True, 20)
    """
    from .core.check import compare, stated_fields
    from .targets import check_target

    setup = _check_setup(proxy, rtol, law, ignore, rule_choices)
    if isinstance(target, str | os.PathLike):
        return check_target(setup, Path(target))
    stated: Collection[str] | None = None
    if isinstance(target, Mapping):
        stated, target = stated_fields(target), _load_config(target)
    return compare(setup.config, target, setup.choices, setup.rtol, stated, setup.run, setup.ignore, setup.law)


def check_targets(
    proxy: RunConfig | str | os.PathLike[str] | Mapping[str, Any],
    targets: Sequence[str | os.PathLike[str]],
    *,
    rtol: float | str = 0.01,
    law: str | os.PathLike[str] | Law | None = None,
    ignore: Collection[str] = (),
    jobs: int = 0,
    **rule_choices: Any,
) -> CheckResults:
    """``check`` of every target file against one proxy, as ``hpscale check PROXY TARGET...``.

    The arguments are checked once, before any target is read; every target is then loaded and
    compared (``jobs`` worker processes, 0: one per CPU from 200 targets on) before anything is
    returned, so an input error in any file raises one ``InputError`` listing every problem of
    every file, each line starting with its path.

    Returns:
        A ``CheckResults``: ``.reports`` ((path, ``CheckReport``) in the order given), ``.ok``,
        ``.to_json_dict()`` (the JSON contract of ``hpscale check --format json``).

    >>> results = check_targets("configs/nanogpt-124m-proxy.yaml", ["configs/nanogpt-124m-proxy.yaml"])
    >>> results.ok, results.to_json_dict()["targets"][0]["checked"]
    (True, 20)
    """
    from .core.check import CheckResults
    from .parallel import ordered_map, worker_count

    if isinstance(targets, str | os.PathLike) or not isinstance(targets, Sequence):
        raise InputError.of("targets", f": {targets!r}: expected a list of target config paths")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 0:
        raise InputError.of("jobs", f": {jobs!r}: expected a whole number ≥ 0 (0 = automatic)")
    setup = _check_setup(proxy, rtol, law, ignore, rule_choices)
    paths = [Path(target) for target in targets]
    outcomes = ordered_map(_check_one, paths, worker_count(jobs, len(paths)), setup)
    problems = [line for outcome in outcomes if isinstance(outcome, str) for line in outcome.splitlines()]
    if problems:
        raise InputError("\n".join(problems))
    reports = tuple((str(path), outcome) for path, outcome in zip(paths, outcomes, strict=True))
    return CheckResults(reports, setup.choices, setup.rtol, setup.law)


def _check_one(setup: Any, path: Path) -> Any:
    """One target of ``check_targets``: its report without the matches (what a report of many
    targets shows; smaller to send back from a worker), or its input problems as text."""
    from .targets import check_target

    try:
        return check_target(setup, path).without_matches()
    except InputError as exc:
        return str(exc)


def _check_setup(proxy: Any, rtol: Any, law: Any, ignore: Any, rule_choices: Mapping[str, Any]) -> Any:
    """The arguments every check shares, validated once (``targets.CheckSetup``)."""
    from .core.check import ignore_matcher, tolerance
    from .core.compose import read_proxy
    from .numbers import parse_number
    from .targets import CheckSetup

    value = rtol
    if isinstance(rtol, str):
        try:
            value = parse_number(rtol)
        except ValueError as exc:
            raise InputError.of("rtol", f": {rtol!r}: {exc}") from None
    tolerance(value, rtol)
    if isinstance(ignore, str) or not all(isinstance(pattern, str) for pattern in ignore):
        raise InputError.of("ignore", f": {ignore!r}: expected a list of glob patterns")
    ignore_matcher(ignore)  # a pattern that matches no checked field, before any work
    choices, law_file = RuleChoices(**rule_choices), _law(law)
    config = _config(proxy)
    return CheckSetup(config, read_proxy(config), choices, float(value), tuple(ignore), law_file)


def scan_checkpoint(
    path: str | os.PathLike[str],
    *,
    group: Collection[str] = (),
    device: str | None = None,
    rtol: float = R.SIGMA_TOP_RTOL,
) -> Scan:
    """σ_top, ‖W‖_F and stable rank of every weight matrix of a checkpoint, grouped.

    Args:
        path: a ``.safetensors``, ``.npz`` or ``.pt``/``.bin`` file, or a Hugging Face model
            directory (``config.json`` with ``model.safetensors`` or shards and their index).
        group: ``"GROUP=REGEX"`` strings checked before the built-in names (as ``--group``).
        device: ``None`` (numpy), or a torch device ("cpu", "cuda") for the linear algebra.
        rtol: target relative error of each σ_top (the CLI's ``--sigma-rtol``).

    Returns:
        A ``Scan``: ``.records`` (one ``TensorRecord`` per matrix: ``name``, ``group``,
        ``role``, ``layer``, ``stats.sigma_max`` …), ``.model`` (width, depth… from
        config.json), ``.warnings``, ``.notes``, ``.to_json_dict()`` (the JSON contract).
    """
    from .checkpoints import scan_checkpoint as scan
    from .core.spectrum import Grouper

    if isinstance(rtol, bool) or not isinstance(rtol, int | float) or not 1e-6 <= rtol <= 0.1:
        raise InputError(f"rtol: {rtol!r}: must be in [1e-6, 0.1]")
    return scan(path, Grouper.from_specs(group), device=device, rtol=rtol)


def compare_checkpoints(
    proxy: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    proxy_config: RunConfig | str | os.PathLike[str] | Mapping[str, Any] | None = None,
    target_config: RunConfig | str | os.PathLike[str] | Mapping[str, Any] | None = None,
    group: Collection[str] = (),
    tolerance: float = 0.10,
    device: str | None = None,
    rtol: float = R.SIGMA_TOP_RTOL,
    **rule_choices: Any,
) -> CheckpointComparison:
    """Which weight-decay width rule a trained proxy/target pair followed, from σ_top.

    Pairs the matrices of the two checkpoints by role and relative depth and compares each
    group's and sublayer's median σ ratio target/proxy with what each rule predicts. The
    predictions come from the composition ``transfer`` uses: with both run configs, the
    proxy config transferred to the target config's scale (width, batch, dataset, depth)
    under each ``wd_width_rule``; without them, a width-only transfer at m from the two
    config.json widths (else from the matrix shapes), µP assumed.

    Args:
        proxy, target: checkpoint files or model directories (see ``scan_checkpoint``).
        proxy_config, target_config: the two run configs (both or neither).
        group, device, rtol: as for ``scan_checkpoint``.
        tolerance: a rule fits when |log(measured/predicted)| ≤ log(1 + tolerance).
        **rule_choices: the fields of ``RuleChoices`` (``depth_rule``, ``tau_rule``, …).

    Returns:
        A ``CheckpointComparison``: ``.proxy``, ``.target`` (scans), ``.comparison``
        (``.rows`` per group and sublayer, ``.predicted``, ``.verdict``), ``.warnings``.
    """
    _check_compare_args(proxy_config, target_config, tolerance)
    return compare_scans(scan_checkpoint(proxy, group=group, device=device, rtol=rtol),
                         scan_checkpoint(target, group=group, device=device, rtol=rtol),
                         proxy_config=proxy_config, target_config=target_config, tolerance=tolerance,
                         **rule_choices)


def _check_compare_args(proxy_config: Any, target_config: Any, tolerance: Any) -> None:
    if (proxy_config is None) != (target_config is None):
        given = "proxy_config" if proxy_config is not None else "target_config"
        raise InputError(f"{given}: given alone: pass both run configs, or neither")
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not 0.0 < tolerance < 1.0:
        raise InputError(f"tolerance: {tolerance!r}: must be in (0, 1)")


def compare_scans(
    proxy_scan: Scan,
    target_scan: Scan,
    *,
    proxy_config: RunConfig | str | os.PathLike[str] | Mapping[str, Any] | None = None,
    target_config: RunConfig | str | os.PathLike[str] | Mapping[str, Any] | None = None,
    tolerance: float = 0.10,
    **rule_choices: Any,
) -> CheckpointComparison:
    """``compare_checkpoints`` on two scans already made (``hpscale spectrum`` scans with a
    progress bar, then calls this)."""
    from .checkpoints import CheckpointComparison
    from .core.spectrum import compare

    _check_compare_args(proxy_config, target_config, tolerance)
    choices = RuleChoices(**rule_choices)
    configs = (_config(proxy_config), _config(target_config)) if proxy_config is not None else None
    notes: list[str] = []
    predict, configured, width, source = _spectrum_predictions(
        configs, proxy_scan.model, target_scan.model, choices, notes)
    comparison = compare(proxy_scan.records, target_scan.records, predict=predict, width_ratio=width,
                         width_source=source, configured=configured, tolerance=tolerance)
    warnings = [f"proxy: {w}" for w in proxy_scan.warnings] + [f"target: {w}" for w in target_scan.warnings]
    return CheckpointComparison(proxy_scan, target_scan, comparison, warnings + notes + list(comparison.warnings))


_SYNTHETIC_WIDTH = 1 << 20  # proxy width of the width-only transfer when only m is known


def _spectrum_predictions(
    configs: tuple[RunConfig, RunConfig] | None,
    proxy_model: ModelInfo,
    target_model: ModelInfo,
    choices: RuleChoices,
    warnings: list[str],
) -> tuple[Any, Any, float | None, str]:
    """(predict(m), configured(m) or None, m or None, where m comes from) for ``compare``."""
    from .core.compose import resolve_groups
    from .core.spectrum import Prediction
    from .errors import RuleDomainError

    def transferred(proxy: RunConfig, scale: Scale, source: str) -> Prediction:
        try:
            result = transfer_to(proxy, scale, choices)
        except RuleDomainError:  # β/ρ outside their rule's domain: neither enters η or λ
            result = transfer_to(proxy.model_copy(update={"ema_decay": None}), scale,
                                 dataclasses.replace(choices, beta_rule="exponential"))
        ratios: dict[str, float] = {alt.rule: alt.sigma_top_ratio for alt in result.alternatives
                                    if alt.sigma_top_ratio is not None}
        hidden = result.groups["hidden"].lr
        lr_ratio = hidden.target / hidden.proxy if hidden.proxy and hidden.target else None
        return Prediction(ratios, lr_ratio, source)

    if configs is not None:
        proxy, target = configs
        scale = scale_of(target)
        if proxy.model.depth is None and scale.depth is not None:
            warnings.append("model.depth: set in the target config only; depth is left out of the prediction")
            scale = Scale(scale.width, scale.batch_size, scale.dataset_size, None, scale.params)
        r = scale_of(proxy)
        axes = f"m = {scale.width / r.width:.4g}, κ = {scale.batch_size / r.batch_size:.4g}, " \
               f"ν = {scale.dataset_size / r.dataset_size:.4g}"
        fixed = transferred(proxy, scale, f"transfer of the proxy config at {axes}")
        hp, ht = resolve_groups(proxy)["hidden"], resolve_groups(target)["hidden"]
        m_configs = target.model.width / proxy.model.width

        def configured(m: float) -> float | None:
            if hp.weight_decay_coupled > 0 and ht.weight_decay_coupled > 0:
                return R.sigma_top_ratio(ht.lr / hp.lr, ht.weight_decay_coupled / hp.weight_decay_coupled, m)
            return None

        return (lambda m: fixed), configured, m_configs, "the run configs' model.width"

    depth_p, depth_t = proxy_model.depth, target_model.depth

    def width_only(m: float) -> Prediction:
        data: dict[str, Any] = {
            "model": {"width": _SYNTHETIC_WIDTH, "parametrization": "mup"},
            "data": {"batch_size": 1, "dataset_size": 1_000_000},
            "optimizer": {"lr": 1e-3, "weight_decay": 0.1},
        }
        depth = None
        if depth_p and depth_t and depth_p != depth_t:
            data["model"]["depth"] = depth_p
            depth = depth_t
        proxy = _load_config(data)
        scale = Scale(max(1, round(m * _SYNTHETIC_WIDTH)), 1.0, 1_000_000.0, depth)
        where = f"m = {m:.4g}" + (f", depth {depth_p} → {depth_t}" if depth else "")
        return transferred(proxy, scale, f"transfer at {where}, µP η, same batch and dataset "
                                         "(run configs give the runs' own)")

    if proxy_model.width and target_model.width and "config.json" in (proxy_model.source, target_model.source) \
            and proxy_model.source == target_model.source:
        return width_only, None, target_model.width / proxy_model.width, "config.json hidden sizes"
    return width_only, None, None, "hidden matrix shapes"


def load_law(path: str | os.PathLike[str]) -> Law:
    """A law file written by ``hpscale fit --output``, validated (what ``transfer --law`` reads).

    Raises:
        InputError: a missing file, another kind of file, an unknown key or schema version.
    """
    from .lawfile import read_law

    return read_law(path)


def _law(law: str | os.PathLike[str] | Law | None) -> Law | None:
    from .core.law import Law as LawType

    if law is None or isinstance(law, LawType):
        return law
    if isinstance(law, str | os.PathLike):
        return load_law(law)
    raise InputError(f"law: expected a law file path or a Law, got {type(law).__name__}")


def fit(
    runs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | Sequence[Mapping[str, Any]],
    *,
    by: str | Sequence[str],
    optimize: str | Sequence[str],
    laws: Sequence[str] = (),
    columns: Mapping[str, str] | None = None,
    metric: str = "loss",
    maximize: bool = False,
    group: str = "hidden",
    window: int | None = None,
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    resample: str = "noise",
    keep_edge: bool = False,
    predict: Sequence[Mapping[str, float | str]] = (),
    edge: str = "censor",
    optimizer: str = "adamw",
    muon_convention: str | None = None,
) -> FitResult:
    """Fit how the optimal hyperparameters move with scale, from a sweep of training runs.

    Finds each cell's optimum (runs with equal ``by`` axes form a cell) by a quadratic in
    log(hp), fits log hp* = c + Σ aᵢ·log axisᵢ across cells with bootstrap intervals, and
    compares each fitted exponent with what the published rules predict.

    Args:
        runs: a run table (``.csv``, ``.tsv``, ``.jsonl``), several, or the runs themselves as
            mappings (one per run, e.g. ``DataFrame.to_dict("records")``).
        by: the scale axes that define a cell: ``width``, ``depth``, ``params``,
            ``batch_size``, ``dataset_size``, ``steps`` (a list or ``"width,params"``).
        optimize: the one or two swept hyperparameters: ``lr``, ``weight_decay``,
            ``batch_size``, ``beta1``, ``beta2``, ``eps``, ``ema_decay``.
        laws: ``"lr ~ params + dataset_size"`` specs; every optimized hp not named gets the
            default law against every varying ``by`` axis (τ_epoch*, τ_iter* too when derivable).
        columns: quantity → column name (``{"lr": "optimizer.lr"}``), where finding by name fails.
        metric: the metric's column (lower is better unless ``maximize``).
        group: the parameter group whose LR and weight decay the table holds (``hidden``: the
            absolute LR of the matrix-like weights, which µP scales as 1/m; ``embedding``: the
            base LR of a µP model, which µP keeps constant).
        window: settings in each cell's quadratic (default 5 in 1-D, 13 in 2-D).
        bootstrap: resamples B; ``confidence``: interval level; ``seed``: RNG seed.
        resample: ``noise`` (perturb metrics by the pooled run noise, the default) or ``runs``
            (resample runs with replacement).
        edge: unbracketed optima in the laws: ``censor`` (a bound, the default), ``drop``
            (left out) or ``keep`` (a point); ``keep_edge=True`` means ``keep``.
        predict: points (axis → value, SI suffixes allowed) to evaluate the laws at.
        optimizer: what trained ``group`` (``adamw``, ``muon``): its rules are the verdicts'
            predictions; ``muon_convention``: the shape convention of a Muon sweep's lr
            (``original``, ``match_rms_adamw``, ``spectral``, ``unit_rms_norm``), required for Muon.

    Returns:
        An immutable ``FitResult``: ``.cells``, ``.laws[hp].exponents[axis]``, ``.verdicts``,
        ``.predictions``, ``.warnings``; ``.to_json_dict()`` is the JSON contract of
        ``hpscale fit --format json`` and ``to_law_yaml(result)`` the law file.

    Raises:
        InputError: a missing column, text in a number column, a single cell, a cell whose
            runs all diverged, a hyperparameter ≤ 0, a duplicate run, a bad option.

    >>> result = fit("configs/sweep-synthetic.csv", by="width", optimize="lr,weight_decay",
    ...              metric="val/loss", bootstrap=200)
    >>> round(result.laws["lr"].exponents["width"], 1)
    -1.0
    """
    from .core.fit import fit_sweep
    from .core.fit_result import Provenance
    from .core.frozen import FrozenMap
    from .core.sweep import AXES, HYPERPARAMETERS, FitOptions, parse_law
    from .runs import parse_names, read_table, sweep_from_tables, table_from_rows

    if isinstance(runs, str | os.PathLike):
        tables = [read_table(runs)]
    else:
        if not isinstance(runs, Iterable) or isinstance(runs, Mapping | bytes):
            raise InputError(f"runs: {type(runs).__name__}: expected a path, a list of paths, or a list of "
                             "mappings (one per run)")
        items = list(runs)
        if items and all(isinstance(item, Mapping) for item in items):
            tables = [table_from_rows(items)]  # type: ignore[arg-type]
        elif all(isinstance(item, str | os.PathLike) for item in items) and items:
            tables = [read_table(item) for item in items]  # type: ignore[arg-type]
        else:
            raise InputError("runs: expected a path, a list of paths, or a list of mappings (one per run)")
    for name, value in (("by", by), ("optimize", optimize)):
        if not isinstance(value, str) and not (isinstance(value, Sequence) and all(isinstance(v, str) for v in value)):
            raise InputError(f"{name}: {value!r}: expected a name or a list of names")
    if not isinstance(laws, Iterable) or isinstance(laws, str) or not all(isinstance(t, str) for t in laws):
        raise InputError(f"laws: {laws!r}: expected a list of 'HP ~ AXIS + AXIS' texts")
    if (not isinstance(predict, Iterable) or isinstance(predict, Mapping | str)
            or not all(isinstance(point, Mapping) for point in predict)):
        raise InputError(f"predict: {predict!r}: expected a list of mappings (axis → value), "
                         "e.g. [{'width': 4096}]")
    axes = parse_names("by", by, AXES)
    hps = parse_names("optimize", optimize, HYPERPARAMETERS)
    options = FitOptions(window=window, resamples=bootstrap, confidence=float(confidence), seed=seed,
                         keep_edge=keep_edge, group=group, resample=resample, edge=edge,  # type: ignore[arg-type]
                         optimizer=optimizer, muon_convention=muon_convention)
    sweep_input = sweep_from_tables(tables, by=axes, optimize=hps, columns=columns, metric=metric,
                                    maximize=maximize)
    points = [{axis: float(_size(f"predict {axis}", value, param="predict") or 0.0) for axis, value in point.items()}
              for point in predict]
    provenance = Provenance(sweep_input.inputs, FrozenMap(sweep_input.columns),
                            sweep_input.columns.get("metric", metric), maximize)
    return fit_sweep(sweep_input.sweep, options, provenance, [parse_law(text) for text in laws], points)
