"""The client's core, shared by `Client` and `AsyncClient`, doing no I/O at all.

Each API call is built here as a `Call`: the request to send, how to read its
answer, and whether it may be retried. The two clients only send calls and
sleep between retries, each in its own way, so both speak the protocol
identically and every rule of it is tested once, without a socket.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
import msgspec

from accepted.client.errors import (
    BY_STATUS,
    SERVER_ERRORS,
    RequestTimeout,
    ServerError,
    TransportError,
    UnexpectedResponse,
)
from accepted.client.models import (
    OMITTED,
    Attempt,
    Attempts,
    Job,
    NewJob,
)
from accepted.errors import AcceptedError, MethodNotAllowed
from accepted.types import JobStatus

T = TypeVar("T")

USER_AGENT = "accepted-python"
# A wait() longer than this is several GETs in a row, so no proxy or server cap
# (the server's max_wait) ever sees one very long request.
WAIT_CHUNK = 60.0


class Retry(enum.Enum):
    """Which failures a call may be sent again after."""

    NEVER = "never"  # a take: a retried take could be handed a second job
    UNSENT = "unsent"  # only when the server surely did nothing: no connection, or a 503
    ALWAYS = "always"  # a read: any transport failure too


# Failures that happen before a request leaves: the server cannot have acted on it.
_UNSENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True, slots=True)
class Answer:
    """A server answer, stripped of the HTTP library that fetched it."""

    status: int
    headers: Mapping[str, str]
    content: bytes


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request of the API and how to read what comes back."""

    method: str
    path: str
    read: Callable[[Answer], T]
    headers: dict[str, str] = field(default_factory=dict)
    query: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    # Seconds the server may hold the request (a long-poll), added to the read timeout.
    hold: float = 0.0
    retry: Retry = Retry.UNSENT


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often, and how patiently, a failed call is sent again."""

    retries: int = 3
    backoff: float = 0.1  # seconds before the first retry; doubled each time
    max_backoff: float = 5.0

    def delay(
        self,
        call: Call[Any],
        attempt: int,
        *,
        error: Exception | None = None,
        status: int | None = None,
    ) -> float | None:
        """Seconds to sleep before sending `call` again, or None to stop here.

        `attempt` counts from 0 (the first send). Pass the transport `error`
        it failed with, or the `status` it was answered with.
        """
        if attempt >= self.retries or not _retryable(call.retry, error, status):
            return None
        base = min(self.backoff * 2.0**attempt, self.max_backoff)
        return base * random.uniform(0.5, 1.0)  # jitter: clients that failed together spread out


def _retryable(retry: Retry, error: Exception | None, status: int | None) -> bool:
    if retry is Retry.NEVER:
        return False
    if error is not None:
        return retry is Retry.ALWAYS or isinstance(error, _UNSENT_ERRORS)
    return status == 503


def transport_error(call: Call[Any], error: Exception) -> TransportError:
    """The client's error for a transport failure of `call`."""
    what = f"{call.method} {call.path}: {type(error).__name__}: {error}".rstrip(": ")
    if isinstance(error, httpx.TimeoutException):
        return RequestTimeout(f"no answer in time to {what}")
    return TransportError(f"could not reach the server for {what}")


# -- reading answers ---------------------------------------------------------


class _ErrorBody(msgspec.Struct):
    code: str
    message: str


class _ErrorAnswer(msgspec.Struct):
    error: _ErrorBody


class _Outcome(msgspec.Struct):
    """One report of a batch PUT /jobs: the job as it now is, or why it was refused."""

    id: str
    status: int
    job: Job | None = None
    error: _ErrorBody | None = None


_job_decoder = msgspec.json.Decoder(Job)
_outcomes_decoder = msgspec.json.Decoder(list[_Outcome])
_jobs_decoder = msgspec.json.Decoder(list[Job])
_error_decoder = msgspec.json.Decoder(_ErrorAnswer)
_encoder = msgspec.json.Encoder()


def error_from(answer: Answer) -> AcceptedError:
    """The exception an error answer stands for: the server's own class when it names one."""
    try:
        body = _error_decoder.decode(answer.content).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        text = answer.content[:200].decode("utf-8", "replace")
        return ServerError(f"HTTP {answer.status}: {text}", answer.status)
    return _error_for(body, answer.status, answer.headers.get("allow", ""))


