"""The authorization matrix: every route x every role x limited and unlimited tokens.

Generated from the route table: a route (or method) added to http/routes/
without a row in EXPECTED and a way to call it in CALLS fails here, and so
does a route whose declared rule disagrees with SPEC's role table.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from accepted.http.routes import ROUTES
from tests.http.helpers import enqueue, unique_queue
from tests.http.test_auth import ADMIN_SECRET, auth_server, client
from tests.support.servers import ServerProcess

__all__ = ["auth_server"]  # the fixture, used by name

ROLES = ("reader", "producer", "worker", "admin")
EVERYONE = frozenset(ROLES)
PUBLIC = frozenset({"public"})

# SPEC Part 2, "Tokens and roles": who may call what. PUBLIC needs no token;
# `role*`: only an unlimited token of that role (tokens; metrics, whose figures
# are the whole server's).
EXPECTED: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/jobs"): frozenset({"producer", "admin"}),
    ("PUT", "/jobs"): frozenset({"worker", "admin"}),
    ("GET", "/jobs/{id}"): EVERYONE,
    ("PUT", "/jobs/{id}"): frozenset({"worker", "admin"}),
    ("DELETE", "/jobs/{id}"): frozenset({"producer", "admin"}),
    ("POST", "/jobs/{id}/cancel"): frozenset({"producer", "admin"}),
    ("POST", "/jobs/{id}/retry"): frozenset({"admin"}),
    ("POST", "/want_job"): frozenset({"worker", "admin"}),
    ("GET", "/jobs/{id}/attempts"): EVERYONE,
    ("GET", "/jobs/{id}/events"): EVERYONE,
    ("GET", "/events"): EVERYONE,
    ("GET", "/metrics"): frozenset({"reader*", "producer*", "worker*", "admin*"}),
    ("GET", "/jobs"): EVERYONE,
    ("POST", "/jobs/bulk"): frozenset({"admin"}),
    ("GET", "/queues"): EVERYONE,
    ("GET", "/queues/{name}"): EVERYONE,
    ("POST", "/queues/{name}/pause"): frozenset({"admin"}),
    ("POST", "/queues/{name}/resume"): frozenset({"admin"}),
    ("PUT", "/queues/{name}/limits"): frozenset({"admin"}),  # flow-limits
    ("GET", "/tokens"): frozenset({"admin*"}),
    ("POST", "/tokens"): frozenset({"admin*"}),
    ("DELETE", "/tokens/{name}"): frozenset({"admin*"}),
    ("GET", "/whoami"): EVERYONE,
    # schedules: everyone reads; only an unlimited admin writes (docs/http-api.md#schedules)
    ("GET", "/schedules"): EVERYONE,
    ("GET", "/schedules/{name}"): EVERYONE,
    ("PUT", "/schedules/{name}"): frozenset({"admin*"}),
    ("DELETE", "/schedules/{name}"): frozenset({"admin*"}),
    ("POST", "/schedules/{name}/run"): frozenset({"admin*"}),
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/"): PUBLIC,
    ("GET", "/ui"): PUBLIC,
    ("GET", "/ui/{file}"): PUBLIC,
}

# What a token limited to other queues gets, where its role is allowed: the
# resource is of a queue outside the token's, so it is absent (404) or its
# queue refused (403); "ok" where the route names no queue.
LIMITED: dict[tuple[str, str], int | str] = {
    ("POST", "/jobs"): 403,
    ("PUT", "/jobs"): "item-404",
    ("GET", "/jobs/{id}"): 404,
    ("PUT", "/jobs/{id}"): 404,
    ("DELETE", "/jobs/{id}"): 404,
    ("POST", "/jobs/{id}/cancel"): 404,
    ("POST", "/jobs/{id}/retry"): 404,
    ("POST", "/want_job"): 403,
    ("GET", "/jobs/{id}/attempts"): 404,
    ("GET", "/jobs/{id}/events"): 404,
    ("GET", "/events"): 403,
    ("GET", "/jobs"): 403,  # the call names another queue; naming none lists only its own
    ("POST", "/jobs/bulk"): 403,
    ("GET", "/queues"): "no-other-queue",
    ("GET", "/queues/{name}"): 403,
    ("POST", "/queues/{name}/pause"): 403,
    ("POST", "/queues/{name}/resume"): 403,
    ("GET", "/schedules"): "no-other-schedule",
    ("GET", "/schedules/{name}"): 404,
    ("PUT", "/queues/{name}/limits"): 403,  # flow-limits
    ("GET", "/whoami"): "ok",
}


def _unlimited_only(who: frozenset[str]) -> bool:
    return all(r.endswith("*") for r in who)


@dataclass
class World:
    """What the calls need: an admin client, a queue no limited token covers."""

    admin: httpx.Client
    queue: str

    def job(self) -> str:
        job_id: str = enqueue(self.admin, self.queue)["id"]
        return job_id

    def done_job(self) -> str:
        """A final job: its event stream sends one event and ends."""
        job_id = self.job()
        assert self.admin.put(f"/jobs/{job_id}", json={"status": "done"}).status_code == 409
        assert self.admin.post(f"/jobs/{job_id}/cancel").status_code == 200
        return job_id

    @staticmethod
    def first_event(http: httpx.Client, path: str, **kwargs: Any) -> httpx.Response:
        """The stream's status (an error answers at once; a stream is closed unread)."""
        with http.stream("GET", path, **kwargs) as response:
            if response.status_code >= 400:
                response.read()
                return response
            return httpx.Response(response.status_code, content=b"(an open event stream)")

    def failed_job(self) -> str:
        job_id = self.job()
        assert self.admin.post(f"/jobs/{job_id}/cancel").status_code == 200
        return job_id

    def existing_queue(self) -> str:
        self.job()
        return self.queue

    def paused_queue(self) -> str:
        assert self.admin.post(f"/queues/{self.queue}/pause").status_code == 200
        return self.queue

    def schedule(self) -> str:
        """A paused schedule of the world's queue (it never fires by itself)."""
        name = unique_queue("matrix")
        body = {"queue": self.queue, "every": 3600, "paused": True}
        assert self.admin.put(f"/schedules/{name}", json=body).status_code == 200
        return name

    def token_name(self) -> str:
        name = unique_queue("matrix")
        assert self.admin.post("/tokens", json={"name": name, "role": "reader"}).status_code == 201
        return name


