"""`python -m monitor` is the `live-monitor` console script."""

from monitor.cli import main

raise SystemExit(main())
