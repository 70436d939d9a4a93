"""Tokens and roles on the wire: 401/403, the admin API, queue-limited tokens,
`--require-lease`, TLS. Against real servers with auth on, on every backend."""

from __future__ import annotations

import json
import secrets
import sqlite3
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from accepted.config import Settings
from accepted.http.app import App
from accepted.service.auth import auth_enabled
from accepted.store import open_store
from tests.http.helpers import (
    NO_TLS,
    JobJSON,
    assert_error,
    enqueue,
    settle,
    take,
    unique_queue,
)
from tests.http.sse import SseStream
from tests.support.databases import BACKENDS, database
from tests.support.servers import ServerProcess

ADMIN_SECRET = "test-admin-" + secrets.token_hex(16)


@pytest.fixture(scope="module", params=BACKENDS)
def auth_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server with auth on and ACCEPTED_ADMIN_TOKEN, shared by the module's tests."""
    tmp = tmp_path_factory.mktemp("auth")
    with database(str(request.param), tmp) as target:
        env = {"ACCEPTED_AUTH": "on", "ACCEPTED_ADMIN_TOKEN": ADMIN_SECRET}
        proc = ServerProcess(db=target, log_path=tmp / "server.log", env=env).start()
        try:
            yield proc
        finally:
            proc.stop()


def refused(response: httpx.Response, status: int, code: str | None = None,
            *words: str) -> None:
    """An error answer of `status` (and `code`), its message naming each of `words`."""
    error = assert_error(response, status, *words)
    if code is not None:
        assert error["code"] == code, error


def client(server: ServerProcess, secret: str | None = None) -> httpx.Client:
    headers = {} if secret is None else {"Authorization": f"Bearer {secret}"}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30.0, verify=NO_TLS)


@pytest.fixture
def admin(auth_server: ServerProcess) -> Iterator[httpx.Client]:
    with client(auth_server, ADMIN_SECRET) as http:
        yield http


MakeToken = Callable[..., httpx.Client]


@pytest.fixture
def as_token(auth_server: ServerProcess, admin: httpx.Client) -> Iterator[MakeToken]:
    """`as_token("worker", queues=[...])`: a client holding a new token of that role."""
    made: list[httpx.Client] = []

    def make(role: str, **fields: Any) -> httpx.Client:
        body = {"name": unique_queue(role), "role": role, **fields}
        response = admin.post("/tokens", json=body)
        assert response.status_code == 201, response.text
        made.append(client(auth_server, response.json()["token"]))
        return made[-1]

    yield make
    for http in made:
        http.close()


