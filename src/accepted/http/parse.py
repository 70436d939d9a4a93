"""Turning headers, query parameters and bodies into checked values.

Every failure raises an `InvalidRequest` subclass whose message names the
header, parameter or field at fault, so a client can fix its request from the
error alone.
"""

from __future__ import annotations

import math
import re
from functools import cache
from typing import Annotated, Any, TypeVar, cast
from urllib.parse import urlsplit

import msgspec

from accepted.errors import (
    InvalidField,
    InvalidHeader,
    InvalidQuery,
    InvalidRequest,
    MalformedJSON,
)
from accepted.http import params as p
from accepted.http.params import (
    MAX_INT,
    MAX_QUEUE_NAME,
    MAX_SECONDS,
    MAX_URL,
    Param,
)
from accepted.http.request import Request
from accepted.types import JSON_EMPTY_OBJECT, JSON_NULL, JobStatus

# Most distinct queues one want_job may name (SPEC: "more than 100 queues: 400").
MAX_QUEUES = 100
# Numbers as JSON writes them (ASCII digits, optional fraction and exponent):
# Python's float() and int() would also take "1_0", "nan" and other scripts' digits.
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|-?\.[0-9]+")
_INTEGER = re.compile(r"-?[0-9]+")
# How much of a refused value an error message quotes.
SHOWN = 64


REPORT_STATUSES = (JobStatus.DONE, JobStatus.FAILED, JobStatus.RUNNING, JobStatus.QUEUED)
# What a want_job may report on the job it just finished (a heartbeat there makes no sense).
TAKE_REPORT_STATUSES = (JobStatus.DONE, JobStatus.FAILED, JobStatus.QUEUED)

Queue = Annotated[str, p.QUEUE_FIELD]
ReportStatus = Annotated[
    str,
    msgspec.Meta(
        description="done/failed: final with the result; running: heartbeat, the lease "
        "starts afresh; queued: give the job back",
        extra_json_schema={"enum": [s.value for s in REPORT_STATUSES]},
    ),
]


def _json(default: msgspec.Raw) -> Any:
    """A JSON-valued field's default, as a factory: msgspec's schema generator cannot
    write a Raw default (the description says it instead)."""
    return msgspec.field(default_factory=lambda: default)


class EnqueueBody(msgspec.Struct):
    """One job. Unknown fields are ignored."""

    queue: Queue
    params: Annotated[msgspec.Raw, msgspec.Meta(description="any JSON value; default {}")] = _json(
        JSON_EMPTY_OBJECT
    )


class BatchItem(msgspec.Struct, forbid_unknown_fields=True):
    """One job of a batch enqueue: the body of a single POST plus its header values.

    Absent fields take the value of the matching X-Accepted-* header, else the
    server default. Unknown fields are refused."""

    queue: Queue
    params: Annotated[msgspec.Raw, msgspec.Meta(description="any JSON value; default {}")] = _json(
        JSON_EMPTY_OBJECT
    )
    priority: Annotated[int, p.PRIORITY.meta] | None = None
    delay: Annotated[float, p.DELAY.meta] | None = None
    result_ttl: Annotated[float, p.RESULT_TTL.meta] | None = None
    callback_url: Annotated[str, p.CALLBACK_URL.meta] | None = None
    job_timeout: Annotated[float, p.JOB_TIMEOUT.meta] | None = None
    max_attempts: Annotated[int, p.MAX_ATTEMPTS.meta] | None = None
    retries: Annotated[int, p.RETRIES.meta] | None = None
    retry_backoff: Annotated[float, p.RETRY_BACKOFF.meta] | None = None
    idempotency_key: Annotated[str, p.IDEMPOTENCY_KEY.meta] | None = None
    # -- unique jobs and dependencies (flow-deps) --
    unique_key: Annotated[str, p.UNIQUE_KEY.meta] | None = None
    # -- fairness groups (flow-limits) --
    group: Annotated[str, p.GROUP.meta] | None = None
    after: (
        Annotated[
            list[str],
            msgspec.Meta(
                max_length=p.MAX_AFTER,
                description='job ids this one waits for, or "$N" for item N (an earlier '
                "one) of this batch: as X-Accepted-After",
            ),
        ]
        | None
    ) = None


