"""Idempotent enqueue: a producer that retries a POST it never saw answered gets
the job its first try made, not a second job.

A key belongs to a scope (the caller's token; one scope while auth is off) and
holds for a window (a setting, 24 h by default). It is stored with the job, in
the same transaction, so it holds across restarts and across every node. The
request is remembered by a fingerprint of everything that shapes the job, so
reusing a key for a different job is caught instead of silently answered with
the first one.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence

import msgspec

from accepted.service.jobs import JobService, NewJob
from accepted.store import idempotency_rows
from accepted.store.base import IdempotencyKey, Placed

GLOBAL_SCOPE = ""  # every caller's scope while auth is off
PURGE_BATCH = 500


def fingerprint(new: NewJob) -> str:
    """A hash of the request: queue, params (as JSON values, key order aside) and options."""
    fields = {f.name: getattr(new, f.name) for f in dataclasses.fields(new)}
    fields["params"] = msgspec.json.decode(new.params)
    return hashlib.sha256(msgspec.json.encode(fields, order="sorted")).hexdigest()


class Idempotency:
    def __init__(self, jobs: JobService, *, window: float) -> None:
        self.jobs = jobs
        self.store = jobs.store
        self.window = window
        # Keys whose request this node is handling now: a second one is refused
        # at once rather than queued behind the first (another node's are
        # refused by the store).
        self._in_flight: set[tuple[str, str]] = set()

    async def enqueue(
        self, batch: Sequence[NewJob], keys: Sequence[str | None], scope: str, now: float
    ) -> list[Placed]:
        """Each job, and whether it is new, a replay of an earlier request with its key,
        or a duplicate of a job holding its unique key (`JobService.enqueue_once`)."""
        stored = [
            None if key is None else IdempotencyKey(scope, key, fingerprint(new), now + self.window)
            for new, key in zip(batch, keys, strict=True)
        ]
        held = {(k.scope, k.key): k for k in stored if k is not None}
        for name, key in held.items():
            if name in self._in_flight:
                raise idempotency_rows.in_use(key)
        self._in_flight.update(held)
        try:
            return await self.jobs.enqueue_once(batch, stored, now)
        finally:
            self._in_flight.difference_update(held)

    async def purge(self, now: float) -> float | None:
        """Remove one batch of expired keys; when to look again."""
        if await self.store.purge_idempotency_keys(now, PURGE_BATCH) >= PURGE_BATCH:
            return now
        return await self.store.next_idempotency_expiry()
