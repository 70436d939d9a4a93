"""The producer's side of the job service: building jobs, handing them straight
to blocked takers, and what follows an insert's commit.

`JobService.enqueue_many` and `enqueue_once` are the entry points; this mixin
is the machinery behind them, apart from the rest of service/jobs.py:

- `_build` turns what a producer asked for (`NewJob`) into a job, with the
  server's defaults (`RetryPolicy`, the result TTL, the attempts);
- `_plan_handoffs` sets blocked takers aside for the new jobs, so that a
  job a worker waits for is inserted already running under its lease and
  handed over at the commit: one commit where a claim would add a second;
- after the commit, takers are woken, alarms poked and events published,
  even if the request that asked was cancelled meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import msgspec

from accepted.metrics import Metrics
from accepted.service import rules
from accepted.service.destinations import Destinations
from accepted.service.ids import new_job_id, new_lease
from accepted.service.signals import Signals, Taker
from accepted.store.base import IdempotencyKey, JobStore, Outcome, Placed
from accepted.types import JSON_EMPTY_OBJECT, CallbackState, Due, Job, JobStatus


@dataclass(frozen=True, slots=True)
class NewJob:
    """What a producer asks for; already validated by the caller."""

    queue: str
    params: msgspec.Raw = field(default_factory=lambda: JSON_EMPTY_OBJECT)
    priority: int = 1
    delay: float = 0.0
    result_ttl: float | None = None
    callback_url: str | None = None
    job_timeout: float | None = None
    max_attempts: int | None = None
    retries: int | None = None
    retry_backoff: float | None = None
    # -- unique jobs and dependencies (flow-deps) --
    unique_key: str | None = None
    # Job ids, or "$N": the job of item N (an earlier one) of the same batch.
    after: tuple[str, ...] = ()
    # -- fairness groups (flow-limits) --
    group: str | None = None

    @property
    def uses_flow(self) -> bool:
        """Whether the job needs the checked insert (a unique key or dependencies)."""
        return self.unique_key is not None or bool(self.after)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The server's defaults for retries of failed jobs (see config.Settings)."""

    retries: int = 0
    backoff: float = 1.0
    backoff_cap: float = rules.RETRY_BACKOFF_CAP


