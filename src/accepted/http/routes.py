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
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from accepted.http import dashboard, events, handlers, listing, meta, metrics, queues, tokens
from accepted.http import params as p
from accepted.http.answers import (
    BAD_REQUEST,
    FORBIDDEN,
    JOB_NOT_FOUND,
    TOO_LARGE,
    UNAUTHORIZED,
    UNAVAILABLE,
)
from accepted.http.handlers import MAX_BATCH
from accepted.http.listing import BulkBody
from accepted.http.parse import BatchItem, BatchReportItem, EnqueueBody, ReportBody, WantJobBody
from accepted.http.render import (
    AttemptsView,
    BulkView,
    Health,
    JobPageView,
    JobView,
    Outcome,
    QueueList,
    QueueView,
)
from accepted.http.route import Answer, Handler, Op, Route
from accepted.http.router import Router
from accepted.http.tokens import NewTokenBody, TokenList, TokenView
from accepted.service.auth import Access, Rule

PUBLIC = Rule(Access.PUBLIC)

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

Batch = Annotated[list[BatchItem], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]
Reports = Annotated[list[BatchReportItem], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]

JOBS = Route(
    "/jobs",
    {
        "GET": Op(
            listing.list_jobs,
            "List and search jobs, newest first",
            description="Filters combine (all must hold): queue (repeatable), status "
            "(repeatable or comma-separated), q (a job id, or text in params or result, "
            "case-insensitive). Pages by the `next` cursor: never repeats a job, never "
            "skips one that existed when the first page was read.",
            params=(p.LIST_QUEUE, p.LIST_STATUS, p.SEARCH, p.LIMIT, p.CURSOR),
            responses={
                200: Answer(
                    "A page of jobs and the cursor of the next (null on the last).",
                    JobPageView,
                    anchors=("list-200", "list-paging"),
                ),
                400: Answer(
                    "A bad queue, status, limit or cursor (invalid_query, invalid_field).",
                    anchors=("list-400",),
                ),
                503: UNAVAILABLE,
            },
            anchor="get-jobs",
            # The listing filters by exact queues only: not for a token limited to some.
            access=Rule(Access.READ, unlimited=True),
        ),
        "POST": Op(
            handlers.enqueue,
            "Enqueue a job, or a batch of jobs",
            description="Body: one job object, or a JSON array of 1 to 1000 job objects "
            "enqueued together (all or none). The 202 goes out only after the job is "
            "durably committed.",
            body=EnqueueBody | Batch,
            params=(
                p.PRIORITY,
                p.DELAY,
                p.RESULT_TTL,
                p.CALLBACK_URL,
                p.JOB_TIMEOUT,
                p.MAX_ATTEMPTS,
                p.RETRIES,
                p.RETRY_BACKOFF,
                p.IDEMPOTENCY_KEY,
                p.ENQUEUE_WAIT,
            ),
            responses={
                200: Answer(
                    "Enqueued and, within X-Accepted-Wait-Result, final: the job with its "
                    "result, with Location.",
                    JobView,
                    headers=(p.LOCATION,),
                    anchors=("enqueue-wait",),
                ),
                202: Answer(
                    "Enqueued: the job (status queued, or delayed with a delay), with "
                    "Location; for an array body, the array of jobs in the order sent and "
                    "no Location. With an Idempotency-Key seen before for the same request: "
                    "the first answer's job as it is now, and Idempotent-Replayed.",
                    JobView | list[JobView],
                    headers=(p.LOCATION, p.IDEMPOTENT_REPLAYED),
                    anchors=("enqueue-202", "enqueue-batch-202", "idempotency-replay"),
                ),
                400: BAD_REQUEST,
                404: Answer(
                    "The job an Idempotency-Key made no longer exists (deleted, or past "
                    "its result TTL) while the key holds (job_not_found); nothing is "
                    "enqueued.",
                    anchors=("idempotency-gone",),
                ),
                409: Answer(
                    "The Idempotency-Key's first request is still being handled "
                    "(idempotency_key_in_use); nothing is enqueued. Retry shortly.",
                    anchors=("idempotency-409",),
                ),
                413: TOO_LARGE,
                422: Answer(
                    "The Idempotency-Key was used before for a different request "
                    "(idempotency_key_reused); nothing is enqueued.",
                    anchors=("idempotency-422",),
                ),
                503: UNAVAILABLE,
            },
            anchor="post-jobs",
            access=Rule(Access.PRODUCE),
        ),
        "PUT": Op(
            handlers.report_batch,
            "Report on several jobs at once",
            description="Body: a JSON array of 1 to 1000 reports, applied in one "
            "transaction, each on its own.",
            body=Reports,
            responses={
                200: Answer(
                    "One outcome per report, in order.",
                    list[Outcome],
                    anchors=("report-batch-200",),
                ),
                400: BAD_REQUEST,
                413: TOO_LARGE,
                503: UNAVAILABLE,
            },
            anchor="put-jobs",
            access=Rule(Access.WORK),
        ),
    },
)