def _error_for(body: _ErrorBody, status: int, allow: str = "") -> AcceptedError:
    cls = SERVER_ERRORS.get(body.code) or BY_STATUS.get(status)
    if cls is None:
        return ServerError(body.message, status, body.code)
    if cls is MethodNotAllowed:
        methods = tuple(m.strip() for m in allow.split(",") if m.strip())
        return MethodNotAllowed(body.message, methods)
    error = cls(body.message)
    error.code = body.code  # the server's word, even when only its family is known here
    return error


def _check(answer: Answer, expected: int) -> None:
    if answer.status == expected:
        return
    if answer.status >= 400:
        raise error_from(answer)
    raise UnexpectedResponse(f"expected HTTP {expected}, got {answer.status}", answer.status)


def _decode(decoder: msgspec.json.Decoder[T], answer: Answer) -> T:
    try:
        return decoder.decode(answer.content)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UnexpectedResponse(f"unreadable answer: {exc}", answer.status) from None


def read_job(expected: int) -> Callable[[Answer], Job]:
    def read(answer: Answer) -> Job:
        _check(answer, expected)
        return _decode(_job_decoder, answer)

    return read


def read_jobs(expected: int) -> Callable[[Answer], list[Job]]:
    def read(answer: Answer) -> list[Job]:
        _check(answer, expected)
        return _decode(_jobs_decoder, answer)

    return read


def read_taken(answer: Answer) -> Job | None:
    """A take's answer: 204 means no job came."""
    if answer.status == 204:
        return None
    _check(answer, 200)
    return _decode(_job_decoder, answer)


# -- building calls ----------------------------------------------------------


def _seconds(value: float) -> str:
    return str(value) if isinstance(value, int) else repr(float(value))


def _job_path(job_id: str) -> str:
    return "/jobs/" + quote(str(job_id), safe="")


def enqueue(
    queue: str,
    params: Any = OMITTED,
    *,
    priority: int | None = None,
    delay: float | None = None,
    result_ttl: float | None = None,
    callback_url: str | None = None,
    job_timeout: float | None = None,
    max_attempts: int | None = None,
    retries: int | None = None,
    retry_backoff: float | None = None,
    idempotency_key: str | None = None,
    wait: float | None = None,
    unique_key: str | None = None,
    after: Iterable[str | Job] | None = None,
    group: str | None = None,
) -> Call[Job]:
    """POST /jobs; with `wait`, the server holds the answer until the job is final
    (200) or `wait` seconds pass (202, the job as it is then)."""
    headers = {"content-type": "application/json"}
    hold = 0.0
    if wait is not None and wait > 0:
        headers["x-accepted-wait-result"] = _seconds(wait)
        hold = float(wait)
    options = {
        "x-accepted-priority": None if priority is None else str(int(priority)),
        "x-accepted-delay": None if delay is None else _seconds(delay),
        "x-accepted-result-ttl": None if result_ttl is None else _seconds(result_ttl),
        "x-accepted-callback-url": callback_url,
        "x-accepted-job-timeout": None if job_timeout is None else _seconds(job_timeout),
        "x-accepted-max-attempts": None if max_attempts is None else str(int(max_attempts)),
        "x-accepted-retries": None if retries is None else str(int(retries)),
        "x-accepted-retry-backoff": None if retry_backoff is None else _seconds(retry_backoff),
        "idempotency-key": idempotency_key,
        "x-accepted-unique-key": unique_key,
        "x-accepted-after": _after_header(after),
        "x-accepted-group": group,
    }
    headers.update({k: v for k, v in options.items() if v is not None})
    body: dict[str, Any] = {"queue": queue}
    if params is not OMITTED:
        body["params"] = params
    # With a key a resend cannot make a second job, so even a request that may
    # have reached the server is sent again (the answer is then a replay).
    retry = Retry.UNSENT if idempotency_key is None else Retry.ALWAYS
    return Call(
        "POST",
        "/jobs",
        _read_enqueued,
        headers,
        body=_encoder.encode(body),
        hold=hold,
        retry=retry,
    )


def _read_enqueued(answer: Answer) -> Job:
    """202, or 200 when an enqueue-and-wait saw its job final or a unique key's
    holder answered (`duplicate`)."""
    _check(answer, 200 if answer.status == 200 else 202)
    job = _decode(_job_decoder, answer)
    if answer.headers.get("x-accepted-duplicate") == "true":
        return msgspec.structs.replace(job, duplicate=True)
    return job


