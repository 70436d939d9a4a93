"""A job as a database row, the same for every backend: one column per `Job` field."""

from __future__ import annotations

from typing import Any

import msgspec

from accepted.types import (
    Attempt,
    AttemptOutcome,
    CallbackState,
    Job,
    JobStatus,
)

# Job fields that are not columns: they describe a change, not the job.
TRANSIENT = frozenset({"ended"})
COLUMNS: tuple[str, ...] = tuple(
    f.name for f in msgspec.structs.fields(Job) if f.name not in TRANSIENT
)
# What an update may change; the rest is fixed when the job is created.
MUTABLE: tuple[str, ...] = tuple(c for c in COLUMNS if c not in ("id", "queue", "created_at"))


def column_value(value: Any) -> Any:
    """A Job field as the database driver takes it (raw JSON as bytes)."""
    if isinstance(value, msgspec.Raw):
        return bytes(value)
    if isinstance(value, tuple):  # `after`: ids joined by commas (UUIDs hold none)
        return ",".join(value) or None
    return value


def job_from_columns(values: dict[str, Any]) -> Job:
    """A Job from its column values as a driver returns them."""
    values["status"] = JobStatus(values["status"])
    values["params"] = msgspec.Raw(values["params"])
    values["result"] = msgspec.Raw(values["result"])
    if values["callback_state"] is not None:
        values["callback_state"] = CallbackState(values["callback_state"])
    # -- dependencies (flow-deps) --
    after = values.get("after")
    values["after"] = tuple(after.split(",")) if after else ()
    values["has_dependents"] = bool(values.get("has_dependents"))
    return Job(**values)


# An ended hand-out's history row, as the store binds it: its number,
# started_at, ended_at, outcome, result (raw JSON bytes).
AttemptRow = tuple[int, float, float, AttemptOutcome, bytes]


def ended_attempt(old: Job, new: Job) -> AttemptRow | None:
    """The history row of the hand-out that the change old -> new ended, if it ended one.

    On every write of every job, so it is kept to identity checks and a tuple.
    The number comes from the row (`attempt_base + attempts`), so the insert
    needs no look at the rows before it.
    """
    ended = new.ended
    if ended is None or ended is AttemptOutcome.DONE:
        # A hand-out that ends in done needs no row: the done job is its record
        # (`rules.attempt_history`), and take -> done, the common path, writes
        # no history at all.
        return None
    if old.status is not JobStatus.RUNNING or new.lease == old.lease:
        return None
    started = old.started_at if old.started_at is not None else old.updated_at
    reported = ended is AttemptOutcome.FAILED or ended is AttemptOutcome.RETRIED
    result = bytes(new.result) if reported else b"null"
    return (old.attempt_base + old.attempts, started, new.updated_at, ended, result)


def stored(job: Job) -> Job:
    """The job as it reads back from the store (without its transient change marks)."""
    return job if job.ended is None else msgspec.structs.replace(job, ended=None)


def attempt_from_columns(values: dict[str, Any]) -> Attempt:
    values["outcome"] = AttemptOutcome(values["outcome"])
    values["result"] = msgspec.Raw(values["result"])
    return Attempt(**values)


ATTEMPT_COLUMNS = ("attempt", "started_at", "ended_at", "outcome", "result")