class BatchReportItem(msgspec.Struct, forbid_unknown_fields=True):
    """One report of a batch PUT /jobs. Unknown fields are refused."""

    id: Annotated[str, msgspec.Meta(description="the job id")]
    status: ReportStatus
    result: Annotated[msgspec.Raw, msgspec.Meta(description="any JSON value; default null")] = (
        _json(JSON_NULL)
    )
    lease: Annotated[str, p.LEASE.meta] | None = None
    timeout: Annotated[float, p.HEARTBEAT_TIMEOUT.meta] | None = None
    retry: Annotated[bool, msgspec.Meta(description="false: fail for good")] = True


TakeReportStatus = Annotated[
    str,
    msgspec.Meta(
        description="done/failed: final with the result; queued: give the job back",
        extra_json_schema={"enum": [s.value for s in TAKE_REPORT_STATUSES]},
    ),
]


class TakeReport(msgspec.Struct, forbid_unknown_fields=True):
    """A report on a finished job, carried by the worker's next POST /want_job.

    Applied exactly as PUT /jobs/{id} would apply it, before anything is taken.
    Unknown fields are refused."""

    id: Annotated[str, msgspec.Meta(description="the job id")]
    status: TakeReportStatus
    result: Annotated[msgspec.Raw, msgspec.Meta(description="any JSON value; default null")] = (
        _json(JSON_NULL)
    )
    lease: Annotated[str, p.LEASE.meta] | None = None
    retry: Annotated[bool, msgspec.Meta(description="false: fail for good")] = True


TakeReports = Annotated[list[TakeReport], msgspec.Meta(min_length=1, max_length=1000)]


class WantJobBody(msgspec.Struct):
    report: (
        Annotated[
            TakeReport | TakeReports,
            msgspec.Meta(
                description="report and take in one request: the worker's report(s) on the "
                "job(s) it finished, applied first as PUT would; a refused one is the answer "
                "and nothing is taken"
            ),
        ]
        | None
    ) = None
    queues: (
        Annotated[
            list[Queue],
            msgspec.Meta(
                description="queues to take from, added to any ?queue=; null or [] (with no "
                "?queue=) means any queue"
            ),
        ]
        | None
    ) = None


class ReportBody(msgspec.Struct):
    status: ReportStatus
    result: Annotated[
        msgspec.Raw,
        msgspec.Meta(description="any JSON value; default null; kept only for done and failed"),
    ] = _json(JSON_NULL)
    retry: Annotated[
        bool,
        msgspec.Meta(description="false: a failure for good, whatever retries the job has left"),
    ] = True


_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {
    t: msgspec.json.Decoder(t)
    for t in (EnqueueBody, WantJobBody, ReportBody, list[BatchItem], list[BatchReportItem])
}


def _decoder(kind: Any) -> msgspec.json.Decoder[Any]:
    """The decoder of `kind`, made once (bodies of other modules' types too)."""
    found = _DECODERS.get(kind)
    if found is None:
        found = _DECODERS[kind] = msgspec.json.Decoder(kind)
    return found


