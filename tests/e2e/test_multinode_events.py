"""Live events across nodes: a change made on one PostgreSQL node streams from another.

Both nodes re-check the database only once a minute, so what arrives here
arrived by NOTIFY: with it broken, these tests time out.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import asyncpg
import httpx
import pytest

from accepted.store.postgres_sql import CHANNEL
from tests.http.helpers import NO_TLS, enqueue, report, take, unique_queue
from tests.http.sse import SseStream
from tests.support.databases import database, skip_without_postgres
from tests.support.servers import ServerProcess

skip_without_postgres()
pytestmark = pytest.mark.postgres

DEAF_TO_RECHECKS = {"ACCEPTED_SHARED_RECHECK": "60"}


@pytest.fixture
def target(tmp_path: Path) -> Iterator[str]:
    with database("postgres", tmp_path) as db:
        yield db


@pytest.fixture
def nodes(target: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    pair = [
        ServerProcess(db=target, log_path=tmp_path / f"node{i}.log", env=DEAF_TO_RECHECKS)
        for i in range(2)
    ]
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(ServerProcess.start, pair))
        yield pair[0], pair[1]
    finally:
        for node in pair:
            if node.proc is not None and node.proc.poll() is None:
                node.stop()


class Notices:
    """What the nodes NOTIFY on their channel, heard by a session of the test's own."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.payloads: list[str] = []
        self._heard = threading.Condition()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._listen()))

    async def _listen(self) -> None:
        conn = await asyncpg.connect(self.target)
        try:
            await conn.add_listener(CHANNEL, lambda *args: self._add(args[-1]))
            self._ready.set()
            await asyncio.to_thread(self._stop.wait)
        finally:
            await conn.close()

    def _add(self, payload: str) -> None:
        with self._heard:
            self.payloads.append(payload)
            self._heard.notify_all()

    def __enter__(self) -> Notices:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def until(self, wanted: Callable[[str], bool], timeout: float = 10.0) -> list[str]:
        """Every payload so far, once one that `wanted` accepts has come."""
        with self._heard:
            assert self._heard.wait_for(lambda: any(map(wanted, self.payloads)), timeout)
            return list(self.payloads)


def test_changes_made_on_one_node_stream_from_the_other(
    nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    watcher, worker = nodes
    queue = unique_queue()
    with (
        httpx.Client(base_url=worker.url, verify=NO_TLS, timeout=30) as http,
        SseStream(watcher.url, f"/events?queue={quote(queue)}", timeout=10) as feed,
    ):
        job = enqueue(http, queue, {"n": 1})
        created = feed.next_event()
        assert created is not None and created.event == "queued" and created.job == job
        with SseStream(watcher.url, f"/jobs/{job['id']}/events", timeout=10) as one:
            first = one.next_event()
            assert first is not None and first.event == "queued"
            taken = take(http, queue)
            assert taken is not None
            running = one.next_event()
            assert running is not None and running.event == "running"
            assert report(http, job["id"], "done", 7, lease=taken["lease"]).status_code == 200
            done = one.next_event()
            assert done is not None and done.event == "done" and done.job["result"] == 7
            assert one.next() is None
        statuses = [feed.next_event() for _ in range(2)]
        assert [(e.event, e.job["id"]) for e in statuses if e is not None] == [
            ("running", job["id"]),
            ("done", job["id"]),
        ]


def test_a_job_deleted_on_another_node_ends_its_stream(
    nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    watcher, worker = nodes
    queue = unique_queue()
    with httpx.Client(base_url=worker.url, verify=NO_TLS, timeout=30) as http:
        job = enqueue(http, queue)
        with SseStream(watcher.url, f"/jobs/{job['id']}/events", timeout=10) as one:
            first = one.next_event()
            assert first is not None and first.event == "queued"
            assert http.delete(f"/jobs/{job['id']}").status_code == 200
            assert one.next() is None  # ended cleanly; the row to read is gone


def test_status_changes_are_not_sent_while_no_node_listens_and_are_once_one_does(
    nodes: tuple[ServerProcess, ServerProcess], target: str
) -> None:
    """A NOTIFY per status change costs every commit a round trip on the link;
    with no event subscriber on any node, none is sent (wake-ups still are).
    Once a node has a subscriber, the others send again, from its first moment."""
    watcher, worker = nodes
    queue, marker = unique_queue(), unique_queue()
    with (
        Notices(target) as heard,
        httpx.Client(base_url=worker.url, verify=NO_TLS, timeout=30) as http,
    ):
        quiet = enqueue(http, queue)
        # Notices of one node arrive in order: once the pause that followed is
        # heard, whatever the enqueue sent has been heard too.
        assert http.post(f"/queues/{marker}/pause").status_code == 200
        so_far = heard.until(lambda p: p.startswith("p ") and p.endswith(marker))
        assert any(p.startswith("q ") and p.endswith(" " + queue) for p in so_far)  # wake-up
        assert not [p for p in so_far if p.startswith("e ") and quiet["id"] in p]
        with SseStream(watcher.url, f"/events?queue={quote(queue)}", timeout=10) as feed:
            loud = enqueue(http, queue)
            created = feed.next_event()
            assert created is not None and created.job["id"] == loud["id"]
        heard.until(lambda p: p.startswith("e ") and loud["id"] in p)
