"""Fairness groups on PostgreSQL: ranking grouped jobs as they are inserted (see fair_rows).

One statement per batch moves each group's last rank on and returns it: the
upsert locks the group's row, so two nodes enqueueing for one group at once
take turns and never hand out the same ranks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from accepted.store import postgres_sql as sql
from accepted.store import sql_rules
from accepted.store.fair_rows import STEP, group_counts, ranked
from accepted.store.rows import COLUMN_LIST, COLUMNS
from accepted.types import Job, JobStatus

# The claim order's rank, and its order within a queue's priority (store/sql_rules.py).
_J_RANK = sql_rules.rank("j")
_J_HEAD = sql_rules.head_order("j")
_J_QUEUED = sql_rules.status_is(JobStatus.QUEUED, "j")

# $1..$4 one array per (queue, priority, group, count in the batch), $5 now,
# $6 the step. A group's first rank is its last plus a step, or the head of
# its queue's priority (now, when nothing is queued) if that is later; the
# head is looked up once per queue and priority of the batch.
RANK_GROUPS = (
    "WITH k AS (SELECT * FROM unnest($1::text[], $2::int4[], $3::text[], $4::int4[]) "
    "AS k(queue, priority, name, n)), "
    f"h AS (SELECT q.queue, q.priority, coalesce((SELECT {_J_RANK} "
    f"FROM {sql.TABLE} AS j WHERE {_J_QUEUED} AND j.queue = q.queue "
    f"AND j.priority = q.priority ORDER BY {_J_HEAD} LIMIT 1), "
    "$5::float8) AS head FROM (SELECT DISTINCT queue, priority FROM k) AS q), "
    "v AS (SELECT k.*, h.head FROM k JOIN h USING (queue, priority)) "
    "INSERT INTO accepted_fair_groups AS g (queue, priority, name, last_rank) "
    "SELECT queue, priority, name, head + (n - 1) * $6::float8 FROM v "
    "ORDER BY queue, priority, name "
    "ON CONFLICT (queue, priority, name) DO UPDATE SET last_rank = greatest(EXCLUDED.last_rank, "
    "g.last_rank + (SELECT v.n FROM v WHERE v.queue = EXCLUDED.queue "
    "AND v.priority = EXCLUDED.priority AND v.name = EXCLUDED.name) * $6::float8) "
    "RETURNING queue, priority, name, last_rank"
)


def _param(column: str) -> str:
    return f"${COLUMNS.index(column) + 1}::{sql.COLUMN_TYPES[column]}"


# One grouped job (the usual single enqueue): ranked and inserted in one
# statement, so atomic without a transaction, in one round trip. Its
# parameters are INSERT_ONE's (the job's columns), plus the step.
_STEP = f"${len(COLUMNS) + 1}::float8"
INSERT_ONE_RANKED = (
    f"WITH h AS (SELECT coalesce((SELECT {_J_RANK} FROM {sql.TABLE} AS j "
    f"WHERE {_J_QUEUED} AND j.queue = {_param('queue')} "
    f"AND j.priority = {_param('priority')} "
    f"ORDER BY {_J_HEAD} LIMIT 1), "
    f"{_param('created_at')}) AS head), "
    "g AS (INSERT INTO accepted_fair_groups AS g (queue, priority, name, last_rank) "
    f"SELECT {_param('queue')}, {_param('priority')}, {_param('fair_group')}, head FROM h "
    "ON CONFLICT (queue, priority, name) DO UPDATE SET last_rank = "
    f"greatest(EXCLUDED.last_rank, g.last_rank + {_STEP}) RETURNING last_rank) "
    f"INSERT INTO {sql.TABLE} ({COLUMN_LIST}) SELECT "
    + ", ".join(
        f"coalesce((SELECT last_rank FROM g), {_param(c)})" if c == "fair_rank" else _param(c)
        for c in COLUMNS
    )
)


def insert_one_args(job: Job) -> list[Any]:
    return [*sql.column_values(job), STEP]


# Group rows that no longer change a rank (see JobStore.purge_fair_groups);
# rows an enqueue holds right now are skipped. $1 the step, $2 now, $3 how many.
PURGE = (
    "DELETE FROM accepted_fair_groups AS d USING (SELECT g.queue, g.priority, g.name "
    "FROM accepted_fair_groups AS g WHERE g.last_rank + $1 <= "
    f"coalesce((SELECT coalesce(j.fair_rank, j.due_at) FROM {sql.TABLE} AS j "
    "WHERE j.status = 'queued' AND j.queue = g.queue AND j.priority = g.priority "
    "ORDER BY coalesce(j.fair_rank, j.due_at), j.seq LIMIT 1), $2) "
    "LIMIT $3 FOR UPDATE SKIP LOCKED) AS x "
    "WHERE d.queue = x.queue AND d.priority = x.priority AND d.name = x.name"
)


async def rank_groups(conn: Any, jobs: Sequence[Job]) -> list[Job]:
    """The jobs with the grouped ones ranked, in the inserting transaction."""
    counts = group_counts(jobs)
    keys = list(counts)
    now = min(job.created_at for job in jobs)
    records = await conn.fetch(
        RANK_GROUPS,
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
        [counts[k] for k in keys],
        now,
        STEP,
    )
    firsts = {}
    for r in records:
        key = (r["queue"], r["priority"], r["name"])
        firsts[key] = r["last_rank"] - (counts[key] - 1) * STEP
    return ranked(jobs, firsts)
