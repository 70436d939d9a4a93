"""What `accepted schedules` does: a table of the schedules for people, or with
`--json` the server's own answer as it came (`{"schedules": [...]}`)."""

from __future__ import annotations

from datetime import UTC, datetime

from accepted.client import core
from accepted.client import schedules as schedule_calls
from accepted.client.commands import ExitCode, Output
from accepted.client.schedules import Schedule
from accepted.client.sync import Client

__all__ = ["schedules"]

HEADER = ["SCHEDULE", "QUEUE", "WHEN", "PAUSED", "NEXT RUN", "LAST RUN", "LAST JOB"]


def schedules(client: Client, output: Output) -> ExitCode:
    call = schedule_calls.schedules()
    if output.as_json:
        output.out.write(client.send(core.raw(call)).decode() + "\n")
        return ExitCode.OK
    rows = [_row(s) for s in client.send(call)]
    if not rows:
        output.err.write("(none)\n")
        return ExitCode.OK
    widths = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(len(HEADER))]
    for row in [HEADER, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        output.out.write("  ".join(cells).rstrip() + "\n")
    return ExitCode.OK


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
