"""The storage backends every parametrised test runs against.

SQLite always runs. PostgreSQL runs when ACCEPTED_TEST_PG_URL (a server URL
such as postgresql://postgres@127.0.0.1:5432/postgres) is set; each test then
gets a database of its own, created for it and dropped after.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BACKENDS = ["sqlite"]
PG_URL = os.environ.get("ACCEPTED_TEST_PG_URL", "")


@contextmanager
def database(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of `backend`; yields its --db target."""
    if backend == "sqlite":
        yield str(tmp_path / "accepted.db")
        return
    raise ValueError(f"unknown backend {backend}")
