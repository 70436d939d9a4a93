"""The worker loop: take jobs, run them, keep their leases alive, report, stop cleanly.

One long-poll takes as many jobs as there are free slots, so an idle worker
holds one open request and a busy one none. Each running job has a heartbeat
task that renews its lease every third of it. On `stop()` the worker takes
no more jobs, gives running ones `grace` seconds to finish, then gives back
the rest (PUT status `queued`); a second `stop()` skips what is left of the
grace period.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import msgspec

from accepted.client import AsyncClient, AttemptOutcome, Job, JobStatus
from accepted.client.core import Reported, WaitPlan
from accepted.errors import AcceptedError, Conflict, NotFound
from accepted.worker import invoke

__all__ = ["Worker", "current_job"]

log = logging.getLogger("accepted.worker")

# The most jobs one take may ask for (the server's X-Accepted-Count limit).
MAX_TAKE = 1000
# Pauses after a failed take: the server is down or refusing; do not hammer it.
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0
# How long giving back the unfinished jobs may take at shutdown.
GIVE_BACK_TIMEOUT = 5.0

_current: contextvars.ContextVar[Job] = contextvars.ContextVar("accepted_current_job")


def current_job() -> Job:
    """The job the calling job function is running for (its id, attempts, params...).

    Raises LookupError outside a job function.
    """
    return _current.get()


@dataclass(slots=True)
class _Running:
    job: Job
    task: asyncio.Task[None] | None = None
    started: float = field(default_factory=time.monotonic)
    lost: bool = False  # the server refused a heartbeat: someone else holds the job now
    abandoned: bool = False  # given back at shutdown: its result goes nowhere


@dataclass(slots=True)
class _Outcome:
    """What a job's function came to, to be reported (by PUT, or riding on a take)."""

    running: _Running
    done: bool
    result: Any
    retry: bool
    took: float = field(init=False)
    # Its "done"/"failed" line is written (once, however many times it is sent).
    logged: bool = False
    # It went with a take that was cut short or failed: the server may have applied it.
    unsure: bool = False

    def __post_init__(self) -> None:
        self.took = time.monotonic() - self.running.started

    def report(self) -> Reported:
        status = JobStatus.DONE if self.done else JobStatus.FAILED
        return self.running.job, status, self.result, self.retry

    def log_reported(self, now: Job | None) -> None:
        """Log the outcome once: when its take is sent, or when its PUT is answered.

        `now` is the job as the server answered a PUT (None for a riding report,
        logged as it is sent: a take may then block for its whole long-poll)."""
        if self.logged:
            return
        self.logged = True
        job = self.running.job
        if self.done:
            log.info("job %s (%s) done in %.3f s", job.id, job.queue, self.took)
            return
        if now is None:
            retries_left = _retries_left(job, self.retry)
        else:
            retries_left = now.retries_left if now.status is JobStatus.DELAYED else None
        if retries_left is not None:
            log.warning(
                "job %s (%s) failed in %.3f s, %d retries left: %s",
                job.id,
                job.queue,
                self.took,
                retries_left,
                self.result["error"],
            )
        else:
            log.warning(
                "job %s (%s) failed in %.3f s: %s", job.id, job.queue, self.took,
                self.result["error"],
            )  # fmt: skip


def _retries_left(job: Job, retry: bool) -> int | None:
    """The retries a failure that rode on a take leaves, as the server decides
    (a retry while retries are left and attempts allowed); None: failed for good.

    The take's answer does not say; the job as taken does, as nobody else
    changes it while this worker holds its lease."""
    allowed = job.max_attempts is None or job.attempts < job.max_attempts
    if retry and job.retries_left > 0 and allowed:
        return job.retries_left - 1
    return None


# The attempt outcomes a report of done / failed (for good, or to be retried) ends in.
_ENDS = {
    (True, False): {AttemptOutcome.DONE},
    (False, False): {AttemptOutcome.FAILED},
    (False, True): {AttemptOutcome.RETRIED, AttemptOutcome.FAILED},  # FAILED: none left
}


