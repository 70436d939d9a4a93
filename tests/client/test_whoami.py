"""`whoami()`, sync and async, against a real server with auth on, and with it off."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime

import pytest

from accepted.client import AsyncClient, Client
from accepted.errors import Unauthorized
from tests.client.conftest import Api
from tests.support.databases import BACKENDS, database
from tests.support.servers import ServerProcess

ADMIN = "client-whoami-" + secrets.token_hex(16)

# An Api (sync or async client) sending the given token.
Connect = Callable[[str], AbstractAsyncContextManager[Api]]


@pytest.fixture(scope="module", params=BACKENDS)
def auth_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("whoami")
    with database(str(request.param), tmp) as target:
        env = {"ACCEPTED_AUTH": "on", "ACCEPTED_ADMIN_TOKEN": ADMIN}
        proc = ServerProcess(db=target, log_path=tmp / "server.log", env=env).start()
        try:
            yield proc
        finally:
            proc.stop()


@pytest.fixture(params=["sync", "async"])
def connect(request: pytest.FixtureRequest, auth_server: ServerProcess) -> Connect:
    @asynccontextmanager
    async def connected(token: str) -> AsyncIterator[Api]:
        if request.param == "sync":
            with Client(auth_server.url, token=token) as client:
                yield Api(client)
        else:
            async with AsyncClient(auth_server.url, token=token) as aclient:
                yield Api(aclient)

    return connected


async def test_whoami_names_the_token_its_role_and_queues(connect: Connect) -> None:
    async with connect(ADMIN) as admin:
        assert await admin.whoami() == {
            "auth": True, "name": "admin", "role": "admin", "queues": None, "expires_at": None,
        }  # fmt: skip
        name = f"mailer-{uuid.uuid4().hex[:8]}"
        made = await admin.create_token(name, "worker", queues=["emails"], expires_in=3600)
    async with connect(made["token"]) as mailer:
        me = await mailer.whoami()
    assert (me["auth"], me["name"], me["role"], me["queues"]) == (True, name, "worker", ["emails"])
    assert me["expires_at"] == made["expires_at"]
    assert datetime.fromisoformat(me["expires_at"]).tzinfo is not None
    assert "token" not in me  # never the secret


async def test_whoami_with_an_unknown_token_raises_unauthorized(connect: Connect) -> None:
    async with connect("acc_" + "0" * 40) as stranger:
        with pytest.raises(Unauthorized):
            await stranger.whoami()


async def test_whoami_with_auth_off_says_so(api: Api) -> None:
    assert await api.whoami() == {
        "auth": False, "name": None, "role": "admin", "queues": None, "expires_at": None,
    }  # fmt: skip
