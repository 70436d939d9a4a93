"""`accepted token create | list | revoke`, as an operator runs them: on the
database with no server (the first admin token), beside a running server,
and over the API with a token. Also the client and worker taking a token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from accepted.client import Client
from accepted.errors import Forbidden, Unauthorized
from tests.e2e.workers import StartWorker, start_worker
from tests.http.helpers import PROMPT
from tests.support.servers import ServerProcess

PATIENCE = 30.0

__all__ = ["start_worker"]  # the fixture, used by name


def accepted(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "accepted", *args],
        capture_output=True, text=True, timeout=PATIENCE, env={**os.environ, **env},
    )


def made(*args: str, **env: str) -> dict[str, Any]:
    done = accepted("token", *args, "--json", **env)
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def status(url: str, secret: str) -> int:
    headers = {"Authorization": f"Bearer {secret}"}
    return httpx.get(url + "/tokens", headers=headers, timeout=10).status_code


@pytest.mark.documents("auth-revocation")
def test_bootstrap_on_the_database_then_manage_over_the_api(
    db_target: str, tmp_path: Path
) -> None:
    boss = made("create", "boss", "--role", "admin", "--db", db_target)
    assert boss["token"].startswith("acc_") and boss["role"] == "admin"
    server = ServerProcess(db=db_target, log_path=tmp_path / "server.log",
                           env={"ACCEPTED_AUTH": "on"}).start()
    try:
        as_boss = {"ACCEPTED_URL": server.url, "ACCEPTED_TOKEN": boss["token"]}
        worker = made("create", "w", "--role", "worker", "--queues", "a.*", "b", **as_boss)
        assert worker["queues"] == ["a.*", "b"]
        listed = made("list", **as_boss)["tokens"]
        assert [t["name"] for t in listed] == ["boss", "w"]
        assert all("token" not in t for t in listed)
        table = accepted("token", "list", **as_boss)
        assert table.returncode == 0 and "a.*,b" in table.stdout
        assert worker["token"] not in table.stdout
        # Revoked straight in the database, beside the running server: refused within a second.
        assert status(server.url, worker["token"]) == 403
        made("revoke", "w", "--db", db_target)
        revoked_at = time.monotonic()
        while status(server.url, worker["token"]) != 401:
            assert time.monotonic() - revoked_at < 1.0 + PROMPT, "the revocation never arrived"
            time.sleep(0.02)
        no_token = accepted("token", "list", "--url", server.url)
        assert no_token.returncode == 6 and "token" in no_token.stderr  # 401
    finally:
        server.stop()


ADMIN = "client-admin-" + "x" * 16


@pytest.fixture
def server(db_target: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """The `server` of start_worker, with auth on."""
    env = {"ACCEPTED_AUTH": "on", "ACCEPTED_ADMIN_TOKEN": ADMIN}
    proc = ServerProcess(db=db_target, log_path=tmp_path / "server.log", env=env).start()
    try:
        yield proc
    finally:
        proc.stop()


def test_the_client_and_worker_take_a_token(
    server: ServerProcess, start_worker: StartWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Client(server.url, token="") as anonymous, pytest.raises(Unauthorized):
        anonymous.enqueue("q")
    with Client(server.url, token=ADMIN) as admin:
        reader = admin.create_token("r", "reader")["token"]
        worker = admin.create_token("w", "worker", queues=["sums"])["token"]
        job = admin.enqueue("sums", {"a": 2, "b": 3})
    with Client(server.url, token=reader) as client:
        assert client.get(job.id).id == job.id
        with pytest.raises(Forbidden):
            client.enqueue("sums")
    process = start_worker("add", "--token", worker)
    monkeypatch.setenv("ACCEPTED_TOKEN", reader)  # the client's default token
    with Client(server.url) as client:
        assert client.wait(job.id, timeout=PATIENCE).result == 5
    process.signal()
    assert process.wait() == 0


def test_token_commands_exit_with_the_status_every_command_gives_an_answer(
    server: ServerProcess,
) -> None:
    """403 is 6 for `accepted token` as for `accepted enqueue`: one table of exit codes."""
    with Client(server.url, token=ADMIN) as admin:
        reader = admin.create_token("r", "reader")["token"]
    as_admin = {"ACCEPTED_URL": server.url, "ACCEPTED_TOKEN": ADMIN}
    as_reader = {"ACCEPTED_URL": server.url, "ACCEPTED_TOKEN": reader}
    forbidden = accepted("token", "list", **as_reader)
    enqueue_forbidden = accepted("enqueue", "q", **as_reader)
    assert (forbidden.returncode, enqueue_forbidden.returncode) == (6, 6), forbidden.stderr
    assert accepted("token", "revoke", "nobody", **as_admin).returncode == 3  # 404
    assert accepted("token", "create", "r", "--role", "reader", **as_admin).returncode == 7  # 409
    refused = accepted("token", "create", "", "--role", "reader", **as_admin)
    assert refused.returncode == 2, refused.stderr  # 400: input the server refused


def test_whoami_prints_the_token_s_name_role_and_queues(server: ServerProcess) -> None:
    with Client(server.url, token=ADMIN) as admin:
        worker = admin.create_token("w", "worker", queues=["emails", "sms.*"])["token"]
    as_worker = {"ACCEPTED_URL": server.url, "ACCEPTED_TOKEN": worker}
    table = accepted("whoami", **as_worker)
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()
    assert header.split() == ["NAME", "ROLE", "QUEUES", "EXPIRES"]
    assert row.split() == ["w", "worker", "emails,sms.*", "never"]
    assert worker not in table.stdout
    as_json = accepted("whoami", "--json", **as_worker)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == {
        "auth": True, "name": "w", "role": "worker", "queues": ["emails", "sms.*"],
        "expires_at": None,
    }  # fmt: skip
    stranger = accepted("whoami", "--url", server.url, "--token", "acc_" + "0" * 40)
    assert stranger.returncode == 6 and stranger.stderr.startswith("accepted: ")  # 401
