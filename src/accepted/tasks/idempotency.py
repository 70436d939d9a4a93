"""Removes Idempotency-Keys whose window has passed.

Lookups already ignore an expired key, so when this runs only bounds the
table's size: it sleeps until the next expiry, or at most a minute.
"""

from __future__ import annotations

from typing import Any

from accepted.service.alarm import Alarm
from accepted.service.idempotency import Idempotency
from accepted.tasks.base import Task

LONGEST_SLEEP = 60.0


class KeyPurger(Task):
    name = "idempotency-keys"

    def __init__(self, idempotency: Idempotency, **kwargs: Any) -> None:
        super().__init__(Alarm(), max_sleep=LONGEST_SLEEP, **kwargs)
        self.idempotency = idempotency

    async def run_once(self, now: float) -> float | None:
        return await self.idempotency.purge(now)
