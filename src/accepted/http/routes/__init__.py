"""The route table: every path, method and handler of the API, declared.

`/openapi.json` and `/docs` are generated from this table, and a test
(tests/http/test_openapi.py) fails when a route or method is not declared, so
a new endpoint is documented by declaring it. How to declare one:

    Route(
        "/queues/{name}/pause",                 # {param} segments anywhere
        {
            "POST": Op(
                handlers.pause_queue,           # async (ctx, request) -> Response
                "Pause a queue",                # summary: one line
                description="... [queue-pause](/docs#queue-pause)",
                body=None,                      # request body: a msgspec type, or A | list[B]
                params=(params.SOME_HEADER,),   # headers and query parameters (params.py)
                responses={
                    200: Answer("The queue, now paused", QueueView, anchors=("pause-200",)),
                    400: answers.BAD_REQUEST,   # shared answers (answers.py)
                    404: "No such queue (queue_not_found)",  # a 4xx/5xx string: error body
                },
                tag="queues",                   # the group it is listed under
                anchor="post-queue-pause",      # its docs/http-api.md section
                access=Rule(Access.ADMIN, queue="name"),  # who may (service/auth.py)
            ),
        },
        params=(params.QUEUE_NAME,),            # the path parameters, declared
    )

- Paths: `{name}` matches one non-empty segment, percent-decoded (a queue
  named `a/b` is `/queues/a%2Fb/pause`); a last `{name:path}` segment takes
  the rest of the path. A literal segment wins over a parameter: `/jobs/bulk`
  is not `/jobs/{id}`. `/jobs/` is `/jobs`: one trailing slash is dropped.
- Headers and query parameters are `params.Param`s, declared once with type,
  range, default and meaning; handlers read them with `parse.read(request, P)`,
  which holds the value to the same range the document states.
- Response bodies are msgspec types (render.py's views); their schemas come
  from `msgspec.json.schema_components`, so a field's type, enum and
  `msgspec.Meta` limits are stated without writing them again.
- `anchors` and `anchor` name docs/http-api.md anchors; the drift test checks
  they exist there. The 404 (no route), 405 (wrong method, with Allow) and 500
  every path can answer are stated once for the whole document.

A method mapped to a bare handler (`{"GET": handlers.x}`) still routes, but is
undeclared: the drift test names it until it gets an `Op`.

- `access` is the method's auth rule (service/auth.py's `Rule`: the access it
  needs, and which path parameter names a job or queue for limited tokens).
  An operation without one is refused to every token but an unlimited admin,
  and tests/http/test_auth_matrix.py fails until it has one.

Each resource's routes live in a module of their own here (jobs, events,
queues, tokens, meta, dashboard); this module assembles the table.
"""

from __future__ import annotations

from accepted.http.route import Answer, Handler, Op, Route
from accepted.http.router import Router
from accepted.http.routes.dashboard import DASHBOARD
from accepted.http.routes.events import EVENTS
from accepted.http.routes.jobs import (
    JOB,
    JOB_ATTEMPTS,
    JOB_CANCEL,
    JOB_RETRY,
    JOBS,
    JOBS_BULK,
    WANT_JOB,
)
from accepted.http.routes.meta import META, METRICS
from accepted.http.routes.queues import QUEUES
from accepted.http.routes.schedules import SCHEDULES
from accepted.http.routes.tokens import TOKENS

__all__ = ["ROUTES", "TAGS", "Answer", "Handler", "Op", "Route", "Router"]

# The groups /docs lists operations under, in this order (an Op's `tag`).
TAGS = {
    "jobs": "Producers and workers: enqueue, read, report, cancel, retry, delete",
    "workers": "Taking jobs",
    "queues": "Seeing and steering queues",
    "events": "Live events (Server-Sent Events)",
    "tokens": "Tokens and roles",
    "schedules": "Recurring jobs",
    "meta": "Health, metrics and documentation",
    "dashboard": "The web dashboard",
}

ROUTES: tuple[Route, ...] = (
    *(JOBS, JOBS_BULK, JOB, JOB_CANCEL, JOB_ATTEMPTS, JOB_RETRY, WANT_JOB),
    *EVENTS,
    *QUEUES,
    METRICS,
    *TOKENS,
    *SCHEDULES,
    *META,
    *DASHBOARD,
)
