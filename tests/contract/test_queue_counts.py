"""The kept counts (GET /queues, the metrics gauges) against a fresh count of the jobs,
after every kind of write that adds, moves or removes a job.

SQLite keeps the counts with triggers on the job table, PostgreSQL with deltas
that each writing statement appends. Either way a writer that counts wrong is
wrong only on its own path, so each step below is one such path (enqueue in
its forms, claims, reports, retry, cancel, delete, sweeps, schedules), and the
counts are compared with the jobs as listed right after it.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import msgspec
import pytest

from accepted.errors import UniqueKeyHeld
from accepted.queries import JobFilter, QueueLimits
from accepted.schedules import Schedule
from accepted.service import rules
from accepted.store import JobStore
from accepted.store.base import ClaimRequest, Decide, IdempotencyKey
from accepted.types import Due, Job, JobStatus
from tests.contract.builders import NOW, make_job, replace
from tests.contract.test_flow import Recorder

RESULT = msgspec.Raw(b'"r"')


async def assert_exact(store: JobStore, step: str) -> None:
    """The kept counts equal a count of the jobs as they are listed now."""
    await store.fold_counts()
    kept = {
        (state.name, status): n
        for state in await store.queue_states()
        for status, n in state.counts.items()
        if n
    }
    page = await store.list_jobs(JobFilter(everything=True), 10_000)
    fresh = Counter((job.queue, job.status) for job in page.jobs)
    assert kept == dict(fresh), step


def done(job: Job) -> Job:
    return rules.complete(job, JobStatus.DONE, RESULT, job.lease, NOW + 1)


def failed(job: Job) -> Job:
    return rules.complete(job, JobStatus.FAILED, RESULT, job.lease, NOW + 1, retry=False)


def later(job: Job) -> Job:
    return rules.retry_later(job, RESULT, NOW + 1, 5.0)


def cancel(job: Job) -> Job:
    return rules.cancel(job, NOW + 1)


def refuse(job: Job) -> Job:
    raise UniqueKeyHeld("refused by the test")


async def _claim(store: JobStore, queue: str, count: int) -> list[Job]:
    leases = [f"lease-{queue}-{i}" for i in range(count)]
    return await store.claim_jobs([queue], count, NOW, leases, NOW + 30)


async def test_counts_stay_exact_on_every_path_that_writes_a_job(store: JobStore) -> None:
    store.attach_dependencies(Recorder())
    # -- enqueue: a batch (several statuses and queues), one job, fair groups,
    # an idempotency key, a unique key, dependencies, a refused duplicate
    batch = [make_job("a") for _ in range(70)] + [
        make_job("a", JobStatus.DELAYED, due_at=NOW + 5),
        make_job("b", JobStatus.RUNNING),
        make_job("b", JobStatus.DONE),
    ]
    await store.insert_jobs(batch)
    await assert_exact(store, "batch insert")
    await store.insert_jobs([make_job("b")])
    await assert_exact(store, "single insert")
    await store.insert_jobs([make_job("fair", fair_group=g) for g in ("x", "y", "x")])
    await assert_exact(store, "fair-group insert")
    key = IdempotencyKey("", "k", "fp", NOW + 100)
    await store.insert_jobs_once([make_job("b"), make_job("b")], [key, None], NOW)
    await store.insert_jobs_once([make_job("b")], [key], NOW)  # a replay inserts nothing
    await assert_exact(store, "insert with an idempotency key")
    (holder,) = [
        p.job
        for p in await store.insert_jobs_checked([make_job("u", unique_key="one")], [None], NOW)
    ]
    await store.insert_jobs_checked([make_job("u", unique_key="one")], [None], NOW)
    (first,) = [p.job for p in await store.insert_jobs_checked([make_job("d")], [None], NOW)]
    (waiting,) = [
        p.job
        for p in await store.insert_jobs_checked([make_job("d", after=(first.id,))], [None], NOW)
    ]
    (chained,) = [
        p.job
        for p in await store.insert_jobs_checked([make_job("d", after=(waiting.id,))], [None], NOW)
    ]
    await assert_exact(store, "unique keys and dependencies")

    # -- claim: plain, limited, fair groups
    plain = await _claim(store, "a", 40)
    await assert_exact(store, "plain claim")
    await store.set_limits("fair", QueueLimits(group_concurrency=1), NOW)
    limited, _ = await store.claim_limited(["fair"], 3, NOW, ["f1", "f2", "f3"], NOW + 30)
    assert len(limited) == 2  # one per group
    await assert_exact(store, "limited claim of fair groups")

    # -- update: one job, a batch (done, failed, retried later, cancelled, a
    # refusal), report-and-take of one and of many
    await store.update_job(plain[0].id, done)
    await assert_exact(store, "single update")
    queued = [
        job.id
        for job in (
            await store.list_jobs(JobFilter(queues=("a",), statuses=(JobStatus.QUEUED,)), 100)
        ).jobs
    ]
    changes: list[tuple[str, Decide]] = [
        (plain[1].id, done),
        (plain[2].id, failed),
        (plain[3].id, later),
        (queued[0], cancel),
        (plain[4].id, refuse),
        *((job.id, done) for job in plain[5:20]),
    ]
    await store.update_jobs(changes)
    await assert_exact(store, "batch update")
    claim = ClaimRequest(["a"], 5, NOW, [f"t{i}" for i in range(5)], NOW + 30)
    _, taken, _ = await store.update_and_claim([(plain[20].id, done)], claim)
    assert len(taken) == 5
    await store.update_and_claim([(job.id, done) for job in plain[21:30]], claim)
    await assert_exact(store, "report and take")
    limited_claim = dataclasses.replace(claim, queues=["fair"], limited=True)
    await store.update_and_claim([(limited[0].id, done)], limited_claim)
    await assert_exact(store, "report and take, limited")

    # -- retry, cancel, dependencies settled (released, and a chain cancelled)
    await store.update_job(plain[2].id, lambda job: rules.retry(job, NOW + 2))
    await store.update_job(queued[2], cancel)
    await assert_exact(store, "retry and cancel")
    await store.update_job(
        first.id,
        lambda job: rules.complete(
            replace(job, status=JobStatus.RUNNING, lease="l"), JobStatus.DONE, RESULT, "l", NOW
        ),
    )
    await assert_exact(store, "a dependency done releases its waiting job")
    await store.update_job(waiting.id, cancel)
    await assert_exact(store, "a cancelled dependency cancels its chain")
    assert (await store.get_job(chained.id)).status is JobStatus.CANCELLED  # type: ignore[union-attr]
    await store.update_job(holder.id, cancel)
    await assert_exact(store, "a unique key's holder cancelled")

    # -- delete, one and in bulk
    await store.delete_job(queued[3])
    await store.delete_job(plain[1].id)
    await store.delete_jobs([queued[4], queued[5], plain[2].id, "no-such-job"])
    await assert_exact(store, "deletes")

    # -- sweeps: delays come due, leases and deadlines lapse, results expire
    await store.sweep(Due.DELAYED, NOW + 60, lambda job: rules.promote(job, NOW + 60), 100)
    await assert_exact(store, "delayed promoted")
    await store.sweep(Due.LEASE, NOW + 60, lambda job: rules.expire_lease(job, NOW + 60), 100)
    await assert_exact(store, "leases expired")
    await store.insert_jobs([make_job("t", timeout=5.0, deadline_at=NOW + 5) for _ in range(3)])
    await store.sweep(Due.DEADLINE, NOW + 10, lambda job: rules.time_out(job, NOW + 10), 100)
    await assert_exact(store, "timed out")
    await store.insert_jobs([make_job("e", JobStatus.DONE, expires_at=NOW - 1) for _ in range(4)])
    assert len(await store.purge_expired(NOW, 100)) == 4
    await assert_exact(store, "TTL purge")

    # -- schedules: a fire and a manual run
    read = await store.put_schedule(
        "s",
        lambda current: Schedule(
            name="s",
            queue="sched",
            every=60.0,
            created_at=NOW,
            updated_at=NOW,
            next_run_at=NOW + 60,
            revision=1,
        ),
    )
    fire = make_job("sched", schedule="s")
    fired = replace(read, next_run_at=NOW + 120, last_run_at=NOW + 60, last_job_id=fire.id)
    assert await store.fire_schedule(read, fired, fire)
    await store.record_run("s", make_job("sched", schedule="s"))
    await assert_exact(store, "schedules")


async def test_a_refused_write_counts_nothing(store: JobStore) -> None:
    store.attach_dependencies(Recorder())
    await store.insert_jobs_checked([make_job("u", unique_key="k")], [None], NOW)
    (other,) = await store.insert_jobs([make_job("u")])
    with pytest.raises(UniqueKeyHeld):
        await store.update_job(other.id, lambda job: replace(job, unique_key="k"))
    await store.update_jobs(
        [(other.id, lambda job: replace(job, status=JobStatus.CANCELLED, unique_key="k"))]
    )
    await assert_exact(store, "a unique key refused")
