"""Jobs and errors as the JSON the wire carries (the shape docs/http-api.md shows)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Literal, overload

import msgspec

from accepted.errors import AcceptedError
from accepted.queries import Queue, QueueLimits
from accepted.types import Attempt, AttemptOutcome, CallbackState, Job, JobStatus


def _doc(description: str) -> msgspec.Meta:
    """A field's meaning, as /openapi.json and /docs state it."""
    return msgspec.Meta(description=description)


class Health(msgspec.Struct):
    status: Annotated[Literal["ok"], _doc("the server can take requests")]


class ErrorBody(msgspec.Struct):
    code: Annotated[str, _doc("a stable machine code (see ErrorCode)")]
    message: Annotated[str, _doc("names the field, header or parameter at fault")]


class ErrorView(msgspec.Struct):
    """Every error answer: `{"error": {"code", "message"}}`."""

    error: ErrorBody


class CallbackView(msgspec.Struct):
    url: Annotated[str, _doc("the callback URL")]
    state: Annotated[
        CallbackState, _doc("waiting: the job is not final yet; pending: a delivery is due")
    ]
    attempts: Annotated[int, _doc("delivery attempts made so far")]
    next_attempt_at: Annotated[datetime | None, _doc("while pending: when the next attempt is due")]
    last_error: Annotated[str | None, _doc("what went wrong with the last failed attempt")]


class JobView(msgspec.Struct, kw_only=True):
    """A job as every answer carries it. Fields that do not apply are null, never missing.

    Keyword-only, so fields added after `lease` (the one that may be missing)
    can still be required, as every other field is.
    """

    id: Annotated[str, _doc("a UUID, chosen by the server")]
    queue: Annotated[str, _doc("the queue it was enqueued in")]
    status: JobStatus
    priority: Annotated[int, _doc("0..3; 0 is taken first")]
    params: Annotated[msgspec.Raw, _doc("what the producer sent, byte for byte ({} when none)")]
    result: Annotated[msgspec.Raw, _doc("what the worker reported; null until then")]
    attempts: Annotated[int, _doc("how many times a worker has been handed the job")]
    max_attempts: Annotated[int, _doc("hand-outs allowed before a lost lease fails the job")]
    created_at: Annotated[datetime, _doc("when it was enqueued")]
    updated_at: Annotated[datetime, _doc("when its own state last changed")]
    due_at: Annotated[datetime, _doc("when it may first be handed out (enqueue time + delay)")]
    lease_expires_at: Annotated[datetime | None, _doc("while running: when the lease runs out")]
    timeout: Annotated[float | None, _doc("the job timeout in seconds, as sent")]
    deadline_at: Annotated[datetime | None, _doc("due_at + timeout: failed if not final by then")]
    result_ttl: Annotated[float | None, _doc("the result TTL in seconds, as sent")]
    expires_at: Annotated[datetime | None, _doc("once final: when the job will be removed")]
    finished_at: Annotated[datetime | None, _doc("when it became final")]
    error: Annotated[str | None, _doc("why the server failed or cancelled it; else null")]
    callback: Annotated[CallbackView | None, _doc("null without a callback URL")]
    retries: Annotated[int, _doc("how many times a failed report is retried (0..100)")]
    retry_backoff: Annotated[float, _doc("seconds before the first retry; each next doubles")]
    retries_left: Annotated[int, _doc("retries not used yet")]
    started_at: Annotated[datetime | None, _doc("when the current or last attempt began")]
    # -- unique jobs and dependencies (flow-deps) --
    unique_key: Annotated[
        str | None, _doc("X-Accepted-Unique-Key as sent: no other job of the queue holds it")
    ]
    after: Annotated[
        list[str], _doc("the ids of the jobs it waits for (X-Accepted-After); [] when none")
    ]
    # The lease token goes only to the worker it was handed to.
    lease: Annotated[
        str | msgspec.UnsetType,
        _doc("only in answers to POST /want_job: the lease token of this hand-out"),
    ] = msgspec.UNSET
    # -- schedules --
    schedule: Annotated[
        str | None, _doc("the schedule that made the job (a fire or a manual run); else null")
    ]
    # -- fairness groups (flow-limits) --
    group: Annotated[str | None, _doc("the job's fairness group (X-Accepted-Group); else null")]


_encoder = msgspec.json.Encoder()


@lru_cache(maxsize=4096)
def utc(value: float) -> datetime:
    """A stored time (Unix seconds) as the aware UTC datetime the JSON shows."""
    # Cached: a job's times repeat (created = updated = due at enqueue), and a
    # batch shares one `now`, so most conversions are hits.
    return datetime.fromtimestamp(value, UTC)


def utc_or_none(value: float | None) -> datetime | None:
    return None if value is None else utc(value)


# Below 2**53 every whole float is exactly an int: the JSON stays the same number.
_EXACT = 2**53


@overload
def seconds(value: float) -> float: ...
@overload
def seconds(value: float | None) -> float | None: ...
def seconds(value: float | None) -> float | None:
    """A number of seconds as every answer shows it: rounded to the millisecond
    (980.776), an integer when whole (600), else with its fraction (0.5);
    docs/http-api.md#seconds.

    Why: the same stored value came back as 600.0 from the service and as 600
    from a row the driver read, so one field rendered two ways across answers;
    and a measured age (oldest_queued_age) carried digits down to 1e-13 s that
    nothing can use. A value under half a millisecond is not rounded to 0, so a
    timeout that is set never reads as none.
    """
    if value is None:
        return None
    rounded = round(value, 3)
    if rounded or not value:
        value = rounded
    whole = int(value)
    return whole if whole == value and -_EXACT < whole < _EXACT else float(value)


