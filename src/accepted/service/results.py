"""Result waits: a GET (or an enqueue) waiting for one job to become final.

Each wait is a `ResultWait` whose lifecycle is one `WaitState`, moved only by
the named transitions below (docs/state-machine.md). `ResultWaiters`, owned
by `Signals`, drives those that come from outside the wait (the job became
final, was deleted elsewhere, the server stops, the caller's token lapsed);
the wait itself drives its own ending (it timed out, its client left). A
wait is settled once: the first transition out of `waiting` wins, and the
owner forgets it in the same step (whichever side settled it), so a second
cause never reaches it: a wait that timed out and is re-reading its job is no
longer there when the job ends. The owner's broadcasts settle only waits still
waiting, so no one wait can stop them half-way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from enum import Enum

from accepted.types import Job


class WaitState(Enum):
    """Where a result wait is (docs/state-machine.md, "A result wait").

    WAITING    registered, the job not final yet
    ANSWERED   the job became final (or was deleted here: its last state)
    DELETED    the job was deleted where its last state is unknown: re-read (404)
    TIMED_OUT  its `wait` seconds passed first: it answers the job as it is
    SHUT_DOWN  the server is stopping: it answers the job as it is
    REFUSED    its caller's token was revoked or expired: it answers 401
    LEFT       its client hung up (or the request was cancelled) before any of these
    """

    WAITING = "waiting"
    ANSWERED = "answered"
    DELETED = "deleted"
    TIMED_OUT = "timed_out"
    SHUT_DOWN = "shut_down"
    REFUSED = "refused"
    LEFT = "left"


WAITING, ANSWERED, DELETED = WaitState.WAITING, WaitState.ANSWERED, WaitState.DELETED
TIMED_OUT, SHUT_DOWN = WaitState.TIMED_OUT, WaitState.SHUT_DOWN
REFUSED, LEFT = WaitState.REFUSED, WaitState.LEFT

# Each transition's name and the state it leads to; every one starts from WAITING.
_TO: dict[str, WaitState] = {
    "answer": ANSWERED,
    "delete": DELETED,
    "time_out": TIMED_OUT,
    "shut_down": SHUT_DOWN,
    "refuse": REFUSED,
    "leave": LEFT,
}


class IllegalWaitTransition(RuntimeError):
    """A settled wait was asked to settle again: a bug in its owner."""


class ResultWait:
    """One caller waiting for job `job_id` to become final."""

    __slots__ = ("_event", "_forget", "_state", "job", "job_id", "may_wait")

    def __init__(
        self,
        job_id: str,
        may_wait: Callable[[], bool] | None = None,
        forget: Callable[[ResultWait], None] | None = None,
    ) -> None:
        self.job_id = job_id
        # Whether its caller may still wait (the HTTP layer's check of its token).
        self.may_wait = may_wait
        self.job: Job | None = None  # ANSWERED: the final job (or its last state)
        self._state = WAITING
        self._event = asyncio.Event()
        # Its owner's forgetting, called as it settles: nothing can reach it after.
        self._forget = forget

    @property
    def state(self) -> WaitState:
        return self._state

    @property
    def waiting(self) -> bool:
        return self._state is WAITING

    @property
    def allowed(self) -> bool:
        """Whether its caller may still wait (always, without a `may_wait`)."""
        return self.may_wait is None or self.may_wait()

    def _settle(self, transition: str) -> None:
        if self._state is not WAITING:
            raise IllegalWaitTransition(
                f"result wait on {self.job_id}: {transition} from {self._state.value}"
            )
        self._state = _TO[transition]
        if self._forget is not None:
            self._forget(self)
        self._event.set()

    # -- transitions `ResultWaiters` drives --------------------------------------

    def answer(self, job: Job) -> None:
        """The job is final (or was deleted, `job` being its last state)."""
        self.job = job
        self._settle("answer")

    def delete(self) -> None:
        """The job was deleted where its last state could not be read."""
        self._settle("delete")

    def shut_down(self) -> None:
        self._settle("shut_down")

    def refuse(self) -> None:
        """Its caller's token no longer holds: nothing more is read for it."""
        self._settle("refuse")

    # -- the wait's own transitions (service/jobs.py `wait_result`) --------------

    async def wait(self, seconds: float) -> WaitState:
        """Block until settled, at most `seconds` (then TIMED_OUT); returns the state.

        A caller who may no longer wait is REFUSED at once, not at the job's end."""
        if self._state is WAITING and not self.allowed:
            self._settle("refuse")
        if self._state is WAITING:
            try:
                async with asyncio.timeout(seconds):
                    await self._event.wait()
            except TimeoutError:
                if self._state is WAITING:  # a settlement in the same instant wins
                    self._settle("time_out")
        return self._state

    def leave(self) -> None:
        """Its client went (the request was cancelled) before an answer."""
        self._settle("leave")


class ResultWaiters:
    """The result waits of this process, by job id."""

    def __init__(self) -> None:
        self._by_id: dict[str, dict[int, ResultWait]] = {}
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return sum(len(waits) for waits in self._by_id.values())

    def add(self, job_id: str, may_wait: Callable[[], bool] | None = None) -> ResultWait:
        """A wait on `job_id`, WAITING; REFUSED at once if its caller may no longer
        wait (its token lapsed before this, so no `wake_refused` would find it),
        SHUT_DOWN at once once the server stops. Either of those is not registered.

        Registered before the caller reads the job, so no final event slips between.
        """
        wait = ResultWait(job_id, may_wait, self._forget)
        if not wait.allowed:
            wait.refuse()
        elif self._closed:
            wait.shut_down()
        else:
            self._by_id.setdefault(job_id, {})[id(wait)] = wait
        return wait

    def _forget(self, wait: ResultWait) -> None:
        """Drop a wait as it settles (a no-op if a broadcast took its job's waits)."""
        waits = self._by_id.get(wait.job_id)
        if waits is not None and waits.pop(id(wait), None) is not None and not waits:
            del self._by_id[wait.job_id]

    def remove(self, wait: ResultWait) -> None:
        """The wait is over; one still WAITING (its request was cancelled) LEFT."""
        if wait.waiting:
            wait.leave()  # and forgotten

    def job_final(self, job: Job) -> None:
        """The job is final (or gone, `job` then being its last state): answer its waits.

        Called for every job that ends: with nobody waiting, one dict lookup."""
        waits = self._by_id.pop(job.id, None)
        if waits is not None:
            for wait in waits.values():
                if wait.waiting:
                    wait.answer(job)

    def job_gone(self, job_id: str) -> None:
        """Deleted on another node (its last state unknown here): the waits re-read (404)."""
        for wait in self._by_id.pop(job_id, {}).values():
            if wait.waiting:
                wait.delete()

    def wake_refused(self) -> None:
        """Rights may have lapsed (tokens re-read, one expired): every wait whose caller
        may no longer wait is refused now, not when its job or its timeout comes."""
        refused = [
            wait
            for waits in self._by_id.values()
            for wait in waits.values()
            if wait.waiting and not wait.allowed
        ]
        for wait in refused:
            if wait.waiting:
                wait.refuse()  # and forgotten

    def wants(self, job_id: str) -> bool:
        return job_id in self._by_id

    def waiting(self) -> list[str]:
        """The ids someone waits on: what to re-check when wake-ups may have been missed."""
        return list(self._by_id)

    def close(self) -> None:
        """Shutdown: every wait answers the job as it is, and new ones do at once."""
        self._closed = True
        by_id, self._by_id = self._by_id, {}
        for waits in by_id.values():
            for wait in waits.values():
                if wait.waiting:
                    wait.shut_down()
