"""The version of hpscale: one definition, read by the package, its outputs and the build
(``pyproject.toml``: ``[tool.setuptools.dynamic]``)."""

__version__ = "0.7.0"
