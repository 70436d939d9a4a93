"""Fixtures of the HTTP tier, on top of tests/conftest.py's `server` and `http`.

Everything here is parametrised over the same storage backends, so the whole
tier runs again on PostgreSQL when it is configured. Modules marked
`processes` (taking, waking, results, events, metrics) also run against a
several-process server: SQLite under `accepted serve --workers 2`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.http.helpers import NO_TLS, Background, CallbackReceiver, unique_queue
from tests.support.databases import BACKENDS, PROCESS_VARIANTS, database, workers_of
from tests.support.servers import ServerProcess

StartServer = Callable[..., ServerProcess]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The backends of each test (`backend`: its own server; `shared_backend`: the module's)."""
    variants = [*BACKENDS]
    definition = metafunc.definition
    if definition.get_closest_marker("processes") and not definition.get_closest_marker(
        "one_process"
    ):
        variants += PROCESS_VARIANTS
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", variants)
    if "shared_backend" in metafunc.fixturenames:
        metafunc.parametrize("shared_backend", variants, scope="module")


@pytest.fixture
def backend() -> str:
    raise AssertionError("parametrised by pytest_generate_tests")


@pytest.fixture(scope="module")
def shared_backend() -> str:
    raise AssertionError("parametrised by pytest_generate_tests")


@pytest.fixture
def runner(server: ServerProcess) -> Iterator[Background]:
    """Blocking requests (long-polls) on background threads, against `server`."""
    background = Background(server.url)
    try:
        yield background
    finally:
        background.close()


@pytest.fixture
def start_server(db_target: str, backend: str, tmp_path: Path) -> Iterator[StartServer]:
    """Start a server with custom settings: `start_server(ACCEPTED_DEFAULT_LEASE="0.5")`."""
    started: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        log = tmp_path / "server.log"
        proc = ServerProcess(db=db_target, log_path=log, env=env, workers=workers_of(backend))
        started.append(proc.start())
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.stop()


@pytest.fixture(scope="module")
def shared_server(
    shared_backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server for a whole module of tests that each use queues of their own.

    For the many small bad-input cases, where a fresh server per case would
    cost more than the case itself.
    """
    tmp = tmp_path_factory.mktemp("shared")
    with database(shared_backend, tmp) as target:
        log = tmp / "server.log"
        proc = ServerProcess(db=target, log_path=log, workers=workers_of(shared_backend)).start()
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
