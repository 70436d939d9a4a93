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

Events this node could not deliver (other nodes' notices it had to let go,
`EventFeed.lost`) are never skipped silently: each subscription gets a gap
in its place in the stream, and its reader is told to re-read (`Missed`).

Each job's events go out in the order of its changes: one older than the
last delivered for that job (by `updated_at`, the shared clock's time of the
change), or the same change again, is left out. Across nodes a stale state
can arrive after a newer one (a notice read back after this node's own
change), and a stream never goes backwards.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable

from accepted.types import Job, JobStatus

Outbound = Callable[[str, JobStatus], None]
"""Tells other nodes (or processes) that job `id` now has `status`."""

DEFAULT_LIMIT = 1000


# Jobs whose last delivered change is remembered, to keep each job's events in
# order. A job's stale event older than this many deliveries would find its
# readers dropped by then anyway (`limit` is smaller).
RECENT_JOBS = 10_000


class Dropped(Exception):
    """The subscriber fell `limit` events behind and was dropped."""


class Missed(Exception):
    """Events were lost here before they reached the subscriber: re-read the state."""


class _Gap:
    """Where in a subscription's stream events were lost."""


GAP = _Gap()


class Subscription:
    """One listener: all queues (`queues` None), some queues, or one job."""

    __slots__ = ("_wake", "buffer", "closed", "dropped", "job_id", "limit", "queues")

    def __init__(self, queues: frozenset[str] | None, job_id: str | None, limit: int) -> None:
        self.queues = queues
        self.job_id = job_id
        self.limit = limit
        self.buffer: deque[Job | _Gap] = deque()
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

    def missed(self) -> None:
        """Events meant for this subscription were lost: mark the place (once)."""
        if self.dropped or self.closed or (self.buffer and self.buffer[-1] is GAP):
            return
        self.buffer.append(GAP)  # over `limit` by one at most: the reader must learn it
        self._wake.set()

    def close(self) -> None:
        """No more events: `next` answers None once the buffer is read."""
        self.closed = True
        self._wake.set()

    async def next(self, idle: float) -> Job | None:
        """The next event, or None after `idle` s without one or once closed.

        Raises `Dropped` when the subscriber fell too far behind, and `Missed`
        where events were lost before they reached it (the stream goes on).
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
        if not self.buffer:
            return None
        event = self.buffer.popleft()
        if isinstance(event, _Gap):
            raise Missed("events were lost before they reached this stream")
        return event


class EventFeed:
    """The subscriptions of this process, indexed by what they listen to."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self.outbound: Outbound | None = None
        # Preferred to `outbound` where set: a transport that carries the job
        # itself (a several-process server's local link), so the other
        # processes deliver every status, not a read-back of the latest.
        self.outbound_job: Callable[[Job], None] | None = None
        # Told when this process gains its first subscription (True) and loses
        # its last (False): the other nodes send their changes only while so.
        self.on_listening: Callable[[bool], None] | None = None
        self.closed = False
        self._everything: set[Subscription] = set()
        self._by_queue: dict[str, set[Subscription]] = {}
        self._by_job: dict[str, set[Subscription]] = {}
        self.count = 0  # subscriptions now: 0 makes delivery free
        self._last: OrderedDict[str, tuple[float, JobStatus]] = OrderedDict()

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
        if self.count == 1 and self.on_listening is not None:
            self.on_listening(True)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        for index in self._indexes(sub):
            index.discard(sub)
        for table, keys in ((self._by_job, [sub.job_id]), (self._by_queue, sub.queues or ())):
            for key in keys:
                if key is not None and not table.get(key, True):
                    del table[key]
        self.count -= 1
        if self.count == 0 and self.on_listening is not None:
            self.on_listening(False)

    def _indexes(self, sub: Subscription) -> list[set[Subscription]]:
        if sub.job_id is not None:
            return [self._by_job.setdefault(sub.job_id, set())]
        if sub.queues is None:
            return [self._everything]
        return [self._by_queue.setdefault(queue, set()) for queue in sub.queues]

    def publish(self, job: Job) -> None:
        """A status change made by this process: deliver it here and tell the others."""
        if self.outbound_job is not None:
            self.outbound_job(job)
        elif self.outbound is not None:
            self.outbound(job.id, job.status)
        if self.count:
            self.deliver(job)

    def deliver(self, job: Job) -> None:
        """A status change, made here or reported from elsewhere, to its subscribers.

        Left out when it is older than, or the same as, the job's last one.
        """
        if not self._in_order(job):
            return
        for sub in self._everything:
            sub.offer(job)
        for table, key in ((self._by_queue, job.queue), (self._by_job, job.id)):
            subs = table.get(key)
            if subs:
                for sub in subs:
                    sub.offer(job)

    def _in_order(self, job: Job) -> bool:
        last = self._last.get(job.id)
        if last is not None:
            at, status = last
            if job.updated_at < at or (job.updated_at == at and job.status == status):
                return False
            self._last.move_to_end(job.id)
        self._last[job.id] = (job.updated_at, job.status)
        if len(self._last) > RECENT_JOBS:
            self._last.popitem(last=False)
        return True

    def lost(self) -> None:
        """Events were lost before delivery (this node could not keep up with
        the others' notices): every subscriber is told at this point."""
        for index in (self._everything, *self._by_queue.values(), *self._by_job.values()):
            for sub in index:
                sub.missed()

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
