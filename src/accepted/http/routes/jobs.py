"""Routes of jobs: enqueue, list, read, report, cancel, retry, delete, bulk, and taking."""

from __future__ import annotations

from typing import Annotated

import msgspec

from accepted.http import handlers, listing
from accepted.http import params as p
from accepted.http.answers import (
    BAD_REQUEST,
    JOB_NOT_FOUND,
    TOO_LARGE,
    UNAVAILABLE,
)
from accepted.http.handlers import MAX_BATCH
from accepted.http.listing import BulkBody
from accepted.http.parse import BatchItem, BatchReportItem, EnqueueBody, ReportBody, WantJobBody
from accepted.http.render import (
    AttemptsView,
    BulkView,
    JobPageView,
    JobView,
    Outcome,
)
from accepted.http.route import Answer, Op, Route
from accepted.service.auth import Access, Rule

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
            # A token limited to some queues lists only theirs (403 naming another).
            access=Rule(Access.READ),
        ),
        "POST": Op(
            handlers.enqueue,
            "Enqueue a job, or a batch of jobs",
            description="Body: one job object, or a JSON array of 1 to 1000 job objects "
            "enqueued together (all or none). The 202 goes out only after the job is "
            "durably committed.",
            body=EnqueueBody | Batch,
            params=p.ENQUEUE,
            responses={
                200: Answer(
                    "Enqueued and, within X-Accepted-Wait-Result, final: the job with its "
                    "result, with Location. Or, with X-Accepted-Unique-Key held by a job "
                    "not final: that job, X-Accepted-Duplicate, and nothing enqueued.",
                    JobView,
                    headers=(p.LOCATION, p.DUPLICATE),
                    anchors=("enqueue-wait", "unique-duplicate", "unique-wait"),
                ),
                202: Answer(
                    "Enqueued: the job (status queued, or delayed with a delay), with "
                    "Location; for an array body, the array of jobs in the order sent and "
                    "no Location. With an Idempotency-Key seen before for the same request: "
                    "the first answer's job as it is now, and Idempotent-Replayed.",
                    JobView | list[JobView],
                    headers=(p.LOCATION, p.IDEMPOTENT_REPLAYED, p.DUPLICATES),
                    anchors=(
                        "enqueue-202",
                        "enqueue-batch-202",
                        "idempotency-replay",
                        "unique-batch",
                    ),
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
            # A limited admin acts only on its queues' jobs (403 naming another).
            access=Rule(Access.ADMIN),
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
            "earliest due_at (a fairness group's jobs: their turn in the rotation), then the first "
            "enqueued, among the named queues (?queue and/or "
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
