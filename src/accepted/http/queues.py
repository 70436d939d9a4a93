"""The queue endpoints: list, read, pause, resume and limits (SPEC Part 2 "Queues")."""

from __future__ import annotations

from typing import Annotated

import msgspec

from accepted.http import parse, render
from accepted.http.context import Context
from accepted.http.request import Request, Response
from accepted.queries import QueueLimits, Rate
from accepted.service.limits import MAX_CONCURRENCY, MAX_RATE_JOBS, MAX_RATE_PER
from accepted.service.queues import QueueService


def _service(ctx: Context) -> QueueService:
    assert ctx.queues is not None, "create_app sets the queue service"
    return ctx.queues


def _name(request: Request) -> str:
    """The queue named in the path (the server has decoded its percent-encoding)."""
    return parse.queue_name(request.params["name"], "queue name in the path")


async def list_queues(ctx: Context, request: Request) -> Response:
    queues = await _service(ctx).list_queues(ctx.clock())
    caller = request.caller  # a token limited to some queues sees only those
    return Response.json(200, render.queues_json([q for q in queues if caller.sees(q.name)]))


async def get_queue(ctx: Context, request: Request) -> Response:
    queue = await _service(ctx).get(_name(request), ctx.clock())
    return Response.json(200, render.queue_json(queue))


async def pause(ctx: Context, request: Request) -> Response:
    queue = await _service(ctx).pause(_name(request), ctx.clock())
    return Response.json(200, render.queue_json(queue))


async def resume(ctx: Context, request: Request) -> Response:
    queue = await _service(ctx).resume(_name(request), ctx.clock())
    return Response.json(200, render.queue_json(queue))


# -- limits (flow-limits) ------------------------------------------------------------


class RateBody(msgspec.Struct, forbid_unknown_fields=True):
    """At most `jobs` hand-outs in any window of `per` seconds."""

    jobs: Annotated[int, msgspec.Meta(ge=1, le=MAX_RATE_JOBS, description="hand-outs per window")]
    per: Annotated[float, msgspec.Meta(gt=0, le=MAX_RATE_PER, description="the window, in seconds")]


Concurrency = Annotated[int, msgspec.Meta(ge=1, le=MAX_CONCURRENCY)]


class LimitsBody(msgspec.Struct, forbid_unknown_fields=True):
    """A queue's limits, all at once: a field left out or null is no such limit."""

    rate: Annotated[
        RateBody | None,
        msgspec.Meta(description="at most `jobs` hand-outs in any window of `per` seconds"),
    ] = None
    concurrency: Annotated[
        Concurrency | None, msgspec.Meta(description="at most this many jobs running at once")
    ] = None
    group_concurrency: Annotated[
        Concurrency | None,
        msgspec.Meta(description="at most this many jobs of one fairness group running at once"),
    ] = None


async def set_limits(ctx: Context, request: Request) -> Response:
    body: LimitsBody = parse.decode(await request.body(ctx.settings.body_limit), LimitsBody)
    rate = None if body.rate is None else Rate(body.rate.jobs, body.rate.per)
    limits = QueueLimits(rate, body.concurrency, body.group_concurrency)
    queue = await _service(ctx).set_limits(_name(request), limits, ctx.clock())
    return Response.json(200, render.queue_json(queue))
