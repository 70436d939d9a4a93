"""accepted: a job-queue server with a plain HTTP interface, and its Python client.

`accepted.Client` / `accepted.AsyncClient` talk to a server; the exceptions they
raise are exported here too. `accepted.Job` is a job as the client returns it;
the server's stored record is `accepted.types.Job`.
"""

from __future__ import annotations

from accepted.client import (
    AsyncClient,
    Client,
    ClientError,
    Job,
    NewJob,
    RequestTimeout,
    ServerError,
    TransportError,
    UnexpectedResponse,
    WaitTimeout,
)
from accepted.errors import (
    AcceptedError,
    CallbackURLRefused,
    Conflict,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidField,
    InvalidHeader,
    InvalidQuery,
    InvalidRequest,
    JobNotFound,
    JobTimedOut,
    LeaseMismatch,
    MalformedJSON,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ShuttingDown,
    StoreUnavailable,
)
from accepted.signatures import verify_signature
from accepted.types import CallbackState, JobStatus

__all__ = [
    "AcceptedError",
    "AsyncClient",
    "CallbackState",
    "CallbackURLRefused",
    "Client",
    "ClientError",
    "Conflict",
    "IdempotencyKeyInUse",
    "IdempotencyKeyReused",
    "InvalidField",
    "InvalidHeader",
    "InvalidQuery",
    "InvalidRequest",
    "Job",
    "JobNotFound",
    "JobStatus",
    "JobTimedOut",
    "LeaseMismatch",
    "MalformedJSON",
    "MethodNotAllowed",
    "NewJob",
    "NotFound",
    "PayloadTooLarge",
    "RequestTimeout",
    "ServerError",
    "ShuttingDown",
    "StoreUnavailable",
    "TransportError",
    "UnexpectedResponse",
    "WaitTimeout",
    "__version__",
    "verify_signature",
]

__version__ = "0.1.0"
