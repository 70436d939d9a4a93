"""The text indexer: keeps the search index of a SQLite store caught up.

SQLite's index is written behind the jobs (see store/sqlite_text.py): this
task indexes what is new in batches, one short writer transaction each, as
soon as a batch's worth has arrived or a short interval has passed. Searches
are right whether or not it keeps up; the index keeps them fast.
"""

from __future__ import annotations

from typing import Any

from accepted.service.alarm import Alarm
from accepted.store.base import JobStore
from accepted.tasks.base import Task

BATCH = 500  # jobs per transaction: enough to share FTS5's fixed cost, short on the writer
INTERVAL = 0.5  # seconds between looks when caught up
BREATH = 0.005  # seconds between batches when behind, so other writes go between


class TextIndexer(Task):
    name = "text-index"

    def __init__(self, store: JobStore, **kwargs: Any) -> None:
        super().__init__(Alarm(), **kwargs)
        self.store = store

    async def run_once(self, now: float) -> float | None:
        done = await self.store.index_text(BATCH)
        return now + (BREATH if done >= BATCH else INTERVAL)
