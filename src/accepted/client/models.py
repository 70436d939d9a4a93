"""What the client hands back and takes in: jobs as a worker or producer sees them.

`Job` mirrors the JSON the server sends (docs/http-api.md): times are
timezone-aware `datetime`s, `params` and `result` are plain decoded JSON.
Fields a newer server adds are ignored, so an older client keeps working.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from accepted.types import AttemptOutcome, CallbackState, JobStatus

__all__ = [
    "OMITTED",
    "Attempt",
    "AttemptOutcome",
    "BulkOutcome",
    "Callback",
    "Job",
    "JobPage",
    "JobStatus",
    "NewJob",
    "Queue",
]


def as_sent_seconds(value: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """`value` with each of its seconds `fields` a JSON integer when whole, as the
    server renders them, so `accepted get --json` prints what GET /jobs/{id} says."""
    for name in fields:
        seconds = value.get(name)
        if isinstance(seconds, float) and seconds.is_integer() and abs(seconds) < 2**53:
            value[name] = int(seconds)
    return value


class Callback(msgspec.Struct, frozen=True, kw_only=True):
    """Where delivery of the job's completion callback stands."""

    url: str
    state: CallbackState
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None


class Job(msgspec.Struct, frozen=True, kw_only=True):
    """One job, as the server last described it. Immutable: ask again for news."""

    id: str
    queue: str
    status: JobStatus
    priority: int = 1
    params: Any = None
    result: Any = None
    attempts: int = 0
    max_attempts: int | None = None
    created_at: datetime
    updated_at: datetime
    due_at: datetime | None = None
    lease_expires_at: datetime | None = None
    timeout: float | None = None
    deadline_at: datetime | None = None
    result_ttl: float | None = None
    expires_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    callback: Callback | None = None
    retries: int = 0
    retry_backoff: float | None = None
    retries_left: int = 0
    started_at: datetime | None = None
    # Only on a job handed out by take(): the token its reports must carry.
    lease: str | None = None
    # -- schedules --
    schedule: str | None = None  # the schedule that made it; None for an enqueued job
    # -- unique jobs and dependencies --
    unique_key: str | None = None  # no other job of the queue not final has this key
    after: list[str] = msgspec.field(default_factory=list)  # the ids of the jobs it waits for
    # -- fairness groups --
    group: str | None = None  # its fairness group (X-Accepted-Group); None when none
    # Not from the job's JSON: True when enqueue() made nothing because this job,
    # not yet final, already held the unique key (X-Accepted-Duplicate).
    duplicate: bool = False

    @property
    def is_final(self) -> bool:
        """done, failed or cancelled: the job will never change again."""
        return self.status.is_final

    def to_dict(self) -> dict[str, Any]:
        """The job as JSON-ready builtins (times as ISO 8601 strings; seconds as the
        server writes them, docs/http-api.md#seconds: 600, not 600.0)."""
        value: dict[str, Any] = msgspec.to_builtins(self)
        value.pop("duplicate", None)  # how the answer came, not part of the job's JSON
        return as_sent_seconds(value, ("timeout", "result_ttl", "retry_backoff"))


class Attempt(msgspec.Struct, frozen=True, kw_only=True):
    """One hand-out of a job: `outcome` and `ended_at` are None while it runs."""

    attempt: int
    started_at: datetime
    ended_at: datetime | None = None
    outcome: AttemptOutcome | None = None
    result: Any = None


class Attempts(msgspec.Struct, frozen=True):
    attempts: list[Attempt]


class _Omitted:
    """Marks an argument not given, where `None` is itself a value one could send."""

    def __repr__(self) -> str:
        return "OMITTED"


OMITTED: Any = _Omitted()


@dataclass(frozen=True, slots=True)
class NewJob:
    """One job of `enqueue_many`: the arguments of `enqueue`, as a value.

    A field left at its default takes the server's default.
    """

    queue: str
    params: Any = OMITTED
    priority: int | None = None
    delay: float | None = None
    result_ttl: float | None = None
    callback_url: str | None = None
    job_timeout: float | None = None
    max_attempts: int | None = None
    retries: int | None = None
    retry_backoff: float | None = None
    idempotency_key: str | None = None  # see `Client.enqueue`
    unique_key: str | None = None  # see `Client.enqueue`
    # Job ids, or "$N" for job N (an earlier one) of the same enqueue_many.
    after: Sequence[str] | None = None
    group: str | None = None  # see `Client.enqueue`


# -- queues, listing and bulk actions -------------------------------------------


class Rate(msgspec.Struct, frozen=True):
    """At most `jobs` hand-outs in any window of `per` seconds."""

    jobs: int
    per: float


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """A queue's limits; None: no such limit (see `Client.set_limits`)."""

    rate: Rate | None = None
    concurrency: int | None = None
    group_concurrency: int | None = None


class Queue(msgspec.Struct, frozen=True, kw_only=True):
    """A queue: its jobs by status, how long its oldest queued job has waited,
    whether it is paused, and its limits."""

    name: str
    paused: bool = False
    counts: dict[str, int] = msgspec.field(default_factory=dict)
    oldest_queued_age: float | None = None
    limits: Limits = msgspec.field(default_factory=lambda: Limits())


class JobPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of `list_jobs`, newest first; pass `next` as `cursor` for the next."""

    jobs: list[Job]
    next: str | None = None


class BulkOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What a bulk action did: jobs the filter matched, and of those, changed."""

    matched: int
    changed: int
