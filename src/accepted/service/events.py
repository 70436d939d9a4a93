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

Each subscription's lifecycle is one `StreamState` (streaming, behind,
dropped, refused, closed), moved only through its named transitions: the
feed drives what comes from outside (events, losses, shutdown, a lapsed
token: `wake_refused`), the reader the resync and the close when its client
goes. No one else writes its state.

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
from enum import Enum

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


class Refused(Exception):
    """The subscriber's token was revoked or has expired: the stream ends with a 401."""


class _Gap:
    """Where in a subscription's stream events were lost."""


GAP = _Gap()


class StreamState(Enum):
    """Where an event subscription is (docs/state-machine.md, "An event stream").

    STREAMING  events reach its buffer and its reader
    BEHIND     events were lost before reaching it: a gap waits in its buffer,
               and its reader re-reads when it gets there (resync)
    DROPPED    its reader fell `limit` events behind: buffer freed, let go
    REFUSED    its caller's token was revoked or expired: nothing more is sent
    CLOSED     no more events (shutdown, its job deleted, its client gone):
               the buffer drains, then the stream ends
    """

    STREAMING = "streaming"
    BEHIND = "behind"
    DROPPED = "dropped"
    REFUSED = "refused"
    CLOSED = "closed"


STREAMING, BEHIND, DROPPED = StreamState.STREAMING, StreamState.BEHIND, StreamState.DROPPED
REFUSED, CLOSED = StreamState.REFUSED, StreamState.CLOSED
# Each transition's name, and the states it may start from.
_LEGAL: dict[str, tuple[StreamState, ...]] = {
    "miss": (STREAMING, BEHIND),
    "resync": (BEHIND,),
    "drop": (STREAMING, BEHIND),
    "refuse": (STREAMING, BEHIND, CLOSED),
    "close": (STREAMING, BEHIND),
}
# The states in which events still reach the buffer.
_LIVE = (STREAMING, BEHIND)


class IllegalStreamTransition(RuntimeError):
    """A subscription was asked for a transition its state does not allow: a bug here."""


class Subscription:
    """One listener: all queues (`queues` None), some queues, or one job.

    Its lifecycle is one `StreamState`, moved only through the transitions
    below: the feed drives `offer`, `missed`, `close` and `refuse`; the reader
    (`next`) drives `resync`, and `refuse` when it finds its token lapsed, and
    `close` when its client goes.
    """

    __slots__ = ("_gaps", "_state", "_wake", "buffer", "job_id", "limit", "may_read", "queues")

    def __init__(
        self,
        queues: frozenset[str] | None,
        job_id: str | None,
        limit: int,
        may_read: Callable[[], bool] | None = None,
    ) -> None:
        self.queues = queues
        self.job_id = job_id
        self.limit = limit
        # Whether its caller may still read (the HTTP layer's check of its token).
        self.may_read = may_read
        self.buffer: deque[Job | _Gap] = deque()
        self._gaps = 0  # gaps in the buffer (BEHIND while one is unread)
        self._state = STREAMING
        self._wake = asyncio.Event()

    @property
    def state(self) -> StreamState:
        return self._state

    @property
    def dropped(self) -> bool:
        return self._state is DROPPED

    @property
    def closed(self) -> bool:
        """No more events will come (closed, dropped or refused)."""
        return self._state not in _LIVE

    @property
    def ended(self) -> bool:
        """Closed and its buffer read: the stream is over."""
        return self._state is CLOSED and not self.buffer

    @property
    def allowed(self) -> bool:
        """Whether its caller may still read (always, without a `may_read`)."""
        return self.may_read is None or self.may_read()

    def _move(self, transition: str, to: StreamState) -> None:
        if self._state not in _LEGAL[transition]:
            raise IllegalStreamTransition(f"subscription: {transition} from {self._state.value}")
        self._state = to
        if to is DROPPED or to is REFUSED:
            self.buffer.clear()
            self._gaps = 0
        self._wake.set()

    # -- transitions the feed drives -----------------------------------------

    def offer(self, job: Job) -> None:
        if self._state not in _LIVE:
            return
        if len(self.buffer) >= self.limit:
            self._move("drop", DROPPED)
        else:
            self.buffer.append(job)
            self._wake.set()

    def missed(self) -> None:
        """Events meant for this subscription were lost: mark the place (once)."""
        if self._state not in _LIVE or (self.buffer and self.buffer[-1] is GAP):
            return
        self.buffer.append(GAP)  # over `limit` by one at most: the reader must learn it
        self._gaps += 1
        self._move("miss", BEHIND)

    def close(self) -> None:
        """No more events (shutdown, job deleted, client gone): `next` answers None
        once the buffer is read. Nothing to do once it ended otherwise."""
        if self._state in _LIVE:
            self._move("close", CLOSED)

    def refuse(self) -> None:
        """Its caller's token no longer holds: the buffer goes, `next` raises `Refused`."""
        if self._state in _LEGAL["refuse"]:
            self._move("refuse", REFUSED)

    # -- the reader ------------------------------------------------------------

    def hold(self) -> None:
        """Raise `Refused` (refusing it) unless its caller may still read."""
        if self._state is REFUSED or not self.allowed:
            self.refuse()
            raise Refused("the token that opened this stream no longer holds")

    async def next(self, idle: float) -> Job | None:
        """The next event, or None after `idle` s without one or once ended.

        Raises `Dropped` when the subscriber fell too far behind, `Refused` once
        its caller's token no longer holds (asked again before each event and
        each idle return, so nothing reaches a lapsed token even before the feed
        hears of it), and `Missed` where events were lost before they reached it
        (the stream goes on).
        """
        if not self.buffer and self._state in _LIVE:
            self._wake.clear()
            try:
                async with asyncio.timeout(idle):
                    await self._wake.wait()
            except TimeoutError:
                pass
        if self._state is DROPPED:
            raise Dropped(f"fell {self.limit} events behind")
        if self.ended:
            return None
        self.hold()
        if not self.buffer:
            return None
        event = self.buffer.popleft()
        if isinstance(event, _Gap):
            self._gaps -= 1
            if self._gaps == 0 and self._state is BEHIND:
                self._move("resync", STREAMING)
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
        self,
        queues: Iterable[str] | None = None,
        job_id: str | None = None,
        may_read: Callable[[], bool] | None = None,
    ) -> Subscription:
        """Listen to `job_id`, or to `queues` (None: every queue).

        `may_read` says whether the caller may still read: once it says no, the
        subscription is refused (at its next event, or at `wake_refused`).
        """
        wanted = None if queues is None else frozenset(queues)
        sub = Subscription(wanted, job_id, self.limit, may_read)
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

    def wake_refused(self) -> None:
        """Rights may have lapsed (tokens re-read, one expired): every subscription
        whose caller may no longer read is refused now, not at its next event."""
        for sub in self._all():
            if not sub.closed and not sub.allowed:
                sub.refuse()

    def _all(self) -> set[Subscription]:
        return self._everything.union(*self._by_queue.values(), *self._by_job.values())

    def close(self) -> None:
        """Shutting down: every stream ends."""
        self.closed = True
        for index in (self._everything, *self._by_queue.values(), *self._by_job.values()):
            for sub in index:
                sub.close()
