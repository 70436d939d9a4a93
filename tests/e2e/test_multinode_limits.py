"""Per-queue limits across nodes on one PostgreSQL database: a concurrency limit set on
one node holds for takers on two nodes claiming at once, and for takers already blocked
on both when the limit is set (the direct hand-off of a node that has not heard of it
yet), and a completion on one node wakes a taker blocked on the other (nodes deaf to
re-checks, so only the notice can)."""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor

import asyncpg
import httpx
import pytest

from tests.e2e.test_multinode import DEAF_TO_RECHECKS, StartNodes, client, pg_target, start_nodes
from tests.http.helpers import PROMPT, Background, Timed, enqueue, report, take, until
from tests.support.databases import run_sync, skip_without_postgres

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
            until(lambda: takers_waiting(on_b) == 1)  # blocked on b, before the completion
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


def takers_waiting(http: httpx.Client) -> int:
    """The node's blocked takers, as its /metrics shows them."""
    for line in http.get("/metrics").text.splitlines():
        if line.startswith("accepted_takers_waiting "):
            return int(float(line.split()[1]))
    raise AssertionError("no accepted_takers_waiting gauge on /metrics")


def test_a_limit_set_while_takers_are_blocked_on_both_nodes_holds(
    start_nodes: StartNodes, pg_target: str
) -> None:
    """A node that has not heard of a new limit still hands out no more than it allows.

    Its notice usually outruns the next enqueue, so the limit is written
    straight into the table here: no node hears of it, and only the inserting
    transaction's read of the settings stands between a blocked taker and the
    direct hand-off."""
    a, b = start_nodes(2, **DEAF_TO_RECHECKS)
    runners = [Background(a.url), Background(b.url)]
    try:
        with client(a) as on_a, client(b) as on_b:
            waiting: list[Future[Timed]] = [
                runner.request(
                    "POST",
                    "/want_job",
                    params={"queue": "late"},
                    headers={"X-Accepted-Block-For": "3"},
                )
                for runner in runners
                for _ in range(3)
            ]
            until(lambda: takers_waiting(on_a) == 3 and takers_waiting(on_b) == 3)
            run_sync(_limit_silently(pg_target, "late", 1))
            for node in (on_b, on_a) * 3:
                enqueue(node, "late")
            codes = [w.result(timeout=30).response.status_code for w in waiting]
            running = on_a.get("/queues/late").json()["counts"].get("running", 0)
            assert running == 1 and codes.count(200) == 1
    finally:
        for runner in runners:
            runner.close()


async def _limit_silently(url: str, queue: str, concurrency: int) -> None:
    """Set `queue`'s concurrency limit as a PUT would, but with no notice to any node."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO accepted_queues (name, paused, updated_at, concurrency) "
            "VALUES ($1, false, extract(epoch FROM clock_timestamp()), $2)",
            queue,
            concurrency,
        )
    finally:
        await conn.close()
