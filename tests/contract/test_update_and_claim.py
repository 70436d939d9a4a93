"""update_and_claim: a worker's reports and its next claim in one transaction.

The claim happens only if every change was applied, and it sees the changes:
a job given back, dependents released, a limited queue's freed place.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from accepted.errors import Conflict, JobNotFound
from accepted.queries import QueueLimits
from accepted.store import JobStore
from accepted.store.base import ClaimRequest, Decide
from accepted.store.sqlite import SqliteStore
from accepted.types import Job, JobStatus
from tests.contract.builders import NOW, make_job, new_id, replace
from tests.contract.conftest import OpenStore
from tests.contract.test_flow import Recorder
from tests.support.databases import BACKENDS

SQLITE_ONLY = [b for b in BACKENDS if b.id == "sqlite"]
SHARED_ONLY = [b for b in BACKENDS if b.id == "postgres"]  # empty without PostgreSQL


def _claim(
    queues: Sequence[str] | None = ("q",), count: int = 1, *, limited: bool = False
) -> ClaimRequest:
    leases = [f"new-{n}" for n in range(count)]
    return ClaimRequest(queues, count, NOW, leases, NOW + 30, limited=limited)


def _done(job: Job) -> Job:
    return replace(job, status=JobStatus.DONE, finished_at=NOW, updated_at=NOW, lease=None)


def _given_back(job: Job) -> Job:
    return replace(job, status=JobStatus.QUEUED, updated_at=NOW, lease=None, lease_expires_at=None)


def _refuse(job: Job) -> Job:
    raise Conflict(f"job {job.id} refused")


async def _status(store: JobStore, job: Job) -> JobStatus | None:
    found = await store.get_job(job.id)
    return None if found is None else found.status


async def test_the_changes_are_applied_and_the_next_job_claimed(store: JobStore) -> None:
    held = make_job(status=JobStatus.RUNNING)
    waiting = make_job(due_at=NOW - 1)
    await store.insert_jobs([held, waiting])
    results, jobs, opens_at = await store.update_and_claim([(held.id, _done)], _claim())
    assert [r.status for r in results if isinstance(r, Job)] == [JobStatus.DONE]
    assert [(j.id, j.status, j.lease) for j in jobs] == [(waiting.id, JobStatus.RUNNING, "new-0")]
    assert opens_at is None
    assert await _status(store, held) is JobStatus.DONE
    assert await _status(store, waiting) is JobStatus.RUNNING


async def test_a_refused_change_claims_nothing_and_the_others_stand(store: JobStore) -> None:
    first = make_job(status=JobStatus.RUNNING)
    second = make_job(status=JobStatus.RUNNING)
    waiting = make_job()
    await store.insert_jobs([first, second, waiting])
    changes: list[tuple[str, Decide]] = [(first.id, _done), (second.id, _refuse), (new_id(), _done)]
    results, jobs, _ = await store.update_and_claim(changes, _claim())
    assert isinstance(results[0], Job) and results[0].status is JobStatus.DONE
    assert isinstance(results[1], Conflict)
    assert isinstance(results[2], JobNotFound)
    assert jobs == []
    assert await _status(store, first) is JobStatus.DONE  # applied on its own, as in PUT /jobs
    assert await _status(store, second) is JobStatus.RUNNING
    assert await _status(store, waiting) is JobStatus.QUEUED  # nothing was taken


async def test_the_claim_sees_a_job_given_back(store: JobStore) -> None:
    held = make_job(status=JobStatus.RUNNING, due_at=NOW - 10)
    await store.insert_jobs([held])
    _, jobs, _ = await store.update_and_claim([(held.id, _given_back)], _claim())
    assert [(j.id, j.lease, j.attempts) for j in jobs] == [(held.id, "new-0", 2)]


async def test_with_nothing_to_claim_the_changes_still_commit(store: JobStore) -> None:
    held = make_job(status=JobStatus.RUNNING)
    await store.insert_jobs([held])
    results, jobs, _ = await store.update_and_claim([(held.id, _done)], _claim(["other"]))
    assert jobs == [] and isinstance(results[0], Job)
    assert await _status(store, held) is JobStatus.DONE


async def test_dependents_released_by_a_change_are_claimed_with_it(store: JobStore) -> None:
    heard = Recorder()
    store.attach_dependencies(heard)
    first = make_job()
    placed = await store.insert_jobs_checked([first, make_job(after=(first.id,))], [None] * 2, NOW)
    then = placed[1].job
    assert then.status is JobStatus.DELAYED  # waiting for its dependency
    [running] = await store.claim_jobs(["q"], 1, NOW, ["old"], NOW + 30)
    assert running.id == first.id
    _, jobs, _ = await store.update_and_claim([(first.id, _done)], _claim())
    assert [j.id for j in jobs] == [then.id]  # released and taken in the same transaction
    assert then.id in [job.id for job in heard.heard]


async def test_a_limited_claim_counts_the_place_the_change_freed(store: JobStore) -> None:
    await store.set_limits("q", QueueLimits(concurrency=1), NOW)
    held = make_job(status=JobStatus.RUNNING)
    waiting = make_job()
    await store.insert_jobs([held, waiting])
    assert (await store.claim_limited(["q"], 1, NOW, ["x"], NOW + 30))[0] == []  # full
    _, jobs, _ = await store.update_and_claim([(held.id, _done)], _claim(limited=True))
    assert [j.id for j in jobs] == [waiting.id]
    refused = await store.update_and_claim([(new_id(), _done)], _claim(limited=True))
    assert refused[1] == []


async def test_a_limited_claim_keeps_the_limit(store: JobStore) -> None:
    await store.set_limits("q", QueueLimits(concurrency=2), NOW)
    held = make_job(status=JobStatus.RUNNING)
    others = [make_job(status=JobStatus.RUNNING), make_job(), make_job()]
    await store.insert_jobs([held, *others])
    _, jobs, _ = await store.update_and_claim([(held.id, _done)], _claim(count=3, limited=True))
    assert len(jobs) == 1  # one place freed of two: one more runs, not three


@pytest.mark.parametrize("target", SQLITE_ONLY, indirect=True)
async def test_one_commit_on_sqlite(store: JobStore) -> None:
    assert isinstance(store, SqliteStore)  # it counts the SQLite writer's commits
    held = make_job(status=JobStatus.RUNNING)
    await store.insert_jobs([held, make_job()])
    before = store.commits
    _, jobs, _ = await store.update_and_claim([(held.id, _done)], _claim())
    assert len(jobs) == 1
    assert store.commits == before + 1


def _done_if_mine(lease: str) -> Decide:
    """A report's rule: only the holder of the lease may finish the job."""

    def decide(job: Job) -> Job:
        if job.status is not JobStatus.RUNNING or job.lease != lease:
            raise Conflict(f"job {job.id} is not running under {lease}")
        return _done(job)

    return decide


