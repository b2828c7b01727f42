"""``python -m ttsd`` is ``ttsd``."""

from ttsd.cli import main

raise SystemExit(main())
