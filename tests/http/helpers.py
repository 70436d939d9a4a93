"""Small verbs for HTTP-tier tests: enqueue, take, report, check an error, run a
blocking call in the background and time it, and receive callbacks.

Everything here speaks to a real server over real sockets.
"""

from __future__ import annotations

import json
import os
import ssl
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from accepted.config import Settings
from accepted.http.app import App, create_app

JobJSON = dict[str, Any]

# Plain HTTP on loopback: skip building a TLS context, which costs ~30 ms a client.
NO_TLS = False

# A bound for "promptly": wake-ups are expected within milliseconds, and this
# leaves room for a loaded 2-core machine without letting a polling loop pass.
PROMPT = 2.0


def unique_queue(prefix: str = "q") -> str:
    """A queue no other test uses, for tests that share one server."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def enqueue(
    http: httpx.Client, queue: str = "q", params: Any = None, **headers: str | float
) -> JobJSON:
    """POST /jobs, asserting 202; `headers` use short names: priority="0", delay=0.5 ..."""
    body: dict[str, Any] = {"queue": queue}
    if params is not None:
        body["params"] = params
    response = http.post("/jobs", json=body, headers=accepted_headers(headers))
    assert response.status_code == 202, response.text
    job: JobJSON = response.json()
    return job


def take(
    http: httpx.Client, *queues: str, **headers: str | float
) -> JobJSON | None:
    """POST /want_job for `queues` (none: any); the job, or None on 204."""
    response = http.post("/want_job", params={"queue": list(queues)},
                         headers=accepted_headers(headers))
    if response.status_code == 204:
        assert response.content == b""
        return None
    assert response.status_code == 200, response.text
    job: JobJSON = response.json()
    return job


def report(
    http: httpx.Client,
    job_id: str,
    status: str,
    result: Any = None,
    *,
    lease: str | None = None,
    **headers: str | float,
) -> httpx.Response:
    """PUT /jobs/<id> (no assertion: callers check the status they expect)."""
    all_headers = accepted_headers(headers)
    if lease is not None:
        all_headers["X-Accepted-Lease"] = lease
    return http.put(f"/jobs/{job_id}", json={"status": status, "result": result},
                    headers=all_headers)


def get(http: httpx.Client, job_id: str) -> JobJSON:
    response = http.get(f"/jobs/{job_id}")
    assert response.status_code == 200, response.text
    job: JobJSON = response.json()
    return job


def accepted_headers(short: dict[str, str | float]) -> dict[str, str]:
    """{"block_for": 1} -> {"X-Accepted-Block-For": "1"}."""
    return {
        "X-Accepted-" + "-".join(p.capitalize() for p in k.split("_")).replace("Ttl", "TTL")
        .replace("Url", "URL"): str(v)
        for k, v in short.items()
    }


def assert_error(response: httpx.Response, status: int, *words: str) -> dict[str, str]:
    """The SPEC's error shape, with a message naming each of `words` (any case)."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, str] = body["error"]
    assert isinstance(error["code"], str) and error["code"], body
    assert isinstance(error["message"], str) and error["message"], body
    for word in words:
        assert word.lower() in error["message"].lower(), (word, error["message"])
    return error


def timestamp(value: str) -> float:
    """An ISO 8601 UTC timestamp from a job, as epoch seconds (and checked to be UTC)."""
    parsed = datetime.fromisoformat(value)
    offset = parsed.utcoffset()
    assert offset is not None and offset.total_seconds() == 0, value
    return parsed.timestamp()


def until(check: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll `check` until it returns something truthy.

    Only for state the server has no way to announce to a client (a row purged
    by its TTL, a status a sweep changed): everything that can be awaited on a
    long-poll is awaited on one instead.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def settle() -> None:
    """Give a long-poll just started in the background time to reach the server.

    No server event tells a client that another client's long-poll is
    registered. Every assertion that follows holds whichever comes first,
    except the FIFO order among takers, which is what this is for.
    """
    time.sleep(0.3)


@dataclass
class Timed:
    response: httpx.Response
    done_at: float  # time.monotonic() when the answer arrived


class Background:
    """Run blocking requests (long-polls) on threads, each with its own client."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._pool = ThreadPoolExecutor(max_workers=64)

    def request(self, method: str, path: str, **kwargs: Any) -> Future[Timed]:
        def call() -> Timed:
            with httpx.Client(base_url=self.base_url, timeout=60.0, verify=NO_TLS) as client:
                response = client.request(method, path, **kwargs)
            return Timed(response, time.monotonic())

        return self._pool.submit(call)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


@contextmanager
def background(base_url: str) -> Iterator[Background]:
    runner = Background(base_url)
    try:
        yield runner
    finally:
        runner.close()


@asynccontextmanager
async def in_process(
    db: str, clock: Callable[[], float] | None = None, *, start: bool = True
) -> AsyncIterator[tuple[App, httpx.AsyncClient]]:
    """The real app on a real SQLite file, called in-process (no socket).

    Only for answers a server process never lets a client see on demand: the
    /healthz 503 before startup, a report that beats the job-timeout sweep (with
    `clock` held still), the 500 of an unexpected error.
    """
    app = create_app(Settings(db=db), clock=clock)
    if start:
        await app.startup()
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            yield app, client
    finally:
        if start:
            await app.shutdown()


def note_latency(name: str, seconds: float) -> None:
    """Append a measured wake-up latency to $ACCEPTED_TEST_LATENCY_LOG, if set."""
    path = os.environ.get("ACCEPTED_TEST_LATENCY_LOG")
    if path:
        with open(path, "a") as log:
            log.write(json.dumps({"name": name, "ms": round(seconds * 1000, 2)}) + "\n")


# -- a callback receiver -------------------------------------------------------


@dataclass
class Delivery:
    at: float  # time.time(), to compare with the server's timestamps
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes = b""  # the body as sent, for checking its signature


@dataclass
class CallbackReceiver:
    """A tiny HTTP server on a free loopback port that records the POSTs it gets.

    `answers` scripts its replies (first request gets answers[0], ...; 200 once
    they run out). While `hold` is set it keeps each request waiting until
    `release` is set, to show the server answers its clients meanwhile.
    """

    answers: list[int] = field(default_factory=list)
    hold: bool = False
    redirect_to: str | None = None  # the Location sent with a 3xx answer
    tls: ssl.SSLContext | None = None  # serve https with this server context
    deliveries: list[Delivery] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    holding: threading.Event = field(default_factory=threading.Event)
    _arrived: threading.Condition = field(default_factory=threading.Condition)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}/hook"

    def start(self) -> CallbackReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length)
                if receiver.hold:
                    receiver.holding.set()
                    receiver.release.wait(30)
                status = receiver._record(self.path, dict(self.headers.items()), raw)
                self.send_response(status)
                if 300 <= status < 400 and receiver.redirect_to is not None:
                    self.send_header("location", receiver.redirect_to)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def _record(self, path: str, headers: dict[str, str], raw: bytes) -> int:
        with self._arrived:
            headers = {k.lower(): v for k, v in headers.items()}
            self.deliveries.append(Delivery(time.time(), path, headers, json.loads(raw), raw))
            status = self.answers.pop(0) if self.answers else 200
            self._arrived.notify_all()
        return status

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        """The first `count` deliveries, once they have arrived."""
        with self._arrived:
            ok = self._arrived.wait_for(lambda: len(self.deliveries) >= count, timeout)
            assert ok, f"{len(self.deliveries)} of {count} callbacks within {timeout} s"
            return list(self.deliveries[:count])

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
