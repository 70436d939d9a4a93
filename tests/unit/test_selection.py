"""Bulk actions walk the selection in chunks: every matched job once, later ones not."""

from __future__ import annotations

import pytest

from accepted.queries import JobFilter
from accepted.service.jobs import JobService, NewJob
from accepted.service.selection import BulkAction, BulkOutcome, SelectionService
from accepted.types import JobStatus
from tests.unit.conftest import T0


async def test_a_bulk_action_covers_every_chunk_and_skips_what_it_cannot_change(
    service: JobService,
) -> None:
    jobs = [await service.enqueue(NewJob("q"), T0) for _ in range(7)]
    [taken] = await service.take(["q"], T0)
    await service.cancel_job(jobs[1].id, T0)
    selection = SelectionService(service, chunk=2, page=3)
    outcome = await selection.bulk(BulkAction.CANCEL, JobFilter(queues=("q",)), lambda: T0 + 1)
    assert outcome == BulkOutcome(matched=7, changed=6)  # one was cancelled already
    for job in jobs:
        assert (await service.get(job.id)).status is JobStatus.CANCELLED
    assert taken.id == jobs[0].id


@pytest.mark.documents("decision-bulk-walk")
async def test_jobs_enqueued_during_the_walk_are_not_matched(service: JobService) -> None:
    for _ in range(5):
        await service.enqueue(NewJob("q"), T0)
    selection = SelectionService(service, chunk=2, page=3)
    clock_calls: list[float] = []

    def clock() -> float:
        clock_calls.append(T0)
        return T0

    added = []
    real_apply = selection._apply

    async def apply_then_enqueue(action: BulkAction, jobs: list, now: float) -> int:  # type: ignore[type-arg]
        added.append(await service.enqueue(NewJob("q"), T0))  # newer than where the walk began
        return await real_apply(action, jobs, now)

    selection._apply = apply_then_enqueue  # type: ignore[method-assign]
    outcome = await selection.bulk(BulkAction.DELETE, JobFilter(queues=("q",)), clock)
    assert outcome == BulkOutcome(matched=5, changed=5)
    assert len(clock_calls) == 3  # one time per chunk
    for job in added:
        assert (await service.get(job.id)).status is JobStatus.QUEUED


async def test_a_bulk_retry_counts_each_job_it_retried(service: JobService) -> None:
    """accepted_jobs_retried_total counts a bulk retry's jobs, as it does POST retry's."""
    jobs = [await service.enqueue(NewJob("q"), T0) for _ in range(3)]
    for job in jobs[:2]:
        await service.cancel_job(job.id, T0)
    await service.retry_job(jobs[0].id, T0)  # queued again by hand: counted once
    await service.cancel_job(jobs[0].id, T0)
    selection = SelectionService(service, chunk=1, page=2)
    outcome = await selection.bulk(BulkAction.RETRY, JobFilter(queues=("q",)), lambda: T0 + 1)
    assert outcome == BulkOutcome(matched=3, changed=2)  # the queued one is skipped
    assert service.metrics.retried.values == {("q",): 3}
