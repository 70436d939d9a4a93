"""The layer around every request: one log line, and the request's metrics.

It wraps the app's HTTP entry point rather than living in each handler, so a
new route is logged and counted by being declared. It costs a clock reading
and one wrapped `send` per request; the log line is built only when INFO is
enabled.

The route label is the route's declared path (`/jobs/{id}`), which the app
writes into the scope under `ROUTE_KEY` once it has matched one: labelling by
raw path would give every job id a series of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from time import perf_counter

from accepted.http.asgi import Message, Receive, Scope, Send
from accepted.logs import FIELDS

HttpApp = Callable[[Scope, Receive, Send], Awaitable[None]]
RequestSink = Callable[[str, str, int, float], None]
"""Told of each finished request: (route, method, status, seconds)."""

ROUTE_KEY = "accepted.route"
UNMATCHED = "unmatched"  # the route label of a path no route declares

log = logging.getLogger("accepted.request")


class Observed:
    """Times each request and reports it to the request log and to `sinks`."""

    def __init__(self, app: HttpApp, sinks: tuple[RequestSink, ...] = ()) -> None:
        self.app = app
        self.sinks = sinks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = perf_counter()
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = perf_counter() - started
            method = scope["method"]
            # One series per method the parser lets through (WebDAV's too) is clutter.
            label = method if method in KNOWN_METHODS else "other"
            for sink in self.sinks:
                sink(scope.get(ROUTE_KEY, UNMATCHED), label, status, seconds)
            if log.isEnabledFor(logging.INFO):
                _log_line(method, scope["path"], status, seconds)


KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


def _log_line(method: str, path: str, status: int, seconds: float) -> None:
    ms = round(seconds * 1000, 2)
    # status 0: the client went away before an answer began.
    fields = {"method": method, "path": path, "status": status, "duration_ms": ms}
    log.info("%s %s %d %.2fms", method, path, status, ms, extra={FIELDS: fields})
