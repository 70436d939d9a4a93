"""Every client test runs twice: through `Client` and through `AsyncClient`.

`api` gives both one async surface; the blocking client's calls run on a
thread, so a test can hold a long-poll open while it does something else.
The tests of a module share one real server (per backend), each working in
queues of its own (`q`), so they cost milliseconds rather than a server start.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from accepted.client import AsyncClient, Client
from tests.support.databases import BACKENDS, database
from tests.support.servers import ServerProcess


class Api:
    """One client, sync or async, called with `await api.<method>(...)`."""

    def __init__(self, client: Client | AsyncClient) -> None:
        self.client = client
        self.kind = "async" if isinstance(client, AsyncClient) else "sync"

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.client, name)
        if isinstance(self.client, AsyncClient):
            return method  # type: ignore[no-any-return]

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(functools.partial(method, *args, **kwargs))

        return call


@pytest.fixture(scope="module", params=BACKENDS)
def shared_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("server")
    with database(str(request.param), tmp) as target:
        proc = ServerProcess(db=target, log_path=tmp / "server.log").start()
        try:
            yield proc
        finally:
            proc.stop()


@pytest.fixture
def q() -> str:
    """A queue name no other test uses."""
    return f"q-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["sync", "async"])
async def api(request: pytest.FixtureRequest, shared_server: ServerProcess) -> AsyncIterator[Api]:
    if request.param == "sync":
        with Client(shared_server.url) as client:
            yield Api(client)
    else:
        async with AsyncClient(shared_server.url) as aclient:
            yield Api(aclient)
