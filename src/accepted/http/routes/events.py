"""Routes of live events (Server-Sent Events), per job and per queue."""

from __future__ import annotations

from accepted.http import events
from accepted.http import params as p
from accepted.http.route import Answer, Op, Route
from accepted.service.auth import Access, Rule

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
