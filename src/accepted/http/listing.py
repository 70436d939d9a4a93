"""GET /jobs (listing and search) and POST /jobs/bulk (SPEC Part 2 "Listing and
search", "Acting on jobs"): both take the same filter, checked here into a
`JobFilter`."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

import msgspec

from accepted.errors import InvalidField, InvalidQuery
from accepted.http import params, parse, render
from accepted.http.context import Context
from accepted.http.request import Request, Response
from accepted.queries import JobFilter
from accepted.service.selection import BulkAction, SelectionService
from accepted.types import JobStatus

_CURSOR_PREFIX = "s"
MAX_BULK_IDS = 10_000  # ids one bulk filter may name


def statuses(values: list[str], where: str) -> tuple[JobStatus, ...] | None:
    """Statuses from repeated and/or comma-separated values; None when none given."""
    found: list[JobStatus] = []
    for value in values:
        for name in value.split(","):
            try:
                found.append(JobStatus(name.strip()))
            except ValueError:
                names = ", ".join(s.value for s in JobStatus)
                raise InvalidQuery(f"{where} {name!r} is not one of {names}") from None
    return tuple(dict.fromkeys(found)) or None


def queue_names(values: list[str], where: str) -> tuple[str, ...] | None:
    names = tuple(dict.fromkeys(parse.queue_name(v, where) for v in values))
    if len(names) > params.MAX_LIST_QUEUES:
        raise InvalidQuery(f"{where} names {len(names)} queues; at most {params.MAX_LIST_QUEUES}")
    return names or None


def encode_cursor(position: int | None) -> str | None:
    if position is None:
        return None
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{position}".encode()).decode().rstrip("=")


def decode_cursor(raw: str | None) -> int | None:
    """The position a cursor names; a cursor this server did not give is a 400."""
    if raw is None:
        return None
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        if text.startswith(_CURSOR_PREFIX) and text[1:].isdigit():
            return int(text[1:])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InvalidQuery(f"query parameter 'cursor' {raw[:40]!r} is not a cursor from this API")


def query_filter(request: Request) -> JobFilter:
    text = parse.read(request, params.SEARCH)
    return JobFilter(
        queues=queue_names(parse.read_all(request, params.LIST_QUEUE), "query parameter 'queue'"),
        statuses=statuses(request.query("status"), "query parameter 'status'"),
        text=text if text else None,
    )


async def list_jobs(ctx: Context, request: Request) -> Response:
    where = await _confined(ctx, request, query_filter(request))
    limit = parse.read(request, params.LIMIT) or 50
    before = decode_cursor(parse.read(request, params.CURSOR))
    if where is None:
        return Response.json(200, render.job_page_json([], None))
    page = await _service(ctx).page(where, limit, before)
    return Response.json(200, render.job_page_json(page.jobs, encode_cursor(page.next)))


async def _confined(ctx: Context, request: Request, where: JobFilter) -> JobFilter | None:
    """The filter within the caller's queues (a token limited to some): 403 when it
    names another queue; None when it can select nothing."""
    caller = request.caller
    if caller.scope is None or where.queues is not None:
        return caller.confine(where, ())
    assert ctx.queues is not None, "create_app sets the queue service"
    existing = [queue.name for queue in await ctx.queues.list_queues(ctx.clock())]
    return caller.confine(where, existing)


def _meta(text: str, **limits: Any) -> msgspec.Meta:
    return msgspec.Meta(description=text, **limits)


class BulkFilter(msgspec.Struct, forbid_unknown_fields=True):
    """What `GET /jobs` takes, as JSON; unknown fields are refused, so a typo
    (`"queues"`) cannot widen an action to every job."""

    queue: Annotated[list[str] | None, _meta("only jobs of these queues")] = None
    status: Annotated[list[str] | None, _meta("only jobs of these statuses")] = None
    q: Annotated[
        str | None, _meta("a job id, or text found (case-insensitive) in params or result")
    ] = None
    ids: Annotated[list[str] | None, _meta(f"only these jobs (at most {MAX_BULK_IDS})")] = None
    all: Annotated[bool, _meta("true: every job (other conditions given still apply)")] = False


class BulkBody(msgspec.Struct, forbid_unknown_fields=True):
    action: Annotated[BulkAction, _meta("what to do to each job the filter selects")]
    filter: Annotated[BulkFilter, _meta("which jobs; an empty filter is refused")]


def bulk_filter(body: BulkFilter) -> JobFilter:
    if body.ids is not None and len(body.ids) > MAX_BULK_IDS:
        raise InvalidField(f"filter.ids has {len(body.ids)} ids; at most {MAX_BULK_IDS}")
    if body.q is not None and len(body.q) > params.MAX_SEARCH:
        raise InvalidField(f"filter.q is longer than {params.MAX_SEARCH} characters")
    where = JobFilter(
        queues=queue_names(body.queue or [], "filter.queue[]"),
        statuses=None if body.status is None else _field_statuses(body.status),
        text=body.q or None,
        ids=None if body.ids is None else tuple(body.ids),
        everything=body.all,
    )
    if where.is_empty:
        raise InvalidField(
            'filter is empty: name queue, status, q or ids, or send {"all": true} '
            "to act on every job"
        )
    return where


def _field_statuses(values: list[str]) -> tuple[JobStatus, ...] | None:
    try:
        return statuses(values, "filter.status[]")
    except InvalidQuery as exc:
        raise InvalidField(exc.message) from None


async def bulk(ctx: Context, request: Request) -> Response:
    body: BulkBody = parse.decode(await request.body(ctx.settings.body_limit), BulkBody)
    where = await _confined(ctx, request, bulk_filter(body.filter))
    if where is None:
        return Response.json(200, render.bulk_json(0, 0))
    outcome = await _service(ctx).bulk(body.action, where, ctx.clock)
    return Response.json(200, render.bulk_json(outcome.matched, outcome.changed))


def _service(ctx: Context) -> SelectionService:
    assert ctx.selection is not None, "create_app sets the selection service"
    return ctx.selection
