"""The attempt history: a row per ended hand-out, written with the change that
ends it, on every write path; read with its job at one instant; gone with it."""

from __future__ import annotations

import msgspec
import pytest

from accepted.errors import JobNotFound
from accepted.service import rules
from accepted.store import JobStore
from accepted.types import AttemptOutcome, Due, Job, JobStatus
from tests.contract.builders import NOW, make_job, new_id

RESULT = msgspec.Raw(b'{"r":1}')


async def claimed(store: JobStore, **fields: object) -> Job:
    job = make_job(**fields)
    await store.insert_jobs([job])
    [taken] = await store.claim_jobs([job.queue], 1, NOW, ["L1"], NOW + 30)
    return taken


async def test_the_claim_sets_started_at_and_writes_no_history(store: JobStore) -> None:
    taken = await claimed(store, queue="claim")
    assert taken.started_at == NOW
    job, ended = await store.get_attempts(taken.id)
    assert (job, ended) == (taken, [])


async def test_a_report_that_ends_a_hand_out_writes_its_row(store: JobStore) -> None:
    taken = await claimed(store, queue="failed")
    failed = await store.update_job(
        taken.id, lambda job: rules.complete(job, JobStatus.FAILED, RESULT, "L1", NOW + 2)
    )
    assert failed.ended is None  # never handed back
    job, ended = await store.get_attempts(taken.id)
    assert job == failed == await store.get_job(taken.id)
    [attempt] = ended
    assert (attempt.attempt, attempt.started_at, attempt.ended_at) == (1, NOW, NOW + 2)
    assert (attempt.outcome, bytes(attempt.result)) == (AttemptOutcome.FAILED, b'{"r":1}')


async def test_a_done_hand_out_is_the_done_job_itself(store: JobStore) -> None:
    """take -> done writes no history row: the done job records its last hand-out,
    and the history shows it like any other."""
    taken = await claimed(store, queue="done", max_attempts=5)
    await store.update_job(taken.id, lambda job: rules.give_back(job, None, NOW + 1))
    await store.claim_jobs(["done"], 1, NOW + 2, ["L2"], NOW + 30)
    done = await store.update_job(
        taken.id, lambda job: rules.complete(job, JobStatus.DONE, RESULT, "L2", NOW + 3)
    )
    assert done.ended is None
    job, ended = await store.get_attempts(taken.id)
    assert [a.outcome for a in ended] == [AttemptOutcome.GIVEN_BACK]  # the only row
    history = rules.attempt_history(job, ended)
    assert [(a.attempt, a.started_at, a.ended_at, a.outcome) for a in history] == [
        (1, NOW, NOW + 1, AttemptOutcome.GIVEN_BACK),
        (2, NOW + 2, NOW + 3, AttemptOutcome.DONE),
    ]
    assert bytes(history[-1].result) == b'{"r":1}'


async def test_a_heartbeat_ends_nothing(store: JobStore) -> None:
    taken = await claimed(store, queue="beat")
    await store.update_job(taken.id, lambda job: rules.heartbeat(job, "L1", 10.0, NOW + 1))
    assert (await store.get_attempts(taken.id))[1] == []


async def test_numbering_goes_on_across_hand_outs(store: JobStore) -> None:
    taken = await claimed(store, queue="many", max_attempts=5)
    await store.update_job(taken.id, lambda job: rules.give_back(job, None, NOW + 1))
    await store.claim_jobs(["many"], 1, NOW + 2, ["L2"], NOW + 30)
    await store.update_jobs([(taken.id, lambda job: rules.give_back(job, None, NOW + 3))])
    await store.claim_jobs(["many"], 1, NOW + 4, ["L3"], NOW + 5)
    changed = await store.sweep(
        Due.LEASE, NOW + 6, lambda job: rules.expire_lease(job, NOW + 6), 10
    )
    assert [job.ended for job in changed] == [None]
    _, ended = await store.get_attempts(taken.id)
    assert [(a.attempt, a.started_at, a.ended_at, a.outcome) for a in ended] == [
        (1, NOW, NOW + 1, AttemptOutcome.GIVEN_BACK),
        (2, NOW + 2, NOW + 3, AttemptOutcome.GIVEN_BACK),
        (3, NOW + 4, NOW + 6, AttemptOutcome.LEASE_EXPIRED),
    ]
    assert all(bytes(a.result) == b"null" for a in ended)


async def test_a_released_hand_out_leaves_no_row(store: JobStore) -> None:
    taken = await claimed(store, queue="release")
    await store.update_job(taken.id, lambda job: rules.release(job, "L1", NOW + 1))
    job, ended = await store.get_attempts(taken.id)
    assert (job.status, job.attempts, ended) == (JobStatus.QUEUED, 0, [])


async def test_deleting_a_job_deletes_its_history(store: JobStore) -> None:
    taken = await claimed(store, queue="delete")
    await store.update_job(taken.id, lambda job: rules.give_back(job, None, NOW + 1))
    await store.delete_job(taken.id)
    with pytest.raises(JobNotFound):
        await store.get_attempts(taken.id)
    # A new job never sees rows of an old one, and nothing dangling blocks a purge.
    again = await claimed(store, queue="delete")
    assert (await store.get_attempts(again.id))[1] == []


async def test_purging_a_job_deletes_its_history(store: JobStore) -> None:
    taken = await claimed(store, queue="purge", result_ttl=0.0)
    await store.update_job(
        taken.id, lambda job: rules.complete(job, JobStatus.DONE, RESULT, None, NOW + 1)
    )
    assert await store.purge_expired(NOW + 2, 10) == [taken.id]
    with pytest.raises(JobNotFound):
        await store.get_attempts(taken.id)


async def test_an_unknown_job_has_no_history(store: JobStore) -> None:
    for job_id in (new_id(), "not-a-uuid"):
        with pytest.raises(JobNotFound):
            await store.get_attempts(job_id)
