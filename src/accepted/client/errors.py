"""The errors a client raises: the server's own vocabulary, plus what only a client sees.

A server answer that carries an error code is raised as the very class the
server raised (`accepted.errors`), so `except JobNotFound` reads the same on
both sides of the wire. What the server never says (it could not be reached,
a wait ran out, an answer made no sense) gets a class of its own here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from accepted.errors import (
    AcceptedError,
    CallbackURLRefused,
    Conflict,
    Forbidden,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidField,
    InvalidHeader,
    InvalidQuery,
    InvalidRequest,
    JobNotFound,
    JobTimedOut,
    LeaseMismatch,
    LeaseRequired,
    MalformedJSON,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    QueueNotFound,
    ScheduleNotFound,
    ShuttingDown,
    StoreUnavailable,
    TokenExists,
    TokenNotFound,
    Unauthorized,
)

if TYPE_CHECKING:
    from accepted.client.models import Job

__all__ = [
    "SERVER_ERRORS",
    "AcceptedError",
    "ClientError",
    "Conflict",
    "Forbidden",
    "InvalidField",
    "InvalidHeader",
    "InvalidQuery",
    "InvalidRequest",
    "JobNotFound",
    "JobTimedOut",
    "LeaseMismatch",
    "LeaseRequired",
    "MalformedJSON",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "QueueNotFound",
    "RequestTimeout",
    "ScheduleNotFound",
    "ServerError",
    "ShuttingDown",
    "StoreUnavailable",
    "TokenExists",
    "TokenNotFound",
    "TransportError",
    "Unauthorized",
    "UnexpectedResponse",
    "WaitTimeout",
]


class ClientError(AcceptedError):
    """Raised by the client itself, not read from a server answer; `status` is 0."""

    code = "client_error"
    status = 0


class TransportError(ClientError):
    """The server could not be reached, or the connection broke (after any retries)."""

    code = "transport_error"


class RequestTimeout(TransportError, TimeoutError):
    """The server did not answer within the client's timeout."""

    code = "request_timeout"


class WaitTimeout(ClientError, TimeoutError):
    """`wait()` ran out before the job became final; `job` is the job as last seen."""

    code = "wait_timeout"

    def __init__(self, message: str, job: Job) -> None:
        super().__init__(message)
        self.job = job


class ServerError(AcceptedError):
    """An error answer the client has no class for (a 5xx, or a code newer than it)."""

    code = "server_error"

    def __init__(self, message: str, status: int, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        if code is not None:
            self.code = code


class UnexpectedResponse(ServerError):
    """A success answer the client could not read (not the JSON it expects)."""

    code = "unexpected_response"


# Every code the server may send, to the class it raised.
SERVER_ERRORS: dict[str, type[AcceptedError]] = {
    cls.code: cls
    for cls in (
        InvalidRequest,
        MalformedJSON,
        InvalidField,
        InvalidHeader,
        InvalidQuery,
        NotFound,
        JobNotFound,
        QueueNotFound,
        MethodNotAllowed,
        Conflict,
        LeaseMismatch,
        JobTimedOut,
        PayloadTooLarge,
        StoreUnavailable,
        ShuttingDown,
        CallbackURLRefused,
        IdempotencyKeyInUse,
        IdempotencyKeyReused,
        Unauthorized,
        Forbidden,
        TokenNotFound,
        TokenExists,
        LeaseRequired,
        # -- schedules --
        ScheduleNotFound,
    )
}

# An unknown code still maps to the family its status names.
BY_STATUS: dict[int, type[AcceptedError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
}
