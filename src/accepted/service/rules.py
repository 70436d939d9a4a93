"""The job state machine as pure functions: (job, input, now) -> new job, or an error.

These are the `Decide` functions the store applies under its row lock. They
read no clock and do no I/O, so every rule is unit-tested by calling it.
See docs/state-machine.md for the picture.
"""

from __future__ import annotations

import random

import msgspec

from accepted.errors import Conflict, JobTimedOut, LeaseMismatch
from accepted.types import JSON_NULL, Attempt, AttemptOutcome, CallbackState, Job, JobStatus

replace = msgspec.structs.replace

# Callback retry backoff: 1 s, 2 s, 4 s ... capped, each with up to 25 % jitter.
CALLBACK_BACKOFF_BASE = 1.0
CALLBACK_BACKOFF_CAP = 600.0
# The longest wait before a retry of a failed job, unless the server sets another.
RETRY_BACKOFF_CAP = 3600.0


def finish(
    job: Job,
    status: JobStatus,
    result: msgspec.Raw,
    now: float,
    error: str | None,
    ended: AttemptOutcome | None = None,
) -> Job:
    """Make a job final: keep its result, schedule its removal and its callback.

    `ended` is how the hand-out it ends ended, when it ends one.
    """
    return replace(
        job,
        ended=ended,
        status=status,
        result=result,
        error=error,
        updated_at=now,
        finished_at=now,
        lease=None,
        lease_expires_at=None,
        expires_at=None if job.result_ttl is None else now + job.result_ttl,
        callback_state=None if job.callback_url is None else CallbackState.PENDING,
        callback_next_at=None if job.callback_url is None else now,
    )


# How a lease mismatch, or a lease required and missing, names the lease; the HTTP layer
# names where it belongs instead (the X-Accepted-Lease header, or a body's `report.lease`).
LEASE_NAME = "the lease"


def check_reportable(job: Job, lease: str | None, now: float) -> None:
    """Raise unless a worker may report on this job now (with this lease, if sent)."""
    if job.status is not JobStatus.RUNNING:
        raise Conflict(f"job {job.id} is {job.status}; only a running job can be reported on")
    if lease is not None and lease != job.lease:
        raise LeaseMismatch(
            f"{LEASE_NAME} does not match job {job.id}'s current lease "
            "(it expired and the job was handed out again, or was given back)"
        )
    if job.deadline_at is not None and now >= job.deadline_at:
        raise JobTimedOut(f"job {job.id} passed its job timeout")


def complete(
    job: Job,
    status: JobStatus,
    result: msgspec.Raw,
    lease: str | None,
    now: float,
    *,
    retry: bool = True,
    backoff_cap: float = RETRY_BACKOFF_CAP,
    jitter: float = 0.5,
) -> Job:
    """PUT done / failed. A failure with retries left waits out its backoff instead.

    `retry=False` is the worker saying the failure is for good ("retry": false).
    `jitter` in [0, 1) is the caller's random draw, so this stays pure.
    """
    check_reportable(job, lease, now)
    if status is not JobStatus.FAILED or not retry or job.retries_left <= 0:
        # `is`, not AttemptOutcome(status): an Enum lookup by value costs more than the report
        ended = AttemptOutcome.DONE if status is JobStatus.DONE else AttemptOutcome.FAILED
        return finish(job, status, result, now, error=None, ended=ended)
    if job.attempts >= job.max_attempts:
        error = (
            f"failed on its last allowed attempt ({job.attempts} of {job.max_attempts}), "
            f"{job.retries_left} of {job.retries} retries unused"
        )
        return finish(job, status, result, now, error=error, ended=AttemptOutcome.FAILED)
    return retry_later(job, result, now, backoff(job, backoff_cap, jitter))


def backoff(job: Job, cap: float, jitter: float) -> float:
    """Seconds before the next retry: retry_backoff doubled per retry already used,
    times 0.5 to 1.5 (jitter 0 to 1), never over `cap`.

    The jitter spreads a burst of failures out, so they do not all come back at once.
    """
    used = job.retries - job.retries_left
    return min(cap, job.retry_backoff * 2.0 ** min(used, 64) * (0.5 + jitter))


def retry_later(job: Job, result: msgspec.Raw, now: float, delay: float) -> Job:
    """A failed hand-out with retries left: `delayed` until the backoff passes.

    The failure's result stays on the job meanwhile, so one can see why; the
    job timeout still counts from the original due time.
    """
    return replace(
        job,
        status=JobStatus.DELAYED,
        ended=AttemptOutcome.RETRIED,
        result=result,
        retries_left=job.retries_left - 1,
        due_at=now + delay,
        lease=None,
        lease_expires_at=None,
        updated_at=now,
    )


def heartbeat(job: Job, lease: str | None, lease_seconds: float | None, now: float) -> Job:
    """PUT running: the lease starts afresh, as long as before unless a new length is given."""
    check_reportable(job, lease, now)
    if lease_seconds is None:
        lease_seconds = current_lease_length(job)
    return replace(job, lease_expires_at=now + lease_seconds, updated_at=now)