Call = Callable[[httpx.Client, World], httpx.Response]

CALLS: dict[tuple[str, str], Call] = {
    ("POST", "/jobs"): lambda c, w: c.post("/jobs", json={"queue": w.queue}),
    ("PUT", "/jobs"): lambda c, w: c.put("/jobs", json=[{"id": w.job(), "status": "done"}]),
    ("GET", "/jobs/{id}"): lambda c, w: c.get(f"/jobs/{w.job()}"),
    ("PUT", "/jobs/{id}"): lambda c, w: c.put(f"/jobs/{w.job()}", json={"status": "done"}),
    ("DELETE", "/jobs/{id}"): lambda c, w: c.delete(f"/jobs/{w.job()}"),
    ("POST", "/jobs/{id}/cancel"): lambda c, w: c.post(f"/jobs/{w.job()}/cancel"),
    ("POST", "/jobs/{id}/retry"): lambda c, w: c.post(f"/jobs/{w.failed_job()}/retry"),
    ("POST", "/want_job"): lambda c, w: c.post("/want_job", params={"queue": w.queue}),
    ("GET", "/jobs/{id}/events"): lambda c, w: w.first_event(c, f"/jobs/{w.done_job()}/events"),
    ("GET", "/events"): lambda c, w: w.first_event(c, "/events", params={"queue": w.queue}),
    ("GET", "/jobs/{id}/attempts"): lambda c, w: c.get(f"/jobs/{w.job()}/attempts"),
    ("GET", "/metrics"): lambda c, w: c.get("/metrics"),
    ("GET", "/jobs"): lambda c, w: c.get("/jobs", params={"queue": w.queue}),
    ("POST", "/jobs/bulk"): lambda c, w: c.post(
        "/jobs/bulk", json={"action": "cancel", "filter": {"queue": [w.queue]}}
    ),
    ("GET", "/queues"): lambda c, w: c.get("/queues"),
    ("GET", "/queues/{name}"): lambda c, w: c.get(f"/queues/{w.existing_queue()}"),
    ("POST", "/queues/{name}/pause"): lambda c, w: c.post(f"/queues/{w.queue}/pause"),
    ("POST", "/queues/{name}/resume"): lambda c, w: c.post(f"/queues/{w.paused_queue()}/resume"),
    ("PUT", "/queues/{name}/limits"): lambda c, w: c.put(  # flow-limits
        f"/queues/{w.queue}/limits", json={"concurrency": 5}
    ),
    ("GET", "/tokens"): lambda c, w: c.get("/tokens"),
    ("POST", "/tokens"): lambda c, w: c.post(
        "/tokens", json={"name": unique_queue("m"), "role": "reader"}
    ),
    ("DELETE", "/tokens/{name}"): lambda c, w: c.delete(f"/tokens/{w.token_name()}"),
    ("GET", "/whoami"): lambda c, w: c.get("/whoami"),
    ("GET", "/schedules"): lambda c, w: c.get("/schedules", params={"made": w.schedule()}),
    ("GET", "/schedules/{name}"): lambda c, w: c.get(f"/schedules/{w.schedule()}"),
    ("PUT", "/schedules/{name}"): lambda c, w: c.put(
        f"/schedules/{unique_queue('m')}", json={"queue": w.queue, "every": 3600, "paused": True}
    ),
    ("DELETE", "/schedules/{name}"): lambda c, w: c.delete(f"/schedules/{w.schedule()}"),
    ("POST", "/schedules/{name}/run"): lambda c, w: c.post(f"/schedules/{w.schedule()}/run"),
    ("GET", "/healthz"): lambda c, w: c.get("/healthz"),
    ("GET", "/openapi.json"): lambda c, w: c.get("/openapi.json"),
    ("GET", "/docs"): lambda c, w: c.get("/docs"),
    ("GET", "/"): lambda c, w: c.get("/"),
    ("GET", "/ui"): lambda c, w: c.get("/ui"),
    ("GET", "/ui/{file}"): lambda c, w: c.get("/ui/app.js"),
}

