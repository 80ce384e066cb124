"""``python -m hpscale`` runs the CLI."""

from hpscale.cli import main

raise SystemExit(main())
