"""The coordinate-check figure (``hpscale.torch.coord_check``): activation size vs width.

One row per check (e.g. standard parametrization above µP, as in Yang et al. 2022, arXiv
2203.03466, Figure 5), one column per recorded step; in each panel one line per layer, the
mean |x_t| (or |x_t − x_0|) of its output against width on log-log axes, coloured by parameter
group. Flat lines: the layer's activations do not grow with width.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..extras import require

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..torch import CoordCheck

#: Line colour per group (matplotlib's default cycle, fixed so figures compare).
COLOURS = {"embedding": "tab:blue", "hidden": "tab:orange", "readout": "tab:red", "vector": "tab:green",
           "activation": "tab:gray", "output": "black"}


def figure(checks: Sequence[CoordCheck], metric: str = "size") -> Figure:
    """A grid: rows = ``checks``, columns = steps 0…T; ``metric`` is ``size`` or ``change``.

    Returns a matplotlib ``Figure`` (object-oriented API, no pyplot state); save it with
    ``fig.savefig("coord_check.png")``.
    """
    require("matplotlib", "coordinate-check figure")
    from matplotlib.figure import Figure

    if metric not in ("size", "change"):
        raise ValueError(f"metric: {metric!r}: allowed: size, change")
    steps = max(check.steps for check in checks)
    first = 1 if metric == "change" else 0  # the change is 0 at step 0
    columns = list(range(first, steps + 1))
    fig = Figure(figsize=(3.0 * len(columns) + 1.6, 2.6 * len(checks)), layout="constrained")
    axes = fig.subplots(len(checks), len(columns), squeeze=False, sharex=True)
    label = "mean |x_t|" if metric == "size" else "mean |x_t − x_0|"
    for row, check in enumerate(checks):
        for col, step in enumerate(columns):
            ax = axes[row][col]
            for layer in check.layers():
                group = next(r.group for r in check.records if r.layer == layer)
                values = check.values(layer, metric, step)
                ax.plot(check.widths, values, color=COLOURS.get(group, "tab:purple"), alpha=0.7,
                        linewidth=1.0, marker="o", markersize=2.5, label=group)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(f"{check.parametrization}, step {step}", fontsize=9)
            if row == len(checks) - 1:
                ax.set_xlabel("width")
            if col == 0:
                ax.set_ylabel(label)
            ax.tick_params(labelsize=7)
    handles, labels = axes[0][-1].get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    fig.legend(unique.values(), unique.keys(), loc="outside right center", fontsize=8)
    return fig
