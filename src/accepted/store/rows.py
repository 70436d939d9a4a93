"""A job as a database row, the same for every backend: one column per `Job` field."""

from __future__ import annotations

from typing import Any

import msgspec

from accepted.types import CallbackState, Job, JobStatus

COLUMNS: tuple[str, ...] = tuple(f.name for f in msgspec.structs.fields(Job))
# What an update may change; the rest is fixed when the job is created.
MUTABLE: tuple[str, ...] = tuple(c for c in COLUMNS if c not in ("id", "queue", "created_at"))


def column_value(value: Any) -> Any:
    """A Job field as the database driver takes it (raw JSON as bytes)."""
    if isinstance(value, msgspec.Raw):
        return bytes(value)
    return value


def job_from_columns(values: dict[str, Any]) -> Job:
    """A Job from its column values as a driver returns them."""
    values["status"] = JobStatus(values["status"])
    values["params"] = msgspec.Raw(values["params"])
    values["result"] = msgspec.Raw(values["result"])
    if values["callback_state"] is not None:
        values["callback_state"] = CallbackState(values["callback_state"])
    return Job(**values)
