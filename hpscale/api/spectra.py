"""Checkpoints: ``scan_checkpoint``, ``compare_checkpoints``, ``compare_scans``.

Part of the one face, ``hpscale.api`` (its docstring says what every function shares).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from ..core import rules as R
from ..core.compose import scale_of, transfer_to
from ..core.rules import RuleChoices
from ..core.scale import Scale
from ..errors import InputError
from ._args import _config

if TYPE_CHECKING:
    from ..checkpoints import CheckpointComparison, Scan
    from ..config import RunConfig
    from ..core.spectrum import ModelInfo, Prediction


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
    from ..checkpoints import scan_checkpoint as scan
    from ..core.spectrum import Grouper

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
    from ..checkpoints import CheckpointComparison
    from ..core.spectrum import compare

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
    from ..core.compose import resolve_groups
    from ..core.spectrum import Prediction
    from ..errors import RuleDomainError

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
        proxy = _config(data)
        scale = Scale(max(1, round(m * _SYNTHETIC_WIDTH)), 1.0, 1_000_000.0, depth)
        where = f"m = {m:.4g}" + (f", depth {depth_p} → {depth_t}" if depth else "")
        return transferred(proxy, scale, f"transfer at {where}, µP η, same batch and dataset "
                                         "(run configs give the runs' own)")

    if proxy_model.width and target_model.width and "config.json" in (proxy_model.source, target_model.source) \
            and proxy_model.source == target_model.source:
        return width_only, None, target_model.width / proxy_model.width, "config.json hidden sizes"
    return width_only, None, None, "hidden matrix shapes"

