"""claim_jobs: the best queued jobs, each to exactly one caller."""

from __future__ import annotations

import asyncio
import random

import pytest

from accepted.errors import StoreUnavailable
from accepted.queries import QueueLimits
from accepted.store import JobStore
from accepted.types import Job, JobStatus
from tests.contract.builders import NOW, make_job
from tests.contract.conftest import OpenStore


async def claim_all(store: JobStore, queues: list[str] | None = None) -> list[Job]:
    """Claim one at a time until nothing is left, in hand-out order."""
    taken: list[Job] = []
    while claimed := await store.claim_jobs(queues, 1, NOW, ["t"], NOW + 30):
        taken.extend(claimed)
    return taken


async def test_a_claimed_job_is_running_under_its_lease(store: JobStore) -> None:
    job = make_job()
    await store.insert_jobs([job])
    [claimed] = await store.claim_jobs(None, 1, NOW + 5, ["tok-1"], NOW + 35)
    assert claimed.id == job.id
    assert claimed.status is JobStatus.RUNNING
    assert claimed.attempts == job.attempts + 1
    assert claimed.lease == "tok-1"
    assert claimed.lease_expires_at == NOW + 35
    assert claimed.updated_at == NOW + 5
    assert claimed.params == job.params and claimed.due_at == job.due_at
    assert await store.get_job(job.id) == claimed


async def test_order_is_priority_then_due_time_then_insertion(store: JobStore) -> None:
    # Expected hand-out order; inserted shuffled, and ties inserted one by one.
    expected = [
        make_job(priority=0, due_at=NOW - 10),
        make_job(priority=0, due_at=NOW - 1),
        make_job(priority=1, due_at=NOW - 50),
        make_job(priority=1, due_at=NOW - 5),
        make_job(priority=2, due_at=NOW - 99),
        make_job(priority=3, due_at=NOW - 999),
    ]
    ties = [make_job(priority=1, due_at=NOW - 2) for _ in range(4)]
    shuffled = expected[:]
    random.Random(7).shuffle(shuffled)
    await store.insert_jobs(shuffled)
    for tie in ties:
        await store.insert_jobs([tie])
    want = [*expected[:3], *ties, *expected[3:]]
    want.sort(key=lambda j: (j.priority, j.due_at))  # stable: ties stay in insertion order
    assert [j.id for j in await claim_all(store)] == [j.id for j in want]


async def test_ties_in_one_batch_go_in_batch_order(store: JobStore) -> None:
    batch = [make_job() for _ in range(10)]
    await store.insert_jobs(batch)
    assert [j.id for j in await claim_all(store)] == [j.id for j in batch]


async def test_a_batch_claim_hands_out_the_best_first_with_leases_in_order(
    store: JobStore,
) -> None:
    low, high, mid = make_job(priority=2), make_job(priority=0), make_job(priority=1)
    await store.insert_jobs([low, high, mid])
    claimed = await store.claim_jobs(None, 3, NOW, ["a", "b", "c"], NOW + 30)
    assert [(j.id, j.lease) for j in claimed] == [(high.id, "a"), (mid.id, "b"), (low.id, "c")]


async def test_count_limits_the_claim(store: JobStore) -> None:
    await store.insert_jobs([make_job() for _ in range(5)])
    assert len(await store.claim_jobs(None, 2, NOW, ["a", "b"], NOW + 30)) == 2
    # Fewer lease tokens than count: one job per token.
    assert len(await store.claim_jobs(None, 3, NOW, ["c"], NOW + 30)) == 1
    assert len(await store.claim_jobs(None, 10, NOW, ["t"] * 10, NOW + 30)) == 2
    assert await store.claim_jobs(None, 1, NOW, ["t"], NOW + 30) == []


async def test_only_queued_jobs_are_claimed(store: JobStore) -> None:
    others = [make_job(status=status) for status in JobStatus if status is not JobStatus.QUEUED]
    queued = make_job(priority=3)
    await store.insert_jobs([*others, queued])
    assert [j.id for j in await claim_all(store)] == [queued.id]


