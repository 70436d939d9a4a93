"""Bad input: every error is {"error": {"code", "message"}}, with the right status and a
message naming what is wrong, and nothing is half-written.
"""

from __future__ import annotations

import json
import logging
import socket
import sqlite3
import uuid
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.http import wire
from tests.http.helpers import assert_error, enqueue, get, in_process, take, unique_queue
from tests.support.servers import ServerProcess

MIB = 1024 * 1024


def _nothing_enqueued(api: httpx.Client, q: str) -> None:
    assert take(api, q) is None


# -- POST /jobs bodies ------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [b"{", b'{"queue": "q",}', b"not json", b"\xff\xfe", b'{"queue": "q"} trailing']
)
@pytest.mark.documents("enqueue-400")
def test_malformed_json_is_400(api: httpx.Client, body: bytes) -> None:
    error = assert_error(api.post("/jobs", content=body), 400, "json")
    assert error["code"] == "malformed_json"


def test_an_empty_body_is_400(api: httpx.Client) -> None:
    assert_error(api.post("/jobs", content=b""), 400)


def test_deeply_nested_json_is_400_not_a_crash(api: httpx.Client, q: str) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    body = b'{"queue": "' + q.encode() + b'", "params": ' + deep + b"}"
    assert_error(api.post("/jobs", content=body), 400, "body")
    _nothing_enqueued(api, q)
    job = enqueue(api, q)
    take(api, q)
    report = b'{"status": "done", "result": ' + deep + b"}"
    assert_error(api.put(f"/jobs/{job['id']}", content=report), 400, "body")
    assert get(api, job["id"])["status"] == "running"


@pytest.mark.parametrize("body", [b'"q"', b"1", b"null", b"true", b"[]", b'["q"]'])
@pytest.mark.documents("enqueue-400")
def test_a_body_that_is_not_an_object_is_400(api: httpx.Client, body: bytes) -> None:
    # (A non-empty JSON array of job objects is a batch: an extension, tested elsewhere.)
    error = assert_error(api.post("/jobs", content=body), 400)
    if not body.startswith(b"["):
        assert "object" in error["message"]


@pytest.mark.parametrize(
    "body",
    [{}, {"params": {}}, {"queue": ""}, {"queue": 1}, {"queue": None}, {"queue": ["a"]},
     {"queue": {"name": "a"}}, {"queue": True}],
    ids=["missing", "missing-with-params", "empty", "int", "null", "list", "object", "bool"],
)
@pytest.mark.documents("enqueue-400", "decision-queue-names")
def test_a_missing_empty_or_non_string_queue_is_400(api: httpx.Client, body: object) -> None:
    assert assert_error(api.post("/jobs", json=body), 400, "queue")["code"] == "invalid_field"


@pytest.mark.parametrize(
    "name", ["a\u0000b", "line\nbreak", "\u007f"], ids=["nul", "newline", "del"]
)
@pytest.mark.documents("decision-queue-names", "want-400")
def test_a_queue_name_with_a_control_character_is_400(api: httpx.Client, name: str) -> None:
    assert_error(api.post("/jobs", json={"queue": name}), 400, "queue", "control")
    assert_error(api.post("/want_job", json={"queues": [name]}), 400, "queue", "control")
    batch = [{"queue": "ok", "callback_url": "http://127.0.0.1:9/a\u0000b"}]
    assert_error(api.post("/jobs", json=batch), 400, "callback_url")


def test_a_bad_enqueue_leaves_nothing_behind(api: httpx.Client, q: str) -> None:
    assert_error(api.post("/jobs", json={"queue": q, "params": 1}, headers={
        "X-Accepted-Priority": "9"}), 400)
    assert_error(api.post("/jobs", json={"queue": q}, headers={
        "X-Accepted-Callback-URL": "nope"}), 400)
    _nothing_enqueued(api, q)


# -- POST /jobs headers -----------------------------------------------------------

ENQUEUE_HEADERS = [
    ("X-Accepted-Priority", value) for value in ("-1", "4", "x", "1.5", "", "1e0")
] + [
    ("X-Accepted-Delay", value) for value in ("-1", "x", "nan", "inf", "", "1e20")
] + [
    ("X-Accepted-Result-TTL", value) for value in ("-0.5", "soon", "inf", "1e300")
] + [
    ("X-Accepted-Job-Timeout", value) for value in ("0", "-1", "x", "nan", "1e20")
] + [
    ("X-Accepted-Max-Attempts", value) for value in ("0", "-2", "x", "2.5", "9" * 20)
] + [
    ("X-Accepted-Callback-URL", value)
    for value in ("ftp://example.com/", "not a url", "/relative/path", "http://", "mailto:a@b")
]


