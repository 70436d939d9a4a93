"""The domain's value objects. No I/O here: every layer shares these shapes.

Times are float seconds since the Unix epoch (UTC). They are what the store
persists and what deadlines are compared in; only the HTTP renderer turns them
into ISO 8601 strings.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class JobStatus(StrEnum):
    DELAYED = "delayed"
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED})


class Due(StrEnum):
    """The kinds of deadline a background task sweeps for (docs/state-machine.md, "The sweeps").

    A domain notion: the service pokes the task of a kind when a sooner
    deadline appears, the tasks sweep by it, and the store says which rows
    each kind selects.
    """

    DELAYED = "delayed"  # delayed jobs whose due_at has come
    LEASE = "lease"  # running jobs whose lease_expires_at has passed
    DEADLINE = "deadline"  # delayed, queued or running jobs past their deadline_at
    CALLBACK = "callback"  # pending callbacks whose callback_next_at has come
    EXPIRED = "expired"  # final jobs past expires_at with no pending callback


class CallbackState(StrEnum):
    """Where a job's completion callback stands; `None` on the job means no callback."""

    WAITING = "waiting"  # the job is not final yet
    PENDING = "pending"  # final; a delivery is due or in flight
    DELIVERED = "delivered"
    GAVE_UP = "gave_up"
    REFUSED = "refused"  # the destination rule forbids its address; never retried


class AttemptOutcome(StrEnum):
    """How one hand-out of a job ended (GET /jobs/{id}/attempts)."""

    DONE = "done"
    FAILED = "failed"
    RETRIED = "retried"  # reported failed, with a retry left: the job waits out a backoff
    LEASE_EXPIRED = "lease_expired"
    GIVEN_BACK = "given_back"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"


# JSON text of `null`: a job's result before a worker reports one.
JSON_NULL = msgspec.Raw(b"null")
JSON_EMPTY_OBJECT = msgspec.Raw(b"{}")


class Job(msgspec.Struct, frozen=True, kw_only=True):
    """One job as stored. Immutable: a change is a new `Job` (msgspec.structs.replace).

    `params` and `result` are kept as the raw JSON text the client sent, so they
    are never decoded and re-encoded on the way through.
    """

    id: str
    queue: str
    status: JobStatus
    priority: int
    params: msgspec.Raw
    result: msgspec.Raw = JSON_NULL
    attempts: int = 0
    max_attempts: int
    created_at: float
    updated_at: float
    due_at: float
    # Lease of the current hand-out (running jobs only).
    lease: str | None = None
    lease_expires_at: float | None = None
    # Job timeout: the absolute time by which the job must be final.
    timeout: float | None = None
    deadline_at: float | None = None
    # Result TTL: seconds kept once final, and the absolute removal time.
    result_ttl: float | None = None
    expires_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    callback_url: str | None = None
    callback_state: CallbackState | None = None
    callback_attempts: int = 0
    callback_next_at: float | None = None
    callback_last_error: str | None = None
    # Retries of a job a worker reports failed: how many were asked for, the
    # first one's delay in seconds (doubling after), and how many are left.
    retries: int = 0
    retry_backoff: float = 1.0
    retries_left: int = 0
    # When the current (or, once it ended, the last) hand-out began.
    started_at: float | None = None
    # Hand-outs before the last POST /jobs/{id}/retry (which sets attempts back
    # to 0): hand-out n of the job's history is attempt_base + attempts.
    attempt_base: int = 0
    # Transient, never stored: set by the rule that ends a hand-out, to how it
    # ended, so the store writes that attempt's history row in the same
    # transaction. Rows read back always have None.
    ended: AttemptOutcome | None = None
    # The schedule that made the job (POST /schedules/{name}/run included); else None.
    schedule: str | None = None
    # -- unique jobs and dependencies (flow-deps) --
    # While a job of the same queue with this key is not final, no other is enqueued.
    unique_key: str | None = None
    # The jobs this one waits for (their ids), in the order given.
    after: tuple[str, ...] = ()
    # How many of `after` are not done yet: the job stays delayed while > 0.
    waiting: int = 0
    # Some job waits on this one: settling it releases or cancels them.
    has_dependents: bool = False
    # -- fairness groups (flow-limits) --
    # The producer's X-Accepted-Group (None: no group), and the job's place in
    # the rotation between its queue's groups: a time on the due_at scale,
    # set by the store when it inserts a grouped job (None without a group,
    # which is ordered by due_at).
    fair_group: str | None = None
    fair_rank: float | None = None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


class Attempt(msgspec.Struct, frozen=True, kw_only=True):
    """One hand-out of a job: when it began and ended, how, and what was reported."""

    attempt: int
    started_at: float
    ended_at: float | None = None
    outcome: AttemptOutcome | None = None
    result: msgspec.Raw = JSON_NULL
