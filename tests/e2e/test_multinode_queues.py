"""Pause and resume across nodes on one PostgreSQL database: every node honours a
pause made on another, and a resume on one node wakes takers blocked on another."""

from __future__ import annotations

import time

import pytest

from tests.e2e.test_multinode import StartNodes, client, pg_target, start_nodes
from tests.http.helpers import PROMPT, Background, enqueue, get, note_latency, settle, take
from tests.support.databases import skip_without_postgres

skip_without_postgres()
pytestmark = pytest.mark.postgres
__all__ = ["pg_target", "start_nodes"]  # fixtures used here


@pytest.mark.documents("queue-pause-200", "queue-resume-200", "decision-pause-nodes")
def test_a_pause_on_one_node_holds_on_another_and_its_resume_wakes_the_taker(
    start_nodes: StartNodes,
) -> None:
    a, b = start_nodes(2)
    runner = Background(b.url)
    try:
        with client(a) as on_a, client(b) as on_b:
            assert on_a.post("/queues/held/pause").status_code == 200
            assert on_b.get("/queues/held").json()["paused"] is True
            waiting = runner.request("POST", "/want_job", params={"queue": "held"},
                                     headers={"X-Accepted-Block-For": "30"})
            settle()
            first = enqueue(on_a, "held")
            second = enqueue(on_b, "held")  # no hand-off to the taker blocked here
            assert second["status"] == "queued"
            assert take(on_b, "held") is None and take(on_a, "held") is None
            assert not waiting.done()
            resumed_at = time.monotonic()
            assert on_a.post("/queues/held/resume").status_code == 200
            answer = waiting.result(timeout=30)
            assert answer.response.status_code == 200
            assert answer.response.json()["id"] == first["id"]
            note_latency("cross-node want_job wake-up after resume", answer.done_at - resumed_at)
            assert answer.done_at - resumed_at < PROMPT
            assert get(on_a, second["id"])["status"] == "queued"
    finally:
        runner.close()
