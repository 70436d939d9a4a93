"""Per-queue limits in the store: settings, and the limited claim that honours them."""

from __future__ import annotations

import asyncio

import pytest

from accepted.queries import NO_LIMITS, QueueLimits, Rate
from accepted.store import JobStore
from accepted.types import Job, JobStatus
from tests.contract.builders import NOW, make_job, replace
from tests.contract.conftest import OpenStore


async def claim(store: JobStore, queues: list[str] | None, count: int = 1, now: float = NOW):  # type: ignore[no-untyped-def]
    leases = [f"t{i}" for i in range(count)]
    return await store.claim_limited(queues, count, now, leases, now + 30)


async def finish(store: JobStore, job: Job) -> None:
    await store.update_job(job.id, lambda j: replace(j, status=JobStatus.DONE, lease=None))


async def test_limits_are_a_setting_shown_with_the_queue(store: JobStore) -> None:
    limits = QueueLimits(Rate(5, 2.5), concurrency=3, group_concurrency=1)
    state = await store.set_limits("mail", limits, NOW)
    assert state is not None and state.limits == limits and state.counts == {}
    assert [s.limits for s in await store.queue_states(["mail"])] == [limits]
    assert await store.limited_queues() == {"mail": limits}


async def test_clearing_the_limits_of_an_empty_queue_removes_it(store: JobStore) -> None:
    await store.set_limits("mail", QueueLimits(concurrency=1), NOW)
    cleared = await store.set_limits("mail", NO_LIMITS, NOW)
    assert cleared is not None and cleared.limits == NO_LIMITS
    assert await store.queue_states(["mail"]) == []
    assert await store.set_limits("never", NO_LIMITS, NOW) is None
    assert await store.limited_queues() == {}


async def test_the_plain_claim_skips_limited_queues(store: JobStore) -> None:
    await store.set_limits("held", QueueLimits(concurrency=5), NOW)
    held, free = make_job("held", priority=0), make_job("free", priority=3)
    await store.insert_jobs([held, free])
    assert [j.id for j in await store.claim_jobs(None, 5, NOW, ["a", "b"], NOW + 30)] == [free.id]
    jobs, _ = await claim(store, None, 5)
    assert [j.id for j in jobs] == [held.id]
    assert jobs[0].status is JobStatus.RUNNING and jobs[0].lease == "t0"


async def test_concurrency_caps_running_jobs_until_one_finishes(store: JobStore) -> None:
    await store.set_limits("c", QueueLimits(concurrency=2), NOW)
    await store.insert_jobs([make_job("c") for _ in range(5)])
    first, _ = await claim(store, ["c"], 5)
    assert len(first) == 2
    assert (await claim(store, ["c"]))[0] == []
    await finish(store, first[0])
    again, _ = await claim(store, ["c"], 5)
    assert len(again) == 1


async def test_group_concurrency_caps_each_group(store: JobStore) -> None:
    await store.set_limits("g", QueueLimits(group_concurrency=1), NOW)
    await store.insert_jobs([make_job("g", fair_group="a", created_at=NOW) for _ in range(3)])
    await store.insert_jobs([make_job("g", fair_group="b", created_at=NOW) for _ in range(3)])
    await store.insert_jobs([make_job("g") for _ in range(2)])  # no group: not capped by it
    taken, _ = await claim(store, ["g"], 10)
    groups = sorted(str(j.fair_group) for j in taken)
    assert groups == ["None", "None", "a", "b"]
    assert (await claim(store, ["g"]))[0] == []
    await finish(store, next(j for j in taken if j.fair_group == "a"))
    [next_a], _ = await claim(store, ["g"], 10)
    assert next_a.fair_group == "a"


async def test_rate_hands_out_n_per_window_and_says_when_it_opens(store: JobStore) -> None:
    await store.set_limits("r", QueueLimits(Rate(2, 10.0)), NOW)
    await store.insert_jobs([make_job("r") for _ in range(5)])
    taken, opens = await claim(store, ["r"], 5, now=NOW)
    assert len(taken) == 2 and opens == NOW + 10
    one_more, opens = await claim(store, ["r"], 1, now=NOW + 9.9)
    assert one_more == [] and opens == NOW + 10
    later, _ = await claim(store, ["r"], 5, now=NOW + 10)
    assert len(later) == 2


async def test_rate_window_slides(store: JobStore) -> None:
    await store.set_limits("r", QueueLimits(Rate(2, 10.0)), NOW)
    await store.insert_jobs([make_job("r") for _ in range(5)])
    assert len((await claim(store, ["r"], 1, now=NOW))[0]) == 1
    assert len((await claim(store, ["r"], 1, now=NOW + 5))[0]) == 1
    # At NOW + 10 only the first hand-out left the window.
    taken, opens = await claim(store, ["r"], 5, now=NOW + 10)
    assert len(taken) == 1 and opens == NOW + 15


