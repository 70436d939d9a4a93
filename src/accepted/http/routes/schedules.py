"""Routes of schedules: create or replace, list, read, delete, run now.

Who may: every role reads (a token limited to some queues reads the
schedules of its queues only); only an unlimited admin writes, since a
schedule makes jobs on its own for as long as it exists (SPEC: "schedules
(write)" is the admin's).
"""

from __future__ import annotations

from accepted.http import params as p
from accepted.http import schedules
from accepted.http.answers import BAD_REQUEST, FORBIDDEN, TOO_LARGE, UNAUTHORIZED, UNAVAILABLE
from accepted.http.render import JobView
from accepted.http.route import Answer, Op, Route
from accepted.http.schedules import ScheduleBody, ScheduleList, ScheduleView
from accepted.service.auth import Access, Rule

READ = Rule(Access.READ)
WRITE = Rule(Access.ADMIN, unlimited=True)
NOT_FOUND = Answer("No schedule has this name (schedule_not_found).", anchors=("schedule-404",))
AUTH: dict[int, Answer | str] = {401: UNAUTHORIZED, 403: FORBIDDEN, 503: UNAVAILABLE}

SCHEDULES = (
    Route(
        "/schedules",
        {
            "GET": Op(
                schedules.list_schedules,
                "List the schedules",
                responses={
                    200: Answer(
                        "Every schedule, sorted by name.",
                        ScheduleList,
                        anchors=("schedules-200",),
                    ),
                    **AUTH,
                },
                tag="schedules",
                anchor="schedules",
                access=READ,
            )
        },
    ),
    Route(
        "/schedules/{name}",
        {
            "PUT": Op(
                schedules.put_schedule,
                "Create or replace a schedule",
                description="Body: the queue and params of each job, exactly one of `cron` "
                "(five fields, read in `timezone`) and `every` (seconds), and the job options. "
                "An `every` schedule first fires one interval after it is created. A "
                "replacement with the same cron/every/timezone keeps its next fire time.",
                body=ScheduleBody,
                responses={
                    200: Answer(
                        "The schedule as stored, with its next fire time.",
                        ScheduleView,
                        anchors=("schedule-put-200", "schedule-object"),
                    ),
                    400: Answer(
                        "A bad cron expression, an unknown time zone, both or neither of cron "
                        "and every, or a bad field (invalid_field, malformed_json); a "
                        "callback URL whose address callbacks may not reach "
                        "(callback_url_refused). Nothing was changed.",
                        anchors=("schedule-put-400",),
                    ),
                    413: TOO_LARGE,
                    **AUTH,
                },
                tag="schedules",
                anchor="schedules",
                access=WRITE,
            ),
            "GET": Op(
                schedules.get_schedule,
                "Read a schedule",
                responses={
                    200: Answer("The schedule.", ScheduleView, anchors=("schedule-200",)),
                    400: BAD_REQUEST,
                    404: NOT_FOUND,
                    **AUTH,
                },
                tag="schedules",
                anchor="schedules",
                access=READ,
            ),
            "DELETE": Op(
                schedules.delete_schedule,
                "Delete a schedule",
                responses={
                    200: Answer(
                        "The schedule as it was; it fires no more. Jobs it made stay.",
                        ScheduleView,
                        anchors=("schedule-delete-200",),
                    ),
                    400: BAD_REQUEST,
                    404: NOT_FOUND,
                    **AUTH,
                },
                tag="schedules",
                anchor="schedules",
                access=WRITE,
            ),
        },
        params=(p.SCHEDULE_NAME,),
    ),
    Route(
        "/schedules/{name}/run",
        {
            "POST": Op(
                schedules.run_schedule,
                "Run a schedule now",
                description="No body is read. Enqueues one job of the schedule now, paused "
                "or not; its fire times stay as they were.",
                responses={
                    202: Answer(
                        "The job, enqueued now (its `schedule` names the schedule), with "
                        "Location; the schedule's last_run_at and last_job_id are its.",
                        JobView,
                        headers=(p.LOCATION,),
                        anchors=("schedule-run-202",),
                    ),
                    400: BAD_REQUEST,
                    404: NOT_FOUND,
                    **AUTH,
                },
                tag="schedules",
                anchor="schedules",
                access=WRITE,
            )
        },
        params=(p.SCHEDULE_NAME,),
    ),
)
