"""The job service: what each endpoint means, independent of HTTP and of SQL.

Every method takes `now` (seconds since the epoch) from its caller instead of
reading a clock, so the rules run the same under a fake clock in tests.
Waiting (long-polls, result waits) is on events from `Signals`, never a loop
of sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import msgspec

from accepted.errors import JobNotFound, LeaseRequired
from accepted.metrics import Metrics
from accepted.service import rules
from accepted.service.dependencies import DependentRules
from accepted.service.destinations import Destinations
from accepted.service.enqueuing import Enqueuing, NewJob, RetryPolicy
from accepted.service.events import Subscription
from accepted.service.health import WriteHealth
from accepted.service.results import WaitState
from accepted.service.shielded import shielded
from accepted.service.signals import Signals
from accepted.service.taking import Riding, TakeOptions, Taking
from accepted.store.base import Decide, IdempotencyKey, JobStore, Outcome, Placed
from accepted.tokens import QueueScope
from accepted.types import (
    JSON_NULL,
    Attempt,
    CallbackState,
    Due,
    Job,
    JobStatus,
)

log = logging.getLogger("accepted.service")

__all__ = ["JobService", "NewJob", "Outcome", "Placed", "Report", "RetryPolicy"]


@dataclass(frozen=True, slots=True)
class Report:
    """What a worker reports in PUT /jobs/<id>."""

    status: JobStatus
    result: msgspec.Raw | None = None
    lease: str | None = None
    lease_seconds: float | None = None
    # False: a failure for good, whatever retries the job has left.
    retry: bool = True
    # The reporter's token is limited to these queues: other jobs are "not found".
    scope: QueueScope | None = None


class JobService(Enqueuing, Taking):
    def __init__(
        self,
        store: JobStore,
        signals: Signals,
        *,
        default_lease: float,
        max_attempts: int,
        recheck_interval: float | None = None,
        retry_policy: RetryPolicy | None = None,
        result_ttl: float | None = None,
        destinations: Destinations | None = None,
        metrics: Metrics | None = None,
        require_lease: bool = False,
    ) -> None:
        self.store = store
        # This node's counters and histograms, counted at the same points as the events.
        self.metrics = metrics or Metrics()
        # Where callbacks may go; IP-literal callback URLs are checked at enqueue.
        self.destinations = destinations or Destinations()
        self.require_lease = require_lease
        self.signals = signals
        self.default_lease = default_lease
        self.max_attempts = max_attempts
        self.retry_policy = retry_policy or RetryPolicy()
        # Result TTL of a job whose producer sent none; None keeps it forever.
        self.result_ttl = result_ttl
        # Takers re-look this often even without a wake-up: a missed cross-node
        # notification then only delays a hand-out, never strands it.
        self.recheck_interval = recheck_interval
        self._background: set[asyncio.Future[Job]] = set()
        self._health = WriteHealth(store)
        store.attach_dependencies(DependentRules(signals, self.after_change))

    # -- health ----------------------------------------------------------------

    async def check_writes(self, now: float) -> None:
        """Raise `StoreUnavailable` unless the store took a write within the last second."""
        await self._health.check(now)

    # -- producers -------------------------------------------------------------

    async def enqueue(self, new: NewJob, now: float) -> Job:
        return (await self.enqueue_many([new], now))[0]

    async def enqueue_many(self, batch: Sequence[NewJob], now: float) -> list[Job]:
        """Insert all or none; 202 may go out once this returns.

        A job that a blocked taker is waiting for is inserted already running
        under that taker's lease and handed to it when the insert commits: the
        taker needs no claim of its own, so the wake-up costs one commit, not two.
        """
        self._check_callback_urls(batch)
        built = [self._build(new, now) for new in batch]
        jobs = list(built)
        handoffs = self._plan_handoffs(jobs, now)
        insert = self.store.insert_jobs(jobs, built if handoffs else None)
        # Runs even if this request is cancelled: takers and alarms must hear either way.
        return await shielded(insert, lambda done: self._after_insert(done, handoffs, now, built))

    async def enqueue_once(
        self, batch: Sequence[NewJob], keys: Sequence[IdempotencyKey | None], now: float
    ) -> list[Placed]:
        """`enqueue_many` with idempotency keys, unique keys and dependencies.

        Each job comes back with what was done with it: inserted (NEW); not
        inserted because its Idempotency-Key is held (REPLAY: the job that key
        made, as it is now) or because a job of its queue not final holds its
        unique key (DUPLICATE: that job). These enqueues skip the direct
        hand-off: whether a job is new is only known once the insert commits.
        """
        self._check_callback_urls(batch)
        jobs = self._build_batch(batch, now)
        if any(new.uses_flow for new in batch):
            insert = asyncio.ensure_future(self.store.insert_jobs_checked(jobs, keys, now))
        else:
            insert = asyncio.ensure_future(self._insert_once(jobs, keys, now))
        # Runs even if this request is cancelled: takers and alarms must hear either way.
        insert.add_done_callback(self._after_insert_once)
        return await asyncio.shield(insert)

    # -- jobs other services store (service/schedules.py) ----------------------

    def new_job(self, new: NewJob, now: float) -> Job:
        """A job built as an enqueue builds it, not stored yet (a schedule's fire
        stores it in the same transaction as its own advance). Its callback URL
        was checked when the schedule was written; its delivery checks it again."""
        return self._build(new, now)

    def after_insert(self, jobs: Sequence[Job]) -> None:
        """Jobs another service stored committed: wake, announce and count as an enqueue does."""
        self._announce_new(jobs)
        self._publish_new(list(jobs), list(jobs))

    # -- readers ---------------------------------------------------------------

    async def get(self, job_id: str) -> Job:
        job = await self.store.get_job(job_id)
        if job is None:
            raise JobNotFound(f"no job {job_id}")
        return job

    async def queues_of(self, job_ids: Iterable[str]) -> dict[str, str]:
        """The queue of each of these jobs that exists (one read each: few are named)."""
        found = {}
        for job_id in dict.fromkeys(job_ids):
            job = await self.store.get_job(job_id)
            if job is not None:
                found[job_id] = job.queue
        return found

    async def wait_result(
        self, job_id: str, wait: float, may_wait: Callable[[], bool] | None = None
    ) -> Job:
        """The job once final, or as it is after `wait` seconds (or at shutdown).

        `may_wait` says whether the caller may still wait: once it says no (its
        token was revoked or expired) the wait ends at once and answers the job
        as first read, nothing read after; the caller then refuses (401).
        """
        results = self.signals.results
        waiter = results.add(job_id, may_wait)  # before reading, so no final event slips between
        try:
            job = await self.get(job_id)
            if job.is_final or wait <= 0:
                return job
            state = await waiter.wait(wait)
            if state is WaitState.ANSWERED and waiter.job is not None:
                return waiter.job  # final, or its last state if it was deleted
            if state is WaitState.REFUSED:
                return job
            return await self.get(job_id)  # timed out, shutting down, or deleted elsewhere (404)
        finally:
            results.remove(waiter)

    # -- live events -----------------------------------------------------------

    async def watch_job(
        self, job_id: str, may_read: Callable[[], bool] | None = None
    ) -> tuple[Job, Subscription]:
        """The job as it is, and a subscription to its changes from then on.

        Subscribed before reading, so no change slips between the read and the
        first event. Raises `JobNotFound` (and subscribes nothing). `may_read`:
        see `EventFeed.subscribe`.
        """
        sub = self.signals.events.subscribe(job_id=job_id, may_read=may_read)
        try:
            await self.store.listening_announced()
            return await self.get(job_id), sub
        except BaseException:
            self.signals.events.unsubscribe(sub)
            raise

    async def watch_queues(
        self, queues: Sequence[str] | None, may_read: Callable[[], bool] | None = None
    ) -> Subscription:
        """Every status change in `queues` (None: all) from now on.

        Returns once the other nodes know this one listens, so none of their
        changes after it is missed (they send changes only while someone does).
        """
        sub = self.signals.events.subscribe(queues, may_read=may_read)
        try:
            await self.store.listening_announced()
        except BaseException:
            self.signals.events.unsubscribe(sub)
            raise
        return sub

    def unwatch(self, sub: Subscription) -> None:
        self.signals.events.unsubscribe(sub)

    # -- workers ---------------------------------------------------------------

    async def take(
        self,
        queues: Sequence[str] | None,
        now: float,
        *,
        lease_seconds: float | None = None,
        block: float = 0.0,
        count: int = 1,
        scope: QueueScope | None = None,
        may_take: Callable[[], bool] | None = None,
    ) -> list[Job]:
        """Up to `count` jobs, waiting up to `block` seconds for the first to arrive.

        Blocked takers are served in arrival order: a new job wakes the one
        that has waited longest for its queue. `scope` (a limited token's
        queues) bounds a take that names no queue. `may_take`, asked each time
        a blocked take wakes and before each hand-off to it, says whether the
        caller may still take: once it says no, the take returns nothing, and
        jobs handed to it meanwhile go back without using up an attempt.
        """
        options = TakeOptions(lease_seconds, block, count, scope, may_take)
        return await self._take(queues, now, options, Riding([]))

    async def report_and_take(
        self,
        reports: Sequence[tuple[str, Report]],
        queues: Sequence[str] | None,
        now: float,
        *,
        lease_seconds: float | None = None,
        block: float = 0.0,
        count: int = 1,
        scope: QueueScope | None = None,
        may_take: Callable[[], bool] | None = None,
    ) -> tuple[list[Job | Exception], list[Job]]:
        """Report and take in one request: each report's outcome (as `report_many`),
        and the jobs taken (as `take`).

        The reports come first, as a PUT comes before a want_job. A take that may
        claim at once makes them and its first claim one store call (one commit,
        where a PUT and then a want_job make two). A take in line behind
        blocked takers (every job of its queues is promised to one) writes the
        reports alone and waits without a claim. A refused report (its error in
        its place) leaves the others applied, and nothing is taken, at once. A
        take that then blocks does so with the reports committed: nothing waits
        undurable.
        """
        riding = Riding([(job_id, self._decision(report, now)) for job_id, report in reports])
        options = TakeOptions(lease_seconds, block, count, scope, may_take)
        jobs = await self._take(queues, now, options, riding)
        return riding.outcomes, jobs

    async def report(self, job_id: str, report: Report, now: float) -> Job:
        """PUT /jobs/<id>: done, failed, heartbeat (running) or give back (queued)."""
        job = await self.store.update_job(job_id, self._decision(report, now))
        self.after_change(job)
        return job

    async def report_many(
        self, reports: Sequence[tuple[str, Report]], now: float
    ) -> list[Job | Exception]:
        """Several reports in one transaction; each succeeds or fails on its own."""
        outcomes = await self.store.update_jobs(
            [(job_id, self._decision(report, now)) for job_id, report in reports]
        )
        self._after_outcomes(outcomes)
        return outcomes

    def _decision(self, report: Report, now: float) -> Decide:
        decide = self._rule(report, now)
        if self.require_lease and report.lease is None:
            decide = _lease_required(decide)
        scope = report.scope
        if scope is None:
            return decide
        return lambda job: decide(job) if scope.allows(job.queue) else _not_found(job)

    def _rule(self, report: Report, now: float) -> Decide:
        status, lease = report.status, report.lease
        if status in (JobStatus.DONE, JobStatus.FAILED):
            result = JSON_NULL if report.result is None else report.result
            retry, cap, jitter = report.retry, self.retry_policy.backoff_cap, random.random()
            return lambda job: rules.complete(
                job, status, result, lease, now, retry=retry, backoff_cap=cap, jitter=jitter
            )
        if status is JobStatus.RUNNING:
            seconds = report.lease_seconds
            return lambda job: rules.heartbeat(job, lease, seconds, now)
        return lambda job: rules.give_back(job, lease, now)

    async def cancel(self, job_id: str, now: float) -> Job:
        """DELETE: the job is gone; the answer is its last state (cancelled if not final)."""
        return self.after_delete(await self.store.delete_job(job_id), now)

    def after_delete(self, job: Job, now: float) -> Job:
        """A job was deleted: answer its waiters with its last state (cancelled if not final)."""
        if not job.is_final:
            job = rules.deleted(job, now)
            self.signals.events.publish(job)
            self._count_final(job)
            self._capacity_back(job)
        self.signals.results.job_final(job)
        return job

    async def cancel_job(self, job_id: str, now: float) -> Job:
        """POST /jobs/{id}/cancel: the job becomes `cancelled` and is kept (see `cancel`)."""
        job = await self.store.update_job(job_id, lambda current: rules.cancel(current, now))
        self.after_change(job)
        return job

    async def attempts(self, job_id: str) -> list[Attempt]:
        """GET /jobs/{id}/attempts: one per hand-out, oldest first, the running one last."""
        job, ended = await self.store.get_attempts(job_id)
        return rules.attempt_history(job, ended)

    async def retry_job(self, job_id: str, now: float) -> Job:
        """POST /jobs/{id}/retry: a failed or cancelled job is queued again at once."""
        job = await self.store.update_job(job_id, lambda current: rules.retry(current, now))
        self.after_retry(job)
        return job

    def after_retry(self, job: Job) -> None:
        """A failed or cancelled job was queued again by hand (POST retry, or bulk)."""
        self.metrics.retried.inc(job.queue)
        self.after_change(job)

    # -- shared by the service and the background tasks ------------------------

    def _count_final(self, job: Job) -> None:
        self.metrics.finished.inc(job.queue, job.status)
        if job.started_at is not None:
            ended = job.finished_at if job.finished_at is not None else job.updated_at
            self.metrics.run.observe(max(0.0, ended - job.started_at), job.queue)

    def after_change(self, job: Job) -> None:
        """Wake whoever a job's new state concerns, and publish it as an event.

        Every change but a claim comes through here; a `running` job here is a
        heartbeat (its status unchanged), so it is not an event.
        """
        if job.status is not JobStatus.RUNNING:
            self.signals.events.publish(job)
            self._capacity_back(job)
            if job.is_final:
                self._count_final(job)
            elif job.status is JobStatus.DELAYED:  # only a retry's backoff delays a job again
                self.metrics.retried.inc(job.queue)
        if job.status is JobStatus.QUEUED:
            self.signals.takers.job_available(job.queue)
            self.signals.deadline(Due.DEADLINE, job.deadline_at)  # a retry counts it afresh
        elif job.status is JobStatus.DELAYED:
            self.signals.deadline(Due.DELAYED, job.due_at)  # waiting out a retry's backoff
            self.signals.deadline(Due.DEADLINE, job.deadline_at)
        elif job.status is JobStatus.RUNNING:
            self.signals.deadline(Due.LEASE, job.lease_expires_at)  # a heartbeat may shorten it
        elif job.is_final:
            self.signals.results.job_final(job)
            if job.callback_state is CallbackState.PENDING:
                self.signals.deadline(Due.CALLBACK, job.callback_next_at)
            self.signals.deadline(Due.EXPIRED, job.expires_at)

    def _capacity_back(self, job: Job) -> None:
        """A job of a limited queue stopped running (or never ran): wake a taker of
        the queue, here and on the other nodes, to look again; there may be room.

        Not here for a job back in `queued`: `after_change` wakes one taker for
        it, and the room it left is what that taker needs to take it."""
        queue = job.queue
        if queue in self.signals.takers.limited:
            if job.status is not JobStatus.QUEUED:
                self.signals.takers.job_available(queue)
            self.store.announce_capacity(queue, 1)


def _lease_required(decide: Decide) -> Decide:
    """`--require-lease`: a running job is reported on only by who holds its lease."""

    def check(job: Job) -> Job | None:
        if job.status is JobStatus.RUNNING:
            # The HTTP layer names where the lease belongs instead of LEASE_NAME.
            raise LeaseRequired(f"job {job.id} is running: {rules.LEASE_NAME} is required")
        return decide(job)

    return check


def _not_found(job: Job) -> Job | None:
    raise JobNotFound(f"no job {job.id}")