JOBS_BULK = Route(
    "/jobs/bulk",
    {
        "POST": Op(
            listing.bulk,
            "Retry, cancel or delete every job a filter selects",
            description='Body: {"action": "retry" | "cancel" | "delete", '
            '"filter": {"queue": [...], "status": [...], "q": "...", '
            '"ids": [...], "all": true}}. The filter means what GET /jobs means; '
            "worked through in chunks, so it may take a while on millions of jobs.",
            body=BulkBody,
            responses={
                200: Answer(
                    "How many jobs the filter matched, and how many the action changed.",
                    BulkView,
                    anchors=("bulk-200", "bulk-changed"),
                ),
                400: Answer(
                    "A bad body, an unknown action or filter field, or an empty filter "
                    "(invalid_field, malformed_json). Nothing changed.",
                    anchors=("bulk-400",),
                ),
                413: TOO_LARGE,
                503: UNAVAILABLE,
            },
            anchor="post-jobs-bulk",
            access=Rule(Access.ADMIN, unlimited=True),
        ),
    },
)

JOB = Route(
    "/jobs/{id}",
    {
        "GET": Op(
            handlers.get_job,
            "Read a job, optionally waiting for its result",
            params=(p.WAIT_RESULT,),
            responses={
                200: Answer(
                    "The job as it is; with X-Accepted-Wait-Result, as soon as it is final "
                    "or deleted (last state, cancelled if it was not final), or as it is "
                    "when the wait runs out.",
                    JobView,
                    anchors=("get-200", "get-wait-200"),
                ),
                400: BAD_REQUEST,
                404: JOB_NOT_FOUND,
                503: UNAVAILABLE,
            },
            anchor="get-job",
            access=Rule(Access.READ, job="id"),
        ),
        "PUT": Op(
            handlers.report,
            "Report on a running job: done, failed, heartbeat, give back",
            body=ReportBody,
            params=(p.LEASE, p.HEARTBEAT_TIMEOUT),
            responses={
                200: Answer(
                    "The job after the report.",
                    JobView,
                    anchors=("report-done-200", "report-running-200", "report-queued-200"),
                ),
                400: BAD_REQUEST,
                404: JOB_NOT_FOUND,
                409: Answer(
                    "The job is not running (conflict), the lease sent is not its current "
                    "one (lease_mismatch), or it is past its job timeout (job_timed_out). "
                    "Nothing changed.",
                    anchors=("report-409", "report-409-lease", "report-409-timeout"),
                ),
                413: TOO_LARGE,
                503: UNAVAILABLE,
            },
            anchor="put-job",
            access=Rule(Access.WORK, job="id"),
        ),
        "DELETE": Op(
            handlers.delete_job,
            "Delete a job, cancelling it if not final",
            responses={
                200: Answer(
                    "The job as it was at deletion: cancelled if it was not final, else as "
                    "it was (done or failed). It is gone afterwards.",
                    JobView,
                    anchors=("delete-200", "delete-final-200"),
                ),
                404: JOB_NOT_FOUND,
                503: UNAVAILABLE,
            },
            anchor="delete-job",
            access=Rule(Access.PRODUCE, job="id"),
        ),
    },
    params=(p.JOB_ID,),
)

JOB_CANCEL = Route(
    "/jobs/{id}/cancel",
    {
        "POST": Op(
            handlers.cancel_job,
            "Cancel a job, keeping it",
            description="No body is read.",
            responses={
                200: Answer(
                    "The job, now cancelled and kept (unlike DELETE); a running job's worker "
                    "gets 409 at its next PUT.",
                    JobView,
                    anchors=("cancel-200",),
                ),
                404: Answer("No such job (job_not_found).", anchors=("cancel-404",)),
                409: Answer(
                    "The job is already final (conflict). Nothing changed.",
                    anchors=("cancel-409",),
                ),
                503: UNAVAILABLE,
            },
            anchor="cancel-job",
            access=Rule(Access.PRODUCE, job="id"),
        ),
    },
    params=(p.JOB_ID,),
)

