"""The queues section of the SQLite store: settings, counts, and the oldest queued job.

Counts come from `queue_counts`, which triggers keep in the transaction that
changes a job (migration 0002), so reading them costs a few hundred rows
however many jobs there are.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from accepted.queries import NO_LIMITS, PRIORITIES, QueueLimits, QueueState
from accepted.store import sql_rules
from accepted.store.limits_rows import LIMITED, LIMITS_COLUMNS, limits_from
from accepted.store.sqlite_reader import SqliteReader
from accepted.store.sqlite_writer import SqliteWriter
from accepted.types import JobStatus

if TYPE_CHECKING:
    from accepted.store.local_link import LocalLink

# A queue "has a setting" when this holds of its row: paused, or any limit.
HAS_SETTING = f"(paused OR {LIMITED})"

_COUNTS = "SELECT queue, status, n FROM queue_counts WHERE n > 0"
_SETTINGS = f"SELECT name, paused, {LIMITS_COLUMNS} FROM queues WHERE {HAS_SETTING}"
_ANY_SETTINGS = f"SELECT name, paused, {LIMITS_COLUMNS} FROM queues WHERE 1"
# The longest-waiting queued job of each queue named (a JSON array): the head
# of the claim order (exact for jobs without a group, whose rank is their due
# time), and the grouped jobs' own oldest; each one index look-up per queue and
# priority. One statement for all of them: 100 queues were 800 statements, each
# a return to Python and a wait for the GIL, which set GET /queues' tail.
_PRIORITIES = " UNION ALL ".join(f"SELECT {p} AS p" for p in PRIORITIES)
_OLDEST = (
    "SELECT q.value, "
    f"(SELECT due_at FROM jobs WHERE {sql_rules.QUEUED} AND queue = q.value AND priority = pr.p "
    f"ORDER BY {sql_rules.head_order()} LIMIT 1), "
    f"(SELECT min(due_at) FROM jobs WHERE {sql_rules.QUEUED} AND fair_rank IS NOT NULL "
    "AND queue = q.value AND priority = pr.p) "
    f"FROM json_each(?1) AS q, ({_PRIORITIES}) AS pr"
)
# Queues a plain claim skips (a tiny table, read once per claim): paused ones,
# and limited ones, which only the limited claim (store/sqlite_limits.py) takes from.
NOT_PAUSED = f"queue NOT IN (SELECT name FROM queues WHERE paused OR {LIMITED})"
_UPSERT_LIMITS = (
    "INSERT INTO queues (name, paused, updated_at, rate_jobs, rate_per, concurrency, "
    "group_concurrency) VALUES (?, 0, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
    "updated_at = excluded.updated_at, rate_jobs = excluded.rate_jobs, "
    "rate_per = excluded.rate_per, concurrency = excluded.concurrency, "
    "group_concurrency = excluded.group_concurrency"
)
_CLEAR_LIMITS = (
    "UPDATE queues SET updated_at = ?, rate_jobs = NULL, rate_per = NULL, concurrency = NULL, "
    f"group_concurrency = NULL, rate_log = '[]' WHERE name = ? AND {LIMITED}"
)
_LIMITED = f"SELECT name, {LIMITS_COLUMNS} FROM queues WHERE {LIMITED} ORDER BY name"


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
        # On the reader: committed pauses are all it needs (a resync's read).
        return await self._reader.run(lambda conn: [row[0] for row in conn.execute(query)])

    async def fold_counts(self) -> None:
        """Nothing to fold: the triggers update the counts in place."""

    async def set_limits(self, queue: str, limits: QueueLimits, now: float) -> QueueState | None:
        rate = limits.rate

        def work(conn: sqlite3.Connection) -> QueueState | None:
            if limits.any:
                args = (rate.jobs if rate else None, rate.per if rate else None)
                conn.execute(
                    _UPSERT_LIMITS,
                    (queue, now, *args, limits.concurrency, limits.group_concurrency),
                )
                changed = True
            else:
                changed = conn.execute(_CLEAR_LIMITS, (now, queue)).rowcount == 1
            found = read_states(conn, [queue], keep_unset=changed)
            return found[0] if found else None

        state = await self._writer.run(work)
        if self._link is not None:  # the sibling processes re-read the limits
            self._link.announce_limits(queue)
        return state

    async def limited_queues(self) -> dict[str, QueueLimits]:
        def work(conn: sqlite3.Connection) -> dict[str, QueueLimits]:
            return {row[0]: limits_from(*row[1:]) for row in conn.execute(_LIMITED)}

        return await self._writer.run(work, savepoint=False)


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
    limits: dict[str, QueueLimits] = {}
    wanted = None if names is None else list(dict.fromkeys(names))
    for queue, status, n in _rows(conn, _COUNTS, wanted):
        counts.setdefault(queue, {})[JobStatus(status)] = n
    settings = _ANY_SETTINGS if keep_unset else _SETTINGS
    for name, is_paused, *limit_values in _rows(conn, settings, wanted, column="name"):
        paused[name] = bool(is_paused)
        limits[name] = limits_from(*limit_values)
    queued = [name for name, by_status in counts.items() if by_status.get(JobStatus.QUEUED)]
    oldest_of = _oldest(conn, queued)
    states = []
    for name in sorted(counts.keys() | paused.keys()):
        queue_counts = counts.get(name, {})
        oldest = oldest_of.get(name)
        is_paused, limited = paused.get(name, False), limits.get(name, NO_LIMITS)
        states.append(QueueState(name, is_paused, queue_counts, oldest, limited))
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


def _oldest(conn: sqlite3.Connection, queues: list[str]) -> dict[str, float]:
    """The due time of each queue's longest-waiting queued job (absent: none found)."""
    if not queues:
        return {}
    found: dict[str, float] = {}
    for queue, *due in conn.execute(_OLDEST, (json.dumps(queues),)):
        for value in due:
            if value is not None and (queue not in found or value < found[queue]):
                found[queue] = value
    return found
