"""The client's queue, listing and bulk calls, sync and async, against a real server."""

from __future__ import annotations

import pytest

from accepted.errors import InvalidRequest, QueueNotFound
from accepted.types import JobStatus
from tests.client.conftest import Api


async def test_queues_and_one_queue_with_counts(api: Api, q: str) -> None:
    await api.enqueue(q, {"n": 1})
    await api.enqueue(q, {"n": 2}, delay=60)
    [mine] = [queue for queue in await api.queues() if queue.name == q]
    assert mine.counts["queued"] == 1 and mine.counts["delayed"] == 1
    assert mine.oldest_queued_age is not None and not mine.paused
    assert (await api.queue(q)).counts == mine.counts
    with pytest.raises(QueueNotFound):
        await api.queue(q + "-none")


async def test_pause_and_resume(api: Api, q: str) -> None:
    await api.enqueue(q)
    assert (await api.pause(q)).paused
    assert await api.take(q) is None
    assert not (await api.resume(q)).paused
    assert await api.take(q) is not None
    with pytest.raises(QueueNotFound):
        await api.resume(q + "-none")


async def test_list_jobs_filters_and_pages(api: Api, q: str) -> None:
    jobs = [await api.enqueue(q, {"word": f"w{i}"}) for i in range(3)]
    page = await api.list_jobs(queue=q, limit=2)
    assert [j.id for j in page.jobs] == [jobs[2].id, jobs[1].id] and page.next
    rest = await api.list_jobs(queue=q, limit=2, cursor=page.next)
    assert [j.id for j in rest.jobs] == [jobs[0].id] and rest.next is None
    found = await api.list_jobs(queue=[q], status=[JobStatus.QUEUED], search='"W1"')
    assert [j.id for j in found.jobs] == [jobs[1].id]
    with pytest.raises(InvalidRequest):
        await api.list_jobs(status="sleeping")


async def test_bulk_cancel_then_retry(api: Api, q: str) -> None:
    jobs = [await api.enqueue(q) for _ in range(3)]
    cancelled = await api.bulk("cancel", queue=q)
    assert (cancelled.matched, cancelled.changed) == (3, 3)
    retried = await api.bulk("retry", queue=q, status="cancelled", ids=[jobs[0].id])
    assert (retried.matched, retried.changed) == (1, 1)
    assert (await api.get(jobs[0].id)).status is JobStatus.QUEUED
    with pytest.raises(InvalidRequest):
        await api.bulk("delete")  # an empty filter
