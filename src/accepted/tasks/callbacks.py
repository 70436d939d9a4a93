"""Delivers completion callbacks: POST the job JSON to its callback URL.

Deliveries run outside the request that finished the job. The pending
delivery was recorded in the same transaction as the job becoming final, so
it survives a crash; each round holds the due callbacks for a while (hidden
from other nodes), POSTs them concurrently, and records each outcome, retrying
with exponential backoff and jitter until a 2xx answer or the retry limit.
Receivers get `X-Accepted-Job-Id` to drop duplicates: delivery is at least once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httpx

from accepted import signatures
from accepted.errors import JobNotFound
from accepted.service.maintenance import Maintenance
from accepted.tasks.base import Task
from accepted.types import Job

log = logging.getLogger("accepted.callbacks")

MAX_IN_FLIGHT = 100


class CallbackSender(Task):
    name = "callbacks"

    def __init__(
        self,
        maintenance: Maintenance,
        render: Callable[[Job], bytes],
        *,
        timeout: float,
        secret: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.maintenance = maintenance
        self.render = render
        self.timeout = timeout
        self.secret = secret or None
        self._client: httpx.AsyncClient | None = None
        self._in_flight: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Open the HTTP client up front, so the first callback is not slowed by it."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)

    async def run_once(self, now: float) -> float | None:
        # Held long enough for a slow receiver to answer before another node retries.
        # Take no more than there are free delivery slots: a callback held while
        # it waits for a slot could see its hold run out and be sent twice.
        free = MAX_IN_FLIGHT - len(self._in_flight)
        if free <= 0:
            return None  # every slot busy: a finishing delivery pokes the alarm
        jobs = await self.maintenance.hold_due_callbacks(now, self.timeout * 2 + 5, free)
        for job in jobs:
            delivery = asyncio.create_task(self._deliver(job))
            self._in_flight.add(delivery)
            delivery.add_done_callback(self._delivered)
        return await self.maintenance.next_callback_due()

    def _delivered(self, delivery: asyncio.Task[None]) -> None:
        self._in_flight.discard(delivery)
        if len(self._in_flight) == MAX_IN_FLIGHT - 1:
            self.alarm.poke(0.0)  # a slot came free: due callbacks may be waiting for it

    async def _deliver(self, job: Job) -> None:
        assert job.callback_url is not None
        error = await self._post(job.callback_url, job)
        try:
            await self.maintenance.callback_outcome(job.id, error, self.clock())
        except JobNotFound:
            pass  # deleted or purged meanwhile: nobody left to tell
        except Exception:
            log.exception("recording the callback outcome of job %s failed", job.id)

    async def _post(self, url: str, job: Job) -> str | None:
        """One attempt; None on a 2xx answer, else what went wrong."""
        await self.start()
        assert self._client is not None
        body = self.render(job)
        headers = {
            "content-type": "application/json",
            "x-accepted-job-id": job.id,
            "x-accepted-delivery-attempt": str(job.callback_attempts + 1),
        }
        if self.secret is not None:
            # Signed at send time, not enqueue time: a retry gets a fresh timestamp.
            headers["accepted-signature"] = signatures.sign(self.secret, int(self.clock()), body)
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    async def close(self) -> None:
        for delivery in list(self._in_flight):
            delivery.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
