"""A job as a database row, the same for every backend: one column per `Job` field."""

from __future__ import annotations

import operator
from collections.abc import Sequence
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
# The columns as a select list, in COLUMNS order (`job_from_row` reads them back).
COLUMN_LIST = ", ".join(COLUMNS)
# What an update may change; the rest is fixed when the job is created.
MUTABLE: tuple[str, ...] = tuple(c for c in COLUMNS if c not in ("id", "queue", "created_at"))


def column_value(value: Any) -> Any:
    """A Job field as the database driver takes it (raw JSON as bytes)."""
    if isinstance(value, msgspec.Raw):
        return bytes(value)
    if isinstance(value, tuple):  # `after`: ids joined by commas (UUIDs hold none)
        return ",".join(value) or None
    return value


# The columns column_value converts, by position in COLUMNS: job_columns
# converts only these (a batch of 100 jobs is 3,700 values, ~5 us a job
# through column_value).
_FIELD_TYPES = {f.name: f.type for f in msgspec.structs.fields(Job)}
_RAW_AT = tuple(i for i, c in enumerate(COLUMNS) if _FIELD_TYPES[c] is msgspec.Raw)
_JOINED_AT = tuple(
    i for i, c in enumerate(COLUMNS) if getattr(_FIELD_TYPES[c], "__origin__", None) is tuple
)
_VALUES_OF = operator.attrgetter(*COLUMNS)


def job_columns(job: Job) -> list[Any]:
    """Every column of `job`, in COLUMNS order, as column_value gives each."""
    values = list(_VALUES_OF(job))
    for i in _RAW_AT:
        values[i] = bytes(values[i])
    for i in _JOINED_AT:
        values[i] = ",".join(values[i]) or None
    return values


# The enum members by value: a dict lookup, where calling the enum (JobStatus("done"))
# costs ~1 us; a claim or a report batch reads every row it hands back this way.
_STATUSES = {status.value: status for status in JobStatus}
_CALLBACK_STATES = {state.value: state for state in CallbackState}


def job_from_row(row: Sequence[Any]) -> Job:
    """A Job from a row of COLUMN_LIST's columns, in that order."""
    return job_from_columns(dict(zip(COLUMNS, row, strict=True)))


def job_from_columns(values: dict[str, Any]) -> Job:
    """A Job from its column values as a driver returns them."""
    values["status"] = _STATUSES[values["status"]]
    values["params"] = msgspec.Raw(values["params"])
    values["result"] = msgspec.Raw(values["result"])
    if values["callback_state"] is not None:
        values["callback_state"] = _CALLBACK_STATES[values["callback_state"]]
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
