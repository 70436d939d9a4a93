"""One exception root for everything a client can cause or be told.

Each class carries a stable machine `code` and the HTTP status it maps to, so
the HTTP layer renders any of them with one handler and the table below is the
whole error vocabulary of the wire.
"""

from __future__ import annotations


class AcceptedError(Exception):
    """Root of every domain error; `message` names the field or header at fault."""

    code = "error"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(AcceptedError):
    code = "invalid_request"
    status = 400


class MalformedJSON(InvalidRequest):
    code = "malformed_json"


class InvalidField(InvalidRequest):
    code = "invalid_field"


class InvalidHeader(InvalidRequest):
    code = "invalid_header"


class InvalidQuery(InvalidRequest):
    code = "invalid_query"


class CallbackURLRefused(InvalidRequest):
    """A callback URL whose host is an address callbacks may not go to."""

    code = "callback_url_refused"


class NotFound(AcceptedError):
    code = "not_found"
    status = 404


class JobNotFound(NotFound):
    code = "job_not_found"


class QueueNotFound(NotFound):
    code = "queue_not_found"


class MethodNotAllowed(AcceptedError):
    code = "method_not_allowed"
    status = 405

    def __init__(self, message: str, allow: tuple[str, ...]) -> None:
        super().__init__(message)
        self.allow = allow


class Conflict(AcceptedError):
    """An illegal transition: the job is not in a state that allows the request."""

    code = "conflict"
    status = 409


class LeaseMismatch(Conflict):
    code = "lease_mismatch"


class JobTimedOut(Conflict):
    code = "job_timed_out"


class IdempotencyKeyInUse(Conflict):
    """The Idempotency-Key's first request is still being handled; try again shortly."""

    code = "idempotency_key_in_use"


class IdempotencyKeyReused(AcceptedError):
    """The Idempotency-Key was used before for a different request."""

    code = "idempotency_key_reused"
    status = 422


class PayloadTooLarge(AcceptedError):
    code = "payload_too_large"
    status = 413


class StoreUnavailable(AcceptedError):
    """The database could not be reached or refused the write; nothing was acknowledged."""

    code = "store_unavailable"
    status = 503


class ShuttingDown(AcceptedError):
    code = "shutting_down"
    status = 503


class MalformedRequest(InvalidRequest):
    """What the HTTP parser refused: a bad request line, a control character in a header, ..."""

    code = "malformed_request"


class RequestTimeout(AcceptedError):
    code = "request_timeout"
    status = 408


class HeadersTooLarge(AcceptedError):
    code = "headers_too_large"
    status = 431


class Unauthorized(AcceptedError):
    """No token, or one the server does not know (any more): answered with WWW-Authenticate."""

    code = "unauthorized"
    status = 401


class Forbidden(AcceptedError):
    """A known token whose role or queues do not allow the request."""

    code = "forbidden"
    status = 403


class TokenNotFound(NotFound):
    code = "token_not_found"


class TokenExists(Conflict):
    code = "token_exists"


class LeaseRequired(AcceptedError):
    """`--require-lease`: a report on a running job must name its lease."""

    code = "lease_required"
    status = 428


# -- schedules ----------------------------------------------------------------


class ScheduleNotFound(NotFound):
    code = "schedule_not_found"


# -- unique jobs and dependencies (flow-deps) --


class UnknownDependency(InvalidRequest):
    """An `after` id names no job. `index` is the batch item (0 for a single job)."""

    code = "unknown_dependency"

    def __init__(self, message: str, *, index: int = 0, dependency: str = "") -> None:
        super().__init__(message)
        self.index = index
        self.dependency = dependency


class UniqueKeyHeld(Conflict):
    """A change would give a second job of a queue the unique key a job not final holds."""

    code = "unique_key_held"
