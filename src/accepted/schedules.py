"""Schedules as the store keeps them: a job to enqueue, and when.

No I/O here. A schedule fires on a `cron` expression (in its `timezone`) or
`every` so many seconds; each fire makes one job of `queue` with `params` and
the job options given (None: the server's default, as for an enqueue).
`revision` counts the writes of the definition, so a fire that read an
older definition writes nothing (store.base, the schedules section).
"""

from __future__ import annotations

import msgspec

from accepted.types import JSON_EMPTY_OBJECT

UTC_NAME = "UTC"


class Schedule(msgspec.Struct, frozen=True, kw_only=True):
    """One stored schedule. Immutable: a change is a new `Schedule`."""

    name: str
    queue: str
    params: msgspec.Raw = JSON_EMPTY_OBJECT
    cron: str | None = None
    every: float | None = None
    timezone: str = UTC_NAME
    paused: bool = False
    # The options of each job it makes; None: the server's default.
    priority: int | None = None
    job_timeout: float | None = None
    result_ttl: float | None = None
    max_attempts: int | None = None
    retries: int | None = None
    callback_url: str | None = None
    created_at: float
    updated_at: float
    # The fire time the next job is for (None while paused); the last job made
    # (by a fire or a manual run), and when.
    next_run_at: float | None = None
    last_run_at: float | None = None
    last_job_id: str | None = None
    revision: int = 0

    def same_cadence(self, other: Schedule) -> bool:
        """Whether both fire at the same times (so a rewrite keeps `next_run_at`)."""
        return (self.cron, self.every, self.timezone, self.paused) == (
            other.cron,
            other.every,
            other.timezone,
            other.paused,
        )