@pytest.mark.parametrize(("header", "value"), ENQUEUE_HEADERS)
@pytest.mark.documents("enqueue-400")
def test_an_enqueue_header_out_of_range_or_not_a_number_is_400(
    api: httpx.Client, q: str, header: str, value: str
) -> None:
    response = api.post("/jobs", json={"queue": q}, headers={header: value})
    assert assert_error(response, 400, header)["code"] == "invalid_header"
    _nothing_enqueued(api, q)


@pytest.mark.parametrize(
    ("header", "value", "bound"),
    [
        ("X-Accepted-Job-Timeout", "-1", "> 0"),
        ("X-Accepted-Job-Timeout", "0", "> 0"),
        ("X-Accepted-Delay", "99999999999", "<= 3153600000"),
        ("X-Accepted-Delay", "-0.50", ">= 0"),
        ("X-Accepted-Priority", "007", "from 0 to 3"),
    ],
)
@pytest.mark.documents("enqueue-400")
def test_a_refused_header_value_is_quoted_as_it_was_sent(
    api: httpx.Client, q: str, header: str, value: str, bound: str
) -> None:
    """`-1`, not the `-1.0` the server read it as: a number the client never typed
    sends them looking for a mistake they did not make."""
    response = api.post("/jobs", json={"queue": q}, headers={header: value})
    error = assert_error(response, 400, header, bound)
    assert f"value {value} must be" in error["message"], error["message"]
    _nothing_enqueued(api, q)


def test_an_empty_group_in_a_body_says_it_must_not_be_empty(api: httpx.Client, q: str) -> None:
    batch = [{"queue": q, "group": ""}]
    error = assert_error(api.post("/jobs", json=batch), 400, "group")
    assert error["message"].endswith("must not be empty"), error["message"]
    _nothing_enqueued(api, q)


def _declared_headers() -> list[tuple[str, str, str]]:
    """Every request header every route declares, from the route table (a new one is covered)."""
    from accepted.http.routes import ROUTES

    return [
        (method, route.path, param.name)
        for route in ROUTES
        for method, op in route.ops.items()
        for param in op.params
        if param.where == "header"
    ]


def _call_with(
    api: httpx.Client, q: str, method: str, path: str, header: dict[str, str]
) -> tuple[httpx.Response, Callable[[], None]]:
    """Send a request to `method path` that is good but for `header`; and a check that
    it changed nothing. A route that declares headers and is not here fails the test."""
    if (method, path) == ("POST", "/jobs"):
        response = api.post("/jobs", json={"queue": q}, headers=header)
        return response, lambda: _nothing_enqueued(api, q)
    job = enqueue(api, q)
    if (method, path) == ("GET", "/jobs/{id}"):
        return api.get(f"/jobs/{job['id']}", headers=header), lambda: None
    if (method, path) == ("POST", "/want_job"):
        response = api.post("/want_job", params={"queue": q}, headers=header)
        return response, lambda: _unchanged(api, job)
    if (method, path) == ("PUT", "/jobs/{id}"):
        running = take(api, q)
        assert running is not None
        response = api.put(f"/jobs/{job['id']}", json={"status": "done"}, headers=header)
        return response, lambda: _unchanged(api, running)
    raise AssertionError(f"{method} {path} declares headers: add it to _call_with")


def _unchanged(api: httpx.Client, job: dict[str, Any]) -> None:
    now = get(api, job["id"])
    assert (now["status"], now["attempts"]) == (job["status"], job["attempts"]), now


@pytest.mark.parametrize(("method", "path", "header"), _declared_headers())
@pytest.mark.documents("empty-header")
def test_an_empty_declared_header_is_400_not_absent(
    api: httpx.Client, q: str, method: str, path: str, header: str
) -> None:
    """`X-Accepted-Group:` is a mistake to name, not "no group"; an empty
    `X-Accepted-Lease:` is not "no lease" (it was read as a lease: 409)."""
    response, unchanged = _call_with(api, q, method, path, {header: ""})
    assert assert_error(response, 400, header)["code"] == "invalid_header"
    unchanged()


async def test_a_header_of_only_spaces_is_empty_too(api: httpx.Client, q: str) -> None:
    """Spaces around a value are not part of it (RFC 9110), so these are empty: a 400."""
    body = json.dumps({"queue": q}).encode()
    for header in ("X-Accepted-Group", "X-Accepted-Unique-Key", "Idempotency-Key"):
        data = wire.request("POST", "/jobs", f"{header}:   ", "Connection: close", body=body)
        answer = await wire.exchange(str(api.base_url), data)
        assert answer.status == 400, answer
        assert answer.error()["code"] == "invalid_header" and header in answer.error()["message"]
    _nothing_enqueued(api, q)


