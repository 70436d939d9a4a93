"""Jobs and errors as the JSON the wire carries (the shape docs/http-api.md shows)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal

import msgspec

from accepted.errors import AcceptedError
from accepted.queries import Queue
from accepted.types import Attempt, AttemptOutcome, CallbackState, Job, JobStatus


class Health(msgspec.Struct):
    status: Literal["ok"]


class ErrorBody(msgspec.Struct):
    code: str
    message: str


class ErrorView(msgspec.Struct):
    error: ErrorBody


class CallbackView(msgspec.Struct):
    url: str
    state: CallbackState
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None


class JobView(msgspec.Struct):
    id: str
    queue: str
    status: JobStatus
    priority: int
    params: msgspec.Raw
    result: msgspec.Raw
    attempts: int
    max_attempts: int
    created_at: datetime
    updated_at: datetime
    due_at: datetime
    lease_expires_at: datetime | None
    timeout: float | None
    deadline_at: datetime | None
    result_ttl: float | None
    expires_at: datetime | None
    finished_at: datetime | None
    error: str | None
    callback: CallbackView | None
    retries: int
    retry_backoff: float
    retries_left: int
    started_at: datetime | None
    # The lease token goes only to the worker it was handed to.
    lease: str | msgspec.UnsetType = msgspec.UNSET


_encoder = msgspec.json.Encoder()


@lru_cache(maxsize=4096)
def _at(value: float) -> datetime:
    # Cached: a job's times repeat (created = updated = due at enqueue), and a
    # batch shares one `now`, so most conversions are hits.
    return datetime.fromtimestamp(value, UTC)


def _time(value: float | None) -> datetime | None:
    return None if value is None else _at(value)


def job_view(job: Job, *, with_lease: bool = False) -> JobView:
    callback = None
    if job.callback_url is not None and job.callback_state is not None:
        callback = CallbackView(
            url=job.callback_url,
            state=job.callback_state,
            attempts=job.callback_attempts,
            next_attempt_at=_time(job.callback_next_at),
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
        created_at=_at(job.created_at),
        updated_at=_at(job.updated_at),
        due_at=_at(job.due_at),
        lease_expires_at=_time(job.lease_expires_at),
        timeout=job.timeout,
        deadline_at=_time(job.deadline_at),
        result_ttl=job.result_ttl,
        expires_at=_time(job.expires_at),
        finished_at=_time(job.finished_at),
        error=job.error,
        callback=callback,
        retries=job.retries,
        retry_backoff=job.retry_backoff,
        retries_left=job.retries_left,
        started_at=_time(job.started_at),
        lease=job.lease if with_lease and job.lease is not None else msgspec.UNSET,
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
            started_at=_at(a.started_at),
            ended_at=_time(a.ended_at),
            outcome=a.outcome,
            result=a.result,
        )
        for a in attempts
    ]
    return _encoder.encode(AttemptsView(views))


class Outcome(msgspec.Struct, omit_defaults=True):
    """One report of a batch: the job as it now is, or why the report was refused."""

    id: str
    status: int
    job: JobView | None = None
    error: ErrorBody | None = None


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


class LimitsView(msgspec.Struct):
    rate: object | None = None
    concurrency: int | None = None
    group_concurrency: int | None = None


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
    return QueueView(queue.name, queue.paused, counts, queue.oldest_queued_age, LimitsView())


def queue_json(queue: Queue) -> bytes:
    return _encoder.encode(queue_view(queue))


def queues_json(queues: Sequence[Queue]) -> bytes:
    return _encoder.encode(QueueList([queue_view(queue) for queue in queues]))
