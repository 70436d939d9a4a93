"""The worker's side of the job service: takes, blocking takes, and the reports
that ride on them.

`JobService.take` and `report_and_take` are the entry points; this mixin is
the machinery behind them, apart from the producers' and readers' side in
service/jobs.py:

- a take claims at once, or blocks as a `Taker` (service/signals.py) until a
  job comes for it, first come, first served (service/take_line.py decides
  whether a new take may claim or must wait in line);
- a claim, and the riding reports applied with it, outlive a cancelled
  request: what was claimed for a taker that left goes back at once, without
  counting an attempt (`_release`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

from accepted.metrics import Metrics
from accepted.service import rules
from accepted.service.ids import new_lease
from accepted.service.shielded import shielded
from accepted.service.signals import Signals
from accepted.store.base import ClaimRequest, Decide, JobStore
from accepted.tokens import QueueScope
from accepted.types import Due, Job

log = logging.getLogger("accepted.service")


class Taking:
    """Mixed into `JobService`, which provides these."""

    store: JobStore
    signals: Signals
    metrics: Metrics
    default_lease: float
    recheck_interval: float | None
    _background: set[asyncio.Future[Job]]

    def after_change(self, job: Job) -> None: ...

    async def _take(
        self, queues: Sequence[str] | None, now: float, options: TakeOptions, riding: Riding
    ) -> list[Job]:
        prefixes: tuple[str, ...] = ()
        scope, count, block = options.scope, options.count, options.block
        if queues is None and scope is not None:
            queues, prefixes = sorted(scope.exact), scope.prefixes
        lease = self.default_lease if options.lease_seconds is None else options.lease_seconds
        takers = self.signals.takers
        if block <= 0 or takers.closed:
            return (await self._claim(queues, count, now, lease, prefixes, riding))[0]
        # First come, first served: while older takers of these queues block,
        # a new take queues up behind them without a look of its own (`in_line`).
        # Not on limited queues: their first look also says when a rate window opens.
        plain = not self._limited_among(queues, prefixes)
        line = takers.line
        in_line = plain and line.in_line(queues, prefixes)
        if riding.pending:
            # Riding reports, and a first look, before this take becomes a taker,
            # as a PUT is made before a want_job: a wake-up meant for blocked
            # takers is not spent on one about to claim anyway.
            loop = asyncio.get_running_loop()
            started, unpromised = loop.time(), line.unpromised
            if in_line:
                await self._report(riding)
                jobs: list[Job] = []
            else:
                jobs = (await self._claim(queues, count, now, lease, prefixes, riding))[0]
                line.claimed(jobs)
            if jobs or riding.refused or takers.closed:
                return jobs
            # Found nothing, or did not look: it registers and waits, looking
            # first only if a job came meanwhile that no taker was woken for.
            in_line = plain and line.unpromised == unpromised
            now += loop.time() - started  # the caller's clock, advanced by loop time
            options = replace(options, block=max(0.0, block - (loop.time() - started)))
        return await self._block(queues, now, lease, prefixes, options, look_first=not in_line)

    async def _block(
        self,
        queues: Sequence[str] | None,
        now: float,
        lease: float,
        prefixes: tuple[str, ...],
        options: TakeOptions,
        *,
        look_first: bool = True,
    ) -> list[Job]:
        """A take that waits up to `options.block` seconds for its first job (see `take`).

        Without `look_first` it waits before its first claim: nothing it may
        take is known to be there (`_take`), so a claim would find nothing or
        take what an older taker was woken for.
        """
        takers, count = self.signals.takers, options.count
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + options.block
        clock_offset = now - loop.time()  # the caller's clock, advanced by loop time
        # Registered before the first look, so no wake-up slips between.
        taker = takers.add(queues, lease, count, prefixes=prefixes, may_take=options.may_take)
        fresh = True
        try:
            while True:
                if not taker.allowed:
                    return []  # `finally` gives back what was handed to it meanwhile
                handed = taker.look()
                if handed:
                    return handed
                looked_at = clock_offset + loop.time()
                opens_at = None
                if look_first:
                    jobs, opens_at = await self._claim(queues, count, looked_at, lease, prefixes)
                    takers.looked(taker, jobs)
                    if fresh:  # not woken for a job: what it took was nobody's
                        takers.line.claimed(jobs)
                    if jobs or takers.closed:
                        return jobs
                look_first, fresh = True, False
                wait = give_up_at - loop.time()
                if wait <= 0:
                    return []
                wait = self._next_look(wait, opens_at, looked_at)
                try:
                    async with asyncio.timeout(wait):
                        await taker.wait()
                except TimeoutError:
                    if loop.time() >= give_up_at and not taker.has_jobs:
                        return []
        finally:
            leftover = takers.remove(taker)
            if leftover:  # handed jobs, but cancelled before returning them
                self._release(leftover, clock_offset + loop.time())

    def _next_look(self, wait: float, opens_at: float | None, looked_at: float) -> float:
        """How long a blocked take waits before it looks again, if nothing wakes it."""
        if self.recheck_interval is not None:
            wait = min(wait, self.recheck_interval)
        if opens_at is not None:  # a full rate window: look again when it moves on
            wait = min(wait, max(0.0, opens_at - looked_at) + RATE_MARGIN)
        return wait

    async def _claim(
        self,
        queues: Sequence[str] | None,
        count: int,
        now: float,
        lease: float,
        prefixes: Sequence[str] = (),
        riding: Riding | None = None,
    ) -> tuple[list[Job], float | None]:
        """Claim, through the limited claim when a limited queue may be among `queues`;
        `riding` reports not applied yet are, in the same transaction, first.

        Returns the jobs, and when a full rate window of those queues opens.
        """
        tokens = [new_lease() for _ in range(count)]
        expires = now + lease
        limited = self._limited_among(queues, prefixes)
        claim: asyncio.Future[tuple[list[Job], float | None]]
        if riding is not None and riding.pending:
            request = ClaimRequest(queues, count, now, tokens, expires, prefixes, limited)
            claim = asyncio.ensure_future(self._report_and_claim(riding, request))
        elif limited:
            claim = asyncio.ensure_future(
                self.store.claim_limited(queues, count, now, tokens, expires, prefixes=prefixes)
            )
        else:
            claim = asyncio.ensure_future(
                _no_window(
                    self.store.claim_jobs(queues, count, now, tokens, expires, prefixes=prefixes)
                )
            )
        try:
            jobs, opens_at = await asyncio.shield(claim)
        except asyncio.CancelledError:
            # The taker is gone (hung up, shutdown); what the claim took goes back.
            claim.add_done_callback(lambda done: self._release_orphans(done, now))
            raise
        if jobs:
            try:
                self.signals.deadline(Due.LEASE, expires)
                wait = self.metrics.wait.observe
                for job in jobs:
                    wait(max(0.0, now - job.due_at), job.queue)
                    self.signals.events.publish(job)
            except BaseException:
                self._release(jobs, now)  # committed but never answered: back at once
                raise
        return jobs, opens_at

    async def _report(self, riding: Riding) -> None:
        """The riding reports alone, as `report_many` applies them (a take in line
        behind blocked takers makes no claim with them).

        Shielded: a take in line is a long wait, cancelled when its client hangs
        up, and a report committed after that must still wake and answer whoever
        its change concerns."""
        changes, riding.changes = riding.changes, []
        riding.outcomes = await shielded(self.store.update_jobs(changes), self._after_reports)

    def _after_reports(self, update: asyncio.Future[list[Job | Exception]]) -> None:
        if not update.cancelled() and update.exception() is None:
            self._after_outcomes(update.result())

    def _after_outcomes(self, outcomes: Sequence[Job | Exception]) -> None:
        """`after_change` for each report that was applied (not refused)."""
        for outcome in outcomes:
            if isinstance(outcome, Job):
                self.after_change(outcome)

    async def _report_and_claim(
        self, riding: Riding, claim: ClaimRequest
    ) -> tuple[list[Job], float | None]:
        """The riding reports and the claim in one store call; the reports' wake-ups
        and events (as `report_many`'s) before the claim's, even if the take is gone.

        Once the store call returned, its claim is committed: if anything after it
        raises, the claimed jobs go back at once (uncounted), so no bug here strands
        them running until their lease runs out."""
        changes, riding.changes = riding.changes, []
        outcomes, jobs, opens_at = await self.store.update_and_claim(changes, claim)
        try:
            riding.outcomes = outcomes
            self._after_outcomes(outcomes)
        except BaseException:
            self._release(jobs, claim.now)
            raise
        return jobs, opens_at

    def _limited_among(self, queues: Sequence[str] | None, prefixes: Sequence[str]) -> bool:
        """Whether a take of `queues` (and `prefixes`) may reach a queue with limits."""
        limited = self.signals.takers.limited
        if not limited:
            return False
        if queues is None or any(queue in limited for queue in queues):
            return True
        return bool(prefixes) and any(name.startswith(tuple(prefixes)) for name in limited)

    def _release_orphans(
        self, claim: asyncio.Future[tuple[list[Job], float | None]], now: float
    ) -> None:
        if claim.cancelled() or claim.exception() is not None:
            return
        self._release(claim.result()[0], now)

    def _release(self, jobs: Sequence[Job], now: float) -> None:
        """Give back jobs handed to a taker that is gone; their attempt is not counted."""
        for job in jobs:
            task = asyncio.ensure_future(self.store.update_job(job.id, _releaser(job, now)))
            task.add_done_callback(self._after_release)
            self._background.add(task)

    def _after_release(self, task: asyncio.Future[Job]) -> None:
        self._background.discard(task)
        if task.cancelled():
            return
        if task.exception() is not None:
            # The job stays running under its lease; the reaper re-queues it then.
            log.warning("giving back a job whose taker left failed: %s", task.exception())
            return
        self.after_change(task.result())

    async def drain(self) -> None:
        """Wait for releases still in flight (at shutdown, before the store closes)."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)


# A taker woken by a rate window's opening looks this much after it, so the
# window has surely moved on by the store's clock.
RATE_MARGIN = 0.001


@dataclass(frozen=True, slots=True)
class TakeOptions:
    """How a take takes (see `JobService.take`)."""

    lease_seconds: float | None
    block: float
    count: int
    scope: QueueScope | None
    may_take: Callable[[], bool] | None


@dataclass(slots=True)
class Riding:
    """Reports riding on a take: applied with its first claim, then their outcomes."""

    changes: list[tuple[str, Decide]]
    outcomes: list[Job | Exception] = field(default_factory=list)

    @property
    def pending(self) -> bool:
        return bool(self.changes)

    @property
    def refused(self) -> bool:
        return any(isinstance(outcome, Exception) for outcome in self.outcomes)


async def _no_window(claim: Awaitable[list[Job]]) -> tuple[list[Job], float | None]:
    """A plain claim's answer in the limited claim's shape (no rate window)."""
    return await claim, None


def _releaser(job: Job, now: float) -> Decide:
    lease = job.lease or ""
    return lambda current: rules.release(current, lease, now)
