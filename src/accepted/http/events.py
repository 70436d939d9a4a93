"""Live events over Server-Sent Events: one job's changes, or every change in some queues.

Each event is `event: <status>` and `data: <job JSON>` (the job as a GET shows
it). The subscription is made before the answer starts, so a change made
after the client has the response headers is never missed. A comment line
(`: keep-alive`) goes out whenever `event_keepalive` seconds pass without an
event, so proxies do not time an idle stream out. A reader that falls
`event_buffer` events behind is disconnected (it reconnects and re-reads);
the server never waits for it. Where events were lost before reaching the
stream (this node fell behind the other nodes' notices), the stream says so
with `event: resync` (`data: {"reason": ...}`) and goes on: the reader
re-reads what it shows. A job's stream re-reads the job itself and sends it
when it changed.

The token that opened a stream is checked again, in the token cache, before
each event and each keep-alive, and the stream's subscription is refused as
soon as the node re-reads its tokens after a revocation or the token's expiry
comes (`Signals.standing_changed`): the stream then ends at once with
`event: error` and the 401 body as its data, and sends nothing more.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from accepted.errors import JobNotFound, Unauthorized
from accepted.http import parse, render
from accepted.http.auth import recheck, standing
from accepted.http.context import Context
from accepted.http.handlers import _checked_id
from accepted.http.request import AbandonStream, Request, Response, StreamResponse
from accepted.service.events import Dropped, Missed, Refused, Subscription
from accepted.types import Job

log = logging.getLogger("accepted.events")

SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # nginx: pass events through, do not buffer them
]
KEEPALIVE = b": keep-alive\n\n"
RESYNC = b'event: resync\ndata: {"reason":"events were lost; re-read the state"}\n\n'


def error_frame(error: Unauthorized) -> bytes:
    """The last frame of a stream whose token no longer holds."""
    return b"event: error\ndata: " + render.error_json(error) + b"\n\n"


def _refusal(ctx: Context, request: Request) -> bytes:
    """The error frame that ends a stream whose token was revoked or expired."""
    try:
        recheck(ctx.auth, request.caller, ctx.clock)
    except Unauthorized as error:
        return error_frame(error)
    return error_frame(Unauthorized("the token that opened this stream no longer holds"))


def frame(job: Job) -> bytes:
    return b"event: " + job.status.encode() + b"\ndata: " + render.job_json(job) + b"\n\n"


async def job_events(ctx: Context, request: Request) -> Response:
    """GET /jobs/{id}/events: the job at once, then each change until a final status."""
    may_read = standing(ctx.auth, request.caller, ctx.clock)
    job, sub = await ctx.service.watch_job(_checked_id(request.params["id"]), may_read)
    return StreamResponse(200, b"", list(SSE_HEADERS), _job_stream(ctx, request, job, sub))


async def _job_stream(
    ctx: Context, request: Request, job: Job, sub: Subscription
) -> AsyncIterator[bytes]:
    try:
        yield frame(job)
        if job.is_final:
            return
        async for chunk in _stream(ctx, request, sub, until_final=True, sent=job):
            yield chunk
    finally:
        ctx.service.unwatch(sub)


async def queue_events(ctx: Context, request: Request) -> Response:
    """GET /events?queue=...: every change in those queues (none named: all), while connected."""
    named = [parse.queue_name(q, "query parameter 'queue'") for q in request.query("queue")]
    for queue in named:
        request.caller.check_queue(queue)  # a limited token: only its queues (else 403)
    may_read = standing(ctx.auth, request.caller, ctx.clock)
    sub = await ctx.service.watch_queues(named or None, may_read)
    return StreamResponse(200, b"", list(SSE_HEADERS), _queue_stream(ctx, request, sub))


async def _queue_stream(ctx: Context, request: Request, sub: Subscription) -> AsyncIterator[bytes]:
    try:
        async for chunk in _stream(ctx, request, sub, until_final=False):
            yield chunk
    finally:
        ctx.service.unwatch(sub)


async def _stream(
    ctx: Context,
    request: Request,
    sub: Subscription,
    *,
    until_final: bool,
    sent: Job | None = None,
) -> AsyncIterator[bytes]:
    """Frames of `sub`'s events, keep-alives between; ends when the client or the server goes.

    A job state already sent is not sent twice: another node's notice of a
    change can arrive after this stream read the job it made.
    """
    last: dict[str, tuple[float, str]] = {}
    if sent is not None:
        last[sent.id] = (sent.updated_at, sent.status)
    gone = asyncio.ensure_future(_disconnected(request))
    gone.add_done_callback(lambda _: sub.close())
    try:
        while True:
            try:
                job = await _next(sub, request, ctx.settings.event_keepalive)
            except Missed:
                yield RESYNC
                if sent is None:
                    continue
                job = await _reread(ctx, sent.id)
                if job is None:
                    return
                sub.hold()  # the re-read job goes out only if the token still holds
            if job is None:
                if sub.ended:
                    return
                yield KEEPALIVE
                continue
            state = (job.updated_at, job.status)
            if _not_newer(state, last.get(job.id)) or not request.caller.sees(job.queue):
                continue  # sent already, or older; or of a queue the caller's token does not cover
            if until_final:
                last[job.id] = state
            yield frame(job)
            if until_final and job.is_final:
                return
    except Refused:
        yield _refusal(ctx, request)  # revoked or expired: nothing more for it
    finally:
        gone.cancel()


async def _next(sub: Subscription, request: Request, keepalive: float) -> Job | None:
    """The next event (None: `keepalive` passed); a reader too far behind is let go."""
    try:
        return await sub.next(keepalive)
    except Dropped as exc:
        log.warning("event stream %s dropped: its reader %s", request.path, exc)
        raise AbandonStream from exc


def _not_newer(state: tuple[float, str], seen: tuple[float, str] | None) -> bool:
    """The state is the one last sent, or older (by the time of the change)."""
    return seen is not None and (state[0] < seen[0] or state == seen)


async def _reread(ctx: Context, job_id: str) -> Job | None:
    """The job as it is now; None once it is gone."""
    try:
        return await ctx.service.get(job_id)
    except JobNotFound:
        return None


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass
