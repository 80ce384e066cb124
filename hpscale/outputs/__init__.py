"""Outputs: one module per command — its ``--format`` choices, table, JSON, CSV and figure hook."""
