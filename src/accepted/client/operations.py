"""What `accepted queues | jobs | pause | resume` do, once their arguments are parsed.

Each prints a table for people, or with `--json` the server's own JSON answer
as it came (e.g. `{"queues": [...]}`), and returns the exit code (see
`commands.ExitCode`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from accepted.client import core
from accepted.client import queues as queue_calls
from accepted.client.commands import ExitCode, Output
from accepted.client.models import Job, Queue
from accepted.client.sync import Client
from accepted.types import JobStatus

__all__ = ["jobs", "pause", "queues", "resume"]

# The params column of `accepted jobs` is cut to this many characters.
PARAMS_WIDTH = 40


def queues(client: Client, output: Output) -> ExitCode:
    if output.as_json:
        return _raw(client, output, queue_calls.queues())
    _table(output, _queue_header(), [_queue_row(q) for q in client.queues()])
    return ExitCode.OK


def pause(client: Client, output: Output, name: str) -> ExitCode:
    return _one_queue(client, output, queue_calls.pause(name))


def resume(client: Client, output: Output, name: str) -> ExitCode:
    return _one_queue(client, output, queue_calls.resume(name))


def jobs(
    client: Client,
    output: Output,
    *,
    queue: Sequence[str] | None,
    status: Sequence[str] | None,
    search: str | None,
    limit: int | None,
    cursor: str | None,
) -> ExitCode:
    call = queue_calls.list_jobs(
        queue=queue, status=status, search=search, limit=limit, cursor=cursor
    )
    if output.as_json:
        return _raw(client, output, call)
    page = client.send(call)
    _table(
        output,
        ["ID", "QUEUE", "STATUS", "PRI", "TRIES", "CREATED", "PARAMS"],
        [_job_row(job) for job in page.jobs],
    )
    if page.next is not None:
        output.err.write(f"more: add --cursor {page.next}\n")
    return ExitCode.OK


def _one_queue(client: Client, output: Output, call: core.Call[Queue]) -> ExitCode:
    if output.as_json:
        return _raw(client, output, call)
    _table(output, _queue_header(), [_queue_row(client.send(call))])
    return ExitCode.OK


def _raw(client: Client, output: Output, call: core.Call[Any]) -> ExitCode:
    output.out.write(client.send(core.raw(call)).decode() + "\n")
    return ExitCode.OK


def _queue_header() -> list[str]:
    return ["QUEUE", "PAUSED", *(s.value.upper() for s in JobStatus), "OLDEST"]


def _queue_row(queue: Queue) -> list[str]:
    counts = [str(queue.counts.get(s.value, 0)) for s in JobStatus]
    return [queue.name, "yes" if queue.paused else "no", *counts, _age(queue.oldest_queued_age)]


def _job_row(job: Job) -> list[str]:
    params = json.dumps(job.params, ensure_ascii=False)
    if len(params) > PARAMS_WIDTH:
        params = params[: PARAMS_WIDTH - 1] + "…"
    return [
        job.id,
        job.queue,
        job.status.value,
        str(job.priority),
        str(job.attempts),
        _when(job.created_at),
        params,
    ]


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def _when(value: datetime) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _table(output: Output, header: list[str], rows: list[list[str]]) -> None:
    """Columns padded to their widest cell; numbers right-aligned."""
    if not rows:
        output.err.write("(none)\n")
        return
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    numeric = [all(row[i].isdigit() for row in rows) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [
            cell.rjust(width) if is_number else cell.ljust(width)
            for cell, width, is_number in zip(row, widths, numeric, strict=True)
        ]
        output.out.write("  ".join(cells).rstrip() + "\n")
