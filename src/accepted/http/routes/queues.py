"""Routes of queues: list, read, pause, resume, limits."""

from __future__ import annotations

from accepted.http import params as p
from accepted.http import queues
from accepted.http.answers import (
    BAD_REQUEST,
    TOO_LARGE,
    UNAVAILABLE,
)
from accepted.http.queues import LimitsBody
from accepted.http.render import (
    QueueList,
    QueueView,
)
from accepted.http.route import Answer, Op, Route
from accepted.service.auth import Access, Rule

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
    # -- per-queue limits (flow-limits) --
    Route(
        "/queues/{name}/limits",
        {
            "PUT": Op(
                queues.set_limits,
                "Set a queue's limits: rate, concurrency, group concurrency, on every node",
                description='Body: {"rate": {"jobs": N, "per": seconds} | null, '
                '"concurrency": N | null, "group_concurrency": N | null}. The whole set is '
                "replaced: a field left out or null is no such limit, so {} clears them all. "
                "Setting a limit creates the queue's setting. Takers blocked on the queue get "
                "a job as soon as the limits allow ([flow](/docs#queue-limits)).",
                body=LimitsBody,
                responses={
                    200: Answer(
                        "The queue, with its limits.", QueueView, anchors=("queue-limits-200",)
                    ),
                    400: Answer(
                        "A bad body: a limit below 1 (pause the queue instead), above its "
                        "maximum, not a number, or an unknown field (invalid_field, "
                        "malformed_json). Nothing changed.",
                        anchors=("queue-limits-400",),
                    ),
                    404: Answer(
                        "Clearing the limits of a queue that does not exist (queue_not_found).",
                        anchors=("queue-limits-404",),
                    ),
                    413: TOO_LARGE,
                    503: UNAVAILABLE,
                },
                tag="queues",
                anchor="queue-limits",
                access=Rule(Access.ADMIN, queue="name"),
            )
        },
        params=(p.QUEUE_NAME,),
    ),
)
