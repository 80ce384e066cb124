"""The documented Python API: what the CLI commands call, with keyword arguments.

Everything here is re-exported by ``hpscale`` itself (``from hpscale import transfer``). The
functions take a config as a ``RunConfig``, a path to a YAML file or a plain mapping, and sizes
as numbers or as the strings the CLI takes (``"2M"``, ``"300B"``); every bad value raises
``hpscale.InputError`` (a ``ValueError``) with one line per problem, naming the field.

Why ~1,050 lines in one module: it is the one face — every public function with its reference
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


# ---------------------------------------------------------------------------------------------
# ramp, timescale, plan_from_laws: the API behind `hpscale ramp`, `timescale` and `plan`
# ---------------------------------------------------------------------------------------------

if TYPE_CHECKING:
    from .core.ramp import RampResult


def ramp(
    config: RunConfig | str | os.PathLike[str] | Mapping[str, Any],
    *,
    batch_size: float | str,
    ramp: str,
    start_batch: float | str | None = None,
    width: float | str | None = None,
    dataset_size: float | str | None = None,
    depth: float | str | None = None,
    critical_batch: float | str | None = None,
    seq_len: float | str | None = None,
    world_size: float | str | None = None,
    micro_batch: float | str | None = None,
    **rule_choices: Any,
) -> RampResult:
    """A batch ramp from a proxy: per stage its batch and every hyperparameter ``transfer``
    gives at κ = B_stage / B_proxy, as ``hpscale ramp`` (docs/ramp.md).

    Args:
        config: the proxy run.
        batch_size: the target batch the ramp reaches (the last stage's), in the config's unit.
        ramp: ``"linear:F"`` or ``"linear:F:K"`` (K stages, default 4, over the first fraction
            F ∈ (0, 1] of the data) or ``"stages:0=B0,S1=B1,…"`` (stage starts in the config's
            unit of data seen, strictly increasing batches ending at ``batch_size``).
        start_batch: ``linear``: the first stage's batch; default the proxy's.
        width, dataset_size, depth: the target's, as for ``transfer``.
        critical_batch: a critical batch you measured (config's unit): stages above it are
            flagged; without it, Zhang et al.'s estimate flags them.
        seq_len: tokens per sequence: adds Megatron-LM's ``--step-batch-size-schedule`` string
            (``result.megatron``).
        world_size, micro_batch: with ``seq_len``: data-parallel ranks and sequences per rank per
            forward pass; every stage's batch must divide over them (default: one rank, any
            micro-batch). Given without ``seq_len`` they are refused, not ignored.
        **rule_choices: the fields of ``RuleChoices``, as for ``transfer``.

    Returns:
        A ``RampResult``: ``.stages``, ``.results`` (one ``TransferResult`` per stage),
        ``.megatron``, ``.warnings()``, ``.to_json_dict()`` (the ``ramp --format json`` contract).

    >>> result = ramp("configs/nanogpt-124m-proxy.yaml", batch_size=3932160, ramp="linear:0.1",
    ...               dataset_size="100B", seq_len=1024)
    >>> [stage.batch for stage in result.stages]
    [491520.0, 1638400.0, 2785280.0, 3932160.0]
    >>> result.megatron
    '0:480 2500000000:1600 5000000000:2720 7500000000:3840'
    """
    from .core.compose import read_proxy
    from .core.ramp import parse_ramp, run_ramp, training_data

    choices = RuleChoices(**rule_choices)
    if not isinstance(ramp, str):
        raise InputError.of("ramp", f": {ramp!r}: expected a text such as 'linear:0.1' or 'stages:0=1M,5B=2M'")
    if batch_size is None:
        raise InputError.of("batch_size", ": missing; the target batch the ramp reaches is needed")
    target_batch = _size("batch_size", batch_size, param="batch_size")
    first = _size("start_batch", start_batch, param="start_batch")
    critical = _size("critical_batch", critical_batch, param="critical_batch")
    seq = _size("seq_len", seq_len, whole=True, param="seq_len")
    ranks = _size("world_size", world_size, whole=True, param="world_size")
    micro = _size("micro_batch", micro_batch, whole=True, param="micro_batch")
    if seq is None and (ranks is not None or micro is not None):
        raise InputError.of("world_size" if ranks is not None else "micro_batch",
                            f": only used with {mention('seq_len')} (the Megatron-LM schedule)")
    proxy = _config(config)
    target = target_scale(proxy, width=width, batch_size=target_batch, dataset_size=dataset_size, depth=depth)
    run = read_proxy(proxy)
    stages = parse_ramp(ramp, first or run.scale.batch_size, target.batch_size, training_data(run, target))
    if seq is not None and (ranks is not None or micro is not None):
        # Without them a stage need only be whole sequences, which megatron_schedule checks (seq_len).
        from .export.ramp import check_stages

        check_stages(stages, run.unit, run.scale.batch_size, int(seq), int(ranks or 1),
                     None if micro is None else int(micro))
    return run_ramp(run, target, stages, choices, critical, None if seq is None else int(seq))


if TYPE_CHECKING:
    from .core.timescale import TimescaleReport


def _number(name: str, value: float | str | None, *, positive: bool = True) -> float | None:
    """A plain number (``6e-4``; no size suffixes) > 0, or ≥ 0 when not ``positive``."""
    from .numbers import parse_number

    if value is None:
        return None
    try:
        number = parse_number(value)
    except ValueError as exc:
        raise InputError.of(name, f": {exc}") from None
    if positive and number <= 0:
        raise InputError.of(name, f": must be > 0, found {value!r}")
    if number < 0:
        raise InputError.of(name, f": must be ≥ 0, found {value!r}")
    return number


def _choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    """``value`` if it is one of ``allowed``, else the error naming ``name`` and what is allowed."""
    if not isinstance(value, str) or value not in allowed:
        from .text import shown

        raise InputError.of(name, f": {shown(value, 60)}: allowed: {', '.join(allowed)}")
    return value


def timescale(
    *,
    lr: float | str | None = None,
    weight_decay: float | str | None = None,
    batch_size: float | str | None = None,
    dataset_size: float | str | None = None,
    convention: str | None = None,
    config: RunConfig | str | os.PathLike[str] | Mapping[str, Any] | None = None,
    group: str | None = None,
    epochs: float | str | None = None,
    total_steps: float | str | None = None,
    tau_epoch: float | str | None = None,
    tau_iter: float | str | None = None,
    solve: str = "weight-decay",
) -> TimescaleReport:
    """The AdamW EMA timescale of one run, forward or solved for λ (or η), as ``hpscale
    timescale`` (Wang & Aitchison 2024, arXiv 2405.13698; docs/timescale.md).

    Forward: τ_iter = 1/(η·λ), τ_epoch = B/(η·λ·N), the iterations per epoch M = N/B and, given
    the run length, τ as a fraction of the run. Inverse (``tau_epoch`` or ``tau_iter`` given):
    solve for λ (``solve="weight-decay"``) or η (``solve="lr"``); the solved one is not passed.

    Args:
        lr: η; weight_decay: λ in ``convention`` (``coupled``: torch's ``weight_decay``;
            ``independent``: λ_ind = η·λ, the decay per step).
        batch_size, dataset_size: B per step and N per epoch, in one unit (both or neither).
        convention: ``coupled`` or ``independent``; default the config's, else ``coupled``.
        config: a run config giving η, λ, B, N and epochs (explicit arguments win); its
            ``group`` (default ``hidden``) is the parameter group read.
        epochs, total_steps: the run length (one of them), for τ as a fraction of the run.
        tau_epoch, tau_iter: the timescale to solve for (one of them).

    Returns:
        A ``TimescaleReport``: ``.tau_iter``, ``.tau_epoch`` (``None``: ∞, λ = 0), ``.lr``,
        ``.weight_decay``, ``.warnings``, ``.to_json_dict()`` (the ``--format json`` contract).

    >>> report = timescale(lr=6e-4, weight_decay=0.1, batch_size=491520, dataset_size=9035582198)
    >>> round(report.tau_epoch, 4)
    0.9066
    >>> round(timescale(lr=6e-4, tau_epoch=1, batch_size=491520, dataset_size="9035582198").weight_decay, 5)
    0.09066
    """
    from .core import rules as R
    from .core.timescale import CONVENTIONS, SOLVE_FOR, compute_timescale

    solve_for = _choice("solve", solve, SOLVE_FOR)
    if convention is not None:
        _choice("convention", convention, CONVENTIONS)
    inverse = tau_epoch is not None or tau_iter is not None
    if not inverse and solve_for != "weight-decay":
        raise InputError.of("solve", f": needs {mention('tau_epoch')} or {mention('tau_iter')} (the timescale to "
                            "solve for)")
    if inverse and solve_for == "weight-decay" and weight_decay is not None:
        raise InputError.of(
            "weight_decay", f": given together with {mention('tau_epoch')}/{mention('tau_iter')}, which solve "
            f"for the weight decay; drop {mention('weight_decay')}, or add {mention('solve', 'lr')} to solve "
            "for the learning rate instead")
    if inverse and solve_for == "lr" and lr is not None:
        raise InputError.of("lr", f": given together with {mention('solve', 'lr')}, which solves for the learning "
                            f"rate; drop {mention('lr')}")
    if group is not None and config is None:
        raise InputError.of("group", f": needs {mention('config')} (the run whose parameter group to read)")
    values: dict[str, Any] = {
        "lr": _number("lr", lr),
        "weight_decay": _number("weight_decay", weight_decay, positive=False),
        "batch_size": _size("batch_size", batch_size, param="batch_size"),
        "dataset_size": _size("dataset_size", dataset_size, param="dataset_size"),
        "epochs": _number("epochs", epochs),
        "total_steps": _size("total_steps", total_steps, param="total_steps"),
    }
    source: dict[str, Any] = {}
    chosen = convention
    if config is not None:
        from .core.compose import resolve_groups

        run = _config(config)
        group = _choice("group", group or "hidden", R.GROUPS)
        resolved = resolve_groups(run)[group]  # type: ignore[index]
        chosen = convention or run.optimizer.weight_decay_convention
        # The config's λ is in its own convention; re-express it in the chosen one.
        config_wd = (resolved.weight_decay_coupled if chosen == "coupled"
                     else R.to_independent(resolved.lr, resolved.weight_decay_coupled))
        defaults = {"lr": resolved.lr, "weight_decay": config_wd, "batch_size": run.data.batch_size,
                    "dataset_size": run.data.dataset_size}
        if values["total_steps"] is None and values["epochs"] is None:
            values["epochs"] = run.data.epochs
        for key, default in defaults.items():
            if values[key] is None:
                values[key] = default
        name = run.name or (Path(config).name if isinstance(config, str | os.PathLike) else None)
        source = {"config": name, "group": group, "unit": run.data.unit}
    if inverse:
        # The solved quantity comes from the equation, never from the config.
        values["weight_decay" if solve_for == "weight-decay" else "lr"] = None
    report = compute_timescale(**values, convention=chosen or "coupled", tau_epoch=_number("tau_epoch", tau_epoch),
                               tau_iter=_number("tau_iter", tau_iter), solve=solve_for)
    return dataclasses.replace(report, **source) if source else report


if TYPE_CHECKING:
    from .core.plan_result import PlanResult


def _placeholder(param: str, symbol: str) -> str:
    """A parameter mention (``hpscale.errors.MENTION``) whose value is a symbol for the reader to
    fill in: `` `params=N` ``, which the command line shows as ``--params N``."""
    return f"`{param}={symbol}`"


def plan_from_laws(
    *,
    tokens: float | str | None = None,
    params: float | str | None = None,
    width: float | str | None = None,
    depth: float | str | None = None,
    model: RunConfig | str | os.PathLike[str] | Mapping[str, Any] | None = None,
    seq_len: float | str = 2048,
    compute: float | str | None = None,
    laws: Sequence[str | os.PathLike[str] | Law] | None = None,
    proxy: RunConfig | str | os.PathLike[str] | Mapping[str, Any] | None = None,
    batch_size: float | str | None = None,
    extrapolate: bool = False,
) -> PlanResult:
    """The published laws' lr and batch size for a planned run, side by side, as ``hpscale plan``
    (docs/plan.md). Not named ``plan``: ``hpscale.plan`` is the module that reads transfer plans
    for ``hpscale.torch``, and a package attribute cannot be both.

    Args:
        tokens: the token budget D.
        params: the model's non-embedding parameters N; or ``width`` and ``depth`` (N = 12·L·W²,
            and DeepSeek's FLOPs per token from the shape); or ``model``, a run config whose
            ``model`` section gives them. One of the three.
        seq_len: tokens per sequence (batches in sequences, DeepSeek's attention term).
        compute: the compute budget C in FLOPs; default M·D.
        laws: law files or shipped law names (``"deepseek"``, ``"steplaw"``) or ``Law``\\ s;
            default every shipped law.
        proxy: a tuned proxy config, also transferred to the planned model (needs ``width``):
            a law more than 2× from its lr or batch is flagged. ``batch_size``: the batch it is
            transferred to (only with ``proxy``; default the proxy's).
        extrapolate: evaluate even when the request lies outside every law's fitted range
            (without it, that is an error).

    Returns:
        A ``PlanResult``: ``.plans`` (per law its ``lr``, ``batch_tokens``, ``outside``),
        ``.values`` (N, M, D, C), ``.transfer``, ``.to_json_dict()`` (the ``plan --format json``
        contract).

    >>> result = plan_from_laws(params="1B", tokens="100B")
    >>> [(p.name, round(p.lr, 5)) for p in result.plans]
    [('deepseek', 0.00079), ('steplaw', 0.00166)]
    """
    from .core.frozen import FrozenMap
    from .core.law import Law as LawType
    from .core.plan_result import PlanResult
    from .core.published import Request, evaluate, quantities
    from .lawfile import read_law, shipped_laws

    sizes = {"params": _size("params", params, param="params"),
             "width": _size("width", width, whole=True, param="width"),
             "depth": _size("depth", depth, whole=True, param="depth")}
    if model is not None:
        if any(v is not None for v in sizes.values()):
            raise InputError.of("model", f": give the model size once: {mention('model')}, or {mention('params')}, "
                                f"or {mention('width')} and {mention('depth')}")
        run = _config(model)
        sizes = {"params": run.model.params, "width": run.model.width, "depth": run.model.depth}
    if sizes["params"] is None and (sizes["width"] is None or sizes["depth"] is None):
        raise InputError.of("params", f": the model size is needed: {_placeholder('params', 'N')}, or "
                            f"{_placeholder('width', 'W')} and {_placeholder('depth', 'L')}, or "
                            f"{_placeholder('model', 'FILE')}")
    if tokens is None:
        raise InputError.of("tokens", f": the token budget is needed (e.g. {mention('tokens', '100B')})")
    if batch_size is not None and proxy is None:  # it would change nothing: refused, not ignored
        raise InputError.of("batch_size", f": only used with {mention('proxy')} (the batch the proxy is "
                            "transferred to)")
    if not isinstance(extrapolate, bool):
        raise InputError.of("extrapolate", f": {extrapolate!r}: expected True or False")
    if laws is not None and (isinstance(laws, str | os.PathLike) or not isinstance(laws, Sequence)):
        raise InputError.of("laws", f": {laws!r}: expected a list of law files or shipped law names")
    request = Request(tokens=_size("tokens", tokens, param="tokens"),  # type: ignore[arg-type]
                      seq_len=_size("seq_len", seq_len, param="seq_len"),  # type: ignore[arg-type]
                      compute=_size("compute", compute, param="compute"), **sizes)
    values = quantities(request)
    read = [law if isinstance(law, LawType) else read_law(law) for law in (laws or shipped_laws())]
    plans = tuple(evaluate(one, values) for one in read)
    if plans and all(p.outside for p in plans) and not extrapolate:
        nearest = min(plans, key=lambda p: max(o.beyond for o in p.outside))
        worst = max(nearest.outside, key=lambda o: o.beyond)
        raise InputError.of(
            "tokens", f"/{mention('params')}/{mention('compute')}: the request lies outside every law's fitted "
            f"range (nearest: {nearest.name}, {worst.quantity} {worst.value:.3g} is ×{worst.beyond:.3g} beyond "
            f"{worst.range[0]:.3g}–{worst.range[1]:.3g}); pass {mention('extrapolate')} to evaluate anyway")
    moved = None if proxy is None else _plan_transfer(proxy, request, batch_size)
    return PlanResult(request, FrozenMap(values), plans, moved)


def _plan_transfer(proxy: Any, request: Any, batch_size: float | str | None) -> Any:
    """The proxy transferred to the planned model (``PlanTransfer``): its hidden-group lr and its
    batch in tokens."""
    from .core.plan_result import PlanTransfer

    if request.width is None:
        raise InputError.of("proxy", f": needs the planned model's {mention('width')} (and {mention('depth')}) "
                            "to transfer to")
    run = _config(proxy)
    result = transfer(run, width=request.width, depth=request.depth if run.model.depth else None,
                      dataset_size=request.tokens if run.data.unit == "tokens"
                      else max(1, round(request.tokens / request.seq_len)),  # whole samples
                      batch_size=batch_size)
    batch = result.target.batch_size
    tokens = batch if result.unit == "tokens" else batch * request.seq_len
    name = run.name or (Path(proxy).stem if isinstance(proxy, str | os.PathLike) else "proxy")
    lr = result.groups["hidden"].lr.target
    assert lr is not None  # a config states optimizer.lr, so every group has one
    return PlanTransfer(name, lr, tokens)
