"""What `accepted schedules [list | show | create | delete | pause | resume | run]` do.

People get a table of the schedules (one row for a single one), fitted to a
terminal as `accepted jobs` is (table_fit): the cadence and queue are cut with
an ellipsis, and where that is not enough the LAST JOB, LAST RUN, NEXT RUN and
QUEUE columns go, in that order; the name (what the other verbs take), the
cadence and PAUSED stay. With `--json`, the server's own answer as it came
(`{"schedules": [...]}`, or the schedule). `delete` says what it deleted; `run`
prints the job it made, as `accepted get` prints a job.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from accepted.client import core
from accepted.client import schedules as schedule_calls
from accepted.client.commands import ExitCode, Output
from accepted.client.schedules import Schedule
from accepted.client.sync import Client
from accepted.client.table_fit import Column, fitted, print_table, screen_width

__all__ = ["change", "create", "run", "schedules", "show"]

HEADER = ["SCHEDULE", "QUEUE", "WHEN", "PAUSED", "NEXT RUN", "LAST RUN", "LAST JOB"]
# Columns that go, in this order, when cutting text is not enough to fit a screen.
DROP_ORDER = ("LAST JOB", "LAST RUN", "NEXT RUN", "QUEUE")
# How narrow cutting may make a free-text column (an ellipsis included).
MIN_WIDTH = {"QUEUE": 8, "WHEN": 12}

# The job options of a definition, as the client's put_schedule names them.
JOB_OPTIONS = ("priority", "job_timeout", "result_ttl", "max_attempts", "retries", "callback_url")


def schedules(client: Client, output: Output) -> ExitCode:
    return _print(client, output, schedule_calls.schedules())


def show(client: Client, output: Output, name: str) -> ExitCode:
    return _print(client, output, schedule_calls.schedule(name))


def create(client: Client, output: Output, name: str, queue: str, **definition: Any) -> ExitCode:
    """PUT /schedules/{name}: the whole definition (what is left out takes the default)."""
    return _print(client, output, schedule_calls.put_schedule(name, queue, **definition))


def change(client: Client, output: Output, name: str, action: str) -> ExitCode:
    """delete; or pause / resume, which PUT the schedule's own definition back with
    `paused` set (as the dashboard does): read first, so nothing else changes."""
    if action == "delete":
        return _deleted(client, output, name)
    current = client.schedule(name)
    definition = {option: getattr(current, option) for option in JOB_OPTIONS}
    call = schedule_calls.put_schedule(
        name,
        current.queue,
        current.params,
        cron=current.cron,
        every=current.every,
        timezone=current.timezone if current.cron is not None else None,
        paused=action == "pause",
        **definition,
    )
    return _print(client, output, call)


def _deleted(client: Client, output: Output, name: str) -> ExitCode:
    """One line that says so, as a script or a person reads it; `--json` the API's answer."""
    if output.as_json:
        return _print(client, output, schedule_calls.delete_schedule(name))
    client.send(schedule_calls.delete_schedule(name))
    output.out.write(f"deleted schedule {name}\n")
    return ExitCode.OK


def run(client: Client, output: Output, name: str) -> ExitCode:
    """POST /schedules/{name}/run: one job now, printed like any job."""
    output.job(client.run_schedule(name))
    return ExitCode.OK


def _print(client: Client, output: Output, call: core.Call[Any]) -> ExitCode:
    """The answer to `call` (one schedule, or the list) as a table, or its JSON."""
    if output.as_json:
        output.out.write(client.send(core.raw(call)).decode() + "\n")
        return ExitCode.OK
    found: Schedule | list[Schedule] = client.send(call)
    _table(output, found if isinstance(found, list) else [found])
    return ExitCode.OK


def _table(output: Output, schedules: Sequence[Schedule]) -> None:
    rows = [_row(s) for s in schedules]
    if not rows:
        output.err.write("(none)\n")
        return
    columns = [Column(header, [row[i] for row in rows]) for i, header in enumerate(HEADER)]
    width = screen_width()
    if width is not None:
        columns = fitted(columns, width, DROP_ORDER, MIN_WIDTH)
    print_table(output.out, columns)


def _row(schedule: Schedule) -> list[str]:
    return [
        schedule.name,
        schedule.queue,
        _cadence(schedule),
        "yes" if schedule.paused else "no",
        _when(schedule.next_run_at),
        _when(schedule.last_run_at),
        schedule.last_job_id or "-",
    ]


def _cadence(schedule: Schedule) -> str:
    if schedule.cron is not None:
        zone = "" if schedule.timezone == "UTC" else f" ({schedule.timezone})"
        return f"cron {schedule.cron}{zone}"
    return f"every {schedule.every:g}s"


def _when(value: datetime | None) -> str:
    # In UTC and said so, as every other command prints times: a schedule's own
    # time zone is shown beside its cron, and the host's zone is nobody's.
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
