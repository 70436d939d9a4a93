"""Per-queue limits across nodes on one PostgreSQL database: a concurrency limit set on
one node holds for takers on two nodes claiming at once, and a completion on one node
wakes a taker blocked on the other (nodes deaf to re-checks, so only the notice can)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.test_multinode import DEAF_TO_RECHECKS, StartNodes, client, pg_target, start_nodes
from tests.http.helpers import PROMPT, Background, enqueue, report, settle, take
from tests.support.databases import skip_without_postgres

skip_without_postgres()
pytestmark = pytest.mark.postgres
__all__ = ["pg_target", "start_nodes"]  # fixtures used here

CONCURRENCY = 3


@pytest.mark.documents("queue-limits", "queue-limits-200")
def test_concurrency_holds_across_two_nodes_and_a_completion_wakes_the_other(
    start_nodes: StartNodes,
) -> None:
    a, b = start_nodes(2, **DEAF_TO_RECHECKS)
    with client(a) as on_a, client(b) as on_b:
        response = on_a.put("/queues/capped/limits", json={"concurrency": CONCURRENCY})
        assert response.status_code == 200
        assert on_b.get("/queues/capped").json()["limits"]["concurrency"] == CONCURRENCY
        for node in (on_a, on_b) * 10:
            enqueue(node, "capped")

        # 40 takes at once, half on each node: no more than the limit get a job.
        def grab(url: str) -> int:
            response = (
                Background(url)
                .request("POST", "/want_job", params={"queue": "capped"})
                .result(timeout=30)
                .response
            )
            return response.status_code

        with ThreadPoolExecutor(max_workers=20) as pool:
            codes = list(pool.map(grab, [a.url, b.url] * 20))
        assert codes.count(200) == CONCURRENCY and codes.count(204) == 40 - CONCURRENCY
        assert on_a.get("/queues/capped").json()["counts"]["running"] == CONCURRENCY

        runner = Background(b.url)
        try:
            waiting = runner.request(
                "POST",
                "/want_job",
                params={"queue": "capped"},
                headers={"X-Accepted-Block-For": "30"},
            )
            settle()
            assert not waiting.done()
            listed = on_a.get("/jobs", params={"queue": "capped", "status": "running"})
            running = listed.json()["jobs"]
            finished_at = time.monotonic()
            assert report(on_a, running[0]["id"], "done").status_code == 200
            answer = waiting.result(timeout=30)
            assert answer.response.status_code == 200, answer.response.text
            assert answer.done_at - finished_at < PROMPT
        finally:
            runner.close()
        assert take(on_a, "capped") is None and take(on_b, "capped") is None
        assert on_b.get("/queues/capped").json()["counts"]["running"] == CONCURRENCY
