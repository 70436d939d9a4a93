"""In-process wake-ups: long-polling takers, result waiters, and task alarms.

Nothing here polls. A taker blocked in want_job waits on its own event, which
`job_available` sets for the longest-waiting taker of that queue; a GET waiting
for a result is a `ResultWait` (results.py) settled when the job becomes final;
an event stream is a `Subscription` (events.py); each
background task sleeps until its next deadline or until an alarm says an
earlier one appeared. A PostgreSQL node feeds the same calls from LISTEN, so
wake-ups cross nodes without this module knowing.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from enum import Enum

from accepted.service.alarm import Alarm
from accepted.service.events import EventFeed
from accepted.service.results import ResultWaiters
from accepted.service.take_line import ANY_QUEUE, TakeLine
from accepted.types import Due, Job


class TakerState(Enum):
    """Where a blocked want_job is in its lifecycle (docs/state-machine.md).

    LOOKING  claiming on its own (registered first, so no wake-up slips by)
    IDLE     blocked on its event, nothing pending: a new job may wake it or
             an enqueue may reserve it
    WOKEN    told to look again: a job came in `queue_token` (None: shutdown,
             or a resume or limits change reached it with its queue), not
             acted on yet; a removal passes an unused wake-up on. Its look
             (LOOKING again) acts on it: one that took only other queues'
             jobs, or failed, passes it on as it leaves (`Takers.looked`)
    RESERVED set aside by an enqueue in flight, which inserts jobs already
             running under its lease; no other wake-up is given to it
    HANDED   the enqueue committed: its jobs wait to be returned
    RELEASED the enqueue wrote nothing: it looks again, as if woken
    ABANDONED removed while reserved: what the enqueue hands it goes back
    GONE     removed, and nothing is in flight for it
    """

    LOOKING = "looking"
    IDLE = "idle"
    WOKEN = "woken"
    RESERVED = "reserved"
    HANDED = "handed"
    RELEASED = "released"
    ABANDONED = "abandoned"
    GONE = "gone"


# The members as plain names: the transitions run on every wake-up, and an
# enum member looked up on its class costs a Python-level call each time.
LOOKING, IDLE, WOKEN, RESERVED = (
    TakerState.LOOKING,
    TakerState.IDLE,
    TakerState.WOKEN,
    TakerState.RESERVED,
)
HANDED, RELEASED, ABANDONED, GONE = (
    TakerState.HANDED,
    TakerState.RELEASED,
    TakerState.ABANDONED,
    TakerState.GONE,
)
# Each transition's name, and the states it may start from. Tuples, not sets:
# membership by identity, without the enum's Python-level __hash__.
_LEGAL: dict[str, tuple[TakerState, ...]] = {
    "block": (LOOKING,),
    "unblock": (IDLE,),
    "wake": (LOOKING, IDLE),
    "reserve": (IDLE,),
    "hand_over": (RESERVED, ABANDONED),
    "release": (RESERVED, ABANDONED),
    "look": (LOOKING, IDLE, WOKEN, RESERVED, HANDED, RELEASED),
    "remove": (LOOKING, IDLE, WOKEN, RESERVED, HANDED, RELEASED),
}
# The states in which a taker may be woken or reserved for a new job.
_AVAILABLE = (LOOKING, IDLE)


class IllegalTransition(RuntimeError):
    """A taker was asked for a transition its state does not allow: a bug here."""


class Taker:
    """One blocked want_job, and its lifecycle as one `TakerState`.

    Only this module moves a taker from state to state, through the named
    transitions below, each of which checks that it is legal. The event is the
    mechanism (it is set whenever the taker should stop blocking); the state is
    the truth the rest of the module decides by.
    """

    __slots__ = (
        "_handed",
        "_state",
        "count",
        "event",
        "keys",
        "lease_seconds",
        "looking_for",
        "may_take",
        "owner",
        "prefixes",
        "queue_token",
        "seq",
    )

    def __init__(
        self,
        owner: Takers,
        seq: int,
        keys: tuple[str | None, ...],
        lease_seconds: float,
        count: int,
        prefixes: tuple[str, ...] = (),
        may_take: Callable[[], bool] | None = None,
    ) -> None:
        self.owner = owner
        self.seq = seq
        self.keys = keys
        # A limited token's `prefix*` queues: such a taker waits under ANY_QUEUE
        # but only a job of a queue with one of these prefixes is for it.
        self.prefixes = prefixes
        # Whether its caller may still take (the HTTP layer's check of its token):
        # a taker that may not is handed nothing and woken to leave.
        self.may_take = may_take
        self.lease_seconds = lease_seconds
        self.count = count
        self.event = asyncio.Event()
        self._state = LOOKING
        self.queue_token: str | None = None  # the queue a WOKEN taker was woken for
        # The queue of the wake-up its look acts on, until `Takers.looked`.
        self.looking_for: str | None = None
        self._handed: list[Job] = []  # HANDED: jobs inserted for it, committed

    def matches(self, queue: str) -> bool:
        return queue in self.keys or (ANY_QUEUE in self.keys and self.takes_any(queue))

    def takes_any(self, queue: str) -> bool:
        """As a taker of any queue: whether a job of `queue` is for it."""
        return not self.prefixes or queue.startswith(self.prefixes)

    @property
    def allowed(self) -> bool:
        """Whether its caller may still take (always, without a `may_take`)."""
        return self.may_take is None or self.may_take()

    @property
    def state(self) -> TakerState:
        """Where it is in its lifecycle; only the transitions below change it."""
        return self._state

    @property
    def available(self) -> bool:
        """Whether a new job may wake it or reserve it (it is looking or idle)."""
        return self._state in _AVAILABLE

    @property
    def has_jobs(self) -> bool:
        """Whether jobs were handed over to it and not yet returned."""
        return self._state is HANDED

    def _move(self, transition: str, to: TakerState) -> None:
        if self._state not in _LEGAL[transition]:
            raise IllegalTransition(f"taker {self.seq}: {transition} from {self._state.value}")
        if self._state is IDLE:
            self.owner.idle -= 1
        if to is IDLE:
            self.owner.idle += 1
            self.owner.line.blocked(self.keys, self.prefixes)
        self._state = to

    # -- the taker's own transitions (service/taking.py `_block`) ----------------

    async def wait(self) -> None:
        """Block until woken; a LOOKING taker is IDLE meanwhile (others just block)."""
        if self._state is LOOKING:
            self._move("block", IDLE)
        try:
            await self.event.wait()
        finally:
            if self._state is IDLE:  # timed out or cancelled: nothing came
                self._move("unblock", LOOKING)

    def look(self) -> list[Job]:
        """About to look for a job: any wake-up so far is used up by that look.

        Returns the jobs handed over to it meanwhile (then there is nothing to
        look for). A RESERVED taker stays reserved: its enqueue is still in flight.
        """
        self.event.clear()
        self.looking_for, self.queue_token = self.queue_token, None
        if self._state is RESERVED:
            self._move("look", RESERVED)
            return []
        jobs, self._handed = self._handed, []
        self._move("look", LOOKING)
        return jobs

    # -- transitions an enqueue drives (service/enqueuing.py hand-offs) ----------

    def reserve(self) -> None:
        """An enqueue will insert jobs for this idle taker: nobody else wakes it."""
        self._move("reserve", RESERVED)

    def hand_over(self, jobs: list[Job]) -> bool:
        """The enqueue committed `jobs` for it: wake it with them.

        False if it left meanwhile (ABANDONED): the caller gives the jobs back.
        """
        if self._state is ABANDONED:
            self._move("hand_over", GONE)
            return False
        self._move("hand_over", HANDED)
        self._handed = list(jobs)
        self.event.set()
        return True

    def release(self) -> None:
        """The enqueue wrote nothing: the taker looks again, as if woken."""
        if self._state is ABANDONED:
            self._move("release", GONE)
            return
        self._move("release", RELEASED)
        self.event.set()

    # -- transitions `Takers` drives ---------------------------------------------

    def _wake(self, queue: str | None) -> None:
        self._move("wake", WOKEN)
        self.queue_token = queue
        self.event.set()

    def _remove(self) -> list[Job]:
        """Returns the jobs handed over to it and never returned (to be given back).

        `Takers.remove` has read what wake-ups it leaves unused."""
        self.looking_for = None
        if self._state is RESERVED:
            self._move("remove", ABANDONED)  # the enqueue gives its jobs back
            return []
        jobs, self._handed = self._handed, []
        self._move("remove", GONE)
        return jobs


class Takers:
    """Blocked takers in arrival order; a new job wakes the longest-waiting match."""

    def __init__(self) -> None:
        self._by_key: dict[str | None, dict[int, Taker]] = {}
        self._seq = itertools.count()
        self._closed = False
        self.idle = 0  # takers in state IDLE (kept by `Taker._move`)
        # Which jobs no taker was woken for, so a new take may claim them.
        self.line = TakeLine()
        # Queues that hand out nothing: their jobs wake nobody and are handed to nobody.
        self._paused: set[str] = set()
        # Queues with limits (flow-limits): their jobs are never handed off at
        # enqueue (only the limited claim counts what the limits count), and a
        # job of theirs that stops running wakes a taker: capacity came back.
        self._limited: set[str] = set()

    def __len__(self) -> int:
        return len(self._all())

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def paused(self) -> AbstractSet[str]:
        """The paused queues as this node knows them (read-only: `set_paused` changes them)."""
        return self._paused

    @property
    def limited(self) -> AbstractSet[str]:
        """The queues with limits (read-only: `set_limited` changes them)."""
        return self._limited

    def waiting(self) -> int:
        """How many takers are blocked idle right now (for tests and metrics)."""
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
        may_take: Callable[[], bool] | None = None,
    ) -> Taker:
        """A taker of `queues` (None: any), plus any queue with one of `prefixes`; LOOKING.

        `may_take` says whether its caller may still take: one that may not is
        skipped by hand-offs and wake-ups, and woken to leave.
        """
        keys: tuple[str | None, ...] = (ANY_QUEUE,) if queues is None else tuple(set(queues))
        if prefixes:
            keys = (*keys, ANY_QUEUE) if ANY_QUEUE not in keys else keys
        taker = Taker(self, next(self._seq), keys, lease_seconds, count, prefixes, may_take)
        for key in keys:
            self._by_key.setdefault(key, {})[taker.seq] = taker
        if self._closed:
            taker._wake(None)
        return taker

    def remove(self, taker: Taker) -> list[Job]:
        """The taker is done (answered, timed out, hung up).

        Returns the jobs handed over to it that it never returned: the caller
        gives them back. A reserved taker is ABANDONED instead: its enqueue
        gives back what it inserts for it.
        """
        for key in taker.keys:
            waiting = self._by_key.get(key)
            if waiting is not None:
                waiting.pop(taker.seq, None)
                if not waiting:
                    del self._by_key[key]
        # A wake-up it received but never acted on belongs to the next in line;
        # so does one its look did not use (`looked`; a claim that raised or
        # was cancelled never got there).
        unused = (taker.queue_token if taker.state is WOKEN else None, taker.looking_for)
        leftover = taker._remove()
        if not self._closed:
            for queue in unused:
                if queue is not None:
                    self.job_available(queue, 1)
        return leftover

    def reserve(self, queue: str) -> Taker | None:
        """The longest-waiting idle taker of `queue`, set aside for a hand-off (RESERVED)."""
        if self.idle == 0 or self._closed or queue in self._paused or queue in self._limited:
            return None
        taker = self._oldest_allowed(queue)
        if taker is not None and taker.state is IDLE:
            taker.reserve()
            return taker
        return None  # the oldest is looking on its own: a wake-up reaches it instead

    def job_available(self, queue: str, count: int = 1) -> None:
        """`count` jobs became takeable in `queue`: wake that many takers, oldest first."""
        if queue in self._paused:
            return  # the resume wakes them
        for woken in range(count):
            taker = self._oldest_allowed(queue)
            if taker is None:
                self.line.nobodys(queue, count - woken)
                return
            taker._wake(queue)

    def looked(self, taker: Taker, jobs: Sequence[Job]) -> None:
        """`taker`'s look took `jobs`. The wake-up it acted on is used up if it took
        a job of that queue, or nothing (the job was gone). If it took only other
        queues' jobs (a claim of several queues takes the best of any), the
        wake-up stays with it, and its removal, as it leaves with those jobs,
        passes it on: that queue's job still waits, promised to nobody, and new
        takes would wait in line behind it."""
        queue = taker.looking_for
        if queue is not None and (not jobs or any(job.queue == queue for job in jobs)):
            taker.looking_for = None

    def set_paused(self, queue: str, paused: bool) -> None:
        """Pause or resume `queue` here; a resume wakes every taker of it to look again."""
        if paused:
            self._paused.add(queue)
        elif queue in self._paused:
            self._paused.discard(queue)
            self._wake_all(queue)

    def replace_paused(self, queues: Iterable[str]) -> None:
        """The paused queues as the store has them (at start, and after missed notices)."""
        now_paused = set(queues)
        resumed, self._paused = self._paused - now_paused, now_paused
        for queue in resumed:
            self._wake_all(queue)

    def set_limited(self, queue: str, limited: bool) -> None:
        """Whether `queue` has limits, as this node just set them (no wake-up: see
        `limits_changed`)."""
        if limited:
            self._limited.add(queue)
        else:
            self._limited.discard(queue)

    def replace_limited(self, queues: Iterable[str]) -> None:
        """The limited queues as the store has them (at start, and after notices)."""
        self._limited = set(queues)

    def limits_changed(self, queue: str) -> None:
        """`queue`'s limits were set or cleared: its takers look again (there may be room)."""
        self._wake_all(queue)

    def wake_refused(self) -> None:
        """Rights changed (tokens re-read): a taker that may no longer take is woken to
        leave, with no queue, so it hands no wake-up on."""
        for taker in self._all().values():
            if taker._state in _AVAILABLE and not taker.allowed:
                taker._wake(None)

    def _wake_all(self, queue: str) -> None:
        """Every available taker of `queue` looks again; those that find nothing wait on."""
        self.line.unknown(queue)
        for key in (queue, ANY_QUEUE):
            for taker in self._by_key.get(key, {}).values():
                if key is ANY_QUEUE and taker.prefixes and not taker.takes_any(queue):
                    continue  # a limited token's taker; this queue is not one of its
                if taker._state in _AVAILABLE:
                    taker._wake(queue)

    def _oldest_allowed(self, queue: str) -> Taker | None:
        """The longest-waiting available taker of `queue` whose caller may still take.

        Those before it that may not (their token was revoked or expired) are
        woken with no queue, so they leave without taking and pass nothing on.
        """
        while True:
            taker = self._oldest_available(queue)
            if taker is None or taker.allowed:
                return taker
            taker._wake(None)

    def _oldest_available(self, queue: str) -> Taker | None:
        best: Taker | None = None
        for key in (queue, ANY_QUEUE):
            for taker in self._by_key.get(key, {}).values():
                if key is ANY_QUEUE and taker.prefixes and not taker.takes_any(queue):
                    continue  # a limited token's taker; this queue is not one of its
                if taker._state in _AVAILABLE:
                    if best is None or taker.seq < best.seq:
                        best = taker
                    break
        return best

    def close(self) -> None:
        """Shutdown: every taker stops waiting and answers with what it has.

        A reserved one stays reserved (its enqueue still hands over or releases)
        but stops blocking too.
        """
        self._closed = True
        for waiting in self._by_key.values():
            for taker in waiting.values():
                if taker._state in _AVAILABLE:
                    taker._wake(None)
                else:
                    taker.event.set()


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

    def standing_changed(self) -> None:
        """Tokens were re-read, or one expired: every waiter whose caller may no longer
        wait leaves now (a taker is woken to answer 401, a result wait and an event
        stream are refused), not at its next job, event or timeout."""
        self.takers.wake_refused()
        self.results.wake_refused()
        self.events.wake_refused()

    def close(self) -> None:
        self.takers.close()
        self.results.close()
        self.events.close()
