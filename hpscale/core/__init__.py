"""The pure-math core of hpscale: rules, their composition, comparisons. No I/O, no printing.

Every number hpscale prints is computed here; readers (``hpscale.loader``,
``hpscale.checkpoints``) feed it and writers (``hpscale.outputs``, one module per command, and
``hpscale.contract``) format its results.
"""
