"""Whether the store can take writes now, for `/healthz`.

A server whose disk is full, or whose database went read-only, still answers
reads, so "the process is up" says nothing a load balancer can use. The check
is a real write made durable (the store's `check_writes`; SQLite's also
counts a disk with almost no room as full), so it fails when enqueues and
reports would. Its answer is kept for `TTL` seconds and one
probe serves every health check that arrives meanwhile: a health check every
second from each of several balancers costs at most one tiny commit a second.
"""

from __future__ import annotations

import asyncio

from accepted.errors import StoreUnavailable
from accepted.store.base import JobStore

TTL = 1.0
# Longest a write probe may take before health says the store cannot take writes.
PROBE_TIMEOUT = 5.0


class WriteHealth:
    def __init__(self, store: JobStore, *, ttl: float = TTL) -> None:
        self.store = store
        self.ttl = ttl
        self._checked_at = -float("inf")
        self._error: StoreUnavailable | None = None
        self._probe: asyncio.Future[None] | None = None

    async def check(self, now: float) -> None:
        """Return if writes worked at most `ttl` seconds ago; else raise why they did not."""
        if now - self._checked_at >= self.ttl:
            if self._probe is None:
                self._probe = asyncio.ensure_future(self._run_probe(now))
            await asyncio.shield(self._probe)
        if self._error is not None:
            raise self._error

    async def _run_probe(self, now: float) -> None:
        try:
            # A stalled disk or an exhausted pool must make /healthz say 503, not hang.
            async with asyncio.timeout(PROBE_TIMEOUT):
                await self.store.check_writes()
            self._error = None
        except StoreUnavailable as exc:
            self._error = exc
        except TimeoutError:
            self._error = StoreUnavailable(
                f"a test write did not finish within {PROBE_TIMEOUT:g} s"
            )
        finally:
            self._checked_at = now
            self._probe = None