def test_a_bad_header_is_named_whatever_case_it_was_sent_in(api: httpx.Client, q: str) -> None:
    response = api.post("/jobs", json={"queue": q}, headers={"x-accepted-priority": "7"})
    assert_error(response, 400, "X-Accepted-Priority")


# -- POST /want_job -----------------------------------------------------------------

WANT_JOB_BAD = [
    ({"X-Accepted-Block-For": "-1"}, {}, "X-Accepted-Block-For"),
    ({"X-Accepted-Block-For": "x"}, {}, "X-Accepted-Block-For"),
    ({"X-Accepted-Block-For": "nan"}, {}, "X-Accepted-Block-For"),
    ({}, {"block": "-1"}, "block"),
    ({}, {"block": "soon"}, "block"),
    ({"X-Accepted-Timeout": "0"}, {}, "X-Accepted-Timeout"),
    ({"X-Accepted-Timeout": "-1"}, {}, "X-Accepted-Timeout"),
    ({"X-Accepted-Timeout": "x"}, {}, "X-Accepted-Timeout"),
    ({"X-Accepted-Timeout": "1e308"}, {}, "X-Accepted-Timeout"),
    ({}, {"timeout": "0"}, "timeout"),
    ({}, {"timeout": "x"}, "timeout"),
    ({}, {"queue": ""}, "queue"),
]


@pytest.mark.parametrize(("headers", "query", "named"), WANT_JOB_BAD)
@pytest.mark.documents("want-400")
def test_a_bad_want_job_header_or_query_is_400_and_takes_nothing(
    api: httpx.Client, q: str, headers: dict[str, str], query: dict[str, str], named: str
) -> None:
    job = enqueue(api, q)
    params = {"queue": q, **query} if "queue" not in query else query
    error = assert_error(api.post("/want_job", params=params, headers=headers), 400, named)
    expected = "invalid_header" if headers else "invalid_query"
    assert error["code"] == ("invalid_field" if named == "queue" else expected)
    assert get(api, job["id"]) == job


@pytest.mark.parametrize(
    "body",
    [b"{", b"[]", b'"q"', b'{"queues": "q"}', b'{"queues": [1]}', b'{"queues": [""]}',
     b'{"queues": [null]}', b'{"queues": {"a": 1}}'],
)
@pytest.mark.documents("want-400")
def test_a_bad_want_job_body_is_400_and_takes_nothing(
    api: httpx.Client, q: str, body: bytes
) -> None:
    job = enqueue(api, q)
    response = api.post("/want_job", content=body)
    error = assert_error(response, 400)
    if body.startswith(b'{"queues"'):
        assert "queues" in error["message"]
    assert get(api, job["id"]) == job


# -- PUT and GET ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [b"{", b"[]", b"null", b'{"status": 1}', b'{"status": null}', b"{}"]
)
@pytest.mark.documents("report-400")
def test_a_bad_report_body_is_400_and_changes_nothing(
    api: httpx.Client, q: str, body: bytes
) -> None:
    enqueue(api, q)
    job = take(api, q)
    assert job is not None
    assert_error(api.put(f"/jobs/{job['id']}", content=body), 400)
    after = get(api, job["id"])
    assert (after["status"], after["lease_expires_at"]) == ("running", job["lease_expires_at"])


@pytest.mark.parametrize("value", ["0", "-1", "x", "1e308"])
@pytest.mark.documents("report-400")
def test_a_bad_heartbeat_timeout_is_400(api: httpx.Client, q: str, value: str) -> None:
    enqueue(api, q)
    job = take(api, q)
    assert job is not None
    response = api.put(f"/jobs/{job['id']}", json={"status": "running"},
                       headers={"X-Accepted-Timeout": value})
    assert assert_error(response, 400, "X-Accepted-Timeout")["code"] == "invalid_header"
    assert get(api, job["id"])["lease_expires_at"] == job["lease_expires_at"]


@pytest.mark.parametrize("value", ["x", "-1", "nan"])
@pytest.mark.documents("get-400")
def test_a_bad_wait_result_is_400(api: httpx.Client, q: str, value: str) -> None:
    job = enqueue(api, q)
    response = api.get(f"/jobs/{job['id']}", headers={"X-Accepted-Wait-Result": value})
    assert assert_error(response, 400, "X-Accepted-Wait-Result")["code"] == "invalid_header"


