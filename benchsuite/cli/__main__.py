"""``python -m benchsuite.cli``: the same as the ``benchsuite`` command."""

from benchsuite.cli import main

raise SystemExit(main())