def _after_header(after: Iterable[str | Job] | None) -> str | None:
    """X-Accepted-After: the ids of the jobs (or ids) given."""
    if after is None:
        return None
    ids = [item.id if isinstance(item, Job) else str(item) for item in after]
    return ",".join(ids) if ids else None


def _read_enqueued_many(answer: Answer) -> list[Job]:
    """202 with the jobs; items answered by a unique key's holder are `duplicate`."""
    _check(answer, 202)
    jobs = _decode(_jobs_decoder, answer)
    listed = answer.headers.get("x-accepted-duplicates")
    for index in listed.split(",") if listed else ():
        i = int(index)
        jobs[i] = msgspec.structs.replace(jobs[i], duplicate=True)
    return jobs


def enqueue_many(jobs: Iterable[NewJob | Mapping[str, Any]]) -> Call[list[Job]]:
    """One POST of a JSON array: all the jobs are enqueued, or none."""
    items = [_batch_item(job) for job in jobs]
    if not items:
        raise ValueError("enqueue_many needs at least one job")
    headers = {"content-type": "application/json"}
    keyed = all(item.get("idempotency_key") is not None for item in items)
    retry = Retry.ALWAYS if keyed else Retry.UNSENT  # every item keyed: a resend is safe
    return Call(
        "POST", "/jobs", _read_enqueued_many, headers, body=_encoder.encode(items), retry=retry
    )