JOB_ATTEMPTS = Route(
    "/jobs/{id}/attempts",
    {
        "GET": Op(
            handlers.get_attempts,
            "A job's hand-outs, oldest first",
            description="One entry per hand-out; the running one last, with ended_at and "
            "outcome null.",
            responses={
                200: Answer(
                    "The job's attempts, oldest first ([] before its first hand-out).",
                    AttemptsView,
                    anchors=("attempts-200",),
                ),
                404: Answer(
                    "No such job (job_not_found); deleting a job deletes its history.",
                    anchors=("attempts-404",),
                ),
                503: UNAVAILABLE,
            },
            anchor="get-attempts",
            access=Rule(Access.READ, job="id"),
        ),
    },
    params=(p.JOB_ID,),
)

JOB_RETRY = Route(
    "/jobs/{id}/retry",
    {
        "POST": Op(
            handlers.retry_job,
            "Queue a failed or cancelled job again",
            description="No body is read.",
            responses={
                200: Answer(
                    "The job, queued again at once: attempts 0, result and error null, "
                    "retries_left restored; its attempt history is kept.",
                    JobView,
                    anchors=("retry-200",),
                ),
                404: Answer("No such job (job_not_found).", anchors=("retry-404",)),
                409: Answer(
                    "The job is not failed or cancelled (conflict). Nothing changed.",
                    anchors=("retry-409",),
                ),
                503: UNAVAILABLE,
            },
            anchor="retry-job",
            access=Rule(Access.ADMIN, job="id"),
        ),
    },
    params=(p.JOB_ID,),
)

WANT_JOB = Route(
    "/want_job",
    {
        "POST": Op(
            handlers.want_job,
            "Take a job (long-poll)",
            description="Hands out the queued job with the lowest priority number, then the "
            "earliest due_at, then the first enqueued, among the named queues (?queue and/or "
            "the body; none means any). The body's `report` (one object or an array) carries "
            "the worker's reports on the jobs it finished, applied first exactly as PUT "
            "would apply them: two requests per job instead of three "
            "([want-report](/docs#want-report)).",
            body=WantJobBody,
            body_required=False,
            params=(p.QUEUE, p.BLOCK_FOR, p.LEASE_TIMEOUT, p.COUNT),
            responses={
                200: Answer(
                    "A job, now running with attempts counted up and a fresh lease token "
                    "(the only answer with `lease`); with X-Accepted-Count, an array of up "
                    "to that many (possibly empty).",
                    JobView | list[JobView],
                    anchors=("want-200", "want-count-200"),
                ),
                204: Answer(
                    "No job available (and, when blocking, none arrived in time, or the "
                    "server is shutting down). Not used with X-Accepted-Count.",
                    anchors=("want-204",),
                ),
                400: BAD_REQUEST,
                404: "A report names no such job (job_not_found); nothing was taken",
                409: "A report was refused as PUT would refuse it (conflict, lease_mismatch, "
                "job_timed_out); nothing was taken",
                413: TOO_LARGE,
                503: UNAVAILABLE,
            },
            tag="workers",
            anchor="post-want-job",
            access=Rule(Access.WORK),
        ),
    },
)

# -- live events ----------------------------------------------------------------

EVENTS = (
    Route(
        "/jobs/{id}/events",
        {
            "GET": Op(
                events.job_events,
                "A job's status changes, live (Server-Sent Events)",
                description="Each event is `event: <status>` and `data: <job JSON>`.",
                responses={
                    200: Answer(
                        "At once one event with the job as it is, then one at each status "
                        "change; the stream ends after a final status.",
                        str,
                        media_type="text/event-stream",
                        anchors=("events-job-200", "events-format", "events-job-end"),
                    ),
                    404: Answer("No such job (job_not_found).", anchors=("events-job-404",)),
                },
                tag="events",
                anchor="events",
                access=Rule(Access.READ, job="id"),
            )
        },
        params=(p.JOB_ID,),
    ),
    Route(
        "/events",
        {
            "GET": Op(
                events.queue_events,
                "Every status change in some queues, live (Server-Sent Events)",
                description="A job's creation included; a `: keep-alive` comment line when "
                "15 s pass without an event.",
                params=(p.EVENTS_QUEUE,),
                responses={
                    200: Answer(
                        "An event for every status change in those queues while connected.",
                        str,
                        media_type="text/event-stream",
                        anchors=("events-queue-200", "events-creation", "events-keepalive"),
                    ),
                    400: Answer("An empty or over-long queue name.", anchors=("events-400",)),
                },
                tag="events",
                anchor="events",
                access=Rule(Access.READ),
            )
        },
    ),
)

