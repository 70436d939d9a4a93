"""The schedule endpoints: PUT, GET, DELETE /schedules/{name}, GET /schedules,
POST /schedules/{name}/run (SPEC Part 2 "Schedules", docs/flow.md).

Writes need an unlimited admin token (the route table says so). A token
limited to some queues reads only the schedules of its queues: another's
is absent (404), as a job of another queue is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, TypeVar

import msgspec

from accepted.errors import ScheduleNotFound
from accepted.http import params as p
from accepted.http import parse, render
from accepted.http.context import Context
from accepted.http.request import Request, Response
from accepted.schedules import UTC_NAME, Schedule
from accepted.service.cadence import MAX_CRON
from accepted.service.schedules import ScheduleService, ScheduleSpec
from accepted.types import JSON_EMPTY_OBJECT

# The shortest `every`: a schedule is for recurring work, not a busy loop.
MIN_EVERY = 1.0
MAX_TIMEZONE = 64
T = TypeVar("T", int, float, str)


class ScheduleBody(msgspec.Struct, forbid_unknown_fields=True):
    """A schedule to create or replace: exactly one of `cron` and `every`. Unknown
    fields are refused (a misspelt option would otherwise be silently ignored)."""

    queue: parse.Queue
    params: Annotated[
        msgspec.Raw, msgspec.Meta(description="any JSON value, each job's params; default {}")
    ] = msgspec.field(default_factory=lambda: JSON_EMPTY_OBJECT)
    cron: (
        Annotated[
            str,
            msgspec.Meta(
                description="a five-field cron expression (minute hour day-of-month month "
                "day-of-week), read in `timezone`",
                max_length=MAX_CRON,
            ),
        ]
        | None
    ) = None
    every: (
        Annotated[
            float,
            msgspec.Meta(description="seconds between fires", ge=MIN_EVERY, le=p.MAX_SECONDS),
        ]
        | None
    ) = None
    timezone: Annotated[
        str, msgspec.Meta(description="an IANA time zone name", max_length=MAX_TIMEZONE)
    ] = UTC_NAME
    paused: Annotated[bool, msgspec.Meta(description="true: no fires until resumed")] = False
    priority: Annotated[int, p.PRIORITY.meta] | None = None
    job_timeout: Annotated[float, p.JOB_TIMEOUT.meta] | None = None
    result_ttl: Annotated[float, p.RESULT_TTL.meta] | None = None
    max_attempts: Annotated[int, p.MAX_ATTEMPTS.meta] | None = None
    retries: Annotated[int, p.RETRIES.meta] | None = None
    callback_url: Annotated[str, p.CALLBACK_URL.meta] | None = None


class ScheduleView(msgspec.Struct):
    """A schedule as every answer carries it. Options not set are null."""

    name: Annotated[str, msgspec.Meta(description="its name, as in the path")]
    queue: str
    params: msgspec.Raw
    cron: str | None
    every: float | None
    timezone: str
    paused: bool
    priority: int | None
    job_timeout: float | None
    result_ttl: float | None
    max_attempts: int | None
    retries: int | None
    callback_url: str | None
    created_at: datetime
    updated_at: Annotated[datetime, msgspec.Meta(description="when it was last PUT")]
    next_run_at: Annotated[
        datetime | None, msgspec.Meta(description="the next fire time; null while paused")
    ]
    last_run_at: Annotated[
        datetime | None,
        msgspec.Meta(description="when its last job was made (a fire or a manual run)"),
    ]
    last_job_id: Annotated[str | None, msgspec.Meta(description="the id of that job")]


class ScheduleList(msgspec.Struct):
    schedules: list[ScheduleView]


_encoder = msgspec.json.Encoder()


def schedule_view(schedule: Schedule) -> ScheduleView:
    return ScheduleView(
        name=schedule.name,
        queue=schedule.queue,
        params=schedule.params,
        cron=schedule.cron,
        every=render.seconds(schedule.every),
        timezone=schedule.timezone,
        paused=schedule.paused,
        priority=schedule.priority,
        job_timeout=render.seconds(schedule.job_timeout),
        result_ttl=render.seconds(schedule.result_ttl),
        max_attempts=schedule.max_attempts,
        retries=schedule.retries,
        callback_url=schedule.callback_url,
        created_at=render.utc(schedule.created_at),
        updated_at=render.utc(schedule.updated_at),
        next_run_at=render.utc_or_none(schedule.next_run_at),
        last_run_at=render.utc_or_none(schedule.last_run_at),
        last_job_id=schedule.last_job_id,
    )


def _service(ctx: Context) -> ScheduleService:
    assert ctx.schedules is not None, "create_app sets the schedule service"
    return ctx.schedules


def _name(request: Request) -> str:
    return parse.queue_name(request.params["name"], "schedule name in the path")


def _json(schedule: Schedule) -> Response:
    return Response.json(200, _encoder.encode(schedule_view(schedule)))


def _spec(body: ScheduleBody) -> ScheduleSpec:
    """The body's job options held to the ranges their headers declare (parse.check)."""
    return ScheduleSpec(
        queue=parse.queue_name(body.queue, "queue"),
        params=body.params,
        cron=body.cron,
        every=body.every,
        timezone=body.timezone,
        paused=body.paused,
        priority=_checked(p.PRIORITY, body.priority, "priority"),
        job_timeout=_checked(p.JOB_TIMEOUT, body.job_timeout, "job_timeout"),
        result_ttl=_checked(p.RESULT_TTL, body.result_ttl, "result_ttl"),
        max_attempts=_checked(p.MAX_ATTEMPTS, body.max_attempts, "max_attempts"),
        retries=_checked(p.RETRIES, body.retries, "retries"),
        callback_url=(
            None
            if body.callback_url is None
            else parse.check_url(body.callback_url, "callback_url")
        ),
    )


def _checked(param: p.Param[T], value: T | None, where: str) -> T | None:
    return None if value is None else parse.check(param, value, where)


async def put_schedule(ctx: Context, request: Request) -> Response:
    body = parse.decode(await request.body(ctx.settings.body_limit), ScheduleBody)
    schedule = await _service(ctx).put(_name(request), _spec(body), ctx.clock())
    return _json(schedule)


async def list_schedules(ctx: Context, request: Request) -> Response:
    caller = request.caller  # a token limited to some queues sees their schedules only
    found = [s for s in await _service(ctx).list() if caller.sees(s.queue)]
    return Response.json(200, _encoder.encode(ScheduleList([schedule_view(s) for s in found])))


async def get_schedule(ctx: Context, request: Request) -> Response:
    name = _name(request)
    schedule = await _service(ctx).get(name)
    if not request.caller.sees(schedule.queue):
        raise ScheduleNotFound(f"no schedule {name!r}")  # as if it did not exist
    return _json(schedule)


async def delete_schedule(ctx: Context, request: Request) -> Response:
    return _json(await _service(ctx).delete(_name(request)))


async def run_schedule(ctx: Context, request: Request) -> Response:
    job = await _service(ctx).run_now(_name(request), ctx.clock())
    location = (b"location", f"/jobs/{job.id}".encode())
    return Response.json(202, render.job_json(job), location)
