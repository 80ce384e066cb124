"""``spectrum --plot``: σ_top per layer, proxy and target, with each rule's predicted band.

One panel per hidden sublayer role (q, k, v, o, up, gate, down, …). The x axis is the
relative depth (layer + ½)/L, so a proxy and a target of different depths line up as the
compare mode pairs them; the y axis is σ_top on a log scale. For each weight-decay width
rule the band is the proxy's σ_top times the rule's predicted ratio, widened by the verdict
tolerance (× 1/(1 + tol) … × (1 + tol)): a target that followed the rule lies inside its band.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..checkpoints import Scan
    from ..core.spectrum import Comparison

_COLORS = {"timescale": "tab:blue", "sqrt": "tab:green", "constant": "tab:orange"}
_MAX_PANELS = 12


def _per_layer(scan: Scan, role: str) -> tuple[list[float], list[float]]:
    """(relative depth, median σ_top) per layer of one role (experts and repeats pooled)."""
    import numpy as np

    from ..core.spectrum_pairs import _depths

    depth = _depths(scan.records)
    by_layer: dict[int, list[float]] = {}
    stack_depth = 1
    for r in scan.records:
        if r.group == "hidden" and r.role == role and r.layer is not None and r.sigma:
            by_layer.setdefault(r.layer, []).append(r.sigma)
            stack_depth = depth.get(r.stack, 1)
    layers = sorted(by_layer)
    return ([(i + 0.5) / stack_depth for i in layers],
            [float(np.median(by_layer[i])) for i in layers])


def spectrum_figure(proxy: Scan, target: Scan | None = None, comparison: Comparison | None = None,
                    tolerance: float = 0.10) -> Figure:
    """The figure (matplotlib's object-oriented API; no pyplot state)."""
    from ..extras import require

    require("matplotlib", "--plot")
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    from ..core.spectrum_pairs import _ROLE_ORDER

    roles = sorted({r.role for r in proxy.records if r.group == "hidden" and r.layer is not None},
                   key=lambda r: (_ROLE_ORDER.index(r.split(" ")[0]) if r.split(" ")[0] in _ROLE_ORDER else 99, r))
    roles = roles[:_MAX_PANELS] or ["(no hidden matrices)"]
    cols = min(4, len(roles))
    rows = math.ceil(len(roles) / cols)
    fig = Figure(figsize=(3.2 * cols, 2.6 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True)
    predicted = comparison.predicted if comparison is not None else {}
    for ax, role in zip(axes.flat, roles, strict=False):
        x_p, y_p = _per_layer(proxy, role)
        # the band spans the whole depth: the proxy's first and last layers hold to the edges
        x_band, y_band = [0.0, *x_p, 1.0], [*y_p[:1], *y_p, *y_p[-1:]]
        for rule, ratio in predicted.items():
            if x_p:
                low = [y * ratio / (1 + tolerance) for y in y_band]
                high = [y * ratio * (1 + tolerance) for y in y_band]
                ax.fill_between(x_band, low, high, color=_COLORS.get(rule, "grey"), alpha=0.18, lw=0,
                                label=f"{rule} ×{ratio:.3g}")
        if x_p:
            ax.plot(x_p, y_p, "o-", color="0.35", ms=3, lw=1, label="proxy")
        if target is not None:
            x_t, y_t = _per_layer(target, role)
            if x_t:
                ax.plot(x_t, y_t, "s-", color="black", ms=3, lw=1, label="target")
        ax.set_title(role, fontsize=9)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
        ax.set_xlim(0, 1)
        ax.grid(True, which="both", alpha=0.2)
    for ax in axes.flat[len(roles):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("relative depth (layer + ½)/L", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("σ_top", fontsize=8)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(5, len(labels)), fontsize=8)
    title = "σ_top per layer" + (" — proxy vs target; bands: each rule's prediction ± tolerance"
                                 if comparison is not None else f" — {proxy.path.name}")
    fig.suptitle(title, fontsize=10)
    return fig


def write_figure(fig: Any, folder: Any) -> list[Any]:
    """Save ``fig`` as spectrum.png and spectrum.svg in ``folder``; return the paths."""
    paths = []
    for suffix in ("png", "svg"):
        path = folder / f"spectrum.{suffix}"
        fig.savefig(path, dpi=120 if suffix == "png" else "figure")
        paths.append(path)
    return paths