# -- queues ---------------------------------------------------------------------

QUEUE_NOT_FOUND = "No such queue: no job in it and no setting (queue_not_found)."

QUEUES = (
    Route(
        "/queues",
        {
            "GET": Op(
                queues.list_queues,
                "List the queues",
                description="Every queue that exists (holds a job or has a setting), sorted "
                "by name, with its counts by status, the age of its oldest queued job, "
                "whether it is paused, and its limits.",
                responses={
                    200: Answer("The queues.", QueueList, anchors=("queues-200",)),
                    503: UNAVAILABLE,
                },
                tag="queues",
                anchor="queues",
                access=Rule(Access.READ),
            )
        },
    ),
    Route(
        "/queues/{name}",
        {
            "GET": Op(
                queues.get_queue,
                "Read a queue",
                responses={
                    200: Answer("The queue.", QueueView, anchors=("queue-200", "queue-object")),
                    400: BAD_REQUEST,
                    404: Answer(QUEUE_NOT_FOUND, anchors=("queue-404",)),
                    503: UNAVAILABLE,
                },
                tag="queues",
                anchor="queues",
                access=Rule(Access.READ, queue="name"),
            )
        },
        params=(p.QUEUE_NAME,),
    ),
    Route(
        "/queues/{name}/pause",
        {
            "POST": Op(
                queues.pause,
                "Pause a queue: it hands out nothing until resumed, on every node",
                description="No body is read. Pausing a queue that does not exist yet "
                "creates its setting.",
                responses={
                    200: Answer("The queue, paused.", QueueView, anchors=("queue-pause-200",)),
                    400: BAD_REQUEST,
                    503: UNAVAILABLE,
                },
                tag="queues",
                anchor="queues",
                access=Rule(Access.ADMIN, queue="name"),
            )
        },
        params=(p.QUEUE_NAME,),
    ),
    Route(
        "/queues/{name}/resume",
        {
            "POST": Op(
                queues.resume,
                "Resume a paused queue; its blocked workers are woken",
                description="No body is read.",
                responses={
                    200: Answer("The queue, resumed.", QueueView, anchors=("queue-resume-200",)),
                    400: BAD_REQUEST,
                    404: Answer(QUEUE_NOT_FOUND, anchors=("queue-resume-404",)),
                    503: UNAVAILABLE,
                },
                tag="queues",
                anchor="queues",
                access=Rule(Access.ADMIN, queue="name"),
            )
        },
        params=(p.QUEUE_NAME,),
    ),
)

METRICS = Route(
    "/metrics",
    {
        "GET": Op(
            metrics.metrics,
            "Metrics in the Prometheus text format",
            description="Counters and histograms of this node; gauges of jobs read from the "
            "store, the same on every node.",
            responses={
                200: Answer(
                    "The Prometheus text exposition (version 0.0.4).",
                    str,
                    media_type="text/plain",
                    anchors=("metrics-200", "metrics-set"),
                ),
                503: UNAVAILABLE,
            },
            tag="meta",
            anchor="metrics",
            # Metrics name every queue: not for a token limited to some.
            access=Rule(Access.READ, unlimited=True),
        )
    },
)

# -- tokens ---------------------------------------------------------------------

ADMIN_ALL = Rule(Access.ADMIN, unlimited=True)
TOKEN_ANSWERS: dict[int, Answer | str] = {
    401: UNAUTHORIZED,
    403: FORBIDDEN,
    503: UNAVAILABLE,
}

