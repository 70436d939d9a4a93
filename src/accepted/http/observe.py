"""The layer around every request: one log line, and the request's metrics.

It is told of each request once its answer is written, by whichever entry
point served it (our HTTP protocol, or the ASGI `App.handle`), rather than
living in each handler: a new route is logged and counted by being declared.
It costs a clock reading per request and a call per sink; the log line is
built only when INFO is enabled. It no longer wraps the ASGI `send`: a wrapper
per request (a closure, an extra coroutine per message) was 14 % of the event
loop's samples under enqueue load, for a status the answer already carries.

The route label is the route's declared path (`/jobs/{id}`), which the app
writes into the scope under `ROUTE_KEY` once it has matched one: labelling by
raw path would give every job id a series of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from time import perf_counter

from accepted.http.asgi import Scope
from accepted.logs import FIELDS

RequestSink = Callable[[str, str, int, float], None]
"""Told of each finished request: (route, method, status, seconds)."""

ROUTE_KEY = "accepted.route"
UNMATCHED = "unmatched"  # the route label of a path no route declares

log = logging.getLogger("accepted.request")


class Observed:
    """Reports each finished request to the request log and to `sinks`."""

    def __init__(self, sinks: tuple[RequestSink, ...] = ()) -> None:
        self.sinks = sinks

    def done(self, scope: Scope, status: int, started: float) -> None:
        """`status` 0: the client went away, or the server stopped, before an answer began.

        `started` is a `perf_counter()` reading from when the request's head was read.
        """
        seconds = perf_counter() - started
        method = scope["method"]
        # One series per method the parser lets through (WebDAV's too) is clutter.
        label = method if method in KNOWN_METHODS else "other"
        route = scope.get(ROUTE_KEY, UNMATCHED)
        for sink in self.sinks:
            sink(route, label, status, seconds)
        if log.isEnabledFor(logging.INFO):
            _log_line(method, scope["path"], status, seconds)


KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


def _log_line(method: str, path: str, status: int, seconds: float) -> None:
    ms = round(seconds * 1000, 2)
    fields = {"method": method, "path": path, "status": status, "duration_ms": ms}
    log.info("%s %s %d %.2fms", method, path, status, ms, extra={FIELDS: fields})
