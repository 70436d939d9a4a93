"""The queues section of the PostgreSQL store: settings, counts, and the oldest queued job.

Counts are `accepted_queue_counts` plus the deltas that writing statements
append (migration 0002); `fold_counts` moves the deltas into the counts now
and then, so a read adds up a few hundred rows, not a million.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from accepted.queries import NO_LIMITS, PRIORITIES, QueueLimits, QueueState
from accepted.store import sql_rules
from accepted.store.limits_rows import LIMITED, LIMITS_COLUMNS, limits_from
from accepted.store.postgres_link import Link
from accepted.types import JobStatus

T = TypeVar("T")

# A queue "has a setting" when this holds of its row: paused, or any limit.
HAS_SETTING = f"(paused OR {LIMITED})"

_NAMES = "($1::text[] IS NULL OR {column} = ANY($1::text[]))"
COUNTS = (
    "SELECT queue, status, sum(n)::bigint AS n FROM ("
    "SELECT queue, status, n FROM accepted_queue_counts "
    "UNION ALL SELECT queue, status, delta FROM accepted_queue_count_deltas"
    f") AS c WHERE {_NAMES.format(column='queue')} GROUP BY queue, status HAVING sum(n) > 0"
)
SETTINGS = (
    f"SELECT name, paused, {LIMITS_COLUMNS} FROM accepted_queues "
    f"WHERE {_NAMES.format(column='name')} "
    f"AND ($2 OR {HAS_SETTING})"
)
_J_QUEUED = sql_rules.status_is(JobStatus.QUEUED, "j")
# The oldest queued job of each queue: per priority, the head of the claim
# order (exact for jobs without a group, ranked by due time) and the grouped
# jobs' own oldest, each one index look-up.
OLDEST = (
    "SELECT q.name, min(o.due_at) AS due_at FROM unnest($1::text[]) AS q(name) "
    "CROSS JOIN unnest($2::int4[]) AS p(priority) "
    f"CROSS JOIN LATERAL ((SELECT due_at FROM accepted_jobs AS j WHERE {_J_QUEUED} "
    "AND j.queue = q.name AND j.priority = p.priority "
    f"ORDER BY {sql_rules.head_order('j')} LIMIT 1) UNION ALL "
    f"(SELECT due_at FROM accepted_jobs AS j WHERE {_J_QUEUED} "
    "AND j.fair_rank IS NOT NULL AND j.queue = q.name AND j.priority = p.priority "
    "ORDER BY due_at LIMIT 1)) AS o "
    "GROUP BY q.name"
)
SET_LIMITS = (
    "INSERT INTO accepted_queues (name, paused, updated_at, rate_jobs, rate_per, concurrency, "
    "group_concurrency) VALUES ($1, false, $2, $3, $4, $5, $6) ON CONFLICT (name) DO UPDATE "
    "SET updated_at = EXCLUDED.updated_at, rate_jobs = EXCLUDED.rate_jobs, "
    "rate_per = EXCLUDED.rate_per, concurrency = EXCLUDED.concurrency, "
    "group_concurrency = EXCLUDED.group_concurrency"
)
CLEAR_LIMITS = (
    "UPDATE accepted_queues SET updated_at = $2, rate_jobs = NULL, rate_per = NULL, "
    "concurrency = NULL, group_concurrency = NULL, rate_log = '{}' "
    f"WHERE name = $1 AND {LIMITED}"
)
LIMITED_QUEUES = f"SELECT name, {LIMITS_COLUMNS} FROM accepted_queues WHERE {LIMITED}"
PAUSE = (
    "INSERT INTO accepted_queues (name, paused, updated_at) VALUES ($1, true, $2) "
    "ON CONFLICT (name) DO UPDATE SET paused = true, updated_at = EXCLUDED.updated_at"
)
RESUME = "UPDATE accepted_queues SET paused = false, updated_at = $2 WHERE name = $1 AND paused"
PAUSED = "SELECT name FROM accepted_queues WHERE paused ORDER BY name"
# The queues of a direct hand-off that must not start jobs on insert (limits_rows).
HELD_BACK = (
    f"SELECT name FROM accepted_queues WHERE (paused OR {LIMITED}) AND name = ANY($1::text[])"
)
# One node folds at a time (the others skip a round); the delete and the
# upsert commit together, so a concurrent read sees a delta in one place only.
FOLD_LOCK = 0x61636365707466  # pg_try_advisory_xact_lock key
FOLD = (
    "WITH gone AS (DELETE FROM accepted_queue_count_deltas RETURNING queue, status, delta), "
    "sums AS (SELECT queue, status, sum(delta) AS d FROM gone GROUP BY queue, status) "
    "INSERT INTO accepted_queue_counts (queue, status, n) SELECT queue, status, d FROM sums "
    "ON CONFLICT (queue, status) DO UPDATE SET n = accepted_queue_counts.n + EXCLUDED.n"
)
DROP_ZEROS = "DELETE FROM accepted_queue_counts WHERE n = 0"


class PostgresQueues:
    """Mixed into `PostgresStore`; see `store.base.QueueStore` for the contract."""

    _link: Link

    def _run(
        self, work: Callable[[Any], Awaitable[T]], *, transaction: bool = True
    ) -> Awaitable[T]:
        raise NotImplementedError  # pragma: no cover - PostgresStore's

    async def queue_states(self, names: Sequence[str] | None = None) -> list[QueueState]:
        wanted = None if names is None else list(dict.fromkeys(names))
        return await self._run(lambda conn: read_states(conn, wanted, keep_unset=False))

    async def set_paused(self, queue: str, paused: bool, now: float) -> QueueState | None:
        async def work(conn: Any) -> QueueState | None:
            changed = True
            if paused:
                await conn.execute(PAUSE, queue, now)
            else:
                changed = await conn.execute(RESUME, queue, now) == "UPDATE 1"
            found = await read_states(conn, [queue], keep_unset=changed)
            return found[0] if found else None

        state = await self._run(work)
        self._link.announce_paused(queue, paused)
        return state

    async def paused_queues(self) -> list[str]:
        async def work(conn: Any) -> list[str]:
            return [r["name"] for r in await conn.fetch(PAUSED)]

        return await self._run(work, transaction=False)

    async def set_limits(self, queue: str, limits: QueueLimits, now: float) -> QueueState | None:
        rate = limits.rate

        async def work(conn: Any) -> QueueState | None:
            if limits.any:
                per = None if rate is None else rate.per
                jobs = None if rate is None else rate.jobs
                conn_args = (queue, now, jobs, per, limits.concurrency, limits.group_concurrency)
                await conn.execute(SET_LIMITS, *conn_args)
                changed = True
            else:
                changed = await conn.execute(CLEAR_LIMITS, queue, now) == "UPDATE 1"
            found = await read_states(conn, [queue], keep_unset=changed)
            return found[0] if found else None

        state = await self._run(work)
        self._link.announce_limits(queue)
        return state

    async def limited_queues(self) -> dict[str, QueueLimits]:
        async def work(conn: Any) -> dict[str, QueueLimits]:
            return {r["name"]: _limits(r) for r in await conn.fetch(LIMITED_QUEUES)}

        return await self._run(work, transaction=False)

    async def fold_counts(self) -> None:
        async def work(conn: Any) -> None:
            if await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", FOLD_LOCK):
                await conn.execute(FOLD)
                await conn.execute(DROP_ZEROS)

        await self._run(work)


async def read_states(conn: Any, names: list[str] | None, *, keep_unset: bool) -> list[QueueState]:
    """The queues named (None: every queue that exists), sorted by name; see SqliteQueues."""
    counts: dict[str, dict[JobStatus, int]] = {}
    for r in await conn.fetch(COUNTS, names):
        counts.setdefault(r["queue"], {})[JobStatus(r["status"])] = r["n"]
    settings = await conn.fetch(SETTINGS, names, keep_unset)
    paused = {r["name"]: r["paused"] for r in settings}
    limits = {r["name"]: _limits(r) for r in settings}
    with_queued = [name for name, c in counts.items() if c.get(JobStatus.QUEUED)]
    oldest: dict[str, float] = {}
    if with_queued:
        for r in await conn.fetch(OLDEST, with_queued, list(PRIORITIES)):
            oldest[r["name"]] = r["due_at"]
    return [
        QueueState(
            name,
            paused.get(name, False),
            counts.get(name, {}),
            oldest.get(name),
            limits.get(name, NO_LIMITS),
        )
        for name in sorted(counts.keys() | paused.keys())
    ]


def _limits(r: Any) -> QueueLimits:
    return limits_from(r["rate_jobs"], r["rate_per"], r["concurrency"], r["group_concurrency"])