ROUTED = sorted((method, route.path) for route in ROUTES for method in route.methods)


def test_every_route_has_a_rule_an_expectation_and_a_call() -> None:
    for route in ROUTES:
        for method, op in route.ops.items():
            assert op.access is not None, f"{method} {route.path} declares no access rule"
    assert set(ROUTED) == set(EXPECTED), "routes and SPEC's table disagree: add the new rows"
    assert set(ROUTED) == set(CALLS)
    limited = {k for k, who in EXPECTED.items() if who != PUBLIC and not _unlimited_only(who)}
    assert limited == set(LIMITED)


def test_declared_rules_match_the_table() -> None:
    from accepted.service.auth import GRANTS, Access
    from accepted.tokens import Role

    for route in ROUTES:
        for method, op in route.ops.items():
            rule = op.access
            assert rule is not None, (method, route.path)
            expected = EXPECTED[(method, route.path)]
            if expected == PUBLIC:
                assert rule.access is Access.PUBLIC, (method, route.path)
                continue
            allowed = {r.value for r in Role if rule.access in GRANTS[r]}
            assert allowed == {r.rstrip("*") for r in expected}, (method, route.path)
            assert rule.unlimited == _unlimited_only(expected), (method, route.path)


@pytest.fixture
def tokens(auth_server: ServerProcess) -> Iterator[dict[tuple[str, bool], httpx.Client]]:
    """A client per (role, limited) pair; limited tokens cover only `elsewhere.*`."""
    made: dict[tuple[str, bool], httpx.Client] = {}
    with client(auth_server, ADMIN_SECRET) as admin:
        for role, limited in itertools.product(ROLES, (False, True)):
            body: dict[str, Any] = {"name": unique_queue(role), "role": role}
            if limited:
                body["queues"] = ["elsewhere.*"]
            answer = admin.post("/tokens", json=body)
            assert answer.status_code == 201, answer.text
            made[(role, limited)] = client(auth_server, answer.json()["token"])
    yield made
    for http in made.values():
        http.close()


@pytest.mark.parametrize(("method", "path"), ROUTED)
def test_matrix(
    method: str, path: str, auth_server: ServerProcess,
    tokens: dict[tuple[str, bool], httpx.Client],
) -> None:
    call, expected = CALLS[(method, path)], EXPECTED[(method, path)]
    with client(auth_server, ADMIN_SECRET) as admin, client(auth_server) as anonymous:
        world = World(admin, unique_queue())
        answer = call(anonymous, world)
        if expected == PUBLIC:
            assert answer.status_code in (200, 302), answer.text
            return
        assert answer.status_code == 401, answer.text
        for (role, limited), http in tokens.items():
            got = call(http, world)
            where = (method, path, role, "limited" if limited else "unlimited", got.text)
            allowed = role in expected or (f"{role}*" in expected and not limited)
            if not allowed:
                assert got.status_code == 403, where
            elif not limited:
                assert got.status_code not in (401, 403, 404), where
            else:
                _check_limited(LIMITED[(method, path)], got, where)


def _check_limited(outcome: int | str, got: httpx.Response, where: Any) -> None:
    if outcome == "no-other-queue":  # a list: only the token's queues, none of them here
        assert got.status_code == 200, where
        assert all(q["name"].startswith("elsewhere.") for q in got.json()["queues"]), where
    elif outcome == "no-other-schedule":  # only the schedules of the token's queues
        assert got.status_code == 200, where
        assert all(s["queue"].startswith("elsewhere.") for s in got.json()["schedules"]), where
    elif outcome == "ok":
        assert got.status_code == 200, where
    elif outcome == "item-404":
        assert got.status_code == 200, where
        assert got.json()[0]["error"]["code"] == "job_not_found", where
    else:
        assert got.status_code == outcome, where
