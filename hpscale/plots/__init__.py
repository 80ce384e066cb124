"""Figures (the ``hpscale[plot]`` extra, matplotlib). One module per command that draws.

Nothing outside this package imports matplotlib; each module gets it through
``hpscale.extras.require("matplotlib", "--plot")`` and uses the non-interactive Agg backend, so
figures are written as files (PNG and SVG) on machines without a display.
"""
