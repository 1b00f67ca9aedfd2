"""``python -m stvsr``: the command line."""

from stvsr.cli import main

raise SystemExit(main())
