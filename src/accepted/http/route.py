"""The shape of a route declaration: a path, and per method what it takes and answers.

The route table (http/routes/) is written in these terms; `/openapi.json` and `/docs` are
generated from it (see http/routes/__init__.py's docstring for how to declare a route).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from accepted.http.context import Context
from accepted.http.params import Param
from accepted.http.request import Request, Response
from accepted.service.auth import Rule

Handler = Callable[[Context, Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Answer:
    """One status an operation answers with.

    `body` is a msgspec type (a Struct, `list[Struct]`, or a union such as
    `JobView | list[JobView]`), or None: no body for a 2xx, the error body for
    a 4xx or 5xx. `anchors` name the docs/http-api.md anchors that document
    this answer; `/docs` gives each of them an id. `name` makes the answer a
    shared component (`#/components/responses/<name>`).
    """

    description: str
    body: Any = None
    headers: tuple[Param[Any], ...] = ()
    anchors: tuple[str, ...] = ()
    media_type: str = "application/json"
    name: str | None = None
    example: Any = None


@dataclass(frozen=True, slots=True)
class Op:
    """One method of a route, declared: what `/openapi.json` says about it.

    `body` is the request body's msgspec type (or a union: `A | list[B]`);
    `params` the headers and query parameters it reads (params.py); the path
    parameters come from the route. `responses` maps each status to an
    `Answer`, or for short to a description (an error for a 4xx or 5xx, no
    body for a 2xx).
    """

    handler: Handler
    summary: str
    description: str = ""
    body: Any = None
    body_required: bool = True
    params: tuple[Param[Any], ...] = ()
    responses: Mapping[int, Answer | str] = field(default_factory=dict)
    tag: str = "jobs"
    anchor: str | None = None
    declared: bool = True
    # Who may call it (service/auth.py); None: only an unlimited admin, and
    # tests/http/test_auth_matrix.py fails until the operation has a rule.
    access: Rule | None = None


@dataclass(frozen=True, slots=True, init=False)
class Route:
    """A path and its methods.

    `path` may hold `{name}` segments anywhere (`/queues/{name}/pause`) and a
    last `{name:path}` segment that takes the rest of the path. A method maps
    to an `Op`; a bare handler also routes, but is undeclared (the OpenAPI
    drift test fails until it is declared).
    """

    path: str
    ops: dict[str, Op]
    handlers: dict[str, Handler]
    params: tuple[Param[Any], ...]
    summary: str

    def __init__(
        self,
        path: str,
        methods: Mapping[str, Op | Handler],
        summary: str = "",
        *,
        params: tuple[Param[Any], ...] = (),
    ) -> None:
        ops = {
            method: op if isinstance(op, Op) else Op(op, summary, declared=False)
            for method, op in methods.items()
        }
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "ops", ops)
        object.__setattr__(self, "handlers", {m: op.handler for m, op in ops.items()})
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "summary", summary)

    @property
    def methods(self) -> dict[str, Handler]:
        """The handler of each method (what the app dispatches to)."""
        return self.handlers