TOKENS = (
    Route(
        "/tokens",
        {
            "GET": Op(
                tokens.list_tokens,
                "List API tokens, without their secrets",
                responses={
                    200: Answer(
                        "Every token, sorted by name.", TokenList, anchors=("tokens-list-200",)
                    ),
                    **TOKEN_ANSWERS,
                },
                tag="tokens",
                anchor="tokens",
                access=ADMIN_ALL,
            ),
            "POST": Op(
                tokens.create_token,
                "Create an API token; its secret is shown only in this answer",
                body=NewTokenBody,
                responses={
                    201: Answer(
                        "The token with its secret (`token`), and its Location.",
                        TokenView,
                        headers=(p.LOCATION,),
                        anchors=("tokens-create-201",),
                    ),
                    400: Answer(
                        "A bad name, role, queues or expires_in.",
                        anchors=("tokens-create-400",),
                    ),
                    409: Answer(
                        "A token of that name exists (token_exists).",
                        anchors=("tokens-create-409",),
                    ),
                    413: TOO_LARGE,
                    **TOKEN_ANSWERS,
                },
                tag="tokens",
                anchor="tokens",
                access=ADMIN_ALL,
            ),
        },
    ),
    Route(
        "/tokens/{name}",
        {
            "DELETE": Op(
                tokens.revoke_token,
                "Revoke an API token",
                responses={
                    200: Answer(
                        "The token as it was; every node refuses it within a second.",
                        TokenView,
                        anchors=("tokens-delete-200",),
                    ),
                    404: Answer(
                        "No token has this name (token_not_found).",
                        anchors=("tokens-delete-404",),
                    ),
                    **TOKEN_ANSWERS,
                },
                tag="tokens",
                anchor="tokens",
                access=ADMIN_ALL,
            )
        },
        params=(p.TOKEN_NAME,),
    ),
)

META = (
    Route(
        "/healthz",
        {
            "GET": Op(
                handlers.healthz,
                "Readiness",
                responses={
                    200: Answer("The server can take requests.", Health, anchors=("healthz-200",)),
                    503: Answer(
                        "Starting or stopping (shutting_down), or the database cannot take "
                        "writes now: a full disk, a read-only database (store_unavailable).",
                        anchors=("healthz-503", "healthz-503-writes"),
                    ),
                },
                tag="meta",
                anchor="meta",
                access=PUBLIC,
            )
        },
    ),
    Route(
        "/openapi.json",
        {
            "GET": Op(
                meta.openapi_json,
                "This API as OpenAPI 3.1",
                responses={200: Answer("This document.", dict[str, Any], anchors=("openapi-200",))},
                tag="meta",
                anchor="meta",
                access=PUBLIC,
            )
        },
    ),
    Route(
        "/docs",
        {
            "GET": Op(
                meta.docs,
                "Human-readable API docs",
                responses={
                    200: Answer(
                        "A self-contained HTML page.",
                        str,
                        media_type="text/html",
                        anchors=("docs-200",),
                    )
                },
                tag="meta",
                anchor="meta",
                access=PUBLIC,
            )
        },
    ),
)

# The dashboard: static files of a page that uses the routes above. Public: the
# page asks for a token and sends it with its API calls.
DASHBOARD = (
    Route(
        "/",
        {
            "GET": Op(
                dashboard.root,
                "Redirect to the dashboard",
                responses={
                    302: Answer(
                        "To the dashboard.", headers=(p.LOCATION_UI,), anchors=("root-302",)
                    )
                },
                tag="dashboard",
                anchor="dashboard",
                access=PUBLIC,
            )
        },
    ),
    Route(
        "/ui",
        {
            "GET": Op(
                dashboard.page,
                "The web dashboard",
                responses={
                    200: Answer(
                        "The dashboard's page.", str, media_type="text/html", anchors=("ui-200",)
                    )
                },
                tag="dashboard",
                anchor="dashboard",
                access=PUBLIC,
            )
        },
    ),
    Route(
        "/ui/{file}",
        {
            "GET": Op(
                dashboard.asset,
                "The dashboard's scripts and styles",
                responses={
                    200: Answer(
                        "One of the page's scripts, styles or images, with its content type.",
                        str,
                        media_type="*/*",
                        anchors=("ui-file-200",),
                    ),
                    404: Answer(
                        "The dashboard has no file of that name (not_found).",
                        anchors=("ui-file-404",),
                    ),
                },
                tag="dashboard",
                anchor="dashboard",
                access=PUBLIC,
            )
        },
        params=(p.UI_FILE,),
    ),
)

ROUTES: tuple[Route, ...] = (
    *(JOBS, JOBS_BULK, JOB, JOB_CANCEL, JOB_ATTEMPTS, JOB_RETRY, WANT_JOB),
    *EVENTS,
    *QUEUES,
    METRICS,
    *TOKENS,
    *META,
    *DASHBOARD,
)
