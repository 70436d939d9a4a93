"""The storage backends every parametrised test runs against.

SQLite always runs. PostgreSQL runs when ACCEPTED_TEST_PG_URL (a server URL
such as postgresql://postgres@127.0.0.1:5432/postgres) is set; when it is not,
the postgres cases are left out and one skipped test says how to enable them.
Each PostgreSQL test gets a database of its own, named accepted_test_<random>,
created for it and dropped after; the database in the URL is only used to
create and drop those.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest

T = TypeVar("T")

PG_URL = os.environ.get("ACCEPTED_TEST_PG_URL", "")
PG_HOW = (
    "PostgreSQL tests are off: set ACCEPTED_TEST_PG_URL="
    "postgresql://postgres@127.0.0.1:5432/postgres (a server where we may CREATE DATABASE)"
)

# Without the URL the postgres cases are not generated at all (rather than
# hundreds of skips); `skip_without_postgres` gives tests that need it one
# skip that says how to turn it on.
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    *([pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)] if PG_URL else []),
]


# The http tier's several-process variant: SQLite served by `accepted serve
# --workers 2`. Modules marked `processes` run against it too (tests/http/conftest.py).
SQLITE_WORKERS = "sqlite-workers2"
PROCESS_VARIANTS = [pytest.param(SQLITE_WORKERS, id=SQLITE_WORKERS)]


def workers_of(backend: str) -> int:
    """How many processes the server of `backend` runs (`--workers`)."""
    return 2 if backend == SQLITE_WORKERS else 1


def skip_without_postgres() -> None:
    """Skip the calling test, or module when called at import, without a PostgreSQL."""
    if not PG_URL:
        pytest.skip(PG_HOW, allow_module_level=True)


def database_url(name: str) -> str:
    """ACCEPTED_TEST_PG_URL with its database replaced by `name`."""
    parts = urlsplit(PG_URL)
    return urlunsplit(parts._replace(path="/" + name))


async def create_pg_database() -> str:
    """A new empty database; returns its name."""
    import asyncpg

    name = f"accepted_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop_pg_database(name: str) -> None:
    """Drop one of our test databases, closing whatever is still connected to it."""
    import asyncpg

    assert name.startswith("accepted_test_"), name  # never anything we did not create
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    result: T = box["value"]
    return result


@contextmanager
def database(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of `backend`; yields its --db target."""
    if backend in ("sqlite", SQLITE_WORKERS):
        yield str(tmp_path / "accepted.db")
        return
    if backend == "postgres":
        skip_without_postgres()
        name = run_sync(create_pg_database())
        try:
            yield database_url(name)
        finally:
            run_sync(drop_pg_database(name))
        return
    raise ValueError(f"unknown backend {backend}")