async def test_a_job_claimed_here_and_reported_here(store: JobStore) -> None:
    """The common cycle: the row this store handed out is the one the report decides on."""
    await store.insert_jobs([make_job(), make_job()])
    [held] = await store.claim_jobs(["q"], 1, NOW, ["mine"], NOW + 30)
    results, jobs, _ = await store.update_and_claim([(held.id, _done_if_mine("mine"))], _claim())
    assert isinstance(results[0], Job) and results[0].status is JobStatus.DONE
    assert len(jobs) == 1 and jobs[0].id != held.id
    assert await _status(store, held) is JobStatus.DONE


@pytest.mark.parametrize("target", SHARED_ONLY, indirect=True)  # one node per SQLite file
async def test_a_report_decides_on_the_row_as_another_node_left_it(
    store: JobStore, open_new_store: OpenStore
) -> None:
    other = await open_new_store()
    await store.insert_jobs([make_job(), make_job()])
    [held] = await store.claim_jobs(["q"], 1, NOW, ["mine"], NOW + 30)
    await other.update_job(held.id, _given_back)  # the lease expired there, say
    [again] = await other.claim_jobs(["q"], 1, NOW, ["theirs"], NOW + 30)
    assert again.id == held.id
    results, jobs, _ = await store.update_and_claim([(held.id, _done_if_mine("mine"))], _claim())
    assert isinstance(results[0], Conflict) and jobs == []
    now = await store.get_job(held.id)
    assert now is not None and (now.status, now.lease) == (JobStatus.RUNNING, "theirs")


# A report on a job claimed through this store, decided on the row the claim
# returned: on PostgreSQL the report and the claim may then be one statement
# (store/postgres_riding.py), whose claim runs on the report's snapshot. These
# hold it to what the transaction does.


async def test_jobs_claimed_here_are_reported_here_and_the_next_ones_claimed_in_order(
    store: JobStore,
) -> None:
    first, *rest = [make_job(due_at=NOW - 10 + n) for n in range(4)]
    await store.insert_jobs([first, *rest])
    [held] = await store.claim_jobs(["q"], 1, NOW, ["mine"], NOW + 30)
    assert held.id == first.id
    results, jobs, _ = await store.update_and_claim(
        [(held.id, _done_if_mine("mine"))], _claim(count=3)
    )
    assert isinstance(results[0], Job) and results[0].status is JobStatus.DONE
    assert [(j.id, j.lease) for j in jobs] == [(job.id, f"new-{n}") for n, job in enumerate(rest)]
    assert await _status(store, held) is JobStatus.DONE
    # The rows just claimed are the ones their reports decide on, in turn.
    report = (rest[0].id, _done_if_mine("new-0"))
    results, jobs, _ = await store.update_and_claim([report], _claim())
    assert isinstance(results[0], Job) and jobs == []


async def test_a_job_claimed_here_and_given_back_is_claimed_again(store: JobStore) -> None:
    await store.insert_jobs([make_job()])
    [held] = await store.claim_jobs(["q"], 1, NOW, ["mine"], NOW + 30)
    _, jobs, _ = await store.update_and_claim([(held.id, _given_back)], _claim())
    assert [(j.id, j.lease, j.attempts) for j in jobs] == [(held.id, "new-0", 2)]


async def test_a_job_claimed_here_reported_with_nothing_to_claim(store: JobStore) -> None:
    await store.insert_jobs([make_job()])
    [held] = await store.claim_jobs(["q"], 1, NOW, ["mine"], NOW + 30)
    results, jobs, _ = await store.update_and_claim([(held.id, _done)], _claim(["other"]))
    assert jobs == [] and isinstance(results[0], Job)
    assert await _status(store, held) is JobStatus.DONE


async def test_a_job_claimed_here_frees_its_place_for_a_limited_claim(store: JobStore) -> None:
    await store.insert_jobs([make_job(due_at=NOW - 10), make_job()])
    [held] = await store.claim_jobs(["q"], 1, NOW, ["mine"], NOW + 30)
    await store.set_limits("q", QueueLimits(concurrency=1), NOW)
    _, jobs, _ = await store.update_and_claim([(held.id, _done)], _claim(limited=True))
    assert len(jobs) == 1 and jobs[0].id != held.id
