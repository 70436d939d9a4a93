"""`python -m accepted` is the `accepted` command."""

from accepted.cli import main

raise SystemExit(main())
