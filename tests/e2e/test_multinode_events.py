"""Live events across nodes: a change made on one PostgreSQL node streams from another.

Both nodes re-check the database only once a minute, so what arrives here
arrived by NOTIFY: with it broken, these tests time out.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.http.helpers import NO_TLS, enqueue, report, take, unique_queue
from tests.http.sse import SseStream
from tests.support.databases import database, skip_without_postgres
from tests.support.servers import ServerProcess

skip_without_postgres()
pytestmark = pytest.mark.postgres

DEAF_TO_RECHECKS = {"ACCEPTED_SHARED_RECHECK": "60"}


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with database("postgres", tmp_path) as target:
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
