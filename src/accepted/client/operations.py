"""What `accepted queues | jobs | pause | resume | limits` do, once their arguments are parsed.

Each prints a table for people, or with `--json` the server's own JSON answer
as it came (e.g. `{"queues": [...]}`), and returns the exit code (see
`commands.ExitCode`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from accepted.client import core
from accepted.client import queues as queue_calls
from accepted.client.commands import ExitCode, Output
from accepted.client.job_table import print_jobs, screen_width
from accepted.client.models import Limits, Queue, Rate
from accepted.client.sync import Client
from accepted.errors import QueueNotFound
from accepted.types import JobStatus

__all__ = ["jobs", "limits", "pause", "queues", "resume"]

# `accepted limits`: an option given this value clears that one limit.
NONE = "none"


def queues(client: Client, output: Output) -> ExitCode:
    if output.as_json:
        return _raw(client, output, queue_calls.queues())
    _table(output, _queue_header(), [_queue_row(q) for q in client.queues()])
    return ExitCode.OK


def pause(client: Client, output: Output, name: str) -> ExitCode:
    """Pause the queue; a note on stderr when it holds no jobs at all.

    Pausing a name no job has used is allowed (SPEC: it holds a queue before its
    first job comes), so a typo pauses a queue nobody uses, silently: the note
    says so while the busy queue still hands out."""
    call = queue_calls.pause(name)
    if output.as_json:
        raw = client.send(core.raw(call))
        output.out.write(raw.decode() + "\n")
        counts = json.loads(raw)["counts"]
    else:
        queue = client.send(call)
        _table(output, _queue_header(), [_queue_row(queue)])
        counts = queue.counts
    if not any(counts.values()):
        output.note(f"queue {name} holds no jobs; it is paused ahead of its first one")
    return ExitCode.OK


def resume(client: Client, output: Output, name: str) -> ExitCode:
    return _one_queue(client, output, queue_calls.resume(name))


def limits(
    client: Client, output: Output, name: str, changes: dict[str, str | None], clear: bool
) -> ExitCode:
    """Show a queue's limits; with `changes` (option -> value, or `NONE`), change those
    and keep the rest (the API sets all at once: the others are read first); with
    `clear`, remove them all."""
    if clear or changes:
        current = Limits() if clear else _current(client, name)
        call = queue_calls.set_limits(name, **_merged(current, changes))
    else:
        call = queue_calls.queue(name)
    if output.as_json:
        return _raw(client, output, call)
    queue = client.send(call)
    _table(output, ["QUEUE", "RATE", "CONCURRENCY", "GROUP_CONCURRENCY"], [_limits_row(queue)])
    return ExitCode.OK


def _current(client: Client, name: str) -> Limits:
    """The queue's limits now; none for a queue that does not exist yet."""
    try:
        return client.queue(name).limits
    except QueueNotFound:
        return Limits()


def _merged(current: Limits, changes: dict[str, str | None]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "rate": current.rate,
        "concurrency": current.concurrency,
        "group_concurrency": current.group_concurrency,
    }
    for option, text in changes.items():
        if text is None:
            continue
        if text == NONE:
            values[option] = None
        elif option == "rate":
            values["rate"] = _rate(text)
        else:
            values[option] = int(text)
    return values


def _rate(text: str) -> Rate:
    """`N/SECONDS` (`100/60`: 100 hand-outs a minute)."""
    jobs, _, per = text.partition("/")
    if not per:
        raise ValueError(f"--rate {text!r}: give JOBS/SECONDS, e.g. 100/60")
    return Rate(int(jobs), float(per))


def _limits_row(queue: Queue) -> list[str]:
    limits = queue.limits
    rate = "-" if limits.rate is None else f"{limits.rate.jobs}/{limits.rate.per:g}s"

    def shown(value: int | None) -> str:
        return "-" if value is None else str(value)

    return [queue.name, rate, shown(limits.concurrency), shown(limits.group_concurrency)]


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
    if page.jobs:
        print_jobs(output.out, page.jobs, screen_width(), datetime.now(UTC))
    else:
        output.err.write("(none)\n")
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


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


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
