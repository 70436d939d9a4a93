"""The queue service with a fake clock: counts, age, pause and resume, and what a
pause does to takers and to the direct hand-off of new jobs."""

from __future__ import annotations

import asyncio

import pytest

from accepted.errors import QueueNotFound
from accepted.service.jobs import JobService, NewJob
from accepted.service.queues import QueueService
from accepted.types import JobStatus
from tests.unit.conftest import T0
from tests.unit.test_service import _until, _until_waiting


@pytest.fixture
def queues(service: JobService) -> QueueService:
    return QueueService(service.store, service.signals)


async def test_a_queue_shows_its_counts_and_the_age_of_its_oldest_queued_job(
    service: JobService, queues: QueueService
) -> None:
    await service.enqueue(NewJob("q"), T0)
    await service.enqueue(NewJob("q", delay=5), T0 + 1)
    await service.enqueue(NewJob("q"), T0 + 2)
    await service.take(["q"], T0 + 3)
    [queue] = await queues.list_queues(T0 + 10)
    assert queue.name == "q" and not queue.paused
    assert queue.counts[JobStatus.QUEUED] == 1 and queue.counts[JobStatus.DELAYED] == 1
    assert queue.counts[JobStatus.RUNNING] == 1 and queue.counts[JobStatus.DONE] == 0
    assert queue.oldest_queued_age == 8.0  # the job enqueued at T0 + 2
    assert await queues.get("q", T0 + 10) == queue


async def test_an_unknown_queue_is_not_found_and_cannot_be_resumed(
    queues: QueueService,
) -> None:
    with pytest.raises(QueueNotFound):
        await queues.get("nope", T0)
    with pytest.raises(QueueNotFound):
        await queues.resume("nope", T0)


async def test_a_paused_queue_hands_nothing_to_a_blocked_taker_until_resumed(
    service: JobService, queues: QueueService
) -> None:
    await queues.pause("p", T0)
    waiting = asyncio.create_task(service.take(["p"], T0, block=30))
    await _until_waiting(service, 1)
    job = await service.enqueue(NewJob("p"), T0)
    assert job.status is JobStatus.QUEUED  # not handed straight to the blocked taker
    await _until_waiting(service, 1)
    assert not waiting.done() and (await service.get(job.id)).status is JobStatus.QUEUED
    resumed = await queues.resume("p", T0)
    assert not resumed.paused and resumed.counts[JobStatus.QUEUED] == 1
    [taken] = await asyncio.wait_for(waiting, 5)
    assert taken.id == job.id


async def test_a_taker_of_several_queues_takes_from_those_not_paused(
    service: JobService, queues: QueueService
) -> None:
    await service.enqueue(NewJob("p", priority=0), T0)
    other = await service.enqueue(NewJob("other", priority=3), T0)
    await queues.pause("p", T0)
    [taken] = await service.take(["p", "other"], T0)
    assert taken.id == other.id
    waiting = asyncio.create_task(service.take(["p", "other"], T0, block=30))
    await _until_waiting(service, 1)
    new = await service.enqueue(NewJob("other"), T0)
    assert [j.id for j in await asyncio.wait_for(waiting, 5)] == [new.id]


async def test_a_batch_hands_a_taker_of_several_queues_none_of_a_paused_ones_jobs(
    service: JobService, queues: QueueService
) -> None:
    """The first job plans the taker; a paused queue's job later in the batch must not ride."""
    await queues.pause("p", T0)
    waiting = asyncio.create_task(service.take(["p", "other"], T0, block=30, count=5))
    await _until_waiting(service, 1)
    free, held = await service.enqueue_many([NewJob("other"), NewJob("p")], T0)
    assert [j.id for j in await asyncio.wait_for(waiting, 5)] == [free.id]
    assert held.status is JobStatus.QUEUED
    assert (await service.get(held.id)).status is JobStatus.QUEUED


async def test_a_failed_pause_leaves_the_queue_running_here(
    service: JobService, queues: QueueService
) -> None:
    await service.store.close()  # every write now fails
    with pytest.raises(Exception):  # noqa: B017 - whatever the closed store raises
        await queues.pause("p", T0)
    assert "p" not in service.signals.takers.paused


async def test_the_paused_set_is_loaded_from_the_store(
    service: JobService, queues: QueueService
) -> None:
    await service.store.set_paused("a", True, T0)
    await queues.load_paused()
    assert service.signals.takers.paused == {"a"}
    waiting = asyncio.create_task(service.take(["a"], T0, block=30))
    await _until_waiting(service, 1)
    await service.enqueue(NewJob("a"), T0)
    await service.store.set_paused("a", False, T0)
    await queues.load_paused()  # as after a missed resume notice: the taker looks again
    await _until(waiting.done)
    assert len(waiting.result()) == 1