def job_view(job: Job, *, with_lease: bool = False) -> JobView:
    callback = None
    if job.callback_url is not None and job.callback_state is not None:
        callback = CallbackView(
            url=job.callback_url,
            state=job.callback_state,
            attempts=job.callback_attempts,
            next_attempt_at=utc_or_none(job.callback_next_at),
            last_error=job.callback_last_error,
        )
    return JobView(
        id=job.id,
        queue=job.queue,
        status=job.status,
        priority=job.priority,
        params=job.params,
        result=job.result,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        created_at=utc(job.created_at),
        updated_at=utc(job.updated_at),
        due_at=utc(job.due_at),
        lease_expires_at=utc_or_none(job.lease_expires_at),
        timeout=seconds(job.timeout),
        deadline_at=utc_or_none(job.deadline_at),
        result_ttl=seconds(job.result_ttl),
        expires_at=utc_or_none(job.expires_at),
        finished_at=utc_or_none(job.finished_at),
        error=job.error,
        callback=callback,
        retries=job.retries,
        retry_backoff=seconds(job.retry_backoff),
        retries_left=job.retries_left,
        started_at=utc_or_none(job.started_at),
        unique_key=job.unique_key,
        after=list(job.after),
        lease=job.lease if with_lease and job.lease is not None else msgspec.UNSET,
        schedule=job.schedule,
        group=job.fair_group,
    )


def job_json(job: Job, *, with_lease: bool = False) -> bytes:
    return _encoder.encode(job_view(job, with_lease=with_lease))


def jobs_json(jobs: list[Job], *, with_lease: bool = False) -> bytes:
    return _encoder.encode([job_view(job, with_lease=with_lease) for job in jobs])


class AttemptView(msgspec.Struct):
    attempt: int
    started_at: datetime
    ended_at: datetime | None
    outcome: AttemptOutcome | None
    result: msgspec.Raw


class AttemptsView(msgspec.Struct):
    attempts: list[AttemptView]


def attempts_json(attempts: list[Attempt]) -> bytes:
    views = [
        AttemptView(
            attempt=a.attempt,
            started_at=utc(a.started_at),
            ended_at=utc_or_none(a.ended_at),
            outcome=a.outcome,
            result=a.result,
        )
        for a in attempts
    ]
    return _encoder.encode(AttemptsView(views))


class Outcome(msgspec.Struct, omit_defaults=True):
    """One report of a batch: the job as it now is, or why the report was refused."""

    id: Annotated[str, _doc("the job id the report named")]
    status: Annotated[int, _doc("the status the single PUT /jobs/{id} would have answered")]
    job: Annotated[JobView | None, _doc("with status 200: the job after the report")] = None
    error: Annotated[ErrorBody | None, _doc("otherwise: why the report was refused")] = None


def outcomes_json(
    reports: Sequence[tuple[str, object]], outcomes: Sequence[Job | Exception]
) -> bytes:
    views = []
    for (job_id, _), outcome in zip(reports, outcomes, strict=True):
        if isinstance(outcome, Job):
            views.append(Outcome(id=job_id, status=200, job=job_view(outcome)))
        else:
            error = outcome if isinstance(outcome, AcceptedError) else AcceptedError(str(outcome))
            body = ErrorBody(code=error.code, message=error.message)
            views.append(Outcome(id=job_id, status=error.status, error=body))
    return _encoder.encode(views)


def error_json(error: AcceptedError) -> bytes:
    return _encoder.encode(ErrorView(ErrorBody(code=error.code, message=error.message)))


# -- queues ------------------------------------------------------------------------


class RateView(msgspec.Struct):
    jobs: Annotated[int, _doc("hand-outs allowed in any window")]
    per: Annotated[float, _doc("the window, in seconds")]


class LimitsView(msgspec.Struct):
    rate: Annotated[RateView | None, _doc("at most `jobs` hand-outs in any `per` seconds")] = None
    concurrency: Annotated[int | None, _doc("at most this many running at once")] = None
    group_concurrency: Annotated[
        int | None, _doc("at most this many of one fairness group running at once")
    ] = None


def limits_view(limits: QueueLimits) -> LimitsView:
    rate = None if limits.rate is None else RateView(limits.rate.jobs, seconds(limits.rate.per))
    return LimitsView(rate, limits.concurrency, limits.group_concurrency)


class QueueView(msgspec.Struct):
    name: str
    paused: bool
    counts: dict[str, int]
    oldest_queued_age: float | None
    limits: LimitsView


class QueueList(msgspec.Struct):
    queues: list[QueueView]


def queue_view(queue: Queue) -> QueueView:
    counts = {status.value: queue.counts.get(status, 0) for status in JobStatus}
    limits = limits_view(queue.limits)
    age = seconds(queue.oldest_queued_age)
    return QueueView(queue.name, queue.paused, counts, age, limits)


def queue_json(queue: Queue) -> bytes:
    return _encoder.encode(queue_view(queue))


def queues_json(queues: Sequence[Queue]) -> bytes:
    return _encoder.encode(QueueList([queue_view(queue) for queue in queues]))


# -- listing and bulk actions -------------------------------------------------------


class JobPageView(msgspec.Struct):
    jobs: list[JobView]
    next: str | None  # the cursor of the next page; null on the last


class BulkView(msgspec.Struct):
    matched: int  # jobs the filter selected
    changed: int  # of those, the jobs the action changed


def job_page_json(jobs: Sequence[Job], next_cursor: str | None) -> bytes:
    return _encoder.encode(JobPageView([job_view(job) for job in jobs], next_cursor))


def bulk_json(matched: int, changed: int) -> bytes:
    return _encoder.encode(BulkView(matched, changed))
