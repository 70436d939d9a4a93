"""Schedules across nodes on one PostgreSQL database: three nodes, each with its own
firer waking at every fire time, make exactly one job per fire time, with no
gap, even when one node stops half-way."""

from __future__ import annotations

import itertools
import time

import pytest

from tests.e2e.test_multinode import StartNodes, clients, pg_target, start_nodes
from tests.http.helpers import take, timestamp
from tests.support.databases import skip_without_postgres

skip_without_postgres()
pytestmark = pytest.mark.postgres
__all__ = ["pg_target", "start_nodes"]  # fixtures used here

FIRES = 5  # fire times to see, one a second
BOUND = 30.0  # seconds to see them in before the test fails


def test_three_nodes_make_one_job_per_fire_time_and_skip_none(start_nodes: StartNodes) -> None:
    nodes = start_nodes(3)
    with clients(nodes) as (a, b, c):
        answer = a.put("/schedules/tick", json={"queue": "ticks", "every": 1})
        assert answer.status_code == 200, answer.text
        first_fire = timestamp(answer.json()["next_run_at"])
        taken: list[dict[str, object]] = []
        give_up = time.monotonic() + BOUND
        while len(taken) < FIRES and time.monotonic() < give_up:
            job = take((b, c)[len(taken) % 2], "ticks", block_for=5)  # awaits the next fire
            if job is not None:
                taken.append(job)
            if len(taken) == 2:
                nodes[0].stop()  # the node the schedule was made on goes away
        assert len(taken) >= FIRES, taken
        assert b.delete("/schedules/tick").status_code == 200
        listed = c.get("/jobs", params={"queue": "ticks", "limit": 500}).json()["jobs"]
    assert {job["schedule"] for job in listed} == {"tick"}
    fires = sorted(timestamp(str(job["due_at"])) for job in listed)
    assert len(fires) == len(set(fires)), "a fire time made two jobs"
    assert fires[0] == pytest.approx(first_fire, abs=1e-5)
    steps = [round(later - earlier, 3) for earlier, later in itertools.pairwise(fires)]
    assert steps == [1.0] * (len(fires) - 1), f"a fire time was skipped: {steps}"


def test_a_schedule_made_on_one_node_fires_on_another_after_it_stops(
    start_nodes: StartNodes,
) -> None:
    """The other node's firer slept with nothing due; the change notice woke it
    (its own safety-net look is a minute away, far past this test's bound)."""
    a, b = start_nodes(2)
    with clients([a, b]) as (on_a, on_b):
        answer = on_a.put("/schedules/handover", json={"queue": "handover", "every": 2})
        assert answer.status_code == 200, answer.text
        a.stop()
        job = take(on_b, "handover", block_for=10)
    assert job is not None, "the node left running never fired the schedule"
    assert (job["schedule"], job["due_at"]) == ("handover", answer.json()["next_run_at"])
