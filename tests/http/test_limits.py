"""Limits on the wire: head size, URL size, head and idle timeouts, and the JSON
shape of everything the HTTP parser refuses. Raw sockets: these are requests a
well-behaved client library never sends.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.http.conftest import StartServer
from tests.http.helpers import assert_error, enqueue, take
from tests.http.wire import connect, exchange, read_answer, request, until_closed
from tests.support.servers import ServerProcess

HEAD_LIMIT = 64 * 1024


@pytest.mark.documents("any-431")
async def test_a_head_over_64_kib_is_431_in_json(shared_server: ServerProcess) -> None:
    one_big = request("GET", "/healthz", "X-Big: " + "a" * (HEAD_LIMIT + 10))
    many = request("GET", "/healthz", *(f"X-Many-{i}: {'b' * 1000}" for i in range(70)))
    long_url = request("GET", "/healthz?x=" + "c" * (HEAD_LIMIT + 10))
    for data in (one_big, many, long_url):
        answer = await exchange(shared_server.url, data)
        assert answer.status == 431, answer
        assert answer.error()["code"] == "headers_too_large"
        assert answer.headers["connection"] == "close"


@pytest.mark.documents("any-431")
async def test_a_head_just_under_the_limit_is_served(shared_server: ServerProcess) -> None:
    answer = await exchange(shared_server.url, request("GET", "/healthz", "X-Big: " + "a" * 60000))
    assert answer.status == 200, answer


@pytest.mark.documents("any-431")
async def test_an_endless_header_is_refused_while_it_arrives(
    shared_server: ServerProcess,
) -> None:
    """The issue's 64 MiB header: refused soon after the limit, never buffered whole.

    Loopback socket buffers can hold a few MiB the server has not read yet, so
    what the client managed to send is only a loose bound; the server's peak
    memory is the tight one.
    """
    peak_before = _peak_rss(shared_server)
    reader, writer = await connect(shared_server.url)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Endless: ")
    sent, total = 0, 64 * 1024 * 1024
    chunk = b"x" * 65536
    try:
        while sent < total and not reader.at_eof():
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)
            await asyncio.sleep(0)  # let the reader see the server's close
        answer = await read_answer(reader)
        assert answer.status == 431
    except (ConnectionError, asyncio.IncompleteReadError):
        pass  # the server closed with our bytes unread: the 431 may be lost to the reset
    finally:
        writer.close()
    assert sent < total, "the server read a 64 MiB header to its end"
    assert _peak_rss(shared_server) - peak_before < 16 * 1024 * 1024
    assert (await exchange(shared_server.url, request("GET", "/healthz"))).status == 200


def _peak_rss(server: ServerProcess) -> int:
    """The server process's peak resident memory (VmHWM), in bytes."""
    assert server.proc is not None
    status = Path(f"/proc/{server.proc.pid}/status").read_text()
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(kib) * 1024


@pytest.mark.documents("any-400-http")
@pytest.mark.parametrize(
    "data",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Bad: a\x01b\r\n\r\n",
        b"GET /heal\xffthz HTTP/1.1\r\nHost: test\r\n\r\n",
        b"GET /healthz HTTP/9.9x\r\nHost: test\r\n\r\n",
        b"POST /jobs HTTP/1.1\r\nHost: test\r\nContent-Length: nope\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nBad Name: x\r\n\r\n",
    ],
    ids=["request-line", "control-char", "non-ascii-path", "version", "length", "header-name"],
)
async def test_the_parsers_refusals_are_json(shared_server: ServerProcess, data: bytes) -> None:
    answer = await exchange(shared_server.url, data)
    assert answer.status == 400, answer
    error = answer.error()
    assert error["code"] == "malformed_request"
    assert "not valid HTTP/1.1" in error["message"]


@pytest.mark.documents("any-400-url")
def test_a_callback_url_over_2_kib_is_400(api: httpx.Client, q: str) -> None:
    long_url = "http://example.com/" + "a" * 2100
    response = api.post("/jobs", json={"queue": q}, headers={"X-Accepted-Callback-URL": long_url})
    error = assert_error(response, 400, "X-Accepted-Callback-URL", "2048")
    assert len(error["message"]) < 200  # the value is not echoed whole
    response = api.post("/jobs", json=[{"queue": q, "callback_url": long_url}])
    assert_error(response, 400, "[0].callback_url", "2048")
    at_limit = "http://example.com/" + "a" * (2048 - 19)
    response = api.post("/jobs", json={"queue": q}, headers={"X-Accepted-Callback-URL": at_limit})
    assert response.status_code == 202, response.text