class Enqueuing:
    """Mixed into `JobService`, which provides these."""

    store: JobStore
    signals: Signals
    metrics: Metrics
    destinations: Destinations
    retry_policy: RetryPolicy
    result_ttl: float | None
    max_attempts: int
    # Declared, not defined here: a stub would shadow the other mixin's (Taking's).
    _release: Callable[[Sequence[Job], float], None]
    _count_final: Callable[[Job], None]

    async def _insert_once(
        self, jobs: list[Job], keys: Sequence[IdempotencyKey | None], now: float
    ) -> list[Placed]:
        replays = await self.store.insert_jobs_once(jobs, keys, now)
        return [
            Placed(job, Outcome.NEW) if old is None else Placed(old, Outcome.REPLAY)
            for job, old in zip(jobs, replays, strict=True)
        ]

    def _after_insert_once(self, insert: asyncio.Future[list[Placed]]) -> None:
        if not insert.cancelled() and insert.exception() is None:
            new = [placed.job for placed in insert.result() if placed.outcome is Outcome.NEW]
            self._announce_new(new)
            self._publish_new(new, new)
            for job in new:
                if job.is_final:  # cancelled at once: a dependency had failed
                    self._count_final(job)

    def _build_batch(self, batch: Sequence[NewJob], now: float) -> list[Job]:
        """The batch's jobs, with each "$N" of `after` replaced by the id of job N."""
        jobs = [self._build(new, now) for new in batch]
        for i, new in enumerate(batch):
            if any(ref.startswith("$") for ref in new.after):
                after = tuple(jobs[int(r[1:])].id if r.startswith("$") else r for r in new.after)
                jobs[i] = msgspec.structs.replace(jobs[i], after=after)
        return jobs

    def _check_callback_urls(self, batch: Sequence[NewJob]) -> None:
        for i, new in enumerate(batch):
            if new.callback_url is not None:
                where = "callback URL" if len(batch) == 1 else f"[{i}].callback_url"
                self.destinations.check_url(new.callback_url, where)

    def _plan_handoffs(self, jobs: list[Job], now: float) -> list[tuple[Taker, list[Job]]]:
        """Set blocked takers aside for the queued jobs of `jobs`, oldest taker first."""
        takers = self.signals.takers
        if takers.idle == 0:
            return []
        plan: list[tuple[Taker, list[Job]]] = []
        for i, job in enumerate(jobs):
            # A paused queue's job waits for the resume, even for a taker already planned.
            if job.status is not JobStatus.QUEUED or job.queue in takers.paused:
                continue
            found = next(
                (p for p in plan if len(p[1]) < p[0].count and p[0].matches(job.queue)), None
            )
            if found is None:
                taker = takers.reserve(job.queue)
                if taker is None:
                    continue
                found = (taker, [])
                plan.append(found)
            taker, given = found
            expires = now + taker.lease_seconds
            jobs[i] = rules.hand_out(job, new_lease(), expires, now)
            given.append(jobs[i])
        return plan

    def _after_insert(
        self,
        insert: asyncio.Future[list[Job]],
        handoffs: list[tuple[Taker, list[Job]]],
        now: float,
        built: list[Job],
    ) -> None:
        if insert.cancelled() or insert.exception() is not None:
            for taker, _ in handoffs:
                taker.release()  # nothing was written: it looks again, as if woken
            return
        jobs = insert.result()
        stored = {job.id for job in jobs if job.status is JobStatus.RUNNING}
        for taker, planned in handoffs:
            # The store queued what it found paused or limited, which this process
            # had not heard of yet: treat those queues as limited here (the limited
            # claim also serves queues without limits, and skips paused ones) until
            # the limits are next read, and let the taker claim again through it.
            given = [job for job in planned if job.id in stored]
            for job in planned:
                if job.id not in stored:
                    self.signals.takers.set_limited(job.queue, True)
            if not given:
                taker.release()
                continue
            self.signals.deadline(Due.LEASE, given[0].lease_expires_at)
            if not taker.hand_over(given):
                self._release(given, now)  # it left while the insert was in flight
        self._announce_new(jobs)
        self._publish_new(built, jobs)

    def _publish_new(self, built: list[Job], jobs: list[Job]) -> None:
        """Creation events; a job handed out as it was inserted was `queued` first."""
        publish = self.signals.events.publish
        enqueued, wait = self.metrics.enqueued.inc, self.metrics.wait.observe
        for first, now_is in zip(built, jobs, strict=True):
            enqueued(first.queue)
            publish(first)
            if now_is is not first:
                wait(max(0.0, now_is.updated_at - now_is.due_at), now_is.queue)
                publish(now_is)

    def _build(self, new: NewJob, now: float) -> Job:
        due_at = now + new.delay
        policy = self.retry_policy
        retries = policy.retries if new.retries is None else new.retries
        result_ttl = self.result_ttl if new.result_ttl is None else new.result_ttl
        return Job(
            id=new_job_id(),
            queue=new.queue,
            status=JobStatus.DELAYED if new.delay > 0 else JobStatus.QUEUED,
            priority=new.priority,
            params=new.params,
            max_attempts=new.max_attempts or max(self.max_attempts, retries + 1),
            retries=retries,
            retries_left=retries,
            retry_backoff=policy.backoff if new.retry_backoff is None else new.retry_backoff,
            created_at=now,
            updated_at=now,
            due_at=due_at,
            timeout=new.job_timeout,
            deadline_at=None if new.job_timeout is None else due_at + new.job_timeout,
            result_ttl=result_ttl,
            callback_url=new.callback_url,
            callback_state=None if new.callback_url is None else CallbackState.WAITING,
            unique_key=new.unique_key,
            after=new.after,
            fair_group=new.group,
        )

    def _announce_new(self, jobs: Sequence[Job]) -> None:
        self.signals.jobs_available(j for j in jobs if j.status is JobStatus.QUEUED)
        for job in jobs:
            if job.status is JobStatus.DELAYED:
                self.signals.deadline(Due.DELAYED, job.due_at)
            self.signals.deadline(Due.DEADLINE, job.deadline_at)
