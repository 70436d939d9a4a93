"""The schedule calls of the client: put, read, list, delete, run now.

Kept apart from `core` so the job calls there stay on one screen; both
clients send these calls as they send the others. `Schedule` mirrors the
schedule object of docs/http-api.md#schedules.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

import msgspec

from accepted.client.core import Answer, Call, Retry, _check, _decode, read_job
from accepted.client.models import Job, as_sent_seconds

T = TypeVar("T")

__all__ = ["Schedule", "delete_schedule", "put_schedule", "run_schedule", "schedule", "schedules"]


class Schedule(msgspec.Struct, frozen=True, kw_only=True):
    """One schedule, as the server last described it. Options not set are None."""

    name: str
    queue: str
    params: Any = None
    cron: str | None = None
    every: float | None = None
    timezone: str = "UTC"
    paused: bool = False
    priority: int | None = None
    job_timeout: float | None = None
    result_ttl: float | None = None
    max_attempts: int | None = None
    retries: int | None = None
    callback_url: str | None = None
    created_at: datetime
    updated_at: datetime
    next_run_at: datetime | None = None
    last_run_at: datetime | None = None
    last_job_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The schedule as JSON-ready builtins (times as ISO 8601 strings; whole
        seconds as integers, as the server writes them)."""
        value: dict[str, Any] = msgspec.to_builtins(self)
        return as_sent_seconds(value, ("every", "job_timeout", "result_ttl"))


class _ScheduleList(msgspec.Struct):
    schedules: list[Schedule]


_encoder = msgspec.json.Encoder()
_schedule_decoder = msgspec.json.Decoder(Schedule)
_list_decoder = msgspec.json.Decoder(_ScheduleList)


def _reader(decoder: msgspec.json.Decoder[T]) -> Callable[[Answer], T]:
    def read(answer: Answer) -> T:
        _check(answer, 200)
        return _decode(decoder, answer)

    return read


def _read_list(answer: Answer) -> list[Schedule]:
    return _reader(_list_decoder)(answer).schedules


def _path(name: str, action: str = "") -> str:
    return "/schedules/" + quote(name, safe="") + (f"/{action}" if action else "")


def put_schedule(
    name: str,
    queue: str,
    params: Any = None,
    *,
    cron: str | None = None,
    every: float | None = None,
    timezone: str | None = None,
    paused: bool = False,
    **options: Any,
) -> Call[Schedule]:
    """PUT /schedules/{name}: the whole definition (a rewrite replaces every field).

    `options` are the job options: priority, job_timeout, result_ttl,
    max_attempts, retries, callback_url; those left out take the server's default.
    """
    body: dict[str, Any] = {"queue": queue, "paused": paused}
    if params is not None:
        body["params"] = params
    given = {"cron": cron, "every": every, "timezone": timezone, **options}
    body.update({key: value for key, value in given.items() if value is not None})
    # Sending the same definition again changes nothing that matters: safe to retry.
    return Call(
        "PUT",
        _path(name),
        _reader(_schedule_decoder),
        headers={"content-type": "application/json"},
        body=_encoder.encode(body),
        retry=Retry.ALWAYS,
    )


def schedule(name: str) -> Call[Schedule]:
    return Call("GET", _path(name), _reader(_schedule_decoder), retry=Retry.ALWAYS)


def schedules() -> Call[list[Schedule]]:
    return Call("GET", "/schedules", _read_list, retry=Retry.ALWAYS)


def delete_schedule(name: str) -> Call[Schedule]:
    return Call("DELETE", _path(name), _reader(_schedule_decoder))


def run_schedule(name: str) -> Call[Job]:
    # Not retried once sent: a retry after a lost answer would make a second job.
    return Call("POST", _path(name, "run"), read_job(202))