def current_lease_length(job: Job) -> float:
    """The length of a running job's lease: it was set, or last renewed, at updated_at.

    Nothing else touches a running job's updated_at, so the length needs no column.
    """
    assert job.lease_expires_at is not None
    return job.lease_expires_at - job.updated_at


def give_back(job: Job, lease: str | None, now: float) -> Job:
    """PUT queued: back to the queue at once, unless that was its last allowed attempt."""
    check_reportable(job, lease, now)
    return requeue(job, now, why="given back", ended=AttemptOutcome.GIVEN_BACK)


def requeue(job: Job, now: float, why: str, ended: AttemptOutcome) -> Job:
    """A hand-out ended without a result: queue it again, or fail it if out of attempts.

    It keeps its due time, so abandoned work is retried before newer work of
    the same priority.
    """
    if job.attempts >= job.max_attempts:
        return finish(
            job,
            JobStatus.FAILED,
            job.result,
            now,
            error=f"{why} on its last allowed attempt ({job.attempts} of {job.max_attempts})",
            ended=ended,
        )
    return replace(
        job,
        status=JobStatus.QUEUED,
        lease=None,
        lease_expires_at=None,
        updated_at=now,
        ended=ended,
    )


def hand_out(job: Job, lease: str, lease_expires_at: float, now: float) -> Job:
    """A queued job given to a worker: what a store's claim does, for a job not yet stored."""
    return replace(
        job,
        status=JobStatus.RUNNING,
        attempts=job.attempts + 1,
        lease=lease,
        lease_expires_at=lease_expires_at,
        updated_at=now,
        started_at=now,
    )


def release(job: Job, lease: str, now: float) -> Job | None:
    """Undo a hand-out whose taker vanished before receiving it; the attempt is not counted."""
    if job.status is not JobStatus.RUNNING or job.lease != lease:
        return None
    return replace(
        job,
        status=JobStatus.QUEUED,
        attempts=job.attempts - 1,
        lease=None,
        lease_expires_at=None,
        updated_at=now,
    )


def expire_lease(job: Job, now: float) -> Job | None:
    """Sweep rule: a running job whose lease ran out goes back (or fails)."""
    if job.status is not JobStatus.RUNNING or job.lease_expires_at is None:
        return None
    if job.lease_expires_at > now:
        return None
    return requeue(job, now, why="lease expired", ended=AttemptOutcome.LEASE_EXPIRED)


def promote(job: Job, now: float) -> Job | None:
    """Sweep rule: a delayed job whose time has come is queued."""
    if job.status is not JobStatus.DELAYED or job.due_at > now or job.waiting:
        return None
    return replace(job, status=JobStatus.QUEUED, updated_at=now)


def time_out(job: Job, now: float) -> Job | None:
    """Sweep rule: a job not final by its deadline fails and is never handed out again."""
    if job.is_final or job.deadline_at is None or job.deadline_at > now:
        return None
    return finish(
        job,
        JobStatus.FAILED,
        job.result,
        now,
        error=f"job timeout: not finished within {job.timeout:g} s of its due time",
        ended=AttemptOutcome.TIMED_OUT if job.status is JobStatus.RUNNING else None,
    )


def deleted(job: Job, now: float) -> Job:
    """What a deleted job's waiters are answered: its last state, `cancelled` if not final."""
    if job.is_final:
        return job
    return msgspec.structs.replace(job, status=JobStatus.CANCELLED, updated_at=now)


def cancel(job: Job, now: float) -> Job:
    """POST /jobs/{id}/cancel: a job not yet final stops for good, and is kept.

    Unlike a DELETE the row stays, so its history can still be read and it can
    be retried. A running job's worker finds out at its next report (409). No
    callback: those are for `done` and `failed`, as for a deleted job.
    """
    if job.is_final:
        raise Conflict(f"job {job.id} is {job.status}; only a job not yet final can be cancelled")
    return replace(
        job,
        status=JobStatus.CANCELLED,
        ended=AttemptOutcome.CANCELLED if job.status is JobStatus.RUNNING else None,
        updated_at=now,
        finished_at=now,
        lease=None,
        lease_expires_at=None,
        expires_at=None if job.result_ttl is None else now + job.result_ttl,
    )


RETRYABLE = frozenset({JobStatus.FAILED, JobStatus.CANCELLED})


def retry(job: Job, now: float) -> Job:
    """POST /jobs/{id}/retry: a failed or cancelled job starts over, queued at once.

    As if new from now: no attempts, no result, all its retries, its job
    timeout and callback counted afresh. Its due time is now, so it queues
    behind work already waiting at its priority.
    """
    if job.status not in RETRYABLE:
        raise Conflict(
            f"job {job.id} is {job.status}; only a failed or cancelled job can be retried"
        )
    return replace(
        job,
        status=JobStatus.QUEUED,
        result=JSON_NULL,
        error=None,
        waiting=0,  # a job cancelled by its dependency starts over without it
        attempts=0,
        attempt_base=job.attempt_base + job.attempts,
        retries_left=job.retries,
        updated_at=now,
        due_at=now,
        deadline_at=None if job.timeout is None else now + job.timeout,
        finished_at=None,
        expires_at=None,
        callback_state=None if job.callback_url is None else CallbackState.WAITING,
        callback_attempts=0,
        callback_next_at=None,
        callback_last_error=None,
    )


