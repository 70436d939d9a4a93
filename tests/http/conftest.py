"""Fixtures of the HTTP tier, on top of tests/conftest.py's `server` and `http`.

Everything here is parametrised over the same storage backends, so the whole
tier runs again on PostgreSQL when it is configured.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.http.helpers import NO_TLS, Background, CallbackReceiver, unique_queue
from tests.support.databases import BACKENDS, database
from tests.support.servers import ServerProcess

StartServer = Callable[..., ServerProcess]


@pytest.fixture
def runner(server: ServerProcess) -> Iterator[Background]:
    """Blocking requests (long-polls) on background threads, against `server`."""
    background = Background(server.url)
    try:
        yield background
    finally:
        background.close()


@pytest.fixture
def start_server(db_target: str, tmp_path: Path) -> Iterator[StartServer]:
    """Start a server with custom settings: `start_server(ACCEPTED_DEFAULT_LEASE="0.5")`."""
    started: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        proc = ServerProcess(db=db_target, log_path=tmp_path / "server.log", env=env)
        started.append(proc.start())
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def shared_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server for a whole module of tests that each use queues of their own.

    For the many small bad-input cases, where a fresh server per case would
    cost more than the case itself.
    """
    tmp = tmp_path_factory.mktemp("shared")
    with database(str(request.param), tmp) as target:
        proc = ServerProcess(db=target, log_path=tmp / "server.log").start()
        try:
            yield proc
        finally:
            proc.stop()
        # Whatever the module sent it, the server never failed on it (no 500s logged).
        log = (tmp / "server.log").read_text()
        assert "unexpected error" not in log and "Traceback" not in log, log[-4000:]


@pytest.fixture
def api(shared_server: ServerProcess) -> Iterator[httpx.Client]:
    """A client of the module's shared server; pair it with `q`, a queue of the test's own."""
    with httpx.Client(base_url=shared_server.url, timeout=30.0, verify=NO_TLS) as client:
        yield client


@pytest.fixture
def q() -> str:
    return unique_queue()


@pytest.fixture
def api_runner(shared_server: ServerProcess) -> Iterator[Background]:
    """Blocking requests (long-polls) on background threads, against the shared server."""
    background = Background(shared_server.url)
    try:
        yield background
    finally:
        background.close()


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    """A callback receiver on a free loopback port."""
    hook = CallbackReceiver().start()
    try:
        yield hook
    finally:
        hook.stop()
