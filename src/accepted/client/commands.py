"""What `accepted enqueue | get | delete` do, once their arguments are parsed.

Each returns the process's exit code (see `ExitCode`); output goes to the
given streams, readable by default and one JSON line per job with `as_json`.
"""

from __future__ import annotations

import enum
import json
import math
import time
from dataclasses import dataclass
from typing import Any, TextIO

import msgspec

from accepted.client.core import WAIT_CHUNK
from accepted.client.display import Progress, format_attempts, format_job
from accepted.client.errors import WaitTimeout
from accepted.client.models import Job
from accepted.client.sync import Client
from accepted.errors import (
    AcceptedError,
    Conflict,
    InvalidRequest,
    JobNotFound,
    NotFound,
    PayloadTooLarge,
)
from accepted.types import JobStatus

__all__ = [
    "ExitCode",
    "Output",
    "attempts",
    "cancel",
    "delete",
    "enqueue",
    "exit_code_for",
    "get",
    "parse_params",
    "retry",
    "retry_matching",
]


class ExitCode(enum.IntEnum):
    """What the exit status of every client command means (`token` too): one HTTP
    answer gives one status whichever command met it (`exit_code_for`)."""

    OK = 0  # done, or (without --wait) the request succeeded
    FAILED = 1  # the job failed
    USAGE = 2  # bad arguments, or input the server refused (400, 413)
    NOT_FOUND = 3  # 404: no such job (never was, deleted, or removed after its result TTL),
    # queue, schedule or token
    CANCELLED = 4  # the job was deleted while being waited on
    WAIT_TIMEOUT = 5  # --wait ran out before the job finished
    UNAVAILABLE = 6  # the server could not be reached, or answered with an error (401, 403, 5xx)
    CONFLICT = 7  # the state does not allow it (409), e.g. retry of a job that is done
    INTERRUPTED = 130  # Ctrl-C


# A final job's status, as the exit code of a command that waited for it.
_BY_STATUS = {
    JobStatus.DONE: ExitCode.OK,
    JobStatus.FAILED: ExitCode.FAILED,
    JobStatus.CANCELLED: ExitCode.CANCELLED,
}

# Each GET of a wait shown on a terminal is at most this long, so the progress
# line moves; the answer still comes the moment the job is final.
PROGRESS_TICK = 1.0


@dataclass(frozen=True, slots=True)
class Output:
    out: TextIO
    err: TextIO
    as_json: bool = False
    progress: bool = False  # both streams are a terminal: show progress on long waits

    def job(self, job: Job) -> None:
        if self.as_json:
            self.out.write(json.dumps(job.to_dict(), ensure_ascii=False) + "\n")
        else:
            self.out.write(format_job(job) + "\n")

    def error(self, message: str) -> None:
        self.err.write(f"accepted: {message}\n")

    def note(self, message: str) -> None:
        """Something to know about a command that did what was asked: not an
        error, so not the `accepted: ` line that scripts look for."""
        self.err.write(f"note: {message}\n")


def exit_code_for(error: AcceptedError) -> ExitCode:
    if isinstance(error, Conflict):
        return ExitCode.CONFLICT
    if isinstance(error, NotFound):
        return ExitCode.NOT_FOUND
    if isinstance(error, InvalidRequest | PayloadTooLarge):
        return ExitCode.USAGE
    return ExitCode.UNAVAILABLE


def parse_params(text: str) -> Any:
    """PARAMS_JSON as given on the command line; ValueError says what is wrong."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"PARAMS_JSON is not valid JSON: {exc}") from None


def enqueue(
    client: Client, output: Output, queue: str, params: Any, wait: float | None, **options: Any
) -> ExitCode:
    if wait is None:
        job = client.enqueue(queue, params, **options)
        output.job(job)
        _note_duplicate(output, job)
        return ExitCode.OK
    # The first stretch of the wait rides on the enqueue itself (one request for
    # a short job); a longer wait goes on with GETs, showing progress if asked.
    started = time.monotonic()
    first = min(wait, PROGRESS_TICK if output.progress else WAIT_CHUNK)
    job = client.enqueue(queue, params, wait=first, **options)
    _note_duplicate(output, job)
    return _waited(client, output, job, wait, started)


def _note_duplicate(output: Output, job: Job) -> None:
    """On stderr, so stdout stays the job: nothing was enqueued, this job holds the key."""
    if job.duplicate:
        output.note(f"not enqueued: job {job.id} holds unique key {job.unique_key!r}")


def get(client: Client, output: Output, job_id: str, wait: float | None) -> ExitCode:
    job = client.get(job_id)
    if wait is None:
        output.job(job)
        return _BY_STATUS.get(job.status, ExitCode.OK)
    return _waited(client, output, job, wait)


def delete(client: Client, output: Output, job_id: str) -> ExitCode:
    output.job(client.delete(job_id))
    return ExitCode.OK


def _waited(
    client: Client, output: Output, job: Job, wait: float, started: float | None = None
) -> ExitCode:
    """Wait up to `wait` seconds (inf: no limit) from `started` (now) for `job` to be
    final, then print it."""
    try:
        job = _wait(client, output, job, wait, started)
    except JobNotFound:  # between two of the wait's requests: the job was deleted
        output.error(f"job {job.id} was deleted while being waited on")
        return ExitCode.CANCELLED
    output.job(job)
    if not job.is_final:
        output.error(f"job {job.id} is still {job.status} after {wait:g} s")
        return ExitCode.WAIT_TIMEOUT
    return _BY_STATUS[job.status]


def _wait(client: Client, output: Output, job: Job, wait: float, started: float | None) -> Job:
    deadline = (time.monotonic() if started is None else started) + wait
    progress = Progress(output.err, f"job {job.id}") if output.progress else None
    try:
        while not job.is_final:
            left = deadline - time.monotonic()
            if left <= 0:
                return job
            if progress is None:
                job = _wait_quietly(client, job, None if math.isinf(left) else left)
                continue
            progress.update(job)
            job = client.get(job.id, wait=min(left, PROGRESS_TICK))
        return job
    finally:
        if progress is not None:
            progress.clear()


def _wait_quietly(client: Client, job: Job, timeout: float | None) -> Job:
    try:
        return client.wait(job.id, timeout)
    except WaitTimeout as exc:
        return exc.job


# -- retries: cancel, retry, attempts ---------------------------------------------------


def cancel(client: Client, output: Output, job_id: str) -> ExitCode:
    output.job(client.cancel(job_id))
    return ExitCode.OK


def retry(client: Client, output: Output, job_id: str) -> ExitCode:
    output.job(client.retry(job_id))
    return ExitCode.OK


def attempts(client: Client, output: Output, job_id: str) -> ExitCode:
    found = client.attempts(job_id)
    if output.as_json:
        body = {"attempts": [msgspec.to_builtins(a) for a in found]}
        output.out.write(json.dumps(body, ensure_ascii=False) + "\n")
    else:
        output.out.write(format_attempts(found) + "\n")
    return ExitCode.OK


def retry_matching(
    client: Client, output: Output, queue: list[str] | None, status: list[str] | None
) -> ExitCode:
    """`accepted retry --queue Q --status failed`: POST /jobs/bulk with action retry."""
    outcome = client.bulk("retry", queue=queue, status=status)
    if output.as_json:
        output.out.write(json.dumps(msgspec.to_builtins(outcome)) + "\n")
    else:
        output.out.write(f"matched {outcome.matched}, retried {outcome.changed}\n")
    return ExitCode.OK