def attempt_history(job: Job, ended: list[Attempt]) -> list[Attempt]:
    """GET /jobs/{id}/attempts: the ended hand-outs, then the running one, if any.

    The running one is the job row itself (its started_at), so the claim never
    writes a history row: only the change that ends a hand-out does, unless it
    ends it in done, where the done job itself is that hand-out's record.
    """
    number = job.attempt_base + job.attempts
    if job.status is JobStatus.DONE:
        return [*ended, *_done_hand_out(job, number, ended)]
    if job.status is not JobStatus.RUNNING or job.started_at is None:
        return ended
    return [*ended, Attempt(attempt=number, started_at=job.started_at)]


def _done_hand_out(job: Job, number: int, ended: list[Attempt]) -> list[Attempt]:
    """The hand-out a done job's report ended: no row was written for it (the
    job is its record), so it is the job's last hand-out unless one with its
    number is stored (a job done without a lease, after a hand-out that ended
    otherwise; or a row from before rows were left out)."""
    if job.attempts == 0 or job.started_at is None or (ended and ended[-1].attempt >= number):
        return []
    finished = job.finished_at if job.finished_at is not None else job.updated_at
    return [
        Attempt(
            attempt=number,
            started_at=job.started_at,
            ended_at=finished,
            outcome=AttemptOutcome.DONE,
            result=job.result,
        )
    ]


def hold_callback(job: Job, now: float, hold: float) -> Job | None:
    """Sweep rule: take a due callback for delivery, hiding it from others for `hold` s.

    If this node dies mid-delivery the hold runs out and another node retries.
    """
    if job.callback_state is not CallbackState.PENDING or job.callback_next_at is None:
        return None
    if job.callback_next_at > now:
        return None
    return replace(job, callback_next_at=now + hold)


# Callback bookkeeping leaves updated_at alone: a final job's own state never changes.


def callback_delivered(job: Job, now: float) -> Job | None:
    if job.callback_state is not CallbackState.PENDING:
        return None
    return replace(
        job,
        callback_state=CallbackState.DELIVERED,
        callback_attempts=job.callback_attempts + 1,
        callback_next_at=None,
        callback_last_error=None,
    )


def callback_failed(
    job: Job, now: float, error: str, retries: int, rng: random.Random | None = None
) -> Job | None:
    """A delivery failed: retry with exponential backoff and jitter, or give up."""
    if job.callback_state is not CallbackState.PENDING:
        return None
    attempts = job.callback_attempts + 1
    if attempts >= retries:
        return replace(
            job,
            callback_state=CallbackState.GAVE_UP,
            callback_attempts=attempts,
            callback_next_at=None,
            callback_last_error=error,
        )
    delay = min(CALLBACK_BACKOFF_BASE * 2 ** (attempts - 1), CALLBACK_BACKOFF_CAP)
    delay *= 1 + 0.25 * (rng or random).random()
    return replace(
        job,
        callback_attempts=attempts,
        callback_next_at=now + delay,
        callback_last_error=error,
    )


def callback_refused(job: Job, reason: str) -> Job | None:
    """The destination rule refused the delivery: final, since retrying cannot help.

    `reason` names the rule, never anything a connection attempt found.
    """
    if job.callback_state is not CallbackState.PENDING:
        return None
    return replace(
        job,
        callback_state=CallbackState.REFUSED,
        callback_next_at=None,
        callback_last_error=reason,
    )


# -- dependencies (flow-deps) --------------------------------------------------------


def wait_for_dependencies(job: Job, count: int, now: float) -> Job:
    """A new job with `count` dependencies not done yet: delayed until they are."""
    return replace(job, status=JobStatus.DELAYED, waiting=count)


def dependencies_done(job: Job, now: float) -> Job:
    """Its last dependency is done: queued now, or at its own due time if later.

    Its due time becomes the release time (or stays its own, if later), so it
    queues behind work already waiting at its priority, as a retried job does.
    """
    if job.due_at > now:
        return replace(job, waiting=0, updated_at=now)  # the delayed sweep queues it
    return replace(job, status=JobStatus.QUEUED, waiting=0, due_at=now, updated_at=now)


def dependency_ended(job: Job, dependency: str, how: str, now: float) -> Job:
    """A dependency ended failed or cancelled, or was deleted: the job is cancelled.

    Like POST /jobs/{id}/cancel (no callback); `error` names the dependency.
    """
    return replace(
        job,
        status=JobStatus.CANCELLED,
        waiting=0,
        error=f"dependency {dependency} {'was ' if how != 'failed' else ''}{how}",
        updated_at=now,
        finished_at=now,
        expires_at=None if job.result_ttl is None else now + job.result_ttl,
    )
