"""update_job and update_jobs: decide on the locked row; an error writes nothing."""

from __future__ import annotations

import asyncio

import pytest

from accepted.errors import Conflict, JobNotFound, LeaseMismatch
from accepted.store import JobStore
from accepted.types import Job, JobStatus
from tests.contract.builders import NOW, make_job, mark, new_id, replace


def refuse(job: Job) -> Job:
    raise Conflict(f"job {job.id} refused")


async def test_decide_gets_the_committed_row_and_its_answer_is_written(
    store: JobStore,
) -> None:
    job = make_job()
    await store.insert_jobs([job])
    seen: list[Job] = []

    def decide(current: Job) -> Job:
        seen.append(current)
        return replace(current, status=JobStatus.DONE, finished_at=NOW, error="e")

    new = await store.update_job(job.id, decide)
    assert seen == [job]
    assert new == replace(job, status=JobStatus.DONE, finished_at=NOW, error="e")
    assert await store.get_job(job.id) == new


async def test_decide_returning_none_leaves_the_row_alone(store: JobStore) -> None:
    job = make_job()
    await store.insert_jobs([job])
    assert await store.update_job(job.id, lambda current: None) == job
    assert await store.get_job(job.id) == job


async def test_decide_raising_writes_nothing_and_the_error_comes_out(store: JobStore) -> None:
    job = make_job()
    await store.insert_jobs([job])
    with pytest.raises(Conflict, match="refused"):
        await store.update_job(job.id, refuse)
    assert await store.get_job(job.id) == job


async def test_update_of_a_missing_job_raises_not_found(store: JobStore) -> None:
    called: list[Job] = []

    def decide(job: Job) -> None:
        called.append(job)

    with pytest.raises(JobNotFound):
        await store.update_job(new_id(), decide)
    with pytest.raises(JobNotFound):
        await store.update_job("not-a-uuid", decide)
    assert called == []


async def test_every_mutable_field_can_change(store: JobStore) -> None:
    job = make_job()
    await store.insert_jobs([job])
    changed = replace(
        job,
        status=JobStatus.FAILED,
        priority=0,
        attempts=5,
        max_attempts=9,
        updated_at=NOW + 1,
        due_at=NOW + 2,
        timeout=3.0,
        deadline_at=NOW + 3,
        result_ttl=4.0,
        expires_at=NOW + 4,
        finished_at=NOW + 1,
        error="x",
        callback_attempts=2,
        callback_last_error="y",
    )
    assert await store.update_job(job.id, lambda _: changed) == changed
    assert await store.get_job(job.id) == changed


async def test_concurrent_updates_of_one_row_each_see_the_last(store: JobStore) -> None:
    job = make_job()
    await store.insert_jobs([job])

    def bump(current: Job) -> Job:
        return replace(current, attempts=current.attempts + 1)

    await asyncio.gather(*(store.update_job(job.id, bump) for _ in range(20)))
    stored = await store.get_job(job.id)
    assert stored is not None and stored.attempts == 20


async def test_update_jobs_handles_each_change_on_its_own(store: JobStore) -> None:
    ok, refused, untouched = make_job(), make_job(), make_job()
    await store.insert_jobs([ok, refused, untouched])
    missing = new_id()
    outcomes = await store.update_jobs(
        [
            (ok.id, mark),
            (missing, mark),
            (refused.id, refuse),
            (untouched.id, lambda job: None),
            ("not-a-uuid", mark),
        ]
    )
    assert outcomes[0] == mark(ok)
    assert isinstance(outcomes[1], JobNotFound)
    assert isinstance(outcomes[2], Conflict)
    assert outcomes[3] == untouched
    assert isinstance(outcomes[4], JobNotFound)
    assert await store.get_job(ok.id) == mark(ok)
    assert await store.get_job(refused.id) == refused
    assert await store.get_job(missing) is None


async def test_update_jobs_on_one_job_twice_sees_its_own_first_change(store: JobStore) -> None:
    job = make_job()
    await store.insert_jobs([job])

    def bump(current: Job) -> Job:
        return replace(current, attempts=current.attempts + 1)

    def lease_check(current: Job) -> Job:
        raise LeaseMismatch("stale")

    outcomes = await store.update_jobs([(job.id, bump), (job.id, lease_check), (job.id, bump)])
    assert [o.attempts for o in outcomes if isinstance(o, Job)] == [1, 2]
    assert isinstance(outcomes[1], LeaseMismatch)
    stored = await store.get_job(job.id)
    assert stored is not None and stored.attempts == 2


async def test_update_jobs_of_nothing(store: JobStore) -> None:
    assert await store.update_jobs([]) == []


async def test_concurrent_batches_over_the_same_jobs_all_apply(store: JobStore) -> None:
    jobs = [make_job() for _ in range(5)]
    await store.insert_jobs(jobs)

    def bump(current: Job) -> Job:
        return replace(current, attempts=current.attempts + 1)

    forward = [(j.id, bump) for j in jobs]
    backward = forward[::-1]
    await asyncio.gather(*(store.update_jobs(forward if i % 2 else backward) for i in range(10)))
    for job in jobs:
        stored = await store.get_job(job.id)
        assert stored is not None and stored.attempts == 10
