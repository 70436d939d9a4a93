"""The counts folder: keeps the per-queue job counts cheap to read on PostgreSQL.

Writers there append their net change of a queue's counts as delta rows
instead of updating one shared counter row (which would serialise writers of
a queue across nodes); this task folds the deltas into the counts once a
second, so a read adds up at most about a second's worth of deltas. Any
node may fold; an advisory lock lets one do it at a time.
"""

from __future__ import annotations

from typing import Any

from accepted.service.alarm import Alarm
from accepted.store.base import JobStore
from accepted.tasks.base import Task

FOLD_INTERVAL = 1.0  # seconds between folds


class CountFolder(Task):
    name = "counts"

    def __init__(self, store: JobStore, **kwargs: Any) -> None:
        super().__init__(Alarm(), **kwargs)
        self.store = store

    async def run_once(self, now: float) -> float | None:
        await self.store.fold_counts()
        return now + FOLD_INTERVAL
