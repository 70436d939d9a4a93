"""The queue endpoints: list, read, pause and resume (SPEC Part 2 "Queues")."""

from __future__ import annotations

from accepted.http import parse, render
from accepted.http.context import Context
from accepted.http.request import Request, Response
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
