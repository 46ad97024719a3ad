"""`python -m app.entrypoints.cli ...`: the same as `signalgate ...`."""

from app.entrypoints.cli.main import main

raise SystemExit(main())
