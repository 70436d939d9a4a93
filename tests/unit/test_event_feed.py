"""The event feed's bookkeeping: who hears a change, and dropping a reader that lags."""

from __future__ import annotations

import pytest

from accepted.service.events import Dropped, EventFeed
from accepted.types import JSON_EMPTY_OBJECT, Job, JobStatus


def job(job_id: str = "j1", queue: str = "q", status: JobStatus = JobStatus.QUEUED) -> Job:
    return Job(id=job_id, queue=queue, status=status, priority=1, params=JSON_EMPTY_OBJECT,
               max_attempts=3, created_at=0.0, updated_at=0.0, due_at=0.0)


async def test_a_change_reaches_its_queue_its_job_and_everything() -> None:
    feed = EventFeed()
    mine, other, every, one = (feed.subscribe(["q"]), feed.subscribe(["r"]),
                               feed.subscribe(), feed.subscribe(job_id="j1"))
    feed.publish(job())
    assert [len(s.buffer) for s in (mine, other, every, one)] == [1, 0, 1, 1]
    assert await mine.next(1.0) == job()


async def test_this_nodes_changes_go_out_and_others_come_in_without_echo() -> None:
    feed = EventFeed()
    sent: list[tuple[str, str]] = []
    feed.outbound = lambda job_id, status: sent.append((job_id, status))
    sub = feed.subscribe()
    feed.publish(job())
    feed.deliver(job("j2"))  # from another node: not sent back out
    assert sent == [("j1", "queued")] and len(sub.buffer) == 2


async def test_a_reader_too_far_behind_is_dropped_and_its_buffer_freed() -> None:
    feed = EventFeed(limit=2)
    sub = feed.subscribe()
    for i in range(3):
        feed.publish(job(f"j{i}"))
    assert sub.dropped and not sub.buffer
    with pytest.raises(Dropped):
        await sub.next(1.0)


async def test_an_idle_wait_answers_none_and_close_ends_it() -> None:
    feed = EventFeed()
    sub = feed.subscribe(["q"])
    assert await sub.next(0.01) is None and not sub.closed
    feed.close()
    assert await sub.next(60.0) is None and sub.closed
    assert feed.subscribe().closed  # subscribing after shutdown: ended at once


async def test_unsubscribing_leaves_no_index_behind() -> None:
    feed = EventFeed()
    subs = [feed.subscribe(["q", "r"]), feed.subscribe(job_id="j1"), feed.subscribe()]
    for sub in subs:
        feed.unsubscribe(sub)
    assert feed.count == 0
    assert not feed._by_queue and not feed._by_job and not feed._everything
