"""The route table: every path, method and handler of the API on one screen.

`/jobs` and `/jobs/`, `/want_job` and `/want_job/` are the same route: the
router drops one trailing slash before matching.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from accepted.http import dashboard, handlers, meta
from accepted.http.handlers import Context
from accepted.http.request import Request, Response

Handler = Callable[[Context, Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Route:
    path: str  # "/jobs/{id}", "/jobs/{id}/cancel": {name} segments match one segment
    methods: dict[str, Handler]
    summary: str


ROUTES: tuple[Route, ...] = (
    Route(
        "/jobs",
        {"POST": handlers.enqueue, "PUT": handlers.report_batch},
        "Enqueue a job (or a JSON array of jobs); report on several jobs at once",
    ),
    Route(
        "/jobs/{id}",
        {"GET": handlers.get_job, "PUT": handlers.report, "DELETE": handlers.delete_job},
        "Read, report on, or delete a job",
    ),
    Route("/jobs/{id}/cancel", {"POST": handlers.cancel_job}, "Cancel a job, keeping it"),
    Route(
        "/jobs/{id}/retry", {"POST": handlers.retry_job}, "Queue a failed or cancelled job again"
    ),
    Route("/want_job", {"POST": handlers.want_job}, "Take a job (long-poll)"),
    Route("/healthz", {"GET": handlers.healthz}, "Readiness"),
    Route("/openapi.json", {"GET": meta.openapi}, "This API as OpenAPI 3.1"),
    Route("/docs", {"GET": meta.docs}, "Human-readable API docs"),
    # The dashboard: static files of a page that uses the routes above.
    Route("/", {"GET": dashboard.root}, "Redirect to the dashboard"),
    Route("/ui", {"GET": dashboard.page}, "The web dashboard"),
    Route("/ui/{file}", {"GET": dashboard.asset}, "The dashboard's scripts and styles"),
)


class Router:
    """Exact paths by dict lookup; `/prefix/{name}` by splitting off the last segment;
    other paths with a `{name}` segment (`/jobs/{id}/cancel`) segment by segment."""

    def __init__(self, routes: tuple[Route, ...]) -> None:
        self.exact: dict[str, Route] = {}
        self.prefixed: dict[str, tuple[str, Route]] = {}
        self.patterns: list[tuple[list[str], Route]] = []
        for route in routes:
            if "{" in route.path.rpartition("/")[0]:
                self.patterns.append((route.path.split("/"), route))
            elif route.path.endswith("}"):
                prefix, _, name = route.path.rpartition("/")
                self.prefixed[prefix] = (name.strip("{}"), route)
            else:
                self.exact[route.path] = route

    def match(self, path: str) -> tuple[Route, dict[str, str]] | None:
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        route = self.exact.get(path)
        if route is not None:
            return route, {}
        prefix, _, last = path.rpartition("/")
        found = self.prefixed.get(prefix)
        if found is not None and last:
            return found[1], {found[0]: last}
        return self._match_pattern(path.split("/"))

    def _match_pattern(self, parts: list[str]) -> tuple[Route, dict[str, str]] | None:
        for pattern, route in self.patterns:
            if len(pattern) != len(parts):
                continue
            params: dict[str, str] = {}
            for want, got in zip(pattern, parts, strict=True):
                if want.startswith("{") and got:
                    params[want.strip("{}")] = got
                elif want != got:
                    break
            else:
                return route, params
        return None
