from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.databases import BACKENDS, database, workers_of
from tests.support.servers import ServerProcess


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_target(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh database (SQLite file or PostgreSQL database) for one test."""
    with database(backend, tmp_path) as target:
        yield target


@pytest.fixture
def server(db_target: str, backend: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """A real `accepted serve` on a free port with a fresh database."""
    log = tmp_path / "server.log"
    proc = ServerProcess(db=db_target, log_path=log, workers=workers_of(backend)).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        yield client