# -- routes and methods -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/nope", "/job", "/jobs/a/b", "/want_jobs", "/jobs//", "/healthz/x"]
)
@pytest.mark.documents("any-404-route")
def test_an_unknown_route_is_404(api: httpx.Client, path: str) -> None:
    assert assert_error(api.get(path), 404)["code"] == "not_found"
    assert assert_error(api.post(path, json={"queue": "q"}), 404)["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/queues", {"GET"}),
        ("PATCH", "/jobs/", {"POST"}),
        ("DELETE", "/jobs", {"POST"}),
        ("GET", "/want_job", {"POST"}),
        ("PUT", "/want_job/", {"POST"}),
        ("POST", "/jobs/{id}", {"GET", "PUT", "DELETE"}),
        ("PATCH", "/jobs/{id}", {"GET", "PUT", "DELETE"}),
        ("POST", "/healthz", {"GET"}),
    ],
)
@pytest.mark.documents("any-405")
def test_a_wrong_method_is_405_with_allow(
    api: httpx.Client, q: str, method: str, path: str, allowed: set[str]
) -> None:
    job = enqueue(api, q)
    response = api.request(method, path.format(id=job["id"]), json={"queue": q})
    assert assert_error(response, 405, method)["code"] == "method_not_allowed"
    assert {m.strip() for m in response.headers["allow"].split(",")} >= allowed
    assert get(api, job["id"]) == job
    assert take(api, q, block_for=0)["id"] == job["id"]  # type: ignore[index]
    assert take(api, q) is None  # the 405 made no second job


# -- body size ---------------------------------------------------------------------------


def test_a_body_just_under_the_limit_is_accepted(api: httpx.Client, q: str) -> None:
    filler = "x" * (MIB - 100)
    response = api.post("/jobs", content=f'{{"queue": "{q}", "params": "{filler}"}}')
    assert response.status_code == 202
    assert len(get(api, response.json()["id"])["params"]) == len(filler)


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/jobs"), ("POST", "/want_job"), ("PUT", "/jobs/{id}"), ("PUT", "/jobs")],
)
@pytest.mark.documents("any-413", "enqueue-413")
def test_a_body_over_1_mib_is_413(api: httpx.Client, q: str, method: str, path: str) -> None:
    job = enqueue(api, q)
    body = f'{{"queue": "{q}", "params": "{"x" * MIB}"}}'
    response = api.request(method, path.format(id=job["id"]), content=body)
    assert assert_error(response, 413, "limit")["code"] == "payload_too_large"
    assert get(api, job["id"]) == job
    assert take(api, q)["id"] == job["id"]  # type: ignore[index]
    assert take(api, q) is None


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    yield b'{"queue": "streamed", "params": "'
    sent = 0
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"}'


@pytest.mark.documents("enqueue-413")
def test_a_streamed_oversized_body_is_refused_and_the_server_stays_healthy(
    shared_server: ServerProcess, api: httpx.Client
) -> None:
    # A chunked upload has no Content-Length: the limit must hold while reading.
    try:
        response = api.post("/jobs", content=_chunks(8 * MIB))
    except httpx.TransportError:
        pass  # the server may answer 413 and close before the upload ends
    else:
        assert_error(response, 413, "limit")
    assert api.get("/healthz").status_code == 200
    assert take(api, "streamed") is None
    assert enqueue(api, unique_queue())["status"] == "queued"


