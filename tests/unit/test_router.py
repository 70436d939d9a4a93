"""The router over the whole path vocabulary the API grows into (SPEC Part 2).

Handlers here are stand-ins: matching never calls them.
"""

from __future__ import annotations

import pytest

from accepted.http.context import Context
from accepted.http.request import Request, Response
from accepted.http.route import Route
from accepted.http.router import Router
from accepted.http.routes import ROUTES


async def _stub(ctx: Context, request: Request) -> Response:
    return Response.empty(204)


PATHS = [
    "/",
    "/jobs",
    "/jobs/{id}",
    "/jobs/{id}/attempts",
    "/jobs/{id}/cancel",
    "/jobs/{id}/retry",
    "/jobs/{id}/events",
    "/jobs/bulk",
    "/want_job",
    "/queues",
    "/queues/{name}",
    "/queues/{name}/pause",
    "/queues/{name}/resume",
    "/queues/{name}/limits",
    "/events",
    "/metrics",
    "/tokens",
    "/tokens/{name}",
    "/schedules",
    "/schedules/{name}",
    "/schedules/{name}/run",
    "/ui",
    "/ui/{file:path}",
]


@pytest.fixture(scope="module")
def router() -> Router:
    return Router(tuple(Route(path, {"GET": _stub}) for path in PATHS))


def matched(router: Router, path: str) -> tuple[str, dict[str, str]] | None:
    found = router.match(path)
    return None if found is None else (found[0].path, found[1])


@pytest.mark.parametrize(
    ("path", "route", "params"),
    [
        ("/", "/", {}),
        ("/jobs", "/jobs", {}),
        ("/jobs/", "/jobs", {}),
        ("/jobs/abc", "/jobs/{id}", {"id": "abc"}),
        ("/jobs/abc/", "/jobs/{id}", {"id": "abc"}),
        ("/jobs/abc/attempts", "/jobs/{id}/attempts", {"id": "abc"}),
        ("/jobs/abc/cancel", "/jobs/{id}/cancel", {"id": "abc"}),
        ("/jobs/abc/retry", "/jobs/{id}/retry", {"id": "abc"}),
        ("/jobs/abc/events", "/jobs/{id}/events", {"id": "abc"}),
        ("/jobs/bulk", "/jobs/bulk", {}),
        # A literal segment wins, but only where its branch leads somewhere.
        ("/jobs/bulk/cancel", "/jobs/{id}/cancel", {"id": "bulk"}),
        ("/queues", "/queues", {}),
        ("/queues/emails", "/queues/{name}", {"name": "emails"}),
        ("/queues/emails/pause", "/queues/{name}/pause", {"name": "emails"}),
        ("/queues/emails/resume", "/queues/{name}/resume", {"name": "emails"}),
        ("/queues/emails/limits", "/queues/{name}/limits", {"name": "emails"}),
        ("/queues/pause", "/queues/{name}", {"name": "pause"}),
        ("/queues/a%2Fb/pause", "/queues/{name}/pause", {"name": "a/b"}),
        ("/queues/a%2Fb", "/queues/{name}", {"name": "a/b"}),
        ("/queues/caf%C3%A9%20x", "/queues/{name}", {"name": "café x"}),
        ("/queues/%25", "/queues/{name}", {"name": "%"}),
        ("/queues/a%2F", "/queues/{name}", {"name": "a/"}),  # an encoded slash is no trailing one
        ("/qu%65ues", "/queues", {}),
        ("/events", "/events", {}),
        ("/metrics", "/metrics", {}),
        ("/tokens/ci", "/tokens/{name}", {"name": "ci"}),
        ("/schedules/nightly/run", "/schedules/{name}/run", {"name": "nightly"}),
        ("/ui", "/ui", {}),
        ("/ui/", "/ui", {}),
        ("/ui/app.js", "/ui/{file:path}", {"file": "app.js"}),
        ("/ui/icons/queue.svg", "/ui/{file:path}", {"file": "icons/queue.svg"}),
    ],
)
def test_a_path_matches_its_route_with_decoded_parameters(
    router: Router, path: str, route: str, params: dict[str, str]
) -> None:
    assert matched(router, path) == (route, params)


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/jobs//",
        "/jobs//attempts",
        "/jobs/abc/nope",
        "/jobs/abc/attempts/x",
        "/queues/a/b/pause",  # an unencoded slash is two segments
        "/queues/%FF",  # not UTF-8 once decoded
        "/ui/../routes.py",
        "/ui/a/%2E%2E/b",
        "/ui/a//b",
        "/ui/a%2Fb",
        "/metricsx",
        "",
    ],
)
def test_a_path_of_no_route_matches_nothing(router: Router, path: str) -> None:
    assert router.match(path) is None


def test_a_parameter_named_two_ways_at_one_place_is_refused() -> None:
    with pytest.raises(ValueError, match="another route"):
        Router((Route("/a/{x}", {"GET": _stub}), Route("/a/{y}/b", {"GET": _stub})))


def test_a_path_declared_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="two routes"):
        Router((Route("/a/{x}", {"GET": _stub}), Route("/a/{x}", {"POST": _stub})))


def test_a_rest_parameter_must_come_last() -> None:
    with pytest.raises(ValueError, match="must come last"):
        Router((Route("/a/{x:path}/b", {"GET": _stub}),))


def test_the_app_table_builds_and_routes_its_hot_paths() -> None:
    router = Router(ROUTES)
    assert matched(router, "/jobs") == ("/jobs", {})
    assert matched(router, "/want_job/") == ("/want_job", {})
    assert matched(router, "/jobs/0190a5c4-0000-7000-8000-000000000000") == (
        "/jobs/{id}",
        {"id": "0190a5c4-0000-7000-8000-000000000000"},
    )


def test_a_bare_handler_routes_but_is_undeclared() -> None:
    route = Route("/x", {"GET": _stub}, "A stand-in")
    assert route.handlers == {"GET": _stub}
    assert not route.ops["GET"].declared
    assert route.ops["GET"].summary == "A stand-in"
