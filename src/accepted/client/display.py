"""Jobs for people: the CLI's readable output, and its progress line for long waits."""

from __future__ import annotations

import itertools
import json
import time
from datetime import datetime
from typing import Any, TextIO

from accepted.client.models import Attempt, Job

__all__ = ["Progress", "format_attempts", "format_job"]

# JSON shorter than this stays on its line; longer is indented below its label.
INLINE_JSON = 80


def format_job(job: Job) -> str:
    """A job as an aligned table of its fields, omitting those that say nothing."""
    rows: list[tuple[str, str]] = [
        ("id", job.id),
        ("queue", job.queue),
        ("status", job.status.value),
        ("priority", str(job.priority)),
        ("attempts", _attempts(job)),
        ("params", _json(job.params)),
    ]
    if job.result is not None or job.is_final:
        rows.append(("result", _json(_without_traceback(job.result))))
    optional = [
        ("group", job.group),
        ("unique key", job.unique_key),
        ("after", " ".join(job.after)),
        ("schedule", job.schedule),
        ("error", job.error),
        ("created", _time(job.created_at)),
        ("updated", _time(job.updated_at)),
        ("due", _time(job.due_at) if job.due_at and job.due_at > job.created_at else None),
        ("lease ends", _time(job.lease_expires_at)),
        ("deadline", _time(job.deadline_at)),
        ("finished", _time(job.finished_at)),
        ("expires", _time(job.expires_at)),
        ("callback", _callback(job)),
        ("retries", f"{job.retries_left} of {job.retries} left" if job.retries else None),
    ]
    rows += [(label, value) for label, value in optional if value]
    width = max(len(label) for label, _ in rows) + 2
    lines = [f"{label:<{width}}{_indent(value, width)}" for label, value in rows]
    trace = _traceback(job.result)
    if trace:
        lines += ["", trace.rstrip()]
    return "\n".join(lines)


def _attempts(job: Job) -> str:
    return f"{job.attempts} of {job.max_attempts}" if job.max_attempts else str(job.attempts)


def _json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    if len(text) <= INLINE_JSON:
        return text
    return json.dumps(value, ensure_ascii=False, indent=2)


def _indent(text: str, width: int) -> str:
    return text.replace("\n", "\n" + " " * width)


def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def _callback(job: Job) -> str | None:
    if job.callback is None:
        return None
    text = f"{job.callback.url} ({job.callback.state.value}, {job.callback.attempts} tries)"
    if job.callback.last_error:
        text += f": {job.callback.last_error}"
    return text


def _traceback(result: Any) -> str | None:
    """The traceback a worker runner put in a failed job's result, shown as such."""
    if isinstance(result, dict) and isinstance(result.get("traceback"), str):
        trace: str = result["traceback"]
        return trace
    return None


def _without_traceback(result: Any) -> Any:
    if _traceback(result) is None:
        return result
    return {k: v for k, v in result.items() if k != "traceback"}


class Progress:
    """One self-rewriting line on a terminal: what is being waited for, and for how long."""

    FRAMES = "|/-\\"

    def __init__(self, stream: TextIO, what: str) -> None:
        self.stream = stream
        self.what = what
        self.started = time.monotonic()
        self.frames = itertools.cycle(self.FRAMES)

    def update(self, job: Job) -> None:
        elapsed = time.monotonic() - self.started
        line = f"{next(self.frames)} waiting for {self.what}: {job.status.value}, {elapsed:.0f} s"
        self.stream.write("\r\x1b[K" + line)
        self.stream.flush()

    def clear(self) -> None:
        self.stream.write("\r\x1b[K")
        self.stream.flush()


# -- retries: the attempt history -----------------------------------------------------


def format_attempts(attempts: list[Attempt]) -> str:
    """A job's hand-outs as a table, one line each, oldest first."""
    if not attempts:
        return "no attempts yet"
    header = ("#", "started", "ended", "outcome", "result")
    rows = [header] + [
        (
            str(a.attempt),
            _time(a.started_at) or "",
            _time(a.ended_at) or "-",
            a.outcome.value if a.outcome is not None else "running",
            "" if a.result is None else _one_line(_without_traceback(a.result)),
        )
        for a in attempts
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    ).rstrip()


def _one_line(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= INLINE_JSON else text[: INLINE_JSON - 3] + "..."