@pytest.mark.documents("any-400-url")
def test_a_refused_value_is_not_echoed_whole(api: httpx.Client, q: str) -> None:
    response = api.post("/jobs", json={"queue": q}, headers={"X-Accepted-Delay": "9" * 5000 + "x"})
    error = assert_error(response, 400, "X-Accepted-Delay")
    assert len(error["message"]) < 300


# Connections. Short timeouts so the tests take a second, not a minute.
HEAD_TIMEOUT = 0.5
IDLE_TIMEOUT = 1.0
SILENT, HALF_SENT = 200, 100


@pytest.fixture
def quick(start_server: StartServer) -> ServerProcess:
    return start_server(
        ACCEPTED_HEAD_TIMEOUT=str(HEAD_TIMEOUT), ACCEPTED_IDLE_TIMEOUT=str(IDLE_TIMEOUT)
    )


@pytest.mark.documents("connection-head-timeout")
async def test_hundreds_of_silent_or_half_sent_connections_are_closed(
    quick: ServerProcess,
) -> None:
    start = time.monotonic()
    opened = await asyncio.gather(*(connect(quick.url) for _ in range(SILENT + HALF_SENT)))
    for _, writer in opened[SILENT:]:
        writer.write(b"POST /jobs HTTP/1.1\r\nHost: test\r\nX-Accepted-Pri")
    closed = await asyncio.wait_for(
        asyncio.gather(*(until_closed(reader) for reader, _ in opened)), timeout=30
    )
    for _, writer in opened:
        writer.close()
    assert all(at - start >= HEAD_TIMEOUT * 0.9 for _, at in closed)  # not before their time
    assert all(data == b"" for data, _ in closed[:SILENT])  # nothing sent: closed silently
    for data, _ in closed[SILENT:]:
        assert data.startswith(b"HTTP/1.1 408 "), data
        assert b'"code":"request_timeout"' in data
    assert (await exchange(quick.url, request("GET", "/healthz"))).status == 200


@pytest.mark.documents("connection-head-timeout")
async def test_a_slow_but_steady_head_is_still_timed_from_its_start(quick: ServerProcess) -> None:
    """A head that trickles in a byte at a time does not reset the timer with each byte."""
    reader, writer = await connect(quick.url)
    head = request("GET", "/healthz", "X-Pad: " + "p" * 400)
    closed = asyncio.ensure_future(until_closed(reader))
    for byte in head:
        if closed.done():
            break
        writer.write(bytes([byte]))
        await asyncio.wait([closed], timeout=0.01)  # a byte every 10 ms: 4 s for the head
    data, _ = await asyncio.wait_for(closed, timeout=30)
    writer.close()
    assert data.startswith(b"HTTP/1.1 408 "), data  # a reset timer would have let it through


@pytest.mark.documents("connection-head-timeout")
async def test_a_pipelined_head_is_not_timed_while_the_answers_before_it_are_awaited(
    quick: ServerProcess,
) -> None:
    """A part of a third head behind a long-poll and a queued request: its timer starts
    only when the two before it are answered, so the 408 comes after their answers."""
    reader, writer = await connect(quick.url)
    block = 4 * HEAD_TIMEOUT
    long_poll = request("POST", "/want_job?queue=nothing-here", f"X-Accepted-Block-For: {block}")
    writer.write(long_poll + request("GET", "/healthz") + b"GET /healthz HT")
    waited = await asyncio.wait_for(read_answer(reader), timeout=30)
    healthy = await asyncio.wait_for(read_answer(reader), timeout=30)
    timed_out = await asyncio.wait_for(read_answer(reader), timeout=30)
    writer.close()
    assert (waited.status, healthy.status, timed_out.status) == (204, 200, 408)
    assert timed_out.error()["code"] == "request_timeout"


