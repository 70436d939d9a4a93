"""The fairness-group purger: forgets groups whose place in the rotation no longer matters.

Each (queue, priority, group) ever used has a row holding its last job's
rank. Once that rank has fallen behind the queue's head, the row changes no
future rank (a group's next job starts at the head either way), so it is
deleted; a busy queue with many short-lived groups (one per customer, per
upload) keeps only the rows of groups with jobs still ahead of the head.
"""

from __future__ import annotations

from typing import Any

from accepted.service.alarm import Alarm
from accepted.store.base import JobStore
from accepted.tasks.base import Task

PURGE_INTERVAL = 300.0  # seconds between rounds
PURGE_BATCH = 1_000  # rows per transaction; a full batch goes again at once


class GroupPurger(Task):
    name = "fair-groups"

    def __init__(self, store: JobStore, **kwargs: Any) -> None:
        super().__init__(Alarm(), **kwargs)
        self.store = store

    async def run_once(self, now: float) -> float | None:
        purged = await self.store.purge_fair_groups(now, PURGE_BATCH)
        return now if purged >= PURGE_BATCH else now + PURGE_INTERVAL
