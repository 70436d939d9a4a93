"""A schedule as a database row, the same for every backend: one column per field."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from accepted.schedules import Schedule
from accepted.store.rows import column_value

SCHEDULE_COLUMNS: tuple[str, ...] = tuple(f.name for f in msgspec.structs.fields(Schedule))
# What a fire writes; the rest is the definition, written by a put.
FIRED_COLUMNS = ("next_run_at", "last_run_at", "last_job_id")


def schedule_values(schedule: Schedule, columns: Sequence[str] = SCHEDULE_COLUMNS) -> list[Any]:
    """The schedule's values of `columns`, as a driver binds them (raw JSON as bytes)."""
    return [column_value(getattr(schedule, c)) for c in columns]


def schedule_from_columns(values: dict[str, Any]) -> Schedule:
    """A Schedule from its column values as a driver returns them."""
    values["params"] = msgspec.Raw(values["params"])
    values["paused"] = bool(values["paused"])
    return Schedule(**values)