@pytest.mark.documents("auth-401")
def test_no_token_or_an_unknown_one_is_401_with_a_challenge(auth_server: ServerProcess) -> None:
    for headers in ({}, {"Authorization": "Bearer acc_nope"}, {"Authorization": "Basic eDp5"}):
        with client(auth_server) as http:
            response = http.get("/jobs/0190c5a4-0000-7000-8000-000000000000", headers=headers)
        refused(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.documents("auth-public")
def test_health_and_the_api_description_need_no_token(auth_server: ServerProcess) -> None:
    with client(auth_server) as http:
        for path in ("/healthz", "/openapi.json", "/docs"):
            assert http.get(path).status_code == 200, path


@pytest.mark.documents("auth-403")
def test_a_known_token_outside_its_role_is_403(as_token: MakeToken) -> None:
    reader, producer, worker = as_token("reader"), as_token("producer"), as_token("worker")
    q = unique_queue()
    refused(reader.post("/jobs", json={"queue": q}), 403, "forbidden")
    refused(worker.post("/jobs", json={"queue": q}), 403, "forbidden")
    job = enqueue(producer, q)
    assert reader.get(f"/jobs/{job['id']}").status_code == 200
    refused(producer.post("/want_job", params={"queue": q}), 403, "forbidden")
    assert take(worker, q) is not None
    refused(worker.delete(f"/jobs/{job['id']}"), 403, "forbidden")
    refused(producer.get("/tokens"), 403, "forbidden")


@pytest.mark.documents("tokens-create-201", "tokens-list-200")
def test_a_token_is_shown_once_and_listed_without_its_secret(admin: httpx.Client) -> None:
    name = unique_queue("tok")
    body = {"name": name, "role": "worker", "queues": ["emails", "reports.*"], "expires_in": 3600}
    response = admin.post("/tokens", json=body)
    assert response.status_code == 201, response.text
    made = response.json()
    assert set(made) == {"name", "role", "queues", "created_at", "expires_at", "token"}
    assert made["role"] == "worker" and made["queues"] == ["emails", "reports.*"]
    assert made["token"].startswith("acc_") and made["expires_at"] > made["created_at"]
    listed = admin.get("/tokens")
    assert listed.status_code == 200
    [mine] = [t for t in listed.json()["tokens"] if t["name"] == name]
    assert mine == {k: v for k, v in made.items() if k != "token"}
    assert made["token"] not in listed.text
    assert any(t["name"] == "admin" for t in listed.json()["tokens"])  # ACCEPTED_ADMIN_TOKEN


@pytest.mark.documents("tokens-create-400", "tokens-create-409")
def test_bad_or_duplicate_token_requests(admin: httpx.Client) -> None:
    for body in (
        {"name": "x", "role": "king"},
        {"name": "", "role": "reader"},
        {"name": "x", "role": "reader", "queues": ["a*b"]},
        {"name": "x", "role": "reader", "queues": []},
        {"name": "x", "role": "reader", "expires_in": 0},
        {"role": "reader"},
    ):
        refused(admin.post("/tokens", json=body), 400)
    name = unique_queue("dup")
    assert admin.post("/tokens", json={"name": name, "role": "reader"}).status_code == 201
    refused(admin.post("/tokens", json={"name": name, "role": "admin"}), 409, "token_exists")


@pytest.mark.documents("tokens-delete-200", "tokens-delete-404")
def test_a_revoked_token_is_refused_at_once(
    auth_server: ServerProcess, admin: httpx.Client
) -> None:
    name = unique_queue("rev")
    secret = admin.post("/tokens", json={"name": name, "role": "reader"}).json()["token"]
    with client(auth_server, secret) as http:
        assert http.get("/tokens").status_code == 403  # known: not allowed
        revoked = admin.delete(f"/tokens/{name}")
        assert revoked.status_code == 200 and revoked.json()["name"] == name
        assert "token" not in revoked.json()
        refused(http.get("/tokens"), 401, "unauthorized")
    refused(admin.delete(f"/tokens/{name}"), 404, "token_not_found")


@pytest.mark.documents("auth-401")
def test_an_expired_token_is_401(admin: httpx.Client, auth_server: ServerProcess) -> None:
    made = admin.post("/tokens", json={"name": unique_queue("exp"), "role": "reader",
                                       "expires_in": 0.001})
    assert made.status_code == 201
    with client(auth_server, made.json()["token"]) as http:
        refused(http.get("/tokens"), 401, "unauthorized", "expired")


@pytest.mark.documents("whoami-200")
def test_whoami_tells_every_role_its_own_standing(
    admin: httpx.Client, as_token: MakeToken, auth_server: ServerProcess
) -> None:
    """One read tells a client (the dashboard) what it may do, without trying it."""
    me = admin.get("/whoami")
    assert me.status_code == 200, me.text
    assert me.json() == {
        "auth": True, "name": "admin", "role": "admin", "queues": None, "expires_at": None
    }
    for role in ("reader", "producer", "worker"):
        answer = as_token(role, queues=["emails", "reports.*"], expires_in=3600).get("/whoami")
        assert answer.status_code == 200, answer.text
        standing = answer.json()
        assert standing["auth"] is True and standing["role"] == role
        assert standing["name"].startswith(role) and standing["queues"] == ["emails", "reports.*"]
        assert standing["expires_at"].endswith("Z")
        assert "token" not in standing
    with client(auth_server) as anonymous:
        refused(anonymous.get("/whoami"), 401, "unauthorized")


@pytest.mark.documents("auth-limited-403", "auth-limited-404")
def test_a_limited_token_acts_only_on_its_queues(as_token: MakeToken) -> None:
    base = unique_queue()
    mine, other = f"{base}.mine", unique_queue()
    producer = as_token("producer", queues=[f"{base}.*"])
    worker = as_token("worker", queues=[f"{base}.*"])
    everyone = as_token("admin")
    own = enqueue(producer, mine)
    refused(producer.post("/jobs", json={"queue": other}), 403, "forbidden")
    refused(producer.post("/jobs", json=[{"queue": mine}, {"queue": other}]), 403)
    foreign = enqueue(everyone, other)
    for call in (
        lambda: producer.get(f"/jobs/{foreign['id']}"),
        lambda: producer.delete(f"/jobs/{foreign['id']}"),
        lambda: worker.put(f"/jobs/{foreign['id']}", json={"status": "done"}),
    ):
        refused(call(), 404, "job_not_found")
    assert producer.get(f"/jobs/{own['id']}").status_code == 200
    refused(worker.post("/want_job", params={"queue": other}), 403, "forbidden")
    batch = worker.put("/jobs", json=[{"id": foreign["id"], "status": "done"}])
    assert batch.status_code == 200 and batch.json()[0]["error"]["code"] == "job_not_found"
    assert everyone.get(f"/jobs/{foreign['id']}").json()["status"] == "queued"


@pytest.mark.documents("auth-limited-after")
def test_a_limited_token_may_wait_only_on_jobs_it_could_read(as_token: MakeToken) -> None:
    base = unique_queue()
    mine = f"{base}.mine"
    producer = as_token("producer", queues=[f"{base}.*"])
    foreign = enqueue(as_token("admin"), unique_queue())
    own = enqueue(producer, mine)
    ghost = "00000000-0000-4000-8000-000000000000"
    for named in (foreign["id"], ghost):  # another queue's job answers as no job does
        alone = producer.post("/jobs", json={"queue": mine}, headers={"X-Accepted-After": named})
        refused(alone, 400, "unknown_dependency", named)
        batch = producer.post("/jobs", json=[{"queue": mine}, {"queue": mine, "after": [named]}])
        refused(batch, 400, "unknown_dependency", "[1].after", named)
    assert producer.get("/jobs", params={"queue": mine}).json()["jobs"] == [
        producer.get(f"/jobs/{own['id']}").json()
    ]
    waits = producer.post("/jobs", json={"queue": mine}, headers={"X-Accepted-After": own["id"]})
    assert waits.status_code == 202 and waits.json()["after"] == [own["id"]]


@pytest.mark.documents("auth-limited-want")
def test_want_job_without_a_queue_takes_only_from_the_tokens_queues(
    as_token: MakeToken, auth_server: ServerProcess
) -> None:
    base = unique_queue()
    everyone = as_token("admin")
    worker = as_token("worker", queues=[f"{base}.*", f"{base}-exact"])
    foreign = enqueue(everyone, unique_queue(), priority="0")  # better placed, not its
    mine = [enqueue(everyone, f"{base}.a"), enqueue(everyone, f"{base}-exact")]
    taken = [take(worker), take(worker)]
    assert sorted(j["id"] for j in taken if j) == sorted(j["id"] for j in mine)
    assert take(worker) is None
    # A blocked limited taker is woken by a job of its queues, not by another's.
    with ThreadPoolExecutor(2) as pool:
        waiting = pool.submit(lambda: take(worker, block_for=10))
        settle()  # it is blocked by now
        enqueue(everyone, unique_queue())
        late = enqueue(everyone, f"{base}.b")
        assert waiting.result(timeout=10)["id"] == late["id"]
    assert everyone.get(f"/jobs/{foreign['id']}").json()["status"] == "queued"


def test_a_limited_admin_cannot_manage_tokens(as_token: MakeToken) -> None:
    limited = as_token("admin", queues=["x"])
    refused(limited.get("/tokens"), 403, "forbidden")
    refused(limited.post("/tokens", json={"name": "y", "role": "admin"}), 403)


@pytest.mark.documents("auth-default")
def test_auth_defaults_to_on_beyond_loopback(tmp_path: Path) -> None:
    assert not auth_enabled("", "127.0.0.1") and not auth_enabled("", "::1")
    assert not auth_enabled("", "localhost")
    assert auth_enabled("", "0.0.0.0") and auth_enabled("", "192.168.1.2")
    assert not auth_enabled("off", "0.0.0.0") and auth_enabled("on", "127.0.0.1")
    db = str(tmp_path / "a.db")
    for host, auth, on in (("0.0.0.0", "", True), ("0.0.0.0", "off", False),
                           ("127.0.0.1", "", False)):
        app = App(Settings(host=host, auth=auth, db=db), open_store(db))
        assert app.auth_on is on and (app.gate.auth is not None) is on


@pytest.mark.documents("report-428")
def test_require_lease_refuses_a_report_without_one(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(ACCEPTED_REQUIRE_LEASE="on")
    with httpx.Client(base_url=server.url, verify=NO_TLS) as http:
        q = unique_queue()
        waiting = enqueue(http, q, delay=3600)
        refused(http.put(f"/jobs/{waiting['id']}", json={"status": "done"}), 409)
        enqueue(http, q)
        job = take(http, q)
        assert job is not None
        refused(http.put(f"/jobs/{job['id']}", json={"status": "done"}), 428,
                "lease_required", "X-Accepted-Lease")
        batch = http.put("/jobs", json=[{"id": job["id"], "status": "done"}])
        error = batch.json()[0]["error"]
        assert error["code"] == "lease_required"
        # In a batch the lease belongs in the item, not in a header.
        assert "[0].lease" in error["message"] and "X-Accepted-Lease" not in error["message"]
        done = http.put(f"/jobs/{job['id']}", json={"status": "done"},
                        headers={"X-Accepted-Lease": job["lease"]})
        assert done.status_code == 200


@pytest.mark.documents("tls")
def test_tls_serves_https(db_target: str, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    server = ServerProcess(db=db_target, log_path=tmp_path / "server.log", scheme="https",
                           args=["--tls-cert", str(cert), "--tls-key", str(key)])
    server.start()
    try:
        trust = ssl.create_default_context(cafile=cert)
        with httpx.Client(base_url=server.url, verify=trust) as http:
            assert http.get("/healthz").status_code == 200
            assert enqueue(http, unique_queue())["status"] == "queued"
        with pytest.raises(httpx.TransportError):
            httpx.get(server.url.replace("https", "http") + "/healthz", timeout=5)
    finally:
        server.stop()


def test_idempotency_keys_are_per_token(as_token: MakeToken) -> None:
    first, second = as_token("producer"), as_token("producer")
    q, key = unique_queue(), {"Idempotency-Key": unique_queue("key")}
    a = first.post("/jobs", json={"queue": q}, headers=key)
    again = first.post("/jobs", json={"queue": q}, headers=key)
    b = second.post("/jobs", json={"queue": q}, headers=key)
    assert a.status_code == again.status_code == b.status_code == 202
    assert again.json()["id"] == a.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert b.json()["id"] != a.json()["id"]  # another token: another scope


def test_a_report_carried_by_want_job_is_limited_like_a_put(as_token: MakeToken) -> None:
    base = unique_queue()
    everyone = as_token("admin")
    worker = as_token("worker", queues=[f"{base}.*"])
    foreign = take(everyone, enqueue(everyone, unique_queue())["queue"])
    assert foreign is not None
    body = {"queues": [f"{base}.a"], "report": {"id": foreign["id"], "status": "done"}}
    refused(worker.post("/want_job", json=body), 404, "job_not_found")
    assert everyone.get(f"/jobs/{foreign['id']}").json()["status"] == "running"


# -- issue 9: a revoked token's open connections end too -------------------------


def _revoke_and_await_refusal(admin: httpx.Client, name: str, http: httpx.Client) -> None:
    """Revoke `name`, then wait until the server refuses its token (every process:
    the documented 0.5 to 1 s), so whatever follows happens after the refusal."""
    assert admin.delete(f"/tokens/{name}").status_code == 200
    deadline = time.monotonic() + 10
    while http.get("/queues").status_code != 401:
        assert time.monotonic() < deadline, "the revoked token is still accepted"
        time.sleep(0.05)


def _token(admin: httpx.Client, role: str) -> tuple[str, str]:
    name = unique_queue(role)
    made = admin.post("/tokens", json={"name": name, "role": role})
    assert made.status_code == 201, made.text
    return name, made.json()["token"]


@pytest.mark.documents("auth-open-connections")
def test_a_blocked_want_job_whose_token_is_revoked_gets_no_job_and_401(
    auth_server: ServerProcess, admin: httpx.Client
) -> None:
    queue = unique_queue("revoked-taker")
    name, secret = _token(admin, "worker")
    with client(auth_server, secret) as worker, ThreadPoolExecutor(1) as pool:
        blocked = pool.submit(
            worker.post, "/want_job", params={"queue": queue},
            headers={"X-Accepted-Block-For": "20"},
        )
        settle()  # the long-poll is blocked on the server before the token goes
        _revoke_and_await_refusal(admin, name, worker)
        job = enqueue(admin, queue, params={"secret": "not for a revoked token"})
        refused(blocked.result(timeout=15), 401, "unauthorized", "revoked")
    # Nothing was handed to it: the job still waits, no attempt used up.
    after = admin.get(f"/jobs/{job['id']}").json()
    assert after["status"] == "queued" and after["attempts"] == 0, after
    assert (take(admin, queue) or {}).get("id") == job["id"]


@pytest.mark.documents("auth-open-connections")
def test_a_blocked_want_job_answers_401_at_its_revocation_with_no_job_coming(
    auth_server: ServerProcess, admin: httpx.Client
) -> None:
    name, secret = _token(admin, "worker")
    with client(auth_server, secret) as worker, ThreadPoolExecutor(1) as pool:
        blocked = pool.submit(  # blocked far longer than the client waits for its answer
            worker.post, "/want_job", params={"queue": unique_queue("idle")},
            headers={"X-Accepted-Block-For": "300"},
        )
        settle()
        _revoke_and_await_refusal(admin, name, worker)
        refused(blocked.result(timeout=25), 401, "unauthorized", "revoked")


@pytest.mark.documents("auth-open-connections", "events-revoked")
def test_an_open_event_stream_ends_once_its_token_is_revoked(
    auth_server: ServerProcess, admin: httpx.Client
) -> None:
    queue = unique_queue("revoked-reader")
    name, secret = _token(admin, "reader")
    auth = {"Authorization": f"Bearer {secret}"}
    with client(auth_server, secret) as reader, SseStream(
        auth_server.url, f"/events?queue={queue}", headers=auth
    ) as stream:
        assert stream.status == 200
        first = enqueue(admin, queue)
        seen = stream.next_event()
        assert seen is not None and seen.job["id"] == first["id"]  # the stream is live
        _revoke_and_await_refusal(admin, name, reader)
        enqueue(admin, queue, params={"secret": "not for a revoked token"})
        last = stream.next_event()
        assert last is not None and last.event == "error", last
        assert json.loads(last.data or "")["error"]["code"] == "unauthorized"
        assert stream.next() is None  # the stream ended; the later job was never sent


# -- every waiter, on revocation and at expiry ------------------------------------------
# Each waits far longer than the client waits for its answer, so only the
# revocation or the expiry itself can end it. Each is first seen registered on
# the server (/metrics), so the token held when it was admitted.


def _waiting(admin: httpx.Client, gauge: str) -> float:
    """The server's `gauge` (accepted_results_waiting, accepted_takers_waiting ...)."""
    for line in admin.get("/metrics").text.splitlines():
        if line.startswith(gauge + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {gauge} on /metrics")


def _await_gauge(admin: httpx.Client, gauge: str, value: float) -> None:
    deadline = time.monotonic() + 10
    while _waiting(admin, gauge) != value:
        assert time.monotonic() < deadline, f"{gauge} never reached {value}"
        time.sleep(0.02)


WAIT_LONG = {"X-Accepted-Wait-Result": "300"}


@pytest.mark.documents("auth-open-connections")
def test_a_result_wait_whose_token_is_revoked_answers_401(
    auth_server: ServerProcess, admin: httpx.Client
) -> None:
    job = enqueue(admin, unique_queue("revoked-result"))
    name, secret = _token(admin, "reader")
    with client(auth_server, secret) as reader, ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(reader.get, f"/jobs/{job['id']}", headers=WAIT_LONG)
        _await_gauge(admin, "accepted_results_waiting", 1)
        assert admin.delete(f"/tokens/{name}").status_code == 200
        refused(waiting.result(timeout=25), 401, "unauthorized", "revoked")
    _await_gauge(admin, "accepted_results_waiting", 0)


@pytest.mark.documents("auth-open-connections")
def test_a_result_wait_whose_token_expires_answers_401_at_the_expiry(
    auth_server: ServerProcess, admin: httpx.Client
) -> None:
    job = enqueue(admin, unique_queue("expiring-result"))
    made = admin.post("/tokens", json={"name": unique_queue("r"), "role": "reader",
                                       "expires_in": 3})
    with client(auth_server, made.json()["token"]) as reader, ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(reader.get, f"/jobs/{job['id']}", headers=WAIT_LONG)
        _await_gauge(admin, "accepted_results_waiting", 1)
        refused(waiting.result(timeout=25), 401, "unauthorized", "expired")


# Lifetimes, in seconds, of the token of the lapsing enqueue: the next is tried
# only when the machine was too slow for the last (the enqueue reached the server
# after the lapse, and was refused). Each holds SQLite's write lock about that
# long, which must stay within the server's 5 s busy timeout: 3 s at most.
LAPSE_LIFETIMES = (2, 3, 3)


@pytest.mark.documents("auth-open-connections")
def test_an_enqueue_whose_token_expires_before_its_wait_begins_answers_202_as_enqueued(
    tmp_path: Path,
) -> None:
    """The token lapses while the enqueue's write is held up (another process holds
    SQLite's write lock), so before its result wait exists and no refusal can find
    it: the wait is refused as it begins, and the job a worker finishes meanwhile,
    with its result, is not shown to the lapsed token."""
    db = str(tmp_path / "held.db")
    env = {"ACCEPTED_AUTH": "on", "ACCEPTED_ADMIN_TOKEN": ADMIN_SECRET}
    server = ServerProcess(db=db, log_path=tmp_path / "server.log", env=env).start()
    blocker = sqlite3.connect(db, isolation_level=None, timeout=1)
    try:
        with client(server, ADMIN_SECRET) as admin, client(server, ADMIN_SECRET) as worker, \
                ThreadPoolExecutor(2) as pool, ExitStack() as producers:
            for lifetime in LAPSE_LIFETIMES:
                producer = producers.enter_context(_lapsing_producer(server, admin, lifetime))
                held = _enqueue_held_past_its_token(producer, worker, pool, blocker, admin)
                if held is not None:
                    break
            else:
                pytest.fail(f"every enqueue reached the server after its token lapsed "
                            f"(lifetimes {LAPSE_LIFETIMES} s)")
            enqueuing, taking = held
            taken = taking.result(timeout=25)
            assert taken is not None
            done = worker.put(f"/jobs/{taken['id']}", json={
                "status": "done", "result": {"secret": "not for a lapsed token"}})
            assert done.status_code == 200, done.text
            answer = enqueuing.result(timeout=25)
            assert answer.status_code == 202, answer.text
            assert answer.json()["id"] == taken["id"]
            assert answer.json()["status"] == "queued" and "secret" not in answer.text
    finally:
        blocker.close()
        server.stop()


def _lapsing_producer(server: ServerProcess, admin: httpx.Client, lifetime: float) -> httpx.Client:
    """A client holding a new producer token that lapses in `lifetime` seconds."""
    made = admin.post("/tokens", json={"name": unique_queue("p"), "role": "producer",
                                       "expires_in": lifetime})
    assert made.status_code == 201, made.text
    return client(server, made.json()["token"])


def _enqueue_held_past_its_token(
    producer: httpx.Client, worker: httpx.Client, pool: ThreadPoolExecutor,
    blocker: sqlite3.Connection, admin: httpx.Client,
) -> tuple[Future[httpx.Response], Future[JobJSON | None]] | None:
    """The producer's enqueue-and-wait, its write held until the server has seen the
    producer's token lapse, and a take waiting for its job; None when the enqueue
    was refused as lapsed (it reached the server too late: no job)."""
    queue = unique_queue("lapsing-enqueue")
    blocker.execute("BEGIN IMMEDIATE")  # the enqueue is admitted, its write waits
    try:
        enqueuing = pool.submit(producer.post, "/jobs", json={"queue": queue}, headers=WAIT_LONG)
        # The server has seen the expiry (a check needs no write).
        deadline = time.monotonic() + 10
        while producer.get("/queues").status_code != 401 and not enqueuing.done():
            assert time.monotonic() < deadline, "the token never expired"
            time.sleep(0.05)
        if enqueuing.done():  # with the write held, only a refusal as lapsed answers
            refused(enqueuing.result(), 401, "unauthorized", "expired")
        taking = pool.submit(take, worker, queue, block_for=30)
    finally:
        blocker.execute("ROLLBACK")
    wait([enqueuing, taking], timeout=25, return_when=FIRST_COMPLETED)
    if enqueuing.done() and enqueuing.result().status_code == 401:
        refused(enqueuing.result(), 401, "unauthorized", "expired")
        enqueue(admin, queue)  # ends the take that waits for it
        assert taking.result(timeout=25) is not None
        return None
    return enqueuing, taking


@pytest.mark.documents("auth-open-connections")
def test_a_blocked_want_job_whose_token_expires_answers_401_at_the_expiry(
    auth_server: ServerProcess, admin: httpx.Client
) -> None:
    made = admin.post("/tokens", json={"name": unique_queue("w"), "role": "worker",
                                       "expires_in": 3})
    with client(auth_server, made.json()["token"]) as worker, ThreadPoolExecutor(1) as pool:
        blocked = pool.submit(
            worker.post, "/want_job", params={"queue": unique_queue("idle")},
            headers={"X-Accepted-Block-For": "300"},
        )
        _await_gauge(admin, "accepted_takers_waiting", 1)
        refused(blocked.result(timeout=25), 401, "unauthorized", "expired")


@pytest.mark.documents("auth-open-connections", "events-revoked")
def test_an_idle_event_stream_ends_at_its_tokens_revocation_not_its_keepalive(
    auth_server: ServerProcess, admin: httpx.Client
) -> None:
    name, secret = _token(admin, "reader")
    path = f"/events?queue={unique_queue('idle-reader')}"
    # The socket gives up sooner than the 15 s keep-alive would come.
    with SseStream(auth_server.url, path, headers={"Authorization": f"Bearer {secret}"},
                   timeout=10) as stream:
        assert stream.status == 200
        assert admin.delete(f"/tokens/{name}").status_code == 200
        last = stream.next()
        assert last is not None and last.event == "error", last
        assert "revoked" in json.loads(last.data or "")["error"]["message"]
        assert stream.next() is None


@pytest.mark.documents("auth-open-connections", "events-revoked")
def test_an_idle_event_stream_ends_at_its_tokens_expiry(
    auth_server: ServerProcess, admin: httpx.Client
) -> None:
    made = admin.post("/tokens", json={"name": unique_queue("r"), "role": "reader",
                                       "expires_in": 2})
    auth = {"Authorization": f"Bearer {made.json()['token']}"}
    with SseStream(auth_server.url, f"/jobs/{enqueue(admin, unique_queue('x'))['id']}/events",
                   headers=auth, timeout=10) as stream:
        assert stream.status == 200
        assert stream.next_event() is not None  # the job as it is
        last = stream.next()
        assert last is not None and last.event == "error", last
        assert "expired" in json.loads(last.data or "")["error"]["message"]
        assert stream.next() is None


@pytest.mark.documents("auth-open-connections")
def test_an_enqueue_and_wait_whose_token_is_revoked_answers_202_with_the_job(
    auth_server: ServerProcess, admin: httpx.Client
) -> None:
    """The job was enqueued under a token that held: the answer says so, not 401,
    but the wait ends and nothing read after the revocation is shown."""
    queue = unique_queue("revoked-producer")
    name, secret = _token(admin, "producer")
    with client(auth_server, secret) as producer, ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(producer.post, "/jobs", json={"queue": queue}, headers=WAIT_LONG)
        _await_gauge(admin, "accepted_results_waiting", 1)
        assert admin.delete(f"/tokens/{name}").status_code == 200
        answer = waiting.result(timeout=25)
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "queued" and answer.json()["queue"] == queue
    assert admin.get(f"/jobs/{answer.json()['id']}").json()["status"] == "queued"


def test_a_revocation_in_one_process_ends_the_waiters_of_every_process(
    tmp_path: Path,
) -> None:
    """`serve --workers 2`: the revoking process tells the other over its local link,
    which re-reads its tokens and refuses its waiters too. Eight waits on eight
    connections: both processes hold some, but for a 1-in-128 chance."""
    env = {"ACCEPTED_AUTH": "on", "ACCEPTED_ADMIN_TOKEN": ADMIN_SECRET}
    server = ServerProcess(db=str(tmp_path / "two.db"), log_path=tmp_path / "server.log",
                           env=env, workers=2).start()
    try:
        with client(server, ADMIN_SECRET) as admin:
            job = enqueue(admin, unique_queue("revoked-everywhere"))
            name, secret = _token(admin, "reader")
            readers = [client(server, secret) for _ in range(8)]
            with ThreadPoolExecutor(len(readers)) as pool:
                waits = [
                    pool.submit(reader.get, f"/jobs/{job['id']}", headers=WAIT_LONG)
                    for reader in readers
                ]
                settle()  # each process holds its waits before the token goes
                assert admin.delete(f"/tokens/{name}").status_code == 200
                for waiting in waits:
                    refused(waiting.result(timeout=25), 401, "unauthorized", "revoked")
            for reader in readers:
                reader.close()
    finally:
        server.stop()


@pytest.mark.documents("whoami-200")
def test_whoami_with_auth_off_says_so_and_admin(api: httpx.Client) -> None:
    """With auth off every request may do everything: the answer says it, and needs
    no token (a client then shows every action)."""
    me = api.get("/whoami")
    assert me.status_code == 200, me.text
    assert me.json() == {
        "auth": False, "name": None, "role": "admin", "queues": None, "expires_at": None
    }
