"""accepted: a job-queue server with a plain HTTP interface, and its Python client.

`accepted.Client` / `accepted.AsyncClient` talk to a server; the exceptions they
raise are exported here too. `accepted.Job` is the server's stored job; the
client's view of a job is `accepted.client.Job`.
"""

from __future__ import annotations

from accepted.client import (
    AsyncClient,
    Client,
    ClientError,
    NewJob,
    RequestTimeout,
    ServerError,
    TransportError,
    UnexpectedResponse,
    WaitTimeout,
)
from accepted.errors import (
    AcceptedError,
    Conflict,
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
from accepted.types import CallbackState, Job, JobStatus

__all__ = [
    "AcceptedError",
    "AsyncClient",
    "CallbackState",
    "Client",
    "ClientError",
    "Conflict",
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
]

__version__ = "0.1.0"
