"""A plain-Python model of the job rules, written from docs/state-machine.md and
docs/http-api.md rather than from service/rules.py, so the state machine test
compares two independent readings of the same contract.

Each method applies one input at `now` and returns the error class the service
must raise (None when the input is accepted); a refused input changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from accepted.errors import AcceptedError, Conflict, JobNotFound, JobTimedOut, LeaseMismatch
from accepted.types import JobStatus

NULL = b"null"
BACKOFF_CAP = 3600.0
FINAL = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED})
Outcome = type[AcceptedError] | None


@dataclass
class ModelJob:
    seq: int  # enqueue order: the last tie-break of a hand-out
    queue: str
    priority: int
    status: JobStatus
    due_at: float
    timeout: float | None
    deadline_at: float | None
    max_attempts: int
    retries: int
    retry_backoff: float
    result_ttl: float | None
    retries_left: int = 0
    attempts: int = 0
    result: bytes = NULL
    lease: str | None = None
    lease_expires_at: float | None = None
    lease_length: float = 0.0
    expires_at: float | None = None
    old_leases: list[str] = field(default_factory=list)

    def finish(self, status: JobStatus, result: bytes, now: float) -> None:
        self.status, self.result = status, result
        self.drop_lease()
        self.expires_at = None if self.result_ttl is None else now + self.result_ttl

    def drop_lease(self) -> None:
        if self.lease is not None:
            self.old_leases.append(self.lease)
        self.lease, self.lease_expires_at = None, None

    def requeue(self, now: float) -> None:
        """A hand-out ended without a result: queued again keeping due_at, or failed."""
        if self.attempts >= self.max_attempts:
            self.finish(JobStatus.FAILED, self.result, now)
        else:
            self.status = JobStatus.QUEUED
            self.drop_lease()


@dataclass
class Model:
    default_max_attempts: int
    default_retries: int = 0
    default_backoff: float = 1.0
    jobs: dict[str, ModelJob] = field(default_factory=dict)
    seq: int = 0

    # -- producers -------------------------------------------------------------

    def enqueue(
        self,
        job_id: str,
        now: float,
        *,
        queue: str,
        priority: int,
        delay: float,
        timeout: float | None,
        max_attempts: int | None,
        retries: int | None,
        backoff: float | None,
        result_ttl: float | None,
    ) -> None:
        retries = self.default_retries if retries is None else retries
        due = now + delay
        self.seq += 1
        self.jobs[job_id] = ModelJob(
            seq=self.seq,
            queue=queue,
            priority=priority,
            status=JobStatus.DELAYED if delay > 0 else JobStatus.QUEUED,
            due_at=due,
            timeout=timeout,
            deadline_at=None if timeout is None else due + timeout,
            # http-api.md#decision-retries-attempts: enough hand-outs for every retry
            max_attempts=max_attempts or max(self.default_max_attempts, retries + 1),
            retries=retries,
            retries_left=retries,
            retry_backoff=self.default_backoff if backoff is None else backoff,
            result_ttl=result_ttl,
        )

    # -- workers ---------------------------------------------------------------

    def next_up(self, queues: list[str] | None, now: float, count: int) -> list[str]:
        """What a take hands out: queued, not past its deadline; priority, due_at, enqueue order."""
        ready = [
            (job.priority, job.due_at, job.seq, job_id)
            for job_id, job in self.jobs.items()
            if job.status is JobStatus.QUEUED
            and (job.deadline_at is None or job.deadline_at > now)
            and (queues is None or job.queue in queues)
        ]
        return [entry[3] for entry in sorted(ready)[:count]]

    def hand_out(self, job_id: str, lease: str, lease_seconds: float, now: float) -> None:
        job = self.jobs[job_id]
        job.status, job.attempts = JobStatus.RUNNING, job.attempts + 1
        job.lease, job.lease_expires_at, job.lease_length = (
            lease,
            now + lease_seconds,
            lease_seconds,
        )

    def _reportable(self, job_id: str, lease: str | None, now: float) -> Outcome:
        job = self.jobs.get(job_id)
        if job is None:
            return JobNotFound
        if job.status is not JobStatus.RUNNING:
            return Conflict
        if lease is not None and lease != job.lease:
            return LeaseMismatch
        if job.deadline_at is not None and now >= job.deadline_at:
            return JobTimedOut
        return None

    def heartbeat(
        self, job_id: str, lease: str | None, lease_seconds: float | None, now: float
    ) -> Outcome:
        refused = self._reportable(job_id, lease, now)
        if refused is None:
            job = self.jobs[job_id]
            if lease_seconds is not None:
                job.lease_length = lease_seconds
            job.lease_expires_at = now + job.lease_length
        return refused

    def give_back(self, job_id: str, lease: str | None, now: float) -> Outcome:
        refused = self._reportable(job_id, lease, now)
        if refused is None:
            self.jobs[job_id].requeue(now)
        return refused

    def done(self, job_id: str, lease: str | None, result: bytes, now: float) -> Outcome:
        refused = self._reportable(job_id, lease, now)
        if refused is None:
            self.jobs[job_id].finish(JobStatus.DONE, result, now)
        return refused

    def failed(
        self, job_id: str, lease: str | None, result: bytes, retry: bool, now: float
    ) -> tuple[Outcome, tuple[float, float] | None]:
        """A failure: final, or `delayed` with a due time in the returned bounds (jitter)."""
        refused = self._reportable(job_id, lease, now)
        if refused is not None:
            return refused, None
        job = self.jobs[job_id]
        if not retry or job.retries_left <= 0 or job.attempts >= job.max_attempts:
            job.finish(JobStatus.FAILED, result, now)
            return None, None
        base = job.retry_backoff * 2.0 ** (job.retries - job.retries_left)
        job.status, job.result, job.retries_left = JobStatus.DELAYED, result, job.retries_left - 1
        job.drop_lease()
        return None, (now + min(BACKOFF_CAP, base * 0.5), now + min(BACKOFF_CAP, base * 1.5))

    # -- producers and admins --------------------------------------------------

    def delete(self, job_id: str) -> tuple[Outcome, JobStatus | None]:
        """DELETE: gone; the answer shows `cancelled` unless the job was final."""
        job = self.jobs.pop(job_id, None)
        if job is None:
            return JobNotFound, None
        return None, job.status if job.status in FINAL else JobStatus.CANCELLED

    def cancel(self, job_id: str, now: float) -> Outcome:
        job = self.jobs.get(job_id)
        if job is None:
            return JobNotFound
        if job.status in FINAL:
            return Conflict
        job.finish(JobStatus.CANCELLED, job.result, now)
        return None

    def retry(self, job_id: str, now: float) -> Outcome:
        job = self.jobs.get(job_id)
        if job is None:
            return JobNotFound
        if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            return Conflict
        job.status, job.result, job.attempts = JobStatus.QUEUED, NULL, 0
        job.retries_left, job.due_at, job.expires_at = job.retries, now, None
        job.deadline_at = None if job.timeout is None else now + job.timeout
        return None

    # -- time passing, in the order the test runs the sweeps --------------------

    def promote(self, now: float) -> None:
        for job in self.jobs.values():
            if job.status is JobStatus.DELAYED and job.due_at <= now:
                job.status = JobStatus.QUEUED

    def expire_leases(self, now: float) -> None:
        for job in self.jobs.values():
            expires = job.lease_expires_at
            if job.status is JobStatus.RUNNING and expires is not None and expires <= now:
                job.requeue(now)

    def time_out(self, now: float) -> None:
        for job in self.jobs.values():
            if job.status not in FINAL and job.deadline_at is not None and job.deadline_at <= now:
                job.finish(JobStatus.FAILED, job.result, now)

    def purge(self, now: float) -> None:
        expired = [
            i for i, j in self.jobs.items() if j.expires_at is not None and j.expires_at <= now
        ]
        for job_id in expired:
            del self.jobs[job_id]
