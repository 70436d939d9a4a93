"""Unique keys and dependencies across nodes on one PostgreSQL database: a unique
key makes one job however many nodes enqueue it at once, and a dependency
finished on one node releases its dependent to a taker blocked on another."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.e2e.test_multinode import StartNodes, client, pg_target, start_nodes
from tests.http.helpers import PROMPT, Background, enqueue, get, note_latency, settle, take
from tests.support.databases import skip_without_postgres

skip_without_postgres()
pytestmark = pytest.mark.postgres
__all__ = ["pg_target", "start_nodes"]  # fixtures used here


@pytest.mark.documents("after-wait")
def test_a_dependency_done_on_one_node_releases_the_job_to_a_taker_on_another(
    start_nodes: StartNodes,
) -> None:
    # Deaf to re-checks: only the release's own notice can wake the taker in time.
    a, b = start_nodes(2, ACCEPTED_SHARED_RECHECK="60")
    runner = Background(b.url)
    try:
        with client(a) as on_a, client(b) as on_b:
            first = enqueue(on_a, "chain")
            response = on_b.post(
                "/jobs", json={"queue": "chain"}, headers={"X-Accepted-After": first["id"]}
            )
            assert response.status_code == 202
            waiting = response.json()
            assert waiting["status"] == "delayed"
            running = take(on_a, "chain")
            assert running is not None and running["id"] == first["id"]
            blocked = runner.request("POST", "/want_job", params={"queue": "chain"},
                                     headers={"X-Accepted-Block-For": "30"})
            settle()
            assert not blocked.done()
            reported_at = time.monotonic()
            put = on_a.put(f"/jobs/{first['id']}", json={"status": "done", "result": 1})
            assert put.status_code == 200
            answer = blocked.result(timeout=30)
            assert answer.response.status_code == 200
            assert answer.response.json()["id"] == waiting["id"]
            note_latency("cross-node release of a dependent", answer.done_at - reported_at)
            assert answer.done_at - reported_at < PROMPT
            assert get(on_a, waiting["id"])["status"] == "running"
    finally:
        runner.close()


@pytest.mark.documents("unique-race")
def test_one_unique_key_sent_to_three_nodes_at_once_makes_one_job(
    start_nodes: StartNodes,
) -> None:
    nodes = start_nodes(3)
    start = threading.Barrier(30)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def send(url: str) -> None:
        with httpx.Client(base_url=url, timeout=30.0) as own:
            start.wait()
            response = own.post(
                "/jobs", json={"queue": "once"}, headers={"X-Accepted-Unique-Key": "nightly"}
            )
            with lock:
                answers.append(response)

    threads = [threading.Thread(target=send, args=(nodes[i % 3].url,)) for i in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in answers) == [200] * 29 + [202]
    assert len({r.json()["id"] for r in answers}) == 1
    with client(nodes[0]) as on_a:
        assert len(on_a.get("/jobs", params={"queue": "once"}).json()["jobs"]) == 1
