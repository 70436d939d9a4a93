"""The queues section of the store: counts kept as jobs change, pause and resume."""

from __future__ import annotations

from accepted.store import JobStore
from accepted.types import JobStatus
from tests.contract.builders import NOW, make_job, mark, replace


async def settled_counts(store: JobStore, queue: str) -> dict[JobStatus, int]:
    """The queue's counts after any housekeeping (folding them changes nothing visible)."""
    before = await store.queue_states([queue])
    await store.fold_counts()
    after = await store.queue_states([queue])
    assert before == after
    return dict(after[0].counts) if after else {}


async def test_counts_follow_inserts_changes_and_deletes(store: JobStore) -> None:
    jobs = [make_job("a") for _ in range(3)] + [make_job("a", JobStatus.DELAYED)]
    await store.insert_jobs(jobs)
    await store.insert_jobs([make_job("b", JobStatus.DONE)])
    assert await settled_counts(store, "a") == {JobStatus.QUEUED: 3, JobStatus.DELAYED: 1}
    [claimed] = await store.claim_jobs(["a"], 1, NOW, ["t"], NOW + 30)
    await store.update_job(jobs[1].id, lambda job: replace(job, status=JobStatus.FAILED))
    await store.update_job(jobs[2].id, lambda job: mark(job))  # no status change
    await store.delete_job(jobs[3].id)
    assert await settled_counts(store, "a") == {JobStatus.RUNNING: 1, JobStatus.QUEUED: 1,
                                                JobStatus.FAILED: 1}
    assert claimed.id == jobs[0].id
    assert [s.name for s in await store.queue_states()] == ["a", "b"]


async def test_a_queue_without_jobs_or_setting_does_not_exist(store: JobStore) -> None:
    job = make_job("gone")
    await store.insert_jobs([job])
    await store.delete_job(job.id)
    await store.fold_counts()
    assert await store.queue_states(["gone"]) == []
    assert await store.queue_states() == []


async def test_oldest_due_is_the_earliest_queued_of_any_priority(store: JobStore) -> None:
    await store.insert_jobs([
        make_job("a", priority=0, due_at=NOW - 5),
        make_job("a", priority=3, due_at=NOW - 50),
        make_job("a", JobStatus.DELAYED, due_at=NOW - 500),  # not queued
        make_job("b", JobStatus.DONE),
    ])
    a, b = await store.queue_states()
    assert a.oldest_due_at == NOW - 50
    assert b.oldest_due_at is None


async def test_pause_creates_the_setting_and_claims_skip_the_queue(store: JobStore) -> None:
    paused = await store.set_paused("p", True, NOW)
    assert paused is not None and paused.paused and paused.counts == {}
    await store.insert_jobs([make_job("p", priority=0), make_job("other", priority=3)])
    assert await store.paused_queues() == ["p"]
    [taken] = await store.claim_jobs(None, 5, NOW, ["t1", "t2"], NOW + 30)
    assert taken.queue == "other"
    assert await store.claim_jobs(["p"], 5, NOW, ["t1"], NOW + 30) == []
    assert await store.claim_jobs(["p", "other"], 5, NOW, ["t1"], NOW + 30) == []
    resumed = await store.set_paused("p", False, NOW)
    assert resumed is not None and not resumed.paused
    assert resumed.counts == {JobStatus.QUEUED: 1}
    [again] = await store.claim_jobs(["p"], 5, NOW, ["t1"], NOW + 30)
    assert again.queue == "p"
    assert await store.paused_queues() == []


async def test_resume_of_an_unknown_queue_writes_nothing(store: JobStore) -> None:
    assert await store.set_paused("nobody", False, NOW) is None
    assert await store.queue_states() == []


async def test_resuming_an_empty_paused_queue_answers_it_then_it_is_gone(
    store: JobStore,
) -> None:
    await store.set_paused("e", True, NOW)
    assert [s.name for s in await store.queue_states()] == ["e"]
    resumed = await store.set_paused("e", False, NOW)
    assert resumed is not None and resumed.name == "e" and not resumed.paused
    assert await store.queue_states(["e"]) == []
