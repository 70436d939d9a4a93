"""The Python client of accepted: `Client` (blocking) and `AsyncClient` (asyncio).

    with accepted.Client("http://127.0.0.1:8000") as client:
        job = client.enqueue("emails", {"to": "ada@example.com"})
        done = client.wait(job.id, timeout=60)

Both share one core (`accepted.client.core`) that builds every request and
reads every answer; errors are the server's own classes (`accepted.errors`)
plus the few only a client meets (`accepted.client.errors`).
"""

from __future__ import annotations

from accepted.client.asynchronous import AsyncClient
from accepted.client.errors import (
    ClientError,
    RequestTimeout,
    ServerError,
    TransportError,
    UnexpectedResponse,
    WaitTimeout,
)
from accepted.client.models import (
    Attempt,
    AttemptOutcome,
    BulkOutcome,
    Callback,
    Job,
    JobPage,
    JobStatus,
    Limits,
    NewJob,
    Queue,
    Rate,
)
from accepted.client.schedules import Schedule
from accepted.client.sync import Client

__all__ = [
    "AsyncClient",
    "Attempt",
    "AttemptOutcome",
    "BulkOutcome",
    "Callback",
    "Client",
    "ClientError",
    "Job",
    "JobPage",
    "JobStatus",
    "Limits",
    "NewJob",
    "Queue",
    "Rate",
    "RequestTimeout",
    "Schedule",
    "ServerError",
    "TransportError",
    "UnexpectedResponse",
    "WaitTimeout",
]
