"""One function per endpoint: parse and check the request, call one service
method, render the answer. No rules live here, and no SQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine
from dataclasses import replace
from typing import Any, TypeVar

from accepted.errors import (
    AcceptedError,
    InvalidField,
    InvalidHeader,
    JobNotFound,
    LeaseMismatch,
    LeaseRequired,
    ShuttingDown,
    UnknownDependency,
)
from accepted.http import flow, idempotency, params, parse, render
from accepted.http.auth import recheck, standing
from accepted.http.context import Context
from accepted.http.parse import (
    BatchItem,
    BatchReportItem,
    EnqueueBody,
    ReportBody,
    TakeReport,
    WantJobBody,
)
from accepted.http.request import Request, Response
from accepted.service.ids import canonical_id
from accepted.service.jobs import NewJob, Outcome, Placed, Report
from accepted.service.rules import LEASE_NAME
from accepted.types import Job

T = TypeVar("T")
E = TypeVar("E", bound=AcceptedError)

# Most jobs (or reports) one batch call may carry.
MAX_BATCH = 1000


def _job_id(request: Request) -> str:
    return _checked_id(request.params["id"])


def _normalized_id(raw: str) -> str:
    try:
        return canonical_id(raw)
    except ValueError:
        return raw


def _checked_id(raw: str) -> str:
    try:
        return canonical_id(raw)
    except ValueError:
        raise JobNotFound(f"no job {parse.shown(raw)} (job ids are UUIDs)") from None


# The headers POST /jobs reads. Most producers send none of them: their enqueue
# is read without looking for each of the 13 in turn (~5 % of an enqueue's CPU).
_ENQUEUE_HEADERS = frozenset(param.key for param in params.ENQUEUE)


async def enqueue(ctx: Context, request: Request) -> Response:
    raw = await request.body(ctx.settings.body_limit)
    if _ENQUEUE_HEADERS.isdisjoint(request.headers) and not parse.is_array(raw):
        return await _enqueue_plain(ctx, request, raw)
    defaults = _enqueue_headers(request)
    wait = parse.wait(request, params.ENQUEUE_WAIT, ctx.settings.max_wait)
    if parse.is_array(raw):
        idempotency.no_header_on_batch(request)
        flow.no_headers_on_batch(request)
        if wait is not None:
            raise InvalidHeader(
                "header X-Accepted-Wait-Result applies to a single job, not a batch; "
                "wait for each with GET /jobs/{id}"
            )
        return await _enqueue_batch(ctx, request, raw, defaults)
    key = idempotency.header_key(request)
    body: EnqueueBody = parse.decode(raw, EnqueueBody)
    new = replace(defaults, queue=parse.queue_name(body.queue, "queue"), params=body.params)
    request.caller.check_queue(new.queue)
    unique_key, after = flow.header_unique_key(request), flow.header_after(request)
    if unique_key is not None or after:
        new = replace(new, unique_key=unique_key, after=after)
    if key is None and not new.uses_flow:
        placed = Placed(await ctx.service.enqueue(new, ctx.clock()), Outcome.NEW)
    else:
        try:
            await flow.check_seen_after(ctx, request.caller, [new])
            placed = await idempotency.enqueue_one(ctx, request, new, key, ctx.clock())
        except UnknownDependency as exc:
            raise flow.unknown(exc, batch=False) from None
    job, duplicate = placed.job, placed.outcome.duplicate
    status = 200 if duplicate else 202  # a duplicate enqueued nothing
    if wait:
        # Enqueued and durable already; a client gone meanwhile only misses the answer.
        # A token revoked or expired meanwhile ends the wait: the job as enqueued, 202.
        may_wait = standing(ctx.auth, request.caller, ctx.clock)
        waiting = ctx.service.wait_result(job.id, wait, may_wait)
        waited = await _unless_disconnected(request, waiting)
        if waited is not None and (may_wait is None or may_wait()):
            job = waited
            status = 200 if job.is_final or duplicate else 202  # a wait answers 200, a replay too
        # else lapsed (nothing read after it is shown) or gone: the job as enqueued
    location = (b"location", f"/jobs/{job.id}".encode())
    extra = idempotency.answer_headers(placed)
    return Response.json(status, render.job_json(job), location, *extra)


async def _enqueue_plain(ctx: Context, request: Request, raw: bytes) -> Response:
    """One job, no enqueue header: every default, no key, no wait. What `enqueue`
    does for such a request, without the reads that would each find nothing."""
    body: EnqueueBody = parse.decode(raw, EnqueueBody)
    new = NewJob(queue=parse.queue_name(body.queue, "queue"), params=body.params)
    request.caller.check_queue(new.queue)
    job = await ctx.service.enqueue(new, ctx.clock())
    location = (b"location", f"/jobs/{job.id}".encode())
    return Response.json(202, render.job_json(job), location)


def _enqueue_headers(request: Request) -> NewJob:
    """The X-Accepted-* enqueue headers as a NewJob template (queue still to fill in)."""
    priority = parse.read(request, params.PRIORITY)
    return NewJob(
        queue="",
        priority=1 if priority is None else priority,
        delay=parse.read(request, params.DELAY) or 0.0,
        group=parse.read(request, params.GROUP),  # flow-limits
        result_ttl=parse.read(request, params.RESULT_TTL),
        callback_url=parse.read(request, params.CALLBACK_URL),
        job_timeout=parse.read(request, params.JOB_TIMEOUT),
        max_attempts=parse.read(request, params.MAX_ATTEMPTS),
        retries=parse.read(request, params.RETRIES),
        retry_backoff=parse.read(request, params.RETRY_BACKOFF),
    )


async def _enqueue_batch(ctx: Context, request: Request, raw: bytes, defaults: NewJob) -> Response:
    """A JSON array of jobs: all enqueued in one transaction, or none (any error is a 400).

    Headers give every job its defaults; fields of an item override them.
    """
    items: list[BatchItem] = parse.decode(raw, list[BatchItem])
    if not 1 <= len(items) <= MAX_BATCH:
        raise InvalidField(f"a batch holds 1 to {MAX_BATCH} jobs, not {len(items)}")
    batch = [_batch_job(item, i, defaults) for i, item in enumerate(items)]
    for new in batch:
        request.caller.check_queue(new.queue)
    keys = idempotency.item_keys([item.idempotency_key for item in items])
    if any(key is not None for key in keys) or any(new.uses_flow for new in batch):
        try:
            await flow.check_seen_after(ctx, request.caller, batch)
            return await idempotency.enqueue_batch(ctx, request, batch, keys, ctx.clock())
        except UnknownDependency as exc:
            raise flow.unknown(exc, batch=True) from None
    jobs = await ctx.service.enqueue_many(batch, ctx.clock())
    return Response.json(202, render.jobs_json(jobs))


def _batch_job(item: BatchItem, index: int, defaults: NewJob) -> NewJob:
    where = f"[{index}]"

    def given(value: Any, default: Any) -> Any:
        return default if value is None else value

    return NewJob(
        queue=parse.queue_name(item.queue, f"{where}.queue"),
        params=item.params,
        priority=parse.check(
            params.PRIORITY, given(item.priority, defaults.priority), f"{where}.priority"
        ),
        delay=parse.check_seconds(given(item.delay, defaults.delay), f"{where}.delay"),
        result_ttl=_optional(item.result_ttl, defaults.result_ttl, f"{where}.result_ttl"),
        callback_url=(
            defaults.callback_url
            if item.callback_url is None
            else parse.check_url(item.callback_url, f"{where}.callback_url")
        ),
        job_timeout=_optional(
            item.job_timeout, defaults.job_timeout, f"{where}.job_timeout", positive=True
        ),
        max_attempts=(
            defaults.max_attempts
            if item.max_attempts is None
            else parse.check(params.MAX_ATTEMPTS, item.max_attempts, f"{where}.max_attempts")
        ),
        retries=(
            defaults.retries
            if item.retries is None
            else parse.check(params.RETRIES, item.retries, f"{where}.retries")
        ),
        retry_backoff=_optional(
            item.retry_backoff, defaults.retry_backoff, f"{where}.retry_backoff", positive=True
        ),
        # -- flow-deps --
        unique_key=(
            None
            if item.unique_key is None
            else flow.check_unique_key(item.unique_key, f"{where}.unique_key")
        ),
        after=flow.item_after(item.after, index),
        # -- flow-limits --
        group=(
            defaults.group
            if item.group is None
            else parse.check(params.GROUP, item.group, f"{where}.group")
        ),
    )


def _optional(
    value: float | None, default: float | None, where: str, *, positive: bool = False
) -> float | None:
    if value is None:
        return default
    return parse.check_seconds(value, where, positive=positive)


async def get_job(ctx: Context, request: Request) -> Response:
    job_id = _job_id(request)
    wait = parse.wait(request, params.WAIT_RESULT, ctx.settings.max_wait)
    if wait is None or wait == 0:
        return Response.json(200, render.job_json(await ctx.service.get(job_id)))
    may_wait = standing(ctx.auth, request.caller, ctx.clock)
    job = await _unless_disconnected(request, ctx.service.wait_result(job_id, wait, may_wait))
    if job is None:
        return Response.empty(204)  # the client hung up; nobody reads this
    recheck(ctx.auth, request.caller, ctx.clock)  # revoked or expired while it waited: 401
    return Response.json(200, render.job_json(job))


async def want_job(ctx: Context, request: Request) -> Response:
    body = await _want_body(ctx, request)
    queues = _wanted_queues(request, body)
    for queue in queues or ():
        request.caller.check_queue(queue)
    block = parse.wait(request, params.BLOCK_FOR, ctx.settings.max_wait) or 0.0
    lease = parse.read(request, params.LEASE_TIMEOUT)
    count = parse.read(request, params.COUNT)
    reports, places = _take_reports(request, body.report)
    take = _taken(
        ctx.service.report_and_take(
            reports,
            queues,
            ctx.clock(),
            lease_seconds=lease,
            block=0.0 if ctx.stopping else block,
            count=count or 1,
            scope=request.caller.scope,
            may_take=standing(ctx.auth, request.caller, ctx.clock),
        ),
        places,
    )
    jobs = await (_unless_disconnected(request, take) if block > 0 else take)
    if not jobs:  # a blocked take whose token was revoked or expired meanwhile: 401
        recheck(ctx.auth, request.caller, ctx.clock)
    if count is not None:
        return Response.json(200, render.jobs_json(jobs or [], with_lease=True))
    if not jobs:
        return Response.empty(204)
    return Response.json(200, render.job_json(jobs[0], with_lease=True))


_NO_BODY = WantJobBody()


async def _want_body(ctx: Context, request: Request) -> WantJobBody:
    raw = await request.body(ctx.settings.body_limit)
    return parse.decode(raw, WantJobBody) if raw.strip() else _NO_BODY


def _wanted_queues(request: Request, body: WantJobBody) -> list[str] | None:
    """Queues named by ?queue=... and/or a {"queues": [...]} body; None means any."""
    named = [parse.queue_name(q, "query parameter 'queue'") for q in request.query("queue")]
    if body.queues is not None:
        named += [parse.queue_name(q, "queues[] in the body") for q in body.queues]
    return parse.queue_names(named) or None


def _take_reports(
    request: Request, report: TakeReport | list[TakeReport] | None
) -> tuple[list[tuple[str, Report]], list[str]]:
    """The reports riding on a want_job (report and take in one request), and where
    each is in the body; none without a `"report"`."""
    if report is None:
        return [], []
    items = report if isinstance(report, list) else [report]
    places = (
        ["report"] if not isinstance(report, list) else [f"report[{i}]" for i in range(len(items))]
    )
    reports = [
        (
            _normalized_id(item.id),
            Report(
                status=parse.report_status(
                    item.status, parse.TAKE_REPORT_STATUSES, f"{where}.status"
                ),
                result=item.result,
                lease=_body_lease(item.lease, f"{where}.lease"),
                retry=item.retry,
                scope=request.caller.scope,  # a limited token: other queues' jobs are absent
            ),
        )
        for item, where in zip(items, places, strict=True)
    ]
    return reports, places


async def _taken(
    call: Awaitable[tuple[list[Job | Exception], list[Job]]], places: list[str]
) -> list[Job]:
    """The jobs a take gave, or the error of the first riding report refused.

    The reports are applied first, each as PUT would apply it, in the same
    transaction as the take's first claim. A refused one makes the whole answer
    its error, and nothing is taken; the other reports of the request stand
    (each is applied on its own, as in PUT /jobs).
    """
    outcomes, jobs = await call
    for outcome, where in zip(outcomes, places, strict=True):
        if isinstance(outcome, LEASE_ERRORS):
            raise _lease_named(outcome, f"{where}.lease")
        if isinstance(outcome, AcceptedError):
            outcome.message = f"{where}: {outcome.message}"
            raise outcome
        if isinstance(outcome, Exception):
            raise outcome
    return jobs


async def report(ctx: Context, request: Request) -> Response:
    job_id = _job_id(request)
    body = parse.decode(await request.body(ctx.settings.body_limit), ReportBody)
    status = parse.report_status(body.status)
    outcome = Report(
        status=status,
        result=body.result,
        lease=parse.read(request, params.LEASE),
        lease_seconds=parse.read(request, params.HEARTBEAT_TIMEOUT),
        retry=body.retry,
        scope=request.caller.scope,
    )
    try:
        job = await ctx.service.report(job_id, outcome, ctx.clock())
    except LEASE_ERRORS as exc:
        raise _lease_named(exc, params.LEASE.name) from None
    return Response.json(200, render.job_json(job))


def _body_lease(lease: str | None, where: str) -> str | None:
    """A lease sent in a body field, held to the header's rule: empty is a mistake to
    name (it would match no lease: a 409 that hides it), not "no lease"."""
    if lease is not None and not lease.strip():
        raise InvalidField(f"{where} is empty; to mean none, leave it out")
    return lease


# The errors about a report's lease: their message names where it belongs.
LEASE_ERRORS = (LeaseMismatch, LeaseRequired)


def _lease_named(error: E, name: str) -> E:
    """The lease error (a mismatch, or a lease required and missing), naming where the
    lease is sent in this request: the header, or a body field."""
    error.message = error.message.replace(LEASE_NAME, name, 1)
    return error


async def report_batch(ctx: Context, request: Request) -> Response:
    """PUT /jobs with a JSON array of reports: each applied on its own, in one transaction.

    The answer lists, in order, each report's outcome: the job, or its error.
    """
    raw = await request.body(ctx.settings.body_limit)
    items: list[BatchReportItem] = parse.decode(raw, list[BatchReportItem])
    if not 1 <= len(items) <= MAX_BATCH:
        raise InvalidField(f"a batch holds 1 to {MAX_BATCH} reports, not {len(items)}")
    reports = [
        (
            _normalized_id(item.id),  # an id that is no UUID is simply not found
            Report(
                status=parse.report_status(item.status),
                result=item.result,
                lease=_body_lease(item.lease, f"[{i}].lease"),
                lease_seconds=(
                    None
                    if item.timeout is None
                    else parse.check_seconds(item.timeout, f"[{i}].timeout", positive=True)
                ),
                retry=item.retry,
                scope=request.caller.scope,
            ),
        )
        for i, item in enumerate(items)
    ]
    outcomes = await ctx.service.report_many(reports, ctx.clock())
    for i, outcome in enumerate(outcomes):
        if isinstance(outcome, LEASE_ERRORS):
            _lease_named(outcome, f"[{i}].lease")
    return Response.json(200, render.outcomes_json(reports, outcomes))


async def delete_job(ctx: Context, request: Request) -> Response:
    job = await ctx.service.cancel(_job_id(request), ctx.clock())
    return Response.json(200, render.job_json(job))


async def cancel_job(ctx: Context, request: Request) -> Response:
    job = await ctx.service.cancel_job(_job_id(request), ctx.clock())
    return Response.json(200, render.job_json(job))


async def get_attempts(ctx: Context, request: Request) -> Response:
    attempts = await ctx.service.attempts(_job_id(request))
    return Response.json(200, render.attempts_json(attempts))


async def retry_job(ctx: Context, request: Request) -> Response:
    job = await ctx.service.retry_job(_job_id(request), ctx.clock())
    return Response.json(200, render.job_json(job))


async def healthz(ctx: Context, request: Request) -> Response:
    if not ctx.ready or ctx.stopping:
        raise ShuttingDown("the server is starting or stopping")
    await ctx.service.check_writes(ctx.clock())  # 503 store_unavailable while writes fail
    return Response.json(200, b'{"status":"ok"}')


async def _unless_disconnected(request: Request, work: Coroutine[Any, Any, T]) -> T | None:
    """Run a long wait, abandoning it (None) if the client hangs up meanwhile.

    A long-poll whose client has gone would otherwise hold its place in line
    and could be handed a job nobody receives.
    """
    hangup = request.hangup
    if hangup is None:  # another ASGI server: the hang-up is heard through `receive`
        return await _unless_disconnected_asgi(request, work)
    task = asyncio.get_running_loop().create_task(work)
    gone = False

    def hung_up() -> None:
        nonlocal gone
        gone = True
        task.cancel()

    # Our protocol calls back when the client goes: no second task reading
    # `receive` to learn it, and none to cancel after (~4 us of every blocked take).
    hangup.watch(hung_up)
    try:
        return await task
    except asyncio.CancelledError:
        if gone:
            return None  # the client hung up
        raise
    finally:
        hangup.unwatch(hung_up)


async def _unless_disconnected_asgi(request: Request, work: Coroutine[Any, Any, T]) -> T | None:
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnect(request))
    # Awaiting the task itself (not asyncio.wait on both) resumes this handler
    # in the same loop turn the work finishes: one hop less on every wake-up.
    gone.add_done_callback(lambda g: None if g.cancelled() else task.cancel())
    try:
        return await task
    except asyncio.CancelledError:
        if gone.done() and not gone.cancelled():
            return None  # the client hung up
        raise
    finally:
        gone.cancel()


async def _disconnect(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass
