"""Fairness groups in the store: grouped jobs are ranked so hand-outs rotate between groups."""

from __future__ import annotations

import time

from accepted.store import JobStore
from accepted.types import Job
from tests.contract.builders import NOW, make_job


def grouped(queue: str, group: str | None, n: int, at: float = NOW, priority: int = 1) -> list[Job]:
    return [
        make_job(queue, priority=priority, fair_group=group, created_at=at, due_at=at)
        for _ in range(n)
    ]


async def take(store: JobStore, n: int, queues: list[str] | None = None) -> list[Job]:
    taken: list[Job] = []
    while len(taken) < n and (got := await store.claim_jobs(queues, 1, NOW + 1, ["t"], NOW + 30)):
        taken += got
    return taken


async def test_a_small_group_is_not_held_back_by_a_big_backlog(store: JobStore) -> None:
    """100,000 jobs of A, then 10 of B: all of B within the first 20 hand-outs."""
    started = time.monotonic()
    for _ in range(100):
        await store.insert_jobs(grouped("q", "A", 1000))
    inserted = time.monotonic() - started
    await store.insert_jobs(grouped("q", "B", 10, at=NOW + 5))
    first = await take(store, 20, ["q"])
    assert sum(1 for j in first if j.fair_group == "B") == 10
    # The job JSON's group is the job's own.
    assert {j.fair_group for j in first} == {"A", "B"}
    assert inserted < 120  # generous: a seconds-long test, not a benchmark


async def test_groups_alternate_and_keep_their_own_order(store: JobStore) -> None:
    a = grouped("q", "A", 4)
    b = grouped("q", "B", 2, at=NOW + 1)
    await store.insert_jobs(a)
    await store.insert_jobs(b)
    order = [j.id for j in await take(store, 6)]
    assert order == [a[0].id, b[0].id, a[1].id, b[1].id, a[2].id, a[3].id]


async def test_a_new_group_starts_at_the_current_round(store: JobStore) -> None:
    """A group arriving late does not jump ahead of groups that have waited."""
    await store.insert_jobs(grouped("q", "A", 10))
    await store.insert_jobs(grouped("q", "B", 10))
    await take(store, 10)  # five rounds of A and B
    await store.insert_jobs(grouped("q", "C", 10, at=NOW + 2))
    following = [j.fair_group for j in await take(store, 9)]
    assert sorted(following) == ["A", "A", "A", "B", "B", "B", "C", "C", "C"]


async def test_an_idle_group_does_not_bank_turns(store: JobStore) -> None:
    await store.insert_jobs(grouped("q", "B", 1))
    await take(store, 1)  # B's only job
    await store.insert_jobs(grouped("q", "A", 10, at=NOW + 1))
    await take(store, 5)
    await store.insert_jobs(grouped("q", "B", 5, at=NOW + 2))
    following = [j.fair_group for j in await take(store, 4)]
    assert following.count("B") == 2


async def test_priority_still_comes_first(store: JobStore) -> None:
    await store.insert_jobs(grouped("q", "A", 3, priority=1))
    urgent = grouped("q", "B", 1, priority=0, at=NOW + 3)
    await store.insert_jobs(urgent)
    assert (await take(store, 1))[0].id == urgent[0].id


async def test_jobs_without_a_group_keep_due_order(store: JobStore) -> None:
    plain = [make_job("q", due_at=NOW + i) for i in range(3)]
    await store.insert_jobs(list(reversed(plain)))
    assert [j.id for j in await take(store, 3)] == [j.id for j in plain]
    assert all(j.fair_group is None and j.fair_rank is None for j in plain)


async def test_oldest_queued_age_sees_grouped_jobs(store: JobStore) -> None:
    await store.insert_jobs(grouped("q", "A", 3, at=NOW - 50))
    await store.insert_jobs(grouped("q", "B", 1, at=NOW))
    [state] = await store.queue_states(["q"])
    assert state.oldest_due_at == NOW - 50


async def test_jobs_enqueued_one_at_a_time_rotate_too(store: JobStore) -> None:
    """A single grouped job has a path of its own (one statement on PostgreSQL)."""
    for job in grouped("q", "A", 4):
        await store.insert_jobs([job])
    b = grouped("q", "B", 2, at=NOW + 1)
    for job in b:
        await store.insert_jobs([job])
    order = [j.fair_group for j in await take(store, 6)]
    assert order == ["A", "B", "A", "B", "A", "A"]
    stored = await store.get_job(b[0].id)
    assert stored is not None and stored.fair_group == "B" and stored.fair_rank is not None


async def test_groups_whose_place_no_longer_matters_are_forgotten(store: JobStore) -> None:
    """A purge changes no rank: it drops only rows at or behind the queue's head."""
    await store.insert_jobs(grouped("q", "A", 3))
    await store.insert_jobs(grouped("q", "B", 1))
    await take(store, 2)  # A's first and B's only job: B is behind the head, A is not
    assert await store.purge_fair_groups(NOW + 1, 100) == 1  # B
    await store.insert_jobs(grouped("q", "C", 1, at=NOW + 1))
    order = [j.fair_group for j in await take(store, 3)]
    assert order == ["A", "C", "A"]  # C joined at the head, as it would have
    assert await store.purge_fair_groups(NOW + 2, 100) == 2  # nothing queued: A and C
    assert await store.purge_fair_groups(NOW + 2, 100) == 0
