"""The event feed's bookkeeping: who hears a change, and dropping a reader that lags."""

from __future__ import annotations

import pytest
from msgspec.structs import replace

from accepted.service import crossnode
from accepted.service.crossnode import CrossNodeWakeups
from accepted.service.events import Dropped, EventFeed, Missed
from accepted.service.jobs import JobService
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


async def test_a_jobs_events_never_go_backwards_nor_repeat() -> None:
    """Across nodes a stale state can arrive after a newer one (a notice read
    back after this node's own change): it is left out, as is the same change
    twice; other jobs are not held up."""
    feed = EventFeed()
    sub = feed.subscribe()
    running = replace(job(status=JobStatus.RUNNING), updated_at=1.0)
    done = replace(job(status=JobStatus.DONE), updated_at=2.0)
    feed.deliver(running)
    feed.publish(done)
    feed.deliver(running)  # stale: read before the done, delivered after it
    feed.deliver(done)  # the same change again
    feed.deliver(replace(job("j2", status=JobStatus.RUNNING), updated_at=0.5))
    seen = [await sub.next(1.0) for _ in range(3)]
    assert [(j.id, j.status) for j in seen if j is not None] == [
        ("j1", JobStatus.RUNNING), ("j1", JobStatus.DONE), ("j2", JobStatus.RUNNING)
    ]
    assert not sub.buffer


async def test_lost_events_are_a_gap_every_subscriber_learns_of() -> None:
    """Events lost before delivery are never skipped silently: each stream
    learns at the place of the loss (`Missed`), then goes on."""
    feed = EventFeed()
    every, one = feed.subscribe(), feed.subscribe(job_id="j1")
    feed.publish(job())
    feed.lost()
    feed.lost()  # one gap, however many losses in a row
    feed.publish(replace(job(status=JobStatus.RUNNING), updated_at=1.0))
    for sub in (every, one):
        assert (await sub.next(1.0)) == job()
        with pytest.raises(Missed):
            await sub.next(1.0)
        after = await sub.next(1.0)
        assert after is not None and after.status is JobStatus.RUNNING


async def test_other_nodes_notices_beyond_the_backlog_tell_subscribers(
    service: JobService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More notices than this node can hold: the backlog is let go and each
    subscriber is told, instead of the oldest being dropped in silence."""
    monkeypatch.setattr(crossnode, "MAX_PENDING_EVENTS", 3)
    wakeups = CrossNodeWakeups(service.signals, service.store)
    sub = service.signals.events.subscribe()
    wakeups.jobs_changed([(f"0190a000-0000-7000-8000-00000000000{i}", "queued") for i in range(2)])
    wakeups.jobs_changed([("0190a000-0000-7000-8000-000000000009", "queued")] * 2)
    with pytest.raises(Missed):
        await sub.next(1.0)
