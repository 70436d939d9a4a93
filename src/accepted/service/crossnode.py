"""Wake-ups from other nodes: turns a shared store's notices into this node's `Signals`.

A notice says only which queue gained jobs or which jobs settled; a result
waiter needs the job itself, so settled jobs that someone here waits on are
read back from the store (those nobody waits on cost nothing).

Live events arrive the same way, as (id, status) pairs, and are read back
only while someone here subscribes; one reader task works through them in
order. An event whose job has moved on by the time it is read is skipped
(its next status has a notice of its own), and the feed leaves out a state
older than one it delivered already, so a subscriber sees each job's
statuses in order, though across nodes a short-lived one may be missed.
When notices come faster than they can be read, the backlog is let go and
every subscriber is told (`EventFeed.lost`: an event telling it to re-read),
never left to miss events silently.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from accepted.errors import AcceptedError
from accepted.service import rules
from accepted.service.signals import Signals
from accepted.store.base import JobStore
from accepted.types import Job

log = logging.getLogger("accepted.crossnode")

# Other nodes' events waiting to be read; beyond this the backlog is let go
# and the subscribers told to re-read (they would be that far behind anyway).
MAX_PENDING_EVENTS = 10_000


class CrossNodeWakeups:
    """The `store.base.Wakeups` of one node."""

    def __init__(self, signals: Signals, store: JobStore) -> None:
        self.signals = signals
        self.store = store
        self._reading: set[asyncio.Task[None]] = set()
        self._resyncing: asyncio.Task[None] | None = None
        self._paused_reading: asyncio.Task[None] | None = None
        self._changes: deque[tuple[str, str]] = deque()
        self._events_reader: asyncio.Task[None] | None = None
        # Set by the composition root to the token cache's refresh trigger.
        self.on_tokens_changed: Callable[[], None] = lambda: None
        # Set by the composition root to the schedule firer's wake-up.
        self.on_schedules_changed: Callable[[], None] = lambda: None

    def jobs_available(self, queue: str, count: int) -> None:
        self.signals.takers.job_available(queue, count)

    def jobs_settled(self, job_ids: Sequence[str]) -> None:
        wanted = [job_id for job_id in job_ids if self.signals.results.wants(job_id)]
        if wanted:
            self._read(wanted)

    def queue_paused(self, queue: str, paused: bool) -> None:
        self.signals.takers.set_paused(queue, paused)

    def jobs_changed(self, changes: Sequence[tuple[str, str]]) -> None:
        if not self.signals.events.count:
            return  # nobody here listens: reading the jobs would be wasted
        if len(self._changes) + len(changes) > MAX_PENDING_EVENTS:
            self.events_lost()
            changes = changes[-MAX_PENDING_EVENTS:]
        self._changes.extend(changes)
        if self._events_reader is None or self._events_reader.done():
            loop = asyncio.get_running_loop()
            self._events_reader = loop.create_task(self._read_changes(), name="events-in")

    async def _read_changes(self) -> None:
        feed = self.signals.events
        while self._changes and feed.count:
            job_id, status = self._changes.popleft()
            try:
                job = await self.store.get_job(job_id)
            except AcceptedError as exc:
                log.warning("could not read changed job %s: %s", job_id, exc)
                continue
            if job is None:
                feed.job_gone(job_id)  # deleted: its last state is not to be read
            elif job.status == status:
                feed.deliver(job)
        self._changes.clear()

    def events_lost(self) -> None:
        """Events were lost before they reached here: what waits to be read goes too
        (it is older than the gap), and every subscriber is told at this place."""
        self._changes.clear()
        self.signals.events.lost()

    def tokens_changed(self) -> None:
        self.on_tokens_changed()

    def job_states(self, jobs: Sequence[Job]) -> None:
        feed = self.signals.events
        if feed.count:  # nobody here listens: nothing to do
            for job in jobs:
                feed.deliver(job)

    def jobs_deleted(self, jobs: Sequence[Job]) -> None:
        now = self.store.clock()
        for job in jobs:
            self.signals.results.job_final(rules.deleted(job, now))

    def schedules_changed(self) -> None:
        self.on_schedules_changed()

    def limits_changed(self, queue: str) -> None:
        # Limited at once: until the read answers, no hand-off may start its jobs
        # (if the limits were cleared instead, the read unmarks it).
        self.signals.takers.set_limited(queue, True)
        self._spawn(self._read_limited(queue))

    def capacity_freed(self, queue: str, count: int) -> None:
        self.signals.takers.job_available(queue, count)

    def resync(self) -> None:
        if self._paused_reading is None or self._paused_reading.done():
            self._paused_reading = self._spawn(self._read_paused())
            self._spawn(self._read_limited(None))
        # Takers re-check on their own (`recheck_interval`); result waiters do not.
        # One resync at a time: with many waiters a round takes a while.
        waiting = self.signals.results.waiting()
        if waiting and (self._resyncing is None or self._resyncing.done()):
            self._resyncing = self._read(waiting)

    def _read(self, job_ids: list[str]) -> asyncio.Task[None]:
        return self._spawn(self._answer(job_ids))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        self._reading.add(task)
        task.add_done_callback(self._reading.discard)
        return task

    async def _read_paused(self) -> None:
        """A pause or resume notice may have been missed: take the set from the store."""
        try:
            self.signals.takers.replace_paused(await self.store.paused_queues())
        except AcceptedError as exc:
            log.warning("could not read the paused queues: %s", exc)

    async def _read_limited(self, changed: str | None) -> None:
        """Limits changed on another node (or a notice may have been missed): re-read them."""
        takers = self.signals.takers
        before = set(takers.limited)
        try:
            read = await self.store.limited_queues()
            # A queue marked limited here while the read was under way (a local
            # set_limits, a newer notice) stays so: the read may predate its write.
            takers.replace_limited({*read, *(takers.limited - before)})
        except AcceptedError as exc:
            log.warning("could not read the limited queues: %s", exc)
        if changed is not None:
            takers.limits_changed(changed)

    async def _answer(self, job_ids: list[str]) -> None:
        results = self.signals.results
        for job_id in job_ids:
            try:
                job = await self.store.get_job(job_id)
            except AcceptedError as exc:
                # The waiter still answers when its wait ends; nothing is lost.
                log.warning("could not read settled job %s: %s", job_id, exc)
                return
            if job is None:
                results.job_gone(job_id)
            elif job.is_final:
                results.job_final(job)
