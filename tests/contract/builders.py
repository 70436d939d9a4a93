"""Job values for the contract tests, built directly (no service in between)."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from accepted.types import FINAL_STATUSES, CallbackState, Job, JobStatus

# A fixed "now": the store never reads a clock, so tests need not either.
NOW = 1_700_000_000.0

replace = msgspec.structs.replace


def new_id() -> str:
    return str(uuid.uuid4())


def make_job(
    queue: str = "q",
    status: JobStatus = JobStatus.QUEUED,
    priority: int = 1,
    due_at: float = NOW,
    **fields: Any,
) -> Job:
    """A job as the service would store it, with consistent fields for its status."""
    values: dict[str, Any] = {
        "id": new_id(),
        "queue": queue,
        "status": status,
        "priority": priority,
        "params": msgspec.Raw(b"{}"),
        "max_attempts": 3,
        "created_at": NOW - 100,
        "updated_at": NOW - 100,
        "due_at": due_at,
    }
    if status is JobStatus.RUNNING:
        values.update(attempts=1, lease="lease-0", lease_expires_at=NOW + 30)
    if status in FINAL_STATUSES:
        values.update(attempts=1, finished_at=NOW - 50, result=msgspec.Raw(b'"ok"'))
    values.update(fields)
    return Job(**values)


def with_callback(job: Job, state: CallbackState, next_at: float | None) -> Job:
    return replace(
        job, callback_url="http://127.0.0.1:9/hook", callback_state=state, callback_next_at=next_at
    )


def mark(job: Job, note: str = "changed") -> Job:
    """A visible change that leaves the row in the same sweep kind."""
    return replace(job, error=note, updated_at=NOW)
