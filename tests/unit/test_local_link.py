"""The local link between a server's processes: notices arrive, merged, and none is lost
when the receiver's queue is full for a while (it is sent again); live events let go
when it stays full too long are told to its event streams (resync)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import msgspec
import pytest

from accepted.service.crossnode import CrossNodeWakeups
from accepted.service.events import Missed
from accepted.service.jobs import JobService
from accepted.siblings import Siblings
from accepted.store.local_link import LocalLink
from accepted.types import Job, JobStatus


class Heard:
    """A `store.base.Wakeups` that writes down what it was told."""

    def __init__(self) -> None:
        self.available: dict[str, int] = {}
        self.settled: list[str] = []
        self.paused: dict[str, bool] = {}
        self.changed: list[tuple[str, str]] = []
        self.tokens = self.schedules = 0
        self.deleted: list[Job] = []
        self.states: list[Job] = []
        self.lost_after: list[int] = []  # how many events had arrived at each loss
        self.arrived = asyncio.Event()

    def jobs_available(self, queue: str, count: int) -> None:
        self.available[queue] = self.available.get(queue, 0) + count
        self.arrived.set()

    def jobs_settled(self, job_ids: Sequence[str]) -> None:
        self.settled += job_ids
        self.arrived.set()

    def resync(self) -> None:
        pass

    def queue_paused(self, queue: str, paused: bool) -> None:
        self.paused[queue] = paused
        self.arrived.set()

    def jobs_changed(self, changes: Sequence[tuple[str, str]]) -> None:
        self.changed += changes
        self.arrived.set()

    def events_lost(self) -> None:
        self.lost_after.append(len(self.changed))
        self.arrived.set()

    def tokens_changed(self) -> None:
        self.tokens += 1
        self.arrived.set()

    def jobs_deleted(self, jobs: Sequence[Job]) -> None:
        self.deleted += jobs
        self.arrived.set()

    def job_states(self, jobs: Sequence[Job]) -> None:
        self.states += jobs
        self.arrived.set()

    def limits_changed(self, queue: str) -> None:
        self.arrived.set()

    def capacity_freed(self, queue: str, count: int) -> None:
        self.arrived.set()

    def schedules_changed(self) -> None:
        self.schedules += 1
        self.arrived.set()


async def _until(check: object, heard: Heard) -> None:
    async with asyncio.timeout(5):
        while not check():  # type: ignore[operator]
            heard.arrived.clear()
            await heard.arrived.wait()


async def test_every_kind_of_notice_reaches_the_other_processes(tmp_path: Path) -> None:
    links = [LocalLink(Siblings(tmp_path, i, 3)) for i in range(3)]
    heard = [Heard() for _ in links]
    for link, wakeups in zip(links, heard, strict=True):
        link.wakeups = wakeups
        link.start()
    try:
        sender = links[0]
        sender.announce(["emails", "emails", "sms"], ["j1"])
        sender.announce_paused("sms", True)
        sender.announce_change("j1", "done")
        sender.announce_tokens()
        gone = Job(
            id="j2", queue="emails", status=JobStatus.RUNNING, priority=0, max_attempts=5,
            params=msgspec.Raw(b'{\n  "to": "ada"\n}'), created_at=1.0, updated_at=1.0,
            due_at=1.0,
        )
        sender.announce_deleted(gone)  # whole, newlines in its params and all
        sender.announce_schedules()
        for wakeups in heard[1:]:
            await _until(lambda w=wakeups: w.schedules and w.deleted, wakeups)
            assert wakeups.deleted == [gone]
            assert wakeups.available == {"emails": 2, "sms": 1}  # merged: one notice a queue
            assert (wakeups.settled, wakeups.paused) == (["j1"], {"sms": True})
            assert (wakeups.changed, wakeups.tokens) == ([("j1", "done")], 1)
        assert heard[0].available == {}  # nothing comes back to the sender
    finally:
        for link in links:
            link.stop()


async def test_notices_a_full_peer_refused_are_sent_again_in_order(tmp_path: Path) -> None:
    sender, receiver = LocalLink(Siblings(tmp_path, 0, 2)), LocalLink(Siblings(tmp_path, 1, 2))
    heard = Heard()
    receiver.wakeups = heard
    sender.start()
    receiver.start()
    loop = asyncio.get_running_loop()
    socket = receiver._sock
    assert socket is not None
    loop.remove_reader(socket.fileno())  # the receiver is busy: its queue fills up
    try:
        for i in range(1000):  # a datagram a turn: more than a queue or its buffer holds
            sender.announce_change(f"j{i}", "queued")
            await asyncio.sleep(0)
        assert sender._backlog, "the peer refused none: the test did not test the resend"
        loop.add_reader(socket.fileno(), receiver._readable)
        await _until(lambda: len(heard.changed) == 1000, heard)
        assert heard.changed == [(f"j{i}", "queued") for i in range(1000)]
    finally:
        sender.stop()
        receiver.stop()


async def test_live_events_travel_whole_while_another_process_listens(tmp_path: Path) -> None:
    sender, listener = LocalLink(Siblings(tmp_path, 0, 2)), LocalLink(Siblings(tmp_path, 1, 2))
    heard = Heard()
    listener.wakeups = heard
    sender.start()
    listener.start()
    job = Job(id="j3", queue="q", status=JobStatus.QUEUED, priority=0, max_attempts=5,
              params=msgspec.Raw(b"{}"), created_at=1.0, updated_at=1.0, due_at=1.0)
    try:
        sender.announce_job(job)  # nobody listens yet: the id and status only
        await _until(lambda: heard.changed, heard)
        assert (heard.changed, heard.states) == ([("j3", "queued")], [])
        told = asyncio.Event()
        noticed = sender._listening_notice

        def noticed_and_told(payload: str) -> None:
            noticed(payload)
            told.set()

        sender._listening_notice = noticed_and_told  # type: ignore[method-assign]
        listener.set_listening(True)
        async with asyncio.timeout(5):
            await told.wait()
        assert sender._listeners == {"1"}
        running = msgspec.structs.replace(job, status=JobStatus.RUNNING, updated_at=2.0)
        sender.announce_job(running)
        await _until(lambda: heard.states, heard)
        assert heard.states == [running]
    finally:
        sender.stop()
        listener.stop()


async def _overflow(sender: LocalLink, receiver: LocalLink, events: int) -> None:
    """`events` live events sent, one datagram each, while the receiver reads nothing."""
    loop = asyncio.get_running_loop()
    socket = receiver._sock
    assert socket is not None
    loop.remove_reader(socket.fileno())
    for i in range(events):
        sender.announce_change(f"j{i}", "queued")
        await asyncio.sleep(0)
    assert sender._backlog, "the peer refused none: the test did not overflow the backlog"
    loop.add_reader(socket.fileno(), receiver._readable)


async def test_live_events_let_go_from_a_full_backlog_are_told_before_the_rest(
    tmp_path: Path,
) -> None:
    """A peer too far behind loses the oldest datagrams, and learns that it did,
    before the events that were kept (the place of the gap in its streams)."""
    sender = LocalLink(Siblings(tmp_path, 0, 2), max_backlog=3)
    receiver = LocalLink(Siblings(tmp_path, 1, 2))
    heard = Heard()
    receiver.wakeups = heard
    sender.start()
    receiver.start()
    try:
        await _overflow(sender, receiver, 300)
        await _until(lambda: heard.changed[-1:] == [("j299", "queued")], heard)
        gap = heard.lost_after
        assert len(gap) == 1, "one loss told once"
        kept = heard.changed[gap[0]:]
        assert kept == [(f"j{i}", "queued") for i in range(300 - len(kept), 300)]
        assert 0 < len(kept) < 300 - gap[0]  # some were let go, the newest kept in order
    finally:
        sender.stop()
        receiver.stop()


async def test_an_event_stream_in_a_process_that_missed_events_is_told_to_resync(
    tmp_path: Path, service: JobService
) -> None:
    """The whole way: the receiving process's subscriber gets `Missed` (its SSE
    stream's `event: resync`), as on a PostgreSQL node that fell behind."""
    sender = LocalLink(Siblings(tmp_path, 0, 2), max_backlog=3)
    receiver = LocalLink(Siblings(tmp_path, 1, 2))
    receiver.wakeups = CrossNodeWakeups(service.signals, service.store)
    subscription = service.signals.events.subscribe()
    sender.start()
    receiver.start()
    try:
        await _overflow(sender, receiver, 300)
        with pytest.raises(Missed):
            await subscription.next(5.0)
    finally:
        service.signals.events.unsubscribe(subscription)
        sender.stop()
        receiver.stop()