@pytest.mark.documents("connection-idle-timeout")
async def test_an_idle_keep_alive_connection_is_closed(quick: ServerProcess) -> None:
    reader, writer = await connect(quick.url)
    for _ in range(3):  # requests within the idle time keep it open
        writer.write(request("GET", "/healthz"))
        assert (await read_answer(reader)).status == 200
    answered = time.monotonic()
    data, at = await asyncio.wait_for(until_closed(reader), timeout=30)
    writer.close()
    assert data == b""
    assert at - answered >= IDLE_TIMEOUT * 0.9


@pytest.mark.documents("connection-idle-timeout")
async def test_a_waiting_long_poll_is_not_idle(quick: ServerProcess) -> None:
    reader, writer = await connect(quick.url)
    block = 3 * IDLE_TIMEOUT
    start = time.monotonic()
    writer.write(request("POST", "/want_job?queue=nothing-here", f"X-Accepted-Block-For: {block}"))
    answer = await asyncio.wait_for(read_answer(reader), timeout=30)
    assert answer.status == 204
    assert time.monotonic() - start >= block * 0.9  # it waited its whole time, unclosed
    writer.write(request("GET", "/healthz"))  # and the connection is still usable
    assert (await read_answer(reader)).status == 200
    writer.close()


# -- numbers, queue counts and waits (issue 9's wrong answers) -----------------------


@pytest.mark.documents("decision-numbers")
@pytest.mark.parametrize("value", ["1_0", "1_000.5", "\u0661\u0660", "0x10", "1e1_0", "Infinity"])
@pytest.mark.parametrize("header", ["X-Accepted-Delay", "X-Accepted-Max-Attempts"])
def test_a_number_is_written_as_json_writes_it(
    api: httpx.Client, q: str, header: str, value: str
) -> None:
    """Python's int() and float() read "1_0" as 10 and Arabic-Indic digits as digits."""
    response = api.post("/jobs", json={"queue": q}, headers={header: value.encode()})
    assert_error(response, 400, header)


@pytest.mark.documents("decision-numbers")
@pytest.mark.parametrize("value", ["10", "0.5", ".5", "1e1", "1E+1", "0"])
def test_plain_decimal_numbers_are_read(api: httpx.Client, q: str, value: str) -> None:
    response = api.post("/jobs", json={"queue": q}, headers={"X-Accepted-Delay": value})
    assert response.status_code == 202, response.text


@pytest.mark.documents("want-400")
def test_want_job_naming_more_than_100_distinct_queues_is_400(api: httpx.Client, q: str) -> None:
    enqueue(api, q)
    names = [f"{q}-{i}" for i in range(100)]
    response = api.post("/want_job", params={"queue": [*names, q]})
    error = assert_error(response, 400, "101", "100")
    assert error["code"] == "invalid_request"  # never 503: a retry cannot succeed
    split = api.post("/want_job", params={"queue": names[:60]}, json={"queues": [*names[60:], q]})
    assert_error(split, 400, "101")
    assert take(api, q) is not None  # nothing was taken by the refused calls


@pytest.mark.documents("want-400")
def test_repeated_names_count_once_toward_the_100(api: httpx.Client, q: str) -> None:
    enqueue(api, q)
    names = [f"{q}-{i}" for i in range(99)] + [q]
    response = api.post("/want_job", params={"queue": names * 3}, json={"queues": names})
    assert response.status_code == 200, response.text
    assert response.json()["queue"] == q


@pytest.mark.documents("decision-caps")
def test_a_wait_beyond_any_maximum_is_capped_not_refused(start_server: StartServer) -> None:
    server = start_server(ACCEPTED_MAX_WAIT="0.5")
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        job = enqueue(client, "capped")
        response = client.post(
            "/want_job", params={"queue": "empty"}, headers={"X-Accepted-Block-For": "1e300"}
        )
        assert response.status_code == 204, response.text
        response = client.post("/want_job", params={"queue": "empty", "block": "1e12"})
        assert response.status_code == 204, response.text
        waited = client.get(f"/jobs/{job['id']}", headers={"X-Accepted-Wait-Result": "1e300"})
        assert waited.status_code == 200 and waited.json()["status"] == "queued"
        assert_error(client.get(f"/jobs/{job['id']}", headers={"X-Accepted-Wait-Result": "-1"}),
                     400, "X-Accepted-Wait-Result")