async def test_limited_and_plain_queues_share_one_order(store: JobStore) -> None:
    await store.set_limits("lim", QueueLimits(concurrency=1), NOW)
    a = make_job("free", priority=1)
    b = make_job("lim", priority=0)
    c = make_job("lim", priority=0)
    await store.insert_jobs([a, b, c])
    taken, _ = await claim(store, ["free", "lim"], 3)
    assert [j.id for j in taken] == [b.id, a.id]


async def test_a_paused_limited_queue_hands_out_nothing(store: JobStore) -> None:
    await store.set_limits("p", QueueLimits(concurrency=3), NOW)
    await store.set_paused("p", True, NOW)
    await store.insert_jobs([make_job("p")])
    assert (await claim(store, None, 3))[0] == []
    state = (await store.queue_states(["p"]))[0]
    assert state.paused and state.limits.concurrency == 3


async def test_concurrent_claims_on_several_nodes_never_exceed_it(
    store: JobStore, open_new_store: OpenStore, is_shared: bool
) -> None:
    """Many claims at once, over two stores where the database allows two nodes."""
    other = await open_new_store() if is_shared else store
    await store.set_limits("c", QueueLimits(concurrency=3), NOW)
    await store.insert_jobs([make_job("c") for _ in range(20)])
    results = await asyncio.gather(*(claim(s, ["c"], 2) for s in [store, other] * 10))
    assert sum(len(jobs) for jobs, _ in results) == 3
    await store.fold_counts()
    [state] = await store.queue_states(["c"])
    assert state.counts[JobStatus.RUNNING] == 3


async def test_takes_at_once_each_get_their_own_jobs_under_their_own_leases(
    store: JobStore,
) -> None:
    """Takes of one node may be combined into one claim: each still gets its share."""
    await store.set_limits("m", QueueLimits(concurrency=7), NOW)
    await store.insert_jobs([make_job("m") for _ in range(20)])

    async def take(i: int) -> list[Job]:
        leases = [f"take{i}-{n}" for n in range(2)]
        jobs, _ = await store.claim_limited(["m"], 2, NOW, leases, NOW + 30)
        assert all(job.lease in leases for job in jobs)
        return jobs

    results = await asyncio.gather(*(take(i) for i in range(10)))
    taken = [job.id for jobs in results for job in jobs]
    assert len(taken) == len(set(taken)) == 7


async def test_a_rate_holds_for_claims_at_once_on_several_nodes(
    store: JobStore, open_new_store: OpenStore, is_shared: bool
) -> None:
    other = await open_new_store() if is_shared else store
    await store.set_limits("r", QueueLimits(Rate(3, 60.0)), NOW)
    await store.insert_jobs([make_job("r") for _ in range(20)])
    results = await asyncio.gather(*(claim(s, ["r"], 2) for s in [store, other] * 10))
    assert sum(len(jobs) for jobs, _ in results) == 3
    assert {opens for jobs, opens in results if not jobs} == {NOW + 60}


def handed_out(job: Job, lease: str) -> Job:
    """`job` as an enqueue's direct hand-off inserts it: already running under `lease`."""
    return replace(
        job,
        status=JobStatus.RUNNING,
        attempts=job.attempts + 1,
        lease=lease,
        lease_expires_at=NOW + 30,
        started_at=NOW,
    )


@pytest.mark.parametrize("held", ["limited", "paused", "free"])
async def test_a_single_hand_off_lands_queued_in_a_limited_or_paused_queue(
    store: JobStore, held: str
) -> None:
    # One job alone takes a shorter path than a batch (one statement on PostgreSQL).
    if held == "limited":
        await store.set_limits(held, QueueLimits(concurrency=1), NOW)
    elif held == "paused":
        await store.set_paused(held, True, NOW)
    built = make_job(held)
    [stored] = await store.insert_jobs([handed_out(built, "l")], [built])
    expected = JobStatus.RUNNING if held == "free" else JobStatus.QUEUED
    assert stored.status is expected
    assert await store.get_job(built.id) == stored


async def test_a_hand_off_into_a_limited_or_paused_queue_lands_queued(store: JobStore) -> None:
    # The enqueuing process may not have heard of the limit yet: the insert decides.
    await store.set_limits("capped", QueueLimits(concurrency=1), NOW)
    await store.set_paused("held", True, NOW)
    built = [make_job("capped"), make_job("free"), make_job("held")]
    stored = await store.insert_jobs([handed_out(j, f"l{i}") for i, j in enumerate(built)], built)
    assert [j.status for j in stored] == [JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.QUEUED]
    capped, free, held = [await store.get_job(j.id) for j in built]
    assert held is not None and held.status is JobStatus.QUEUED
    assert capped is not None and capped.status is JobStatus.QUEUED and capped.lease is None
    assert capped.attempts == 0
    assert free is not None and free.status is JobStatus.RUNNING and free.lease == "l1"
    jobs, _ = await claim(store, ["capped"])
    assert [j.id for j in jobs] == [capped.id]
