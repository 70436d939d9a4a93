"""Retries and timeouts, against failures a real server only shows now and then.

A scripted HTTP server on a loopback socket plays the failing server: it
answers each request with the next answer of its script, and counts them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from accepted import errors
from accepted.client import AsyncClient, Client, RequestTimeout, TransportError
from tests.client.test_core import JOB, taken_job
from tests.support.servers import free_port

UNAVAILABLE = (503, {"error": {"code": "store_unavailable", "message": "database down"}})
OK = (200, JOB)
ACCEPTED = (202, JOB)


class Script:
    def __init__(self) -> None:
        self.answers: list[tuple[int, object]] = []
        self.requests: list[str] = []
        self.stall = threading.Event()  # set: hang every answer until released
        self.release = threading.Event()


@pytest.fixture
def script() -> Iterator[tuple[Script, str]]:
    state = Script()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            state.requests.append(f"{self.command} {self.path}")
            if state.stall.is_set():
                state.release.wait(10)
            status, body = state.answers.pop(0) if state.answers else OK
            content = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_a_read_is_retried_through_503s(script: tuple[Script, str]) -> None:
    state, url = script
    state.answers = [UNAVAILABLE, UNAVAILABLE, OK]
    with Client(url, retries=3, backoff=0.01) as client:
        assert client.get(str(JOB["id"])).id == JOB["id"]
    assert len(state.requests) == 3


async def test_an_enqueue_is_retried_on_503_async(script: tuple[Script, str]) -> None:
    state, url = script
    state.answers = [UNAVAILABLE, ACCEPTED]
    async with AsyncClient(url, retries=3, backoff=0.01) as client:
        assert (await client.enqueue("q")).id == JOB["id"]
    assert state.requests == ["POST /jobs", "POST /jobs"]


def test_retries_run_out_and_the_error_is_raised(script: tuple[Script, str]) -> None:
    state, url = script
    state.answers = [UNAVAILABLE] * 3
    with Client(url, retries=2, backoff=0.01) as client, pytest.raises(errors.StoreUnavailable):
        client.delete(str(JOB["id"]))
    assert len(state.requests) == 3


def test_a_take_is_never_retried(script: tuple[Script, str]) -> None:
    state, url = script
    state.answers = [UNAVAILABLE, OK]
    with Client(url, retries=3, backoff=0.01) as client, pytest.raises(errors.StoreUnavailable):
        client.take("q")
    assert state.requests == ["POST /want_job?queue=q"]


async def test_a_take_is_never_retried_async(script: tuple[Script, str]) -> None:
    state, url = script
    state.answers = [UNAVAILABLE, OK]
    async with AsyncClient(url, retries=3, backoff=0.01) as client:
        with pytest.raises(errors.StoreUnavailable):
            await client.take_many("q", count=2)
    assert len(state.requests) == 1


def test_an_unreachable_server_is_a_transport_error_after_retries() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with Client(url, retries=2, backoff=0.01) as client:
        with pytest.raises(TransportError) as caught:
            client.get("x")
        assert "could not reach" in caught.value.message
        with pytest.raises(TransportError):
            client.take("q")


async def test_an_unreachable_server_is_a_transport_error_async() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with AsyncClient(url, retries=1, backoff=0.01) as client:
        with pytest.raises(TransportError):
            await client.enqueue("q")


def test_a_server_that_does_not_answer_in_time_is_a_timeout(script: tuple[Script, str]) -> None:
    state, url = script
    state.stall.set()
    with Client(url, timeout=0.3, retries=0) as client, pytest.raises(RequestTimeout):
        client.complete(taken_job(), 1)
    assert len(state.requests) == 1


async def test_a_long_poll_gets_its_block_on_top_of_the_timeout(
    script: tuple[Script, str],
) -> None:
    """The read timeout of a take blocking 1 s is timeout + 1 s, so a 0.5 s stall is fine."""
    state, url = script
    state.stall.set()
    threading.Timer(0.5, state.release.set).start()
    async with AsyncClient(url, timeout=0.3, retries=0) as client:
        job = await client.take("q", block=1.0)
    assert job is not None and job.id == JOB["id"]
