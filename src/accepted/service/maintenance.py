"""The time-driven rules: delays coming due, leases and job timeouts running out,
finished jobs expiring, callbacks coming due.

Each method handles one batch of due rows at `now` and tells when to look
again, so its task can sleep exactly until then. Every sweep re-checks its
condition under the store's row lock, which makes it idempotent: several nodes
sweeping at once re-enqueue a job once.
"""

from __future__ import annotations

import random

from accepted.metrics import Counter
from accepted.service import rules
from accepted.service.jobs import JobService
from accepted.store.base import Decide
from accepted.types import CallbackState, Due, Job

SWEEP_BATCH = 500
_rng = random.Random()
# A delivery attempt's outcome, by the callback state it left (pending: another try).
_OUTCOMES: dict[CallbackState | None, str] = {
    CallbackState.DELIVERED: "delivered",
    CallbackState.GAVE_UP: "given_up",
}


class Maintenance:
    def __init__(self, jobs: JobService, *, callback_retries: int, batch: int = SWEEP_BATCH):
        self.jobs = jobs
        self.store = jobs.store
        self.callback_retries = callback_retries
        self.batch = batch

    async def _sweep(
        self, due: Due, now: float, decide: Decide, counter: Counter | None = None
    ) -> float | None:
        changed = await self.store.sweep(due, now, decide, self.batch)
        for job in changed:
            if counter is not None:
                counter.inc(job.queue)
            self.jobs.after_change(job)
        if len(changed) >= self.batch:
            return now  # more may be due: go again at once
        return await self.store.next_due(due)

    async def promote_delayed(self, now: float) -> float | None:
        return await self._sweep(Due.DELAYED, now, lambda job: rules.promote(job, now))

    async def expire_leases(self, now: float) -> float | None:
        expired = self.jobs.metrics.leases_expired
        return await self._sweep(Due.LEASE, now, lambda job: rules.expire_lease(job, now), expired)

    async def time_out_jobs(self, now: float) -> float | None:
        return await self._sweep(Due.DEADLINE, now, lambda job: rules.time_out(job, now))

    async def purge_expired(self, now: float) -> float | None:
        purged = await self.store.purge_expired(now, self.batch)
        if len(purged) >= self.batch:
            return now
        return await self.store.next_due(Due.EXPIRED)

    async def hold_due_callbacks(self, now: float, hold: float, limit: int) -> list[Job]:
        """Up to `limit` callbacks due now, each hidden from other deliverers for `hold` s."""
        return await self.store.sweep(
            Due.CALLBACK, now, lambda job: rules.hold_callback(job, now, hold), limit
        )

    async def next_callback_due(self) -> float | None:
        return await self.store.next_due(Due.CALLBACK)

    async def callback_outcome(self, job_id: str, error: str | None, now: float) -> Job:
        """Record one delivery attempt: delivered when error is None, else retry or give up."""
        retries = self.callback_retries
        if error is None:
            rule: Decide = lambda job: rules.callback_delivered(job, now)  # noqa: E731
        else:
            rule = lambda job: rules.callback_failed(job, now, error, retries, _rng)  # noqa: E731
        decide, changed = _noting(rule)
        job = await self.store.update_job(job_id, decide)
        # Counted only when this attempt changed the job: one already delivered
        # (by another node whose hold ran out) is not counted a second time.
        if changed[0]:
            self.jobs.metrics.callback(_OUTCOMES.get(job.callback_state, "retried"))
        self.jobs.signals.deadline(Due.CALLBACK, job.callback_next_at)
        self.jobs.signals.deadline(Due.EXPIRED, job.expires_at)
        return job

    async def callback_refused(self, job_id: str, reason: str) -> Job:
        """The destination rule refused the delivery: recorded, and never retried."""
        decide, changed = _noting(lambda job: rules.callback_refused(job, reason))
        job = await self.store.update_job(job_id, decide)
        if changed[0]:
            self.jobs.metrics.callback("refused")
        self.jobs.signals.deadline(Due.EXPIRED, job.expires_at)
        return job


def _noting(rule: Decide) -> tuple[Decide, list[bool]]:
    """`rule`, and a flag that is true once its last run changed the job.

    A list, so the caller reads it after the store ran the rule (a retried
    transaction runs it again: the last run is the one written).
    """
    changed = [False]

    def decide(job: Job) -> Job | None:
        new = rule(job)
        changed[0] = new is not None
        return new

    return decide, changed
