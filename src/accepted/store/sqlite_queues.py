"""The queues section of the SQLite store: settings, counts, and the oldest queued job.

Counts come from `queue_counts`, which triggers keep in the transaction that
changes a job (migration 0002), so reading them costs a few hundred rows
however many jobs there are.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from accepted.queries import PRIORITIES, QueueState
from accepted.store.sqlite_reader import SqliteReader
from accepted.store.sqlite_writer import SqliteWriter
from accepted.types import JobStatus

if TYPE_CHECKING:
    from accepted.store.local_link import LocalLink

# A queue "has a setting" when this holds of its row (limits will add theirs).
HAS_SETTING = "paused"

_COUNTS = "SELECT queue, status, n FROM queue_counts WHERE n > 0"
_SETTINGS = f"SELECT name, paused FROM queues WHERE {HAS_SETTING}"
_ANY_SETTINGS = "SELECT name, paused FROM queues WHERE 1"
_OLDEST = "SELECT min(due_at) FROM jobs WHERE status = 'queued' AND queue = ? AND priority = ?"
# Paused queues, for the claim statements (a tiny table, read once per claim).
NOT_PAUSED = "queue NOT IN (SELECT name FROM queues WHERE paused)"


class SqliteQueues:
    """Mixed into `SqliteStore`; see `store.base.QueueStore` for the contract."""

    _writer: SqliteWriter
    _reader: SqliteReader
    _link: LocalLink | None

    async def queue_states(self, names: Sequence[str] | None = None) -> list[QueueState]:
        return await self._reader.run(lambda conn: read_states(conn, names))

    async def set_paused(self, queue: str, paused: bool, now: float) -> QueueState | None:
        def work(conn: sqlite3.Connection) -> QueueState | None:
            changed = True
            if paused:
                conn.execute(
                    "INSERT INTO queues (name, paused, updated_at) VALUES (?, 1, ?) "
                    "ON CONFLICT (name) DO UPDATE SET paused = 1, updated_at = excluded.updated_at",
                    (queue, now),
                )
            else:
                changed = (
                    conn.execute(
                        "UPDATE queues SET paused = 0, updated_at = ? WHERE name = ? AND paused",
                        (now, queue),
                    ).rowcount
                    == 1
                )
            found = read_states(conn, [queue], keep_unset=changed)
            return found[0] if found else None

        state = await self._writer.run(work)
        if self._link is not None:  # the sibling processes' takers stop or start at once
            self._link.announce_paused(queue, paused)
        return state

    async def paused_queues(self) -> list[str]:
        query = "SELECT name FROM queues WHERE paused ORDER BY name"
        return await self._writer.run(
            lambda conn: [row[0] for row in conn.execute(query)], savepoint=False
        )

    async def fold_counts(self) -> None:
        """Nothing to fold: the triggers update the counts in place."""


def read_states(
    conn: sqlite3.Connection, names: Sequence[str] | None, *, keep_unset: bool = False
) -> list[QueueState]:
    """The queues named (None: every queue that exists), sorted by name.

    `keep_unset` also returns a named queue whose row no longer holds a
    setting (just resumed), so a resume answers with the queue it changed
    even when that left it empty and without a setting (so gone).
    """
    counts: dict[str, dict[JobStatus, int]] = {}
    paused: dict[str, bool] = {}
    wanted = None if names is None else list(dict.fromkeys(names))
    for queue, status, n in _rows(conn, _COUNTS, wanted):
        counts.setdefault(queue, {})[JobStatus(status)] = n
    settings = _ANY_SETTINGS if keep_unset else _SETTINGS
    for name, is_paused in _rows(conn, settings, wanted, column="name"):
        paused[name] = bool(is_paused)
    states = []
    for name in sorted(counts.keys() | paused.keys()):
        queue_counts = counts.get(name, {})
        oldest = _oldest(conn, name) if queue_counts.get(JobStatus.QUEUED) else None
        states.append(QueueState(name, paused.get(name, False), queue_counts, oldest))
    return states


def _rows(
    conn: sqlite3.Connection, query: str, names: list[str] | None, *, column: str = "queue"
) -> list[tuple[Any, ...]]:
    if names is None:
        return conn.execute(query).fetchall()
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(names), 500):
        chunk = names[start : start + 500]
        where = f" AND {column} IN ({', '.join('?' * len(chunk))})"
        found += conn.execute(query + where, chunk).fetchall()
    return found


def _oldest(conn: sqlite3.Connection, queue: str) -> float | None:
    """One index look-up per priority (the claim index leads with queue, priority)."""
    found = [conn.execute(_OLDEST, (queue, p)).fetchone()[0] for p in PRIORITIES]
    due = [value for value in found if value is not None]
    return min(due) if due else None
