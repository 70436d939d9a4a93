"""update_job and update_jobs: decide on the locked row; an error writes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import msgspec
import pytest

from accepted.errors import Conflict, JobNotFound, LeaseMismatch
from accepted.service import rules
from accepted.store import JobStore
from accepted.types import AttemptOutcome, Job, JobStatus
from tests.contract.builders import NOW, make_job, mark, new_id, replace
from tests.contract.conftest import OpenStore
from tests.support.databases import BACKENDS

SHARED_ONLY = [b for b in BACKENDS if b.id == "postgres"]  # empty without PostgreSQL


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


async def test_a_batch_of_many_changes_of_every_kind_is_stored_as_answered(
    store: JobStore,
) -> None:
    # More jobs than one statement of a batch holds (31 of each kind: statements
    # of 16, 8, 4, 2 and 1 rows), inserted and changed in one call each: the
    # claim hands them out in insertion order, and each report (done, failed,
    # retried, given back, heartbeat) is stored as answered, with the history
    # row of each hand-out it ended.
    jobs = [make_job(queue="many", retries=1, retries_left=1) for _ in range(155)]
    await store.insert_jobs(jobs)
    leases = [f"L{i}" for i in range(155)]
    taken = await store.claim_jobs(["many"], 155, NOW, leases, NOW + 30)
    assert [job.id for job in taken] == [job.id for job in jobs]
    result = msgspec.Raw(b'{"r":1}')
    kinds: list[Callable[[str], Callable[[Job], Job]]] = [
        lambda lease: lambda job: rules.complete(job, JobStatus.DONE, result, lease, NOW + 1),
        lambda lease: (
            lambda job: rules.complete(job, JobStatus.FAILED, result, lease, NOW + 1, retry=False)
        ),
        lambda lease: lambda job: rules.complete(job, JobStatus.FAILED, result, lease, NOW + 1),
        lambda lease: lambda job: rules.give_back(job, lease, NOW + 1),
        lambda lease: lambda job: rules.heartbeat(job, lease, 60, NOW + 1),
    ]
    changes = [(job.id, kinds[i % len(kinds)](job.lease or "")) for i, job in enumerate(taken)]
    outcomes = await store.update_jobs(changes)
    statuses = {o.status for o in outcomes if isinstance(o, Job)}
    assert statuses == {
        JobStatus.DONE,
        JobStatus.FAILED,
        JobStatus.DELAYED,
        JobStatus.QUEUED,
        JobStatus.RUNNING,
    }
    for job, outcome in zip(taken, outcomes, strict=True):
        assert isinstance(outcome, Job)
        stored, ended = await store.get_attempts(job.id)
        assert stored == outcome
        ends_a_hand_out = outcome.status is not JobStatus.RUNNING
        assert len(ended) == (ends_a_hand_out and outcome.status is not JobStatus.DONE)


# update_jobs with one change on a job claimed through this store: decided on
# the row the claim returned and written by compare-and-set (on PostgreSQL one
# statement, no transaction). The same answers as the transaction's.


def _finish(lease: str, status: JobStatus = JobStatus.DONE) -> Callable[[Job], Job]:
    def decide(job: Job) -> Job:
        if job.status is not JobStatus.RUNNING or job.lease != lease:
            raise LeaseMismatch(f"job {job.id} is not running under {lease}")
        return replace(job, status=status, finished_at=NOW, updated_at=NOW, lease=None)

    return decide


async def test_one_report_on_a_job_claimed_here_is_written(store: JobStore) -> None:
    await store.insert_jobs([make_job()])
    [held] = await store.claim_jobs(["q"], 1, NOW, ["mine"], NOW + 30)
    [done] = await store.update_jobs([(held.id, _finish("mine"))])
    assert isinstance(done, Job) and done.status is JobStatus.DONE
    stored = await store.get_job(held.id)
    assert stored is not None and stored.status is JobStatus.DONE


@pytest.mark.parametrize("target", SHARED_ONLY, indirect=True)  # one node per SQLite file
async def test_one_report_on_a_job_claimed_here_that_moved_on_decides_on_it_now(
    store: JobStore, open_new_store: OpenStore
) -> None:
    other = await open_new_store()
    await store.insert_jobs([make_job()])
    [held] = await store.claim_jobs(["q"], 1, NOW, ["mine"], NOW + 30)
    given_back = replace(held, status=JobStatus.QUEUED, lease=None, updated_at=NOW)
    await other.update_job(held.id, lambda job: given_back)  # its lease expired there, say
    await other.claim_jobs(["q"], 1, NOW, ["theirs"], NOW + 30)
    [refused] = await store.update_jobs([(held.id, _finish("mine"))])
    assert isinstance(refused, LeaseMismatch)  # in its place, not raised
    now = await store.get_job(held.id)
    assert now is not None and (now.status, now.lease) == (JobStatus.RUNNING, "theirs")


async def test_one_report_ending_a_hand_out_short_of_done_keeps_its_history(
    store: JobStore,
) -> None:
    await store.insert_jobs([make_job()])
    [held] = await store.claim_jobs(["q"], 1, NOW, ["mine"], NOW + 30)

    def failed(job: Job) -> Job:
        new = _finish("mine", JobStatus.FAILED)(job)
        return replace(new, ended=AttemptOutcome.FAILED)

    [result] = await store.update_jobs([(held.id, failed)])
    assert isinstance(result, Job) and result.status is JobStatus.FAILED
    _, attempts = await store.get_attempts(held.id)
    assert [a.outcome for a in attempts] == [AttemptOutcome.FAILED]
