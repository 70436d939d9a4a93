"""The WAL checkpointer: SQLite's log copied into the database file beside the writer.

SQLite's automatic checkpoint is off (store/sqlite.py): it would run inside
the commit that crossed its threshold, and every request batched into that
commit would wait for it. This task does the work instead, looking at the
log every tenth of a second; the store decides when a look calls for a
checkpoint and runs it on a thread of its own (store/sqlite_checkpoints.py).
On PostgreSQL, and in processes other than the first of a several-process
SQLite server, the store answers None and the task only sleeps.
"""

from __future__ import annotations

from typing import Any

from accepted.service.alarm import Alarm
from accepted.store.base import JobStore
from accepted.tasks.base import Task


class WalCheckpointer(Task):
    name = "checkpointer"

    def __init__(self, store: JobStore, **kwargs: Any) -> None:
        super().__init__(Alarm(), **kwargs)
        self.store = store

    async def run_once(self, now: float) -> float | None:
        return await self.store.checkpoint(now)