def _batch_item(job: NewJob | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(job, Mapping):
        return dict(job)
    item = {
        "queue": job.queue,
        "params": job.params,
        "priority": job.priority,
        "delay": job.delay,
        "result_ttl": job.result_ttl,
        "callback_url": job.callback_url,
        "job_timeout": job.job_timeout,
        "max_attempts": job.max_attempts,
        "retries": job.retries,
        "retry_backoff": job.retry_backoff,
        "idempotency_key": job.idempotency_key,
        "unique_key": job.unique_key,
        "after": None if job.after is None else list(job.after),
        "group": job.group,
    }
    return {k: v for k, v in item.items() if v is not None and v is not OMITTED}


def get(job_id: str, wait: float | None = None) -> Call[Job]:
    headers = {}
    hold = 0.0
    if wait is not None and wait > 0:
        headers["x-accepted-wait-result"] = _seconds(wait)
        hold = float(wait)
    return Call("GET", _job_path(job_id), read_job(200), headers, hold=hold, retry=Retry.ALWAYS)


# A report on a finished job: (job, status, result), or with a fourth item
# `retry` (False: a failure is for good, whatever retries the job has left).
Reported = tuple[Job, JobStatus, Any] | tuple[Job, JobStatus, Any, bool]


def take(
    queues: str | Sequence[str] | None = None,
    *,
    block: float = 0.0,
    lease: float | None = None,
    count: int | None = None,
    reports: Sequence[Reported] = (),
) -> Call[Any]:
    """POST /want_job; with `count`, the answer is a list (maybe empty) instead of a job.

    `reports` (job, status, result[, retry]) ride along and are applied before the take
    (report and take in one request); a refused one raises its error and nothing
    is taken.
    """
    if isinstance(queues, str):
        queues = [queues]
    headers = {}
    if block > 0:
        headers["x-accepted-block-for"] = _seconds(block)
    if lease is not None:
        headers["x-accepted-timeout"] = _seconds(lease)
    read: Callable[[Answer], Any] = read_taken
    if count is not None:
        headers["x-accepted-count"] = str(int(count))
        read = read_jobs(200)
    query = tuple(("queue", q) for q in queues or ())
    body = None
    if reports:
        headers["content-type"] = "application/json"
        body = _encoder.encode({"report": [_report_item(*report) for report in reports]})
    return Call(
        "POST",
        "/want_job",
        read,
        headers,
        query,
        body=body,
        hold=max(block, 0.0),
        retry=Retry.NEVER,
    )


def _report_item(job: Job, status: JobStatus, result: Any, retry: bool = True) -> dict[str, Any]:
    """One report of PUT /jobs or of a take, carrying the job's lease."""
    item: dict[str, Any] = {"id": job.id, "status": status.value, "result": result}
    if job.lease is not None:
        item["lease"] = job.lease
    if not retry:
        item["retry"] = False
    return item


def report(
    job: Job,
    status: JobStatus,
    result: Any = None,
    *,
    lease: float | None = None,
    retry: bool = True,
) -> Call[Job]:
    """PUT /jobs/<id>, carrying the job's lease token so a stale twin is refused (409).

    `retry=False` with a failure fails the job for good, whatever retries it has left.
    """
    headers = {"content-type": "application/json"}
    if job.lease is not None:
        headers["x-accepted-lease"] = job.lease
    if lease is not None:
        headers["x-accepted-timeout"] = _seconds(lease)
    fields: dict[str, Any] = {"status": status.value, "result": result}
    if not retry:
        fields["retry"] = False
    body = _encoder.encode(fields)
    read = _keep_lease(job.lease) if status is JobStatus.RUNNING else read_job(200)
    return Call("PUT", _job_path(job.id), read, headers, body=body)


def report_many(
    reports: Iterable[Reported],
) -> Call[list[Job | AcceptedError]]:
    """PUT /jobs: several reports (each with its job's lease) in one request.

    Each report succeeds or fails on its own; the answer lists, in order, the
    job as it now is or the error that report met (not raised).
    """
    body = _encoder.encode([_report_item(*report) for report in reports])
    headers = {"content-type": "application/json"}
    return Call("PUT", "/jobs", _read_outcomes, headers, body=body)


def _read_outcomes(answer: Answer) -> list[Job | AcceptedError]:
    _check(answer, 200)
    outcomes = _decode(_outcomes_decoder, answer)
    return [
        o.job if o.job is not None else _error_for(o.error or _ErrorBody("error", ""), o.status)
        for o in outcomes
    ]


def _keep_lease(lease: str | None) -> Callable[[Answer], Job]:
    """A heartbeat's answer omits the lease token; the job is still ours, so keep it on."""

    def read(answer: Answer) -> Job:
        return msgspec.structs.replace(read_job(200)(answer), lease=lease)

    return read


def delete(job_id: str) -> Call[Job]:
    return Call("DELETE", _job_path(job_id), read_job(200))


# -- retries (cancel, retry, attempt history) ---------------------------------------


def cancel(job_id: str) -> Call[Job]:
    """POST /jobs/<id>/cancel. Sent again only if surely unsent: a second one is a 409."""
    return Call("POST", _job_path(job_id) + "/cancel", read_job(200))


def retry(job_id: str) -> Call[Job]:
    """POST /jobs/<id>/retry."""
    return Call("POST", _job_path(job_id) + "/retry", read_job(200))


def attempts(job_id: str) -> Call[list[Attempt]]:
    """GET /jobs/<id>/attempts: the job's hand-outs, oldest first."""

    def read(answer: Answer) -> list[Attempt]:
        _check(answer, 200)
        return _decode(_attempts_decoder, answer).attempts

    return Call("GET", _job_path(job_id) + "/attempts", read, retry=Retry.ALWAYS)


_attempts_decoder = msgspec.json.Decoder(Attempts)


# -- waiting -----------------------------------------------------------------


@dataclass(slots=True)
class WaitPlan:
    """`wait()`'s schedule: GETs of at most WAIT_CHUNK seconds until final or out of time.

    Times come from the caller's monotonic clock.
    """

    timeout: float | None
    started: float

    def remaining(self, now: float) -> float | None:
        if self.timeout is None:
            return None
        return max(self.timeout - (now - self.started), 0.0)

    def next_wait(self, now: float) -> float:
        left = self.remaining(now)
        return WAIT_CHUNK if left is None else min(left, WAIT_CHUNK)

    def expired(self, now: float) -> bool:
        left = self.remaining(now)
        return left is not None and left <= 0

    @staticmethod
    def pause(asked: float, took: float) -> float:
        """Seconds to pause when the server let go long before asked (it is stopping).

        Without it a stopping server, which answers waits at once, would be
        asked again and again in a tight loop.
        """
        return 0.5 if asked >= 1.0 and took < asked / 2 else 0.0


def raw(call: Call[Any]) -> Call[bytes]:
    """`call`, answering the body exactly as the server sent it (the CLI's --json)."""

    def read(answer: Answer) -> bytes:
        call.read(answer)  # the same checks, errors included
        return answer.content

    return Call(
        call.method, call.path, read, call.headers, call.query, call.body, call.hold, call.retry
    )