async def _applied(client: AsyncClient, outcome: _Outcome) -> bool:
    """Whether a report refused with 409 is one the server already applied.

    A report that went with a take cut short (stopping, a connection error) may
    have arrived; sent again, it is refused, as the job is no longer running.
    It was applied if this worker's attempt ended as reported, with its
    result: only the holder of that attempt's lease could have ended it so.
    Anything else (the job cancelled, timed out, its lease expired) is a
    genuine refusal."""
    job = outcome.running.job
    try:
        attempts = await client.attempts(job.id)
    except AcceptedError:
        return False
    ours = next((a for a in attempts if a.attempt == job.attempts), None)
    if ours is None or ours.outcome not in _ENDS[outcome.done, outcome.retry and not outcome.done]:
        return False
    sent = msgspec.json.decode(msgspec.json.encode(outcome.result))
    return bool(ours.result == sent)


class Worker:
    """Runs `function` for jobs of `queues` (all queues if None), `concurrency` at a time.

    Pass `url` (the worker owns its client) or a `client` it only borrows.
    `lease` is the lease asked for each job, `poll` the long-poll length.
    `token` (else ACCEPTED_TOKEN) authenticates a worker it makes its own client for.
    """

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        url: str | None = None,
        client: AsyncClient | None = None,
        queues: Sequence[str] | None = None,
        concurrency: int = 1,
        lease: float = 30.0,
        grace: float = 30.0,
        poll: float = 30.0,
        token: str | None = None,
    ) -> None:
        if (url is None) == (client is None):
            raise ValueError("give the worker a url or a client, not both")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if lease <= 0 or grace < 0 or poll < 0:
            raise ValueError("lease must be > 0, grace and poll >= 0")
        self.function = function
        self.url = url
        self.client = client
        self.queues = list(queues) if queues else None
        self.concurrency = concurrency
        self.lease = lease
        self.grace = grace
        self.poll = poll
        self.token = token
        self.name = getattr(function, "__qualname__", repr(function))
        self._active: dict[str, _Running] = {}
        # Reports waiting to ride on the next take (see _take_loop), and whether the
        # take loop is parked until a slot frees, the moment a finished job frees one.
        self._outbox: list[_Outcome] = []
        self._parked = False
        self._stopping = asyncio.Event()
        self._hurry = asyncio.Event()
        self._freed = asyncio.Event()

    @property
    def running(self) -> list[Job]:
        """The jobs being worked on right now."""
        return [r.job for r in self._active.values()]

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        """Stop taking jobs and shut down; called again, skip the rest of the grace period.

        Safe to call from a signal handler installed with loop.add_signal_handler.
        """
        if self._stopping.is_set():
            self._hurry.set()
        self._stopping.set()

    async def run(self) -> None:
        """Work until `stop()`; returns once running jobs are finished or given back."""
        # Patient retries: a result should outlive a restart of the server.
        client = self.client or AsyncClient(
            self.url or "", retries=6, backoff=0.2, token=self.token
        )
        self.client = client
        where = ", ".join(self.queues) if self.queues else "any queue"
        log.info(
            "worker %s: taking from %s (concurrency %d, lease %g s)",
            self.name,
            where,
            self.concurrency,
            self.lease,
        )
        try:
            await self._take_loop(client)
            await self._send_outbox(client)
            await self._drain(client)
        finally:
            if self.url is not None:
                await client.aclose()
                self.client = None
        log.info("worker %s: stopped", self.name)

    # -- taking ----------------------------------------------------------------

    async def _take_loop(self, client: AsyncClient) -> None:
        backoff = BACKOFF_FIRST
        while not self._stopping.is_set():
            free = self.concurrency - len(self._active)
            if free <= 0:
                self._freed.clear()
                self._parked = True
                await self._until(self._freed)
                self._parked = False
                continue
            sent = time.monotonic()
            riding = self._outbox_for_take()
            await self._send_outbox(client)  # more than one finished at once: PUT the rest
            for outcome in riding:
                outcome.log_reported(None)
            try:
                jobs = await self._take(client, min(free, MAX_TAKE), riding)
            except (Conflict, NotFound) as exc:
                # A refused report is the whole answer, and nothing was taken.
                for outcome in riding:
                    log.warning("job %s: result dropped; the server refused it: %s",
                                outcome.running.job.id, exc)  # fmt: skip
                continue
            except AcceptedError as exc:
                self._outbox[:0] = self._unsure(riding)  # PUT them next turn
                log.warning("worker %s: take failed (%s); again in %.1f s", self.name, exc, backoff)
                await self._until(self._stopping, limit=backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            backoff = BACKOFF_FIRST
            for job in jobs:
                self._start(client, job)
            if not jobs:
                # A server that is stopping answers long-polls at once: do not spin on it.
                pause = WaitPlan.pause(self.poll, time.monotonic() - sent)
                await self._until(self._stopping, limit=pause)

    async def _take(
        self, client: AsyncClient, count: int, riding: Sequence[_Outcome] = ()
    ) -> list[Job]:
        """A long-poll for up to `count` jobs, abandoned (the server then puts back
        whatever it had claimed for us) as soon as the worker is told to stop.

        `riding` reports go with it: the server applies them before it takes."""
        reports = [outcome.report() for outcome in riding]
        take = asyncio.ensure_future(
            client.take_many(
                self.queues, count=count, block=self.poll, lease=self.lease, reports=reports
            )
        )
        try:
            await self._until(take)
        finally:
            if not take.done():
                take.cancel()
                with suppress(asyncio.CancelledError):
                    await take
        if take.cancelled():
            # Stopping: whether the reports arrived is unknown; they go again by PUT
            # (a second copy of an applied one is refused, and changes nothing).
            self._outbox[:0] = self._unsure(riding)
            return []
        return take.result()

    async def _until(
        self, what: asyncio.Event | asyncio.Future[Any], limit: float | None = None
    ) -> None:
        """Wait for `what`, or until the worker is told to stop, or `limit` seconds."""
        waits: set[asyncio.Future[Any]] = {asyncio.ensure_future(self._stopping.wait())}
        target = asyncio.ensure_future(what.wait()) if isinstance(what, asyncio.Event) else what
        waits.add(target)
        try:
            await asyncio.wait(waits, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                if waiting is not what and not waiting.done():
                    waiting.cancel()

    # -- running -------------------------------------------------------------

    def _start(self, client: AsyncClient, job: Job) -> None:
        running = _Running(job)
        self._active[job.id] = running
        running.task = asyncio.create_task(self._process(client, running), name=f"job {job.id}")
        running.task.add_done_callback(lambda _: self._finished(job.id))

    def _finished(self, job_id: str) -> None:
        self._active.pop(job_id, None)
        self._freed.set()

    async def _process(self, client: AsyncClient, running: _Running) -> None:
        job = running.job
        log.info("job %s (%s, attempt %d) started", job.id, job.queue, job.attempts)
        beat = asyncio.create_task(self._heartbeats(client, running))
        try:
            done, result, retry = await self._invoke(job)
        finally:
            beat.cancel()
        if running.abandoned:
            return  # given back at shutdown; the function ignored its cancellation
        if running.lost:
            log.warning("job %s: result dropped; the job's lease was lost", job.id)
            return
        outcome = _Outcome(running, done, result, retry)
        if self._parked and not self._stopping.is_set():
            # The take loop waits for this very slot: the result, a failure too,
            # rides on its take, two requests per job instead of three.
            self._outbox.append(outcome)
            return
        await self._report(client, outcome)

    async def _invoke(self, job: Job) -> tuple[bool, Any, bool]:
        """(True, value, _) if the function returned a JSON value, else (False, why, retry).

        A raised exception may be retried (the server decides, by the job's
        retries left); `FailForGood`, or a return value that is not JSON (the
        same code would return it again), may not.
        """
        _current.set(job)  # in this task's own context, so only this job sees it
        try:
            value = await invoke.call(self.function, job.params, name=f"job-{job.id}")
        except invoke.FailForGood as exc:
            return False, invoke.describe_failure(exc), False
        except Exception as exc:
            return False, invoke.describe_failure(exc), True
        try:
            msgspec.json.encode(value)
        except (TypeError, ValueError, OverflowError) as exc:
            failure = invoke.describe_failure(exc)
            failure["error"] = f"the job function's return value is not JSON: {exc}"
            return False, failure, False
        return True, value, False

    async def _heartbeats(self, client: AsyncClient, running: _Running) -> None:
        interval = self.lease / 3
        while True:
            await asyncio.sleep(interval)
            try:
                running.job = await client.heartbeat(running.job, lease=self.lease)
            except (Conflict, NotFound) as exc:
                running.lost = True
                log.warning(
                    "job %s: lease lost (%s); its result will be dropped", running.job.id, exc
                )
                return
            except AcceptedError as exc:
                log.warning("job %s: heartbeat failed (%s); trying again", running.job.id, exc)

    def _outbox_for_take(self) -> list[_Outcome]:
        """The one report that rides on the next take; any others go by PUT.

        One that may have arrived already never rides: its refusal would
        refuse the whole take."""
        for i, outcome in enumerate(self._outbox):
            if not outcome.unsure:
                return [self._outbox.pop(i)]
        return []

    @staticmethod
    def _unsure(outcomes: Sequence[_Outcome]) -> list[_Outcome]:
        """Mark reports whose take may or may not have delivered them (see _applied)."""
        for outcome in outcomes:
            outcome.unsure = True
        return list(outcomes)

    async def _send_outbox(self, client: AsyncClient) -> None:
        outbox, self._outbox = self._outbox, []
        await asyncio.gather(*(self._report(client, outcome) for outcome in outbox))

    async def _report(self, client: AsyncClient, outcome: _Outcome) -> None:
        job = outcome.running.job
        try:
            if outcome.done:
                job = await client.complete(job, outcome.result)
            else:
                job = await client.fail(job, outcome.result, retry=outcome.retry)
        except (Conflict, NotFound) as exc:
            if isinstance(exc, Conflict) and outcome.unsure and await _applied(client, outcome):
                log.debug("job %s: its report had arrived with the take cut short", job.id)
                return
            log.warning("job %s: result dropped; the server refused it: %s", job.id, exc)
            return
        except AcceptedError as exc:
            log.error(
                "job %s: could not report (%s); it runs again when its lease expires", job.id, exc
            )
            return
        outcome.log_reported(job)

    # -- stopping ------------------------------------------------------------

    async def _drain(self, client: AsyncClient) -> None:
        """Let running jobs finish within the grace period, then give back the rest."""
        if self._active and not self._hurry.is_set():
            log.info(
                "worker %s: stopping; %d job(s) get %g s to finish",
                self.name,
                len(self._active),
                self.grace,
            )
            tasks = [r.task for r in self._active.values() if r.task is not None]
            everything = asyncio.ensure_future(asyncio.wait(tasks))
            await self._until_hurried(everything, self.grace)
        unfinished = list(self._active.values())
        if not unfinished:
            return
        for running in unfinished:
            running.abandoned = True
            if running.task is not None:
                running.task.cancel()  # a thread runs on, but its result goes nowhere
        await asyncio.gather(
            *(r.task for r in unfinished if r.task is not None), return_exceptions=True
        )
        try:
            async with asyncio.timeout(GIVE_BACK_TIMEOUT):
                await asyncio.gather(*(self._give_back(client, r.job) for r in unfinished))
        except TimeoutError:
            log.error(
                "worker %s: giving back timed out; those jobs run again when their leases expire",
                self.name,
            )

    async def _until_hurried(self, work: asyncio.Future[Any], limit: float) -> None:
        hurry = asyncio.ensure_future(self._hurry.wait())
        try:
            await asyncio.wait({work, hurry}, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        finally:
            hurry.cancel()
            work.cancel()

    async def _give_back(self, client: AsyncClient, job: Job) -> None:
        try:
            await client.give_back(job)
        except (Conflict, NotFound) as exc:
            log.info("job %s: not given back, the server says: %s", job.id, exc)
        except AcceptedError as exc:
            log.error(
                "job %s: could not give back (%s); it runs again when its lease expires",
                job.id,
                exc,
            )
        else:
            log.info("job %s: unfinished, given back to %s", job.id, job.queue)
