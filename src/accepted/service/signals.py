"""In-process wake-ups: long-polling takers, result waiters, and task alarms.

Nothing here polls. A taker blocked in want_job waits on its own event, which
`job_available` sets for the longest-waiting taker of that queue; a GET waiting
for a result waits on a future resolved when the job becomes final; each
background task sleeps until its next deadline or until an alarm says an
earlier one appeared. A PostgreSQL node feeds the same calls from LISTEN, so
wake-ups cross nodes without this module knowing.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable, Sequence

from accepted.service.events import EventFeed
from accepted.store.base import Due
from accepted.types import Job

ANY_QUEUE: str | None = None


class Taker:
    """One blocked want_job.

    It is woken in one of two ways: `queue_token` (a job became takeable in
    that queue: go and claim it), or `handed` (an enqueue inserted jobs already
    running under this taker's lease: nothing to claim, one commit saved).
    """

    __slots__ = (
        "abandoned",
        "count",
        "event",
        "handed",
        "keys",
        "lease_seconds",
        "owner",
        "prefixes",
        "queue_token",
        "reserved",
        "seq",
        "waiting",
    )

    def __init__(
        self,
        owner: Takers,
        seq: int,
        keys: tuple[str | None, ...],
        lease_seconds: float,
        count: int,
        prefixes: tuple[str, ...] = (),
    ) -> None:
        self.owner = owner
        self.seq = seq
        self.keys = keys
        # A limited token's `prefix*` queues: such a taker waits under ANY_QUEUE
        # but only a job of a queue with one of these prefixes is for it.
        self.prefixes = prefixes
        self.lease_seconds = lease_seconds
        self.count = count
        self.event = asyncio.Event()
        self.queue_token: str | None = None
        self.waiting = False  # blocked on `event` (not looking for a job right now)
        self.reserved = 0  # jobs an enqueue in flight is inserting for it
        self.handed: list[Job] = []  # jobs inserted for it, committed, not yet returned
        self.abandoned = False  # gone while reserved: what lands for it goes back

    def matches(self, queue: str) -> bool:
        return queue in self.keys or (ANY_QUEUE in self.keys and self.takes_any(queue))

    def takes_any(self, queue: str) -> bool:
        """As a taker of any queue: whether a job of `queue` is for it."""
        return not self.prefixes or queue.startswith(self.prefixes)

    async def wait(self) -> None:
        self.waiting = True
        self.owner.idle += 1
        try:
            await self.event.wait()
        finally:
            self.waiting = False
            self.owner.idle -= 1

    def hand(self, jobs: list[Job]) -> None:
        """An enqueue committed jobs for this taker: wake it with them."""
        self.reserved = 0
        self.handed.extend(jobs)
        self.event.set()

    def take_handed(self) -> list[Job]:
        jobs, self.handed = self.handed, []
        return jobs

    def consume(self) -> None:
        """About to look for a job: any wake-up so far is used up by that look."""
        self.event.clear()
        self.queue_token = None


class Takers:
    """Blocked takers in arrival order; a new job wakes the longest-waiting match."""

    def __init__(self) -> None:
        self._by_key: dict[str | None, dict[int, Taker]] = {}
        self._seq = itertools.count()
        self.closed = False
        self.idle = 0  # takers blocked on their event right now
        # Queues that hand out nothing: their jobs wake nobody and are handed to nobody.
        self.paused: set[str] = set()
        # Queues with limits (flow-limits): their jobs are never handed off at
        # enqueue (only the limited claim counts what the limits count), and a
        # job of theirs that stops running wakes a taker: capacity came back.
        self.limited: set[str] = set()

    def __len__(self) -> int:
        return len(self._all())

    def waiting(self) -> int:
        """How many takers are blocked right now (for tests and metrics)."""
        return self.idle

    def _all(self) -> dict[int, Taker]:
        return {t.seq: t for waiting in self._by_key.values() for t in waiting.values()}

    def add(
        self,
        queues: Sequence[str] | None,
        lease_seconds: float = 30.0,
        count: int = 1,
        *,
        prefixes: tuple[str, ...] = (),
    ) -> Taker:
        """A blocked taker of `queues` (None: any), plus any queue with one of `prefixes`."""
        keys: tuple[str | None, ...] = (ANY_QUEUE,) if queues is None else tuple(set(queues))
        if prefixes:
            keys = (*keys, ANY_QUEUE) if ANY_QUEUE not in keys else keys
        taker = Taker(self, next(self._seq), keys, lease_seconds, count, prefixes)
        for key in keys:
            self._by_key.setdefault(key, {})[taker.seq] = taker
        if self.closed:
            taker.event.set()
        return taker

    def remove(self, taker: Taker) -> None:
        for key in taker.keys:
            waiting = self._by_key.get(key)
            if waiting is not None:
                waiting.pop(taker.seq, None)
                if not waiting:
                    del self._by_key[key]
        if taker.reserved:
            taker.abandoned = True  # the enqueue in flight gives its jobs back
        # A wake-up it received but never acted on belongs to the next in line.
        if taker.event.is_set() and not self.closed and taker.queue_token is not None:
            self.job_available(taker.queue_token, 1)

    def reserve(self, queue: str) -> Taker | None:
        """The longest-waiting blocked taker of `queue`, set aside for a hand-off."""
        if self.idle == 0 or self.closed or queue in self.paused or queue in self.limited:
            return None
        taker = self._oldest_idle(queue)
        if taker is not None and taker.waiting:
            taker.reserved = 1
            return taker
        return None

    def job_available(self, queue: str, count: int = 1) -> None:
        """`count` jobs became takeable in `queue`: wake that many takers, oldest first."""
        if queue in self.paused:
            return  # the resume wakes them
        for _ in range(count):
            taker = self._oldest_idle(queue)
            if taker is None:
                return
            taker.queue_token = queue
            taker.event.set()

    def set_paused(self, queue: str, paused: bool) -> None:
        """Pause or resume `queue` here; a resume wakes every taker of it to look again."""
        if paused:
            self.paused.add(queue)
        elif queue in self.paused:
            self.paused.discard(queue)
            self._wake_all(queue)

    def replace_paused(self, queues: Iterable[str]) -> None:
        """The paused queues as the store has them (at start, and after missed notices)."""
        now_paused = set(queues)
        resumed, self.paused = self.paused - now_paused, now_paused
        for queue in resumed:
            self._wake_all(queue)

    def replace_limited(self, queues: Iterable[str]) -> None:
        """The limited queues as the store has them (at start, and after notices)."""
        self.limited = set(queues)

    def limits_changed(self, queue: str) -> None:
        """`queue`'s limits were set or cleared: its takers look again (there may be room)."""
        self._wake_all(queue)

    def _wake_all(self, queue: str) -> None:
        """Every idle taker of `queue` looks again; those that find nothing wait on."""
        for key in (queue, ANY_QUEUE):
            for taker in self._by_key.get(key, {}).values():
                if not taker.event.is_set() and not taker.reserved:
                    taker.queue_token = queue
                    taker.event.set()

    def _oldest_idle(self, queue: str) -> Taker | None:
        best: Taker | None = None
        for key in (queue, ANY_QUEUE):
            for taker in self._by_key.get(key, {}).values():
                if key is ANY_QUEUE and taker.prefixes and not taker.takes_any(queue):
                    continue  # a limited token's taker; this queue is not one of its
                if not taker.event.is_set() and not taker.reserved:
                    if best is None or taker.seq < best.seq:
                        best = taker
                    break
        return best

    def close(self) -> None:
        """Shutdown: every taker stops waiting and answers with what it has."""
        self.closed = True
        for waiting in self._by_key.values():
            for taker in waiting.values():
                taker.event.set()


class ResultWaiters:
    """GETs waiting for jobs to become final, by job id."""

    def __init__(self) -> None:
        self._by_id: dict[str, set[asyncio.Future[Job]]] = {}
        self.closed = False

    def add(self, job_id: str) -> asyncio.Future[Job]:
        future: asyncio.Future[Job] = asyncio.get_running_loop().create_future()
        self._by_id.setdefault(job_id, set()).add(future)
        return future

    def remove(self, job_id: str, future: asyncio.Future[Job]) -> None:
        waiting = self._by_id.get(job_id)
        if waiting is not None:
            waiting.discard(future)
            if not waiting:
                del self._by_id[job_id]

    def job_final(self, job: Job) -> None:
        """The job is final (or gone, `job` then being its last state): answer its waiters."""
        for future in self._by_id.pop(job.id, ()):
            if not future.done():
                future.set_result(job)

    def wants(self, job_id: str) -> bool:
        return job_id in self._by_id

    def waiting(self) -> list[str]:
        """The ids someone waits on: what to re-check when wake-ups may have been missed."""
        return list(self._by_id)

    def job_gone(self, job_id: str) -> None:
        """Deleted on another node (its last state unknown here): the waiters re-read (404)."""
        for future in self._by_id.pop(job_id, ()):
            future.cancel()

    def close(self) -> None:
        self.closed = True
        for waiting in self._by_id.values():
            for future in waiting:
                if not future.done():
                    future.cancel()
        self._by_id.clear()


class Alarm:
    """Wakes a background task early when a deadline sooner than its sleep appears."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._sleeping_until: float | None = None

    def poke(self, at: float) -> None:
        if self._sleeping_until is None or at < self._sleeping_until:
            self._event.set()

    async def sleep_until(self, at: float | None, now: float, cap: float) -> None:
        """Sleep until `at` (at most `cap` seconds), or until poked with an earlier time."""
        delay = cap if at is None else min(max(at - now, 0.0), cap)
        self._sleeping_until = now + delay
        try:
            if delay > 0:
                async with asyncio.timeout(delay):
                    await self._event.wait()
        except TimeoutError:
            pass
        finally:
            self._sleeping_until = None
            self._event.clear()


class Signals:
    """Everything the service wakes, in one object handed to the service and tasks."""

    def __init__(self) -> None:
        self.takers = Takers()
        self.results = ResultWaiters()
        self.alarms = {due: Alarm() for due in Due}
        self.events = EventFeed()

    def jobs_available(self, jobs: Iterable[Job]) -> None:
        counts: dict[str, int] = {}
        for job in jobs:
            counts[job.queue] = counts.get(job.queue, 0) + 1
        for queue, count in counts.items():
            self.takers.job_available(queue, count)

    def deadline(self, due: Due, at: float | None) -> None:
        if at is not None:
            self.alarms[due].poke(at)

    def close(self) -> None:
        self.takers.close()
        self.results.close()
        self.events.close()