async def test_jobs_past_their_deadline_are_skipped(store: JobStore) -> None:
    late = make_job(priority=0, deadline_at=NOW - 1)
    at_deadline = make_job(priority=0, deadline_at=NOW)
    in_time = make_job(priority=2, deadline_at=NOW + 0.001)
    no_deadline = make_job(priority=3)
    await store.insert_jobs([late, at_deadline, in_time, no_deadline])
    assert [j.id for j in await claim_all(store)] == [in_time.id, no_deadline.id]
    assert (await store.get_job(late.id)) == late


async def test_queues_filter_the_claim(store: JobStore) -> None:
    a, b, c = make_job("a", priority=2), make_job("b", priority=1), make_job("c", priority=0)
    await store.insert_jobs([a, b, c])
    assert await store.claim_jobs([], 1, NOW, ["t"], NOW + 30) == []
    assert [j.id for j in await claim_all(store, ["a"])] == [a.id]
    await store.insert_jobs([a2 := make_job("a", priority=0)])
    assert [j.id for j in await claim_all(store, ["a", "b"])] == [a2.id, b.id]
    assert [j.id for j in await claim_all(store, None)] == [c.id]


async def test_concurrent_claims_never_share_a_job(store: JobStore) -> None:
    jobs = [make_job(priority=i % 4) for i in range(40)]
    await store.insert_jobs(jobs)
    claims = await asyncio.gather(
        *(store.claim_jobs(None, 1 + i % 3, NOW, [f"t{i}"] * 3, NOW + 30) for i in range(60))
    )
    ids = [job.id for claimed in claims for job in claimed]
    assert len(ids) == len(set(ids)) == len(jobs)
    for job in jobs:
        stored = await store.get_job(job.id)
        assert stored is not None and stored.attempts == 1


async def test_concurrent_claims_from_several_nodes_never_share_a_job(
    store: JobStore, open_new_store: OpenStore, is_shared: bool
) -> None:
    if not is_shared:
        # SQLite: a second server on the same file is refused, so no two nodes share one.
        with pytest.raises(StoreUnavailable, match="in use by another accepted server"):
            await open_new_store()
        return
    nodes = [store, await open_new_store(), await open_new_store()]
    jobs = [make_job(queue=f"q{i % 2}") for i in range(60)]
    await store.insert_jobs(jobs)
    claims = await asyncio.gather(
        *(
            nodes[i % 3].claim_jobs(None if i % 2 else ["q0", "q1"], 2, NOW, ["x", "y"], NOW + 30)
            for i in range(60)
        )
    )
    ids = [job.id for claimed in claims for job in claimed]
    assert len(ids) == len(set(ids)) == len(jobs)


@pytest.mark.parametrize("limited", [False, True], ids=["plain", "limited"])
async def test_a_claim_never_dates_the_change_before_the_jobs_last_one(
    store: JobStore, limited: bool
) -> None:
    """A take's clock was read before the enqueue's, its claim ran after the insert:
    the job is running from its creation on, never from before it (a change
    dated earlier than the last one is left out of live events, so a stream would
    never see `running`)."""
    job = make_job(created_at=NOW + 0.5, updated_at=NOW + 0.5, due_at=NOW + 0.5)
    await store.insert_jobs([job])
    if limited:
        await store.set_limits("q", QueueLimits(concurrency=10), NOW)
        [claimed], _ = await store.claim_limited(["q"], 1, NOW, ["t"], NOW + 30)
    else:
        [claimed] = await store.claim_jobs(["q"], 1, NOW, ["t"], NOW + 30)
    assert claimed.status is JobStatus.RUNNING
    assert claimed.updated_at == claimed.started_at == NOW + 0.5
    assert await store.get_job(job.id) == claimed
