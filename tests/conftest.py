from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.databases import BACKENDS, database, workers_of
from tests.support.servers import ServerProcess, shared_server


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


@pytest.fixture(scope="module", params=BACKENDS)
def module_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def module_server(
    module_backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One `accepted serve` for a whole module, per backend, for modules whose tests
    each use queues of their own: a start (1 s, several on a loaded machine, plus a
    PostgreSQL database) costs more than most such tests do."""
    with shared_server(module_backend, tmp_path_factory.mktemp("module")) as proc:
        yield proc
