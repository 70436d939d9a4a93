"""What every handler is given: the services and settings `create_app` wires up once.

A module of its own so that the route table, the handlers of each resource and
the generated documents can all name it without importing one another.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from accepted.config import Settings
from accepted.metrics_share import NodeMetrics
from accepted.service.auth import AuthService
from accepted.service.idempotency import Idempotency
from accepted.service.jobs import JobService
from accepted.service.queues import QueueService
from accepted.service.schedules import ScheduleService
from accepted.service.selection import SelectionService


class Documents(Protocol):
    """The API's own documents, as served (openapi.ApiDocuments)."""

    @property
    def openapi_bytes(self) -> bytes: ...

    @property
    def docs_bytes(self) -> bytes: ...


@dataclass(slots=True)
class Context:
    """What handlers share: built once by `create_app`."""

    service: JobService
    settings: Settings
    clock: Callable[[], float] = time.time
    ready: bool = False
    stopping: bool = False
    extras: dict[str, object] = field(default_factory=dict)
    queues: QueueService | None = None  # set by create_app
    idempotency: Idempotency | None = None  # Idempotency-Key enqueues; set by create_app
    selection: SelectionService | None = None  # set by create_app
    auth: AuthService | None = None  # token management (also with auth off)
    documents: Documents | None = None  # /openapi.json and /docs; set by create_app
    schedules: ScheduleService | None = None  # set by create_app
    # -- issue 11: a several-process server's counters, summed over its processes
    node_metrics: NodeMetrics | None = None

    def keys(self) -> Idempotency:
        assert self.idempotency is not None, "create_app sets the idempotency service"
        return self.idempotency
