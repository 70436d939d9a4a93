"""The client's side of retries: enqueue options, fail(retry=False), cancel,
retry and attempts, through both clients."""

from __future__ import annotations

import pytest

from accepted.client import AttemptOutcome, JobStatus, NewJob
from accepted.errors import Conflict, JobNotFound
from tests.client.conftest import Api


async def test_enqueue_sends_retries_and_backoff(api: Api, q: str) -> None:
    job = await api.enqueue(q, retries=2, retry_backoff=0.5)
    assert (job.retries, job.retries_left, job.retry_backoff) == (2, 2, 0.5)
    [a, b] = await api.enqueue_many([NewJob(q, retries=1), NewJob(q, retry_backoff=3)])
    assert (a.retries, b.retries, b.retry_backoff) == (1, 0, 3.0)


async def test_fail_lets_retries_apply_unless_told_not_to(api: Api, q: str) -> None:
    await api.enqueue(q, retries=2, retry_backoff=60)
    taken = await api.take(q)
    delayed = await api.fail(taken, {"why": "flaky"})
    assert (delayed.status, delayed.retries_left) == (JobStatus.DELAYED, 1)
    await api.enqueue(q, retries=2)
    second = await api.take(q)
    failed = await api.fail(second, "bad input", retry=False)
    assert (failed.status, failed.retries_left, failed.result) == (
        JobStatus.FAILED, 2, "bad input")


async def test_cancel_retry_and_attempts(api: Api, q: str) -> None:
    job = await api.enqueue(q)
    taken = await api.take(q)
    cancelled = await api.cancel(job.id)
    assert cancelled.status is JobStatus.CANCELLED
    with pytest.raises(Conflict):
        await api.cancel(job.id)
    with pytest.raises(Conflict):
        await api.complete(taken, "late")
    again = await api.retry(job.id)
    assert (again.status, again.attempts) == (JobStatus.QUEUED, 0)
    with pytest.raises(Conflict):
        await api.retry(job.id)
    await api.take(q)
    history = await api.attempts(job.id)
    assert [(a.attempt, a.outcome) for a in history] == [(1, AttemptOutcome.CANCELLED), (2, None)]
    assert history[0].ended_at is not None and history[1].ended_at is None


async def test_unknown_jobs_are_not_found(api: Api) -> None:
    for call in (api.cancel, api.retry, api.attempts):
        with pytest.raises(JobNotFound):
            await call("00000000-0000-0000-0000-000000000000")
