"""The live event feed: every status change of a job, to whoever listens.

One publication point: `JobService` calls `EventFeed.publish(job)` for each
change it makes (creation, hand-out, report, release, sweep, cancel), and the
feed hands the job to the matching subscriptions of this process and to its
`outbound` transport, which tells the other nodes (PostgreSQL: a NOTIFY of the
job's id and status; see `crossnode.py` for the way in). Subscribers never see
the transport: a change made here and one reported from elsewhere arrive the
same way, through `deliver`.

A subscription holds at most `limit` undelivered events. A reader that falls
that far behind (a slow client on a slow link) is dropped: its buffer is freed,
it is told so, and nothing else waits for it. Publishing never blocks and,
with nobody subscribed, costs one attribute test.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable

from accepted.types import Job, JobStatus

Outbound = Callable[[str, JobStatus], None]
"""Tells other nodes (or processes) that job `id` now has `status`."""

DEFAULT_LIMIT = 1000


class Dropped(Exception):
    """The subscriber fell `limit` events behind and was dropped."""


class Subscription:
    """One listener: all queues (`queues` None), some queues, or one job."""

    __slots__ = ("_wake", "buffer", "closed", "dropped", "job_id", "limit", "queues")

    def __init__(self, queues: frozenset[str] | None, job_id: str | None, limit: int) -> None:
        self.queues = queues
        self.job_id = job_id
        self.limit = limit
        self.buffer: deque[Job] = deque()
        self.dropped = False
        self.closed = False
        self._wake = asyncio.Event()

    def offer(self, job: Job) -> None:
        if self.dropped or self.closed:
            return
        if len(self.buffer) >= self.limit:
            self.dropped = True
            self.buffer.clear()
        else:
            self.buffer.append(job)
        self._wake.set()

    def close(self) -> None:
        """No more events: `next` answers None once the buffer is read."""
        self.closed = True
        self._wake.set()

    async def next(self, idle: float) -> Job | None:
        """The next event, or None after `idle` s without one or once closed.

        Raises `Dropped` when the subscriber fell too far behind.
        """
        if not self.buffer and not self.closed and not self.dropped:
            self._wake.clear()
            try:
                async with asyncio.timeout(idle):
                    await self._wake.wait()
            except TimeoutError:
                return None
        if self.dropped:
            raise Dropped(f"fell {self.limit} events behind")
        return self.buffer.popleft() if self.buffer else None


class EventFeed:
    """The subscriptions of this process, indexed by what they listen to."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self.outbound: Outbound | None = None
        self.closed = False
        self._everything: set[Subscription] = set()
        self._by_queue: dict[str, set[Subscription]] = {}
        self._by_job: dict[str, set[Subscription]] = {}
        self.count = 0  # subscriptions now: 0 makes delivery free

    def subscribe(
        self, queues: Iterable[str] | None = None, job_id: str | None = None
    ) -> Subscription:
        """Listen to `job_id`, or to `queues` (None: every queue)."""
        wanted = None if queues is None else frozenset(queues)
        sub = Subscription(wanted, job_id, self.limit)
        if self.closed:
            sub.close()
        for index in self._indexes(sub):
            index.add(sub)
        self.count += 1
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        for index in self._indexes(sub):
            index.discard(sub)
        for table, keys in ((self._by_job, [sub.job_id]), (self._by_queue, sub.queues or ())):
            for key in keys:
                if key is not None and not table.get(key, True):
                    del table[key]
        self.count -= 1

    def _indexes(self, sub: Subscription) -> list[set[Subscription]]:
        if sub.job_id is not None:
            return [self._by_job.setdefault(sub.job_id, set())]
        if sub.queues is None:
            return [self._everything]
        return [self._by_queue.setdefault(queue, set()) for queue in sub.queues]

    def publish(self, job: Job) -> None:
        """A status change made by this process: deliver it here and tell the others."""
        if self.outbound is not None:
            self.outbound(job.id, job.status)
        if self.count:
            self.deliver(job)

    def deliver(self, job: Job) -> None:
        """A status change, made here or reported from elsewhere, to its subscribers."""
        for sub in self._everything:
            sub.offer(job)
        for table, key in ((self._by_queue, job.queue), (self._by_job, job.id)):
            subs = table.get(key)
            if subs:
                for sub in subs:
                    sub.offer(job)

    def job_gone(self, job_id: str) -> None:
        """The job was deleted where its final event could not be read: end its streams."""
        for sub in self._by_job.get(job_id, ()):
            sub.close()

    def close(self) -> None:
        """Shutting down: every stream ends."""
        self.closed = True
        for index in (self._everything, *self._by_queue.values(), *self._by_job.values()):
            for sub in index:
                sub.close()