def decode(body: bytes, kind: Any) -> Any:
    """Decode a JSON body into `kind` (a Struct, or a list of one) with errors a client can use."""
    try:
        value = _decoder(kind).decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidField(f"request body: {_field_message(exc)}") from None
    except msgspec.DecodeError as exc:
        raise MalformedJSON(f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise MalformedJSON("request body is nested too deeply") from None
    return value


def _field_message(exc: msgspec.ValidationError) -> str:
    # msgspec says e.g. "Expected `str`, got `int` - at `$.queue`"; keep it, it names the field.
    text = str(exc)
    if text.startswith("Expected `object`") and text.endswith("`$`"):
        return "must be a JSON object"
    if text.startswith("Expected `array`") and text.endswith("`$`"):
        return "must be a JSON array"
    return text


def is_array(body: bytes) -> bool:
    """Whether a body is a JSON array (a batch) rather than an object."""
    return body.lstrip()[:1] == b"["


def queue_name(value: str, where: str) -> str:
    if not value:
        raise InvalidField(f"{where} must be a non-empty string")
    if len(value) > MAX_QUEUE_NAME:
        raise InvalidField(f"{where} is longer than {MAX_QUEUE_NAME} characters")
    if not value.isprintable():
        raise InvalidField(f"{where} {value!r} has a control character")
    return value


T = TypeVar("T", int, float, str)


def read(request: Request, param: Param[T]) -> T | None:
    """A declared header (or its query alias) or query parameter, checked; None if absent.

    The checks are the declaration's own (params.py), so the range a request
    is held to is the range /openapi.json states.
    """
    if param.where == "query":
        values = request.query(param.name)
        raw = values[-1] if values else None
        where = f"query parameter {param.name!r}"
    else:
        raw, where = _raw(request, param.key, param.alias)
    if raw is None:
        return None
    return check(param, _convert(raw, param.kind, where), where, sent=raw)


def read_all(request: Request, param: Param[T]) -> list[T]:
    """Every value of a repeated query parameter (`?queue=a&queue=b`), each checked."""
    where = f"query parameter {param.name!r}"
    values = request.query(param.name)
    return [check(param, _convert(raw, param.kind, where), where, sent=raw) for raw in values]


def check(param: Param[T], value: object, where: str, *, sent: str | None = None) -> T:
    """`value` (from a header, a query parameter or a body field) within `param`'s declaration.

    `sent` is the text a header or query parameter came as: a refusal quotes
    that, not the number it was read as (`-1`, not `-1.0`).
    """
    checked: object
    if param.kind is str:
        checked = _check_str(param, str(value), where)
    elif param.kind is int:
        assert isinstance(value, int)
        high = MAX_INT if param.maximum is None else int(param.maximum)
        low = -MAX_INT - 1 if param.minimum is None else int(param.minimum)
        checked = check_int(value, where, low, high, sent=sent)
    else:
        assert isinstance(value, int | float)
        checked = _check_number(param, value, where, sent)
    return cast(T, checked)


def _convert(raw: str, kind: type[Any], where: str) -> Any:
    if kind is int:
        return _integer(raw, where)
    if kind is float:
        return _number(raw, where)
    return raw


def _integer(raw: str, where: str) -> int:
    if not _INTEGER.fullmatch(raw):
        raise _bad(where, f"value {shown(raw)} is not an integer")
    return int(raw)


def _number(raw: str, where: str) -> float:
    if not _NUMBER.fullmatch(raw):
        raise _bad(where, f"value {shown(raw)} is not a number")
    value = float(raw)
    if not math.isfinite(value):
        raise _bad(where, f"value {shown(raw)} is not a finite number")
    return value


def wait(request: Request, param: Param[float], cap: float) -> float | None:
    """A wait in seconds (`param` declares it): any number >= 0, cut to `cap` (max_wait).

    A longer wait than the server grants is not the client's mistake, so it is
    capped, never refused: the client asks again when it answers.
    """
    raw, where = _raw(request, param.key, param.alias)
    if raw is None:
        return None
    value = _number(raw, where)
    if value < 0:
        raise _bad(where, f"value {_as_sent(value, raw)} must be a number >= 0")
    return min(value, cap)


def queue_names(names: list[str]) -> list[str]:
    """The distinct queues of one want_job, at most MAX_QUEUES of them."""
    distinct = list(dict.fromkeys(names))
    if len(distinct) > MAX_QUEUES:
        raise InvalidRequest(
            f"want_job names {len(distinct)} distinct queues; the limit is {MAX_QUEUES}"
        )
    return distinct


def _check_number(param: Param[Any], value: float, where: str, sent: str | None) -> float:
    low = 0.0 if param.minimum is None else param.minimum
    high = math.inf if param.maximum is None else param.maximum
    too_low = value < low or (param.positive and value == low)
    if not math.isfinite(value) or too_low or value > high:
        bound = f"> {_plain(low)}" if param.positive else f">= {_plain(low)}"
        shown_value = _as_sent(value, sent)
        raise _bad(where, f"value {shown_value} must be a number {bound} and <= {_plain(high)}")
    return value


def _plain(number: float) -> str:
    """3153600000.0 as 3153600000: limits read as written."""
    return f"{number:.0f}" if number == int(number) else repr(number)


def _check_str(param: Param[Any], value: str, where: str) -> str:
    if param.enum is not None and value not in param.enum:
        raise _bad(where, f"value {shown(value)} is not one of {', '.join(param.enum)}")
    if param.min_length is not None and len(value) < param.min_length:
        raise _bad(where, _too_short(param.min_length))
    if param.max_length is not None and len(value) > param.max_length:
        raise _bad(where, f"is {len(value)} characters long; the limit is {param.max_length}")
    if param.format == "uri":
        return check_url(value, where)
    return value


def check_seconds(
    value: float, where: str, *, positive: bool = False, sent: str | None = None
) -> float:
    if not math.isfinite(value) or value < 0 or (positive and value == 0) or value > MAX_SECONDS:
        low = "> 0" if positive else ">= 0"
        shown_value = _as_sent(value, sent)
        raise _bad(where, f"value {shown_value} must be a number {low} and <= {MAX_SECONDS:.0f}")
    return value


def check_int(
    value: int, where: str, low: int, high: int | None, *, sent: str | None = None
) -> int:
    high = MAX_INT if high is None else high
    if value < low or value > high:
        raise _bad(where, f"value {_as_sent(value, sent)} must be an integer from {low} to {high}")
    return value


def _as_sent(value: float, sent: str | None) -> str:
    """A refused number as the client wrote it: the header's text when it came in
    one (`-1`, not the `-1.0` it was read as; cut if long), else the value."""
    if sent is None:
        return repr(value)
    return sent if len(sent) <= SHOWN else f"{sent[:SHOWN]}... ({len(sent)} characters)"


def _too_short(min_length: int) -> str:
    return "must not be empty" if min_length == 1 else f"must be at least {min_length} characters"


def check_url(raw: str, where: str) -> str:
    """A callback URL: http(s), a host, no credentials, at most MAX_URL characters.

    Credentials in the URL would be stored and shown in every answer for the
    job; the size bound keeps a URL from growing every answer that carries it.
    """
    if len(raw) > MAX_URL:
        raise _bad(where, f"is {len(raw)} characters long; the limit is {MAX_URL}")
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError on a port that is not one
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad(where, f"{shown(raw)} must be an absolute http:// or https:// URL")
    if not raw.isprintable():
        raise _bad(where, f"{shown(raw)} must be an absolute http:// or https:// URL")
    if "@" in parts.netloc:
        raise _bad(where, "must not carry a user name or password")
    return raw


def shown(raw: str) -> str:
    """A refused value as an error message quotes it: whole if short, else its start."""
    if len(raw) <= SHOWN:
        return repr(raw)
    return f"{raw[:SHOWN]!r}... ({len(raw)} characters)"


def callback_url(request: Request) -> str | None:
    raw = request.header(b"x-accepted-callback-url")
    return None if raw is None else check_url(raw, "header X-Accepted-Callback-URL")


def report_status(
    value: str, allowed: tuple[JobStatus, ...] = REPORT_STATUSES, where: str = "status"
) -> JobStatus:
    try:
        status = JobStatus(value)
    except ValueError:
        status = None
    if status not in allowed:
        names = ", ".join(s.value for s in allowed)
        raise InvalidField(f"{where} {shown(value)} is not one of {names}")
    assert status is not None
    return status


def _raw(request: Request, header: bytes, alias: str | None) -> tuple[str | None, str]:
    """The header's value, else the query alias's; and a name for messages.

    A header sent empty (or only spaces) is refused here, for every declared
    header alike: read as absent it would silently mean "none", and read as a
    value it means something the sender did not write (an empty lease matches
    no job's lease: a 409 that hides the mistake).
    """
    name = _display(header)
    value = request.header(header)
    if value is not None:
        if not value:
            raise InvalidHeader(f"header {name} is empty; to mean none, leave it out")
        return value, f"header {name}"
    if alias is not None:
        values = request.query(alias)
        if values:
            return values[-1], f"query parameter {alias!r} ({name})"
    return None, name


_ACRONYMS = {"ttl": "TTL", "url": "URL"}


@cache
def _display(header: bytes) -> str:
    """A header's name as the docs spell it: x-accepted-result-ttl -> X-Accepted-Result-TTL."""
    parts = header.decode().split("-")
    return "-".join(_ACRONYMS.get(part, part.capitalize()) for part in parts)


def _bad(where: str, problem: str) -> InvalidRequest:
    """An error of the kind `where` names: a header, a query parameter or a body field."""
    if where.startswith("header"):
        return InvalidHeader(f"{where} {problem}")
    if where.startswith("query"):
        return InvalidQuery(f"{where} {problem}")
    return InvalidField(f"{where} {problem}")