@pytest.mark.documents("enqueue-413")
def test_a_lying_content_length_is_refused(shared_server: ServerProcess) -> None:
    # Declares 2 MiB, sends a little: refused on the declaration, not after waiting.
    with socket.create_connection(("127.0.0.1", shared_server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2097152\r\n\r\n{\"queue\": \"q\"}"
        )
        head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 413")


@pytest.mark.documents("healthz-200")
def test_healthz(api: httpx.Client) -> None:
    for path in ("/healthz", "/healthz/"):
        response = api.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        assert response.json() == {"status": "ok"}


@pytest.mark.documents("get-404", "delete-404", "report-404")
def test_an_unknown_job_id_of_any_shape_is_404(api: httpx.Client) -> None:
    for job_id in (str(uuid.uuid4()), "x", "%20", "00000000-0000-0000-0000-00000000000g"):
        assert_error(api.get(f"/jobs/{job_id}"), 404)
        assert_error(api.delete(f"/jobs/{job_id}"), 404)
        assert_error(api.put(f"/jobs/{job_id}", json={"status": "done"}), 404)


# -- answers a client cannot cause at will ---------------------------------------------


@pytest.mark.documents("any-503")
def test_a_write_the_database_refuses_is_503_and_nothing_is_acknowledged(
    tmp_path: Path,
) -> None:
    # SQLite only: PostgreSQL outages are tests/e2e/test_multinode.py's.
    db = str(tmp_path / "locked.db")
    server = ServerProcess(db=db, log_path=tmp_path / "server.log").start()
    # Another process holds the write lock past the server's busy timeout (5 s).
    blocker = sqlite3.connect(db, isolation_level=None, timeout=1)
    try:
        with httpx.Client(base_url=server.url, timeout=30.0) as http:
            try:
                blocker.execute("BEGIN IMMEDIATE")
                response = http.post("/jobs", json={"queue": "locked"})
                assert assert_error(response, 503)["code"] == "store_unavailable"
            finally:
                blocker.execute("ROLLBACK")
            assert take(http, "locked") is None  # the refused enqueue left nothing behind
            assert enqueue(http, "locked")["status"] == "queued"  # and a retry succeeds
    finally:
        blocker.close()
        server.stop()


@pytest.mark.documents("healthz-503")
async def test_healthz_is_503_while_the_server_starts_and_stops(tmp_path: Path) -> None:
    async with in_process(str(tmp_path / "a.db"), start=False) as (app, client):
        starting = await client.get("/healthz")
        assert assert_error(starting, 503)["code"] == "shutting_down"
        await app.startup()
        try:
            assert (await client.get("/healthz")).json() == {"status": "ok"}
            app.begin_shutdown()
            stopping = await client.get("/healthz")
            assert assert_error(stopping, 503)["code"] == "shutting_down"
        finally:
            await app.shutdown()


@pytest.mark.documents("any-500")
async def test_an_unexpected_error_is_500_in_the_error_shape_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # No request a client can send reaches this: an ASGI scope without headers
    # (a server bug) makes the request object itself fail.
    async with in_process(str(tmp_path / "a.db")) as (app, _):
        sent: list[MutableMapping[str, Any]] = []

        async def receive() -> MutableMapping[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": f"/jobs/{uuid.uuid4()}"}
        with caplog.at_level(logging.ERROR, logger="accepted"):
            await app.handle(scope, receive, send)
    start, body = sent
    assert start["status"] == 500
    assert (b"content-type", b"application/json") in start["headers"]
    error = json.loads(body["body"])
    assert set(error) == {"error"} and error["error"]["code"] == "error"
    assert error["error"]["message"]
    assert any(record.exc_info for record in caplog.records)  # the traceback is logged


# -- a lease in a body field ---------------------------------------------------------


@pytest.mark.documents("empty-header", "want-report")
def test_an_empty_lease_in_a_body_is_400_naming_the_field(api: httpx.Client, q: str) -> None:
    """As with the header: `"lease": ""` is a mistake to name, not a lease that
    matches nothing (a 409), and the message names the field, not a header."""
    enqueue(api, q)
    job = take(api, q)
    assert job is not None
    for report, named in (
        ({"id": job["id"], "status": "done", "lease": ""}, "report.lease"),
        ([{"id": job["id"], "status": "done", "lease": " "}], "report[0].lease"),
    ):
        response = api.post("/want_job", params={"queue": q}, json={"report": report})
        error = assert_error(response, 400, named)
        assert error["code"] == "invalid_field" and "X-Accepted-Lease" not in error["message"]
    batch = [{"id": job["id"], "status": "done", "lease": ""}]
    error = assert_error(api.put("/jobs", json=batch), 400, "[0].lease")
    assert error["code"] == "invalid_field"
    _unchanged(api, job)


@pytest.mark.documents("report-409-lease", "want-report")
def test_a_stale_lease_in_a_body_is_409_naming_the_field(api: httpx.Client, q: str) -> None:
    enqueue(api, q)
    job = take(api, q)
    assert job is not None
    stale = {"id": job["id"], "status": "done", "lease": "stale"}
    response = api.post("/want_job", params={"queue": q}, json={"report": stale})
    error = assert_error(response, 409, "report.lease")
    assert error["code"] == "lease_mismatch" and "X-Accepted-Lease" not in error["message"]
    outcomes = api.put("/jobs", json=[stale]).json()
    assert outcomes[0]["error"]["code"] == "lease_mismatch"
    assert outcomes[0]["error"]["message"].startswith("[0].lease does not match")
    response = api.put(f"/jobs/{job['id']}", json={"status": "done"},
                       headers={"X-Accepted-Lease": "stale"})
    assert assert_error(response, 409, "X-Accepted-Lease")["code"] == "lease_mismatch"
    _unchanged(api, job)
