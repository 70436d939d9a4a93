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
import ssl
from collections.abc import Callable
from typing import Any

import httpx

from accepted import signatures
from accepted.errors import JobNotFound
from accepted.service.destinations import Destinations
from accepted.service.maintenance import Maintenance
from accepted.tasks.base import Task
from accepted.tasks.callback_targets import (
    Refused,
    Resolve,
    Target,
    system_resolve,
    targets,
)
from accepted.types import Job

log = logging.getLogger("accepted.callbacks")

MAX_IN_FLIGHT = 100
CONNECTION_FAILED = "connection failed"


class CallbackSender(Task):
    name = "callbacks"

    def __init__(
        self,
        maintenance: Maintenance,
        render: Callable[[Job], bytes],
        *,
        timeout: float,
        secret: str | None = None,
        destinations: Destinations | None = None,
        resolve: Resolve = system_resolve,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.maintenance = maintenance
        self.render = render
        self.timeout = timeout
        self.secret = secret or None
        self.destinations = destinations or Destinations()
        self.resolve = resolve
        self._tls = ssl.create_default_context()  # built once: costly, and shared
        self._client: httpx.AsyncClient | None = None
        self._in_flight: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Open the HTTP client up front, so the first callback is not slowed by it."""
        if self._client is None:
            self._client = self._new_client()

    def _new_client(self) -> httpx.AsyncClient:
        # No proxies from the environment: a proxy would connect to the name
        # itself, around the address we checked. Redirects are never followed.
        return httpx.AsyncClient(
            timeout=self.timeout, verify=self._tls, trust_env=False, follow_redirects=False
        )

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
        try:
            outcome = await self._attempt(job.callback_url, job)
        except Exception:
            # Counted as a failed attempt, so a delivery that always trips on a
            # bug is given up in the end instead of being held and retried forever.
            log.exception("callback delivery of job %s failed unexpectedly", job.id)
            outcome = "internal error; see the server log"
        try:
            if isinstance(outcome, Refused):
                await self.maintenance.callback_refused(job.id, outcome.reason)
            else:
                await self.maintenance.callback_outcome(job.id, outcome, self.clock())
        except JobNotFound:
            pass  # deleted or purged meanwhile: nobody left to tell
        except Exception:
            log.exception("recording the callback outcome of job %s failed", job.id)

    async def _attempt(self, url: str, job: Job) -> str | Refused | None:
        """One attempt: None on a 2xx answer, a Refused, or what went wrong.

        What went wrong never tells a refused connection from one that timed
        out, so last_error cannot be used to probe which ports are open.
        """
        try:
            found = await targets(url, self.destinations, self.resolve)
        except (OSError, UnicodeError):
            return "the host name did not resolve"
        except httpx.InvalidURL:
            return "the callback URL cannot be sent"  # stored before URLs were checked
        if isinstance(found, Refused):
            return found
        body = self.render(job)
        headers = self._headers(job, body)
        try:
            # The whole attempt, every address included, ends within the hold.
            async with asyncio.timeout(self.timeout * 2):
                for target in found:
                    try:
                        return await self._post(target, body, headers)
                    except httpx.ConnectError:
                        continue  # the next allowed address, if any
        except (httpx.HTTPError, TimeoutError):
            pass
        return CONNECTION_FAILED

    def _headers(self, job: Job, body: bytes) -> dict[str, str]:
        headers = {
            "content-type": "application/json",
            "x-accepted-job-id": job.id,
            "x-accepted-delivery-attempt": str(job.callback_attempts + 1),
        }
        if self.secret is not None:
            # Signed at send time, not enqueue time: a retry gets a fresh timestamp.
            headers["accepted-signature"] = signatures.sign(self.secret, int(self.clock()), body)
        return headers

    async def _post(self, target: Target, body: bytes, headers: dict[str, str]) -> str | None:
        """POST to one pinned address; the answer's body is never read."""
        await self.start()
        assert self._client is not None
        # TLS to a name: a client of its own, so no pooled connection made for
        # another name on the same address (another certificate) is reused.
        own = self._new_client() if target.extensions else None
        client = own or self._client
        try:
            request = client.build_request(
                "POST",
                target.url,
                content=body,
                headers={**headers, **target.headers},
                extensions=dict(target.extensions),
            )
            response = await client.send(request, stream=True)
            await response.aclose()
        finally:
            if own is not None:
                await own.aclose()
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    async def close(self) -> None:
        for delivery in list(self._in_flight):
            delivery.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
