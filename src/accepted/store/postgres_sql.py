"""The PostgreSQL backend's SQL and row mapping, kept apart from its connection logic.

Every write that makes a job takeable, final or gone also sends a NOTIFY in
the same statement, so other nodes hear of it exactly when it commits (and
never of a write that rolled back).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from accepted.store.base import Due
from accepted.types import CallbackState, Job, JobStatus

TABLE = "accepted_jobs"
CHANNEL = "accepted_jobs"

# Each Job field, its column type. Checked against Job below, so a new field
# without a column (or a migration) fails at import, not at the first write.
COLUMN_TYPES: dict[str, str] = {
    "id": "uuid",
    "queue": "text",
    "status": "text",
    "priority": "int4",
    "params": "bytea",
    "result": "bytea",
    "attempts": "int4",
    "max_attempts": "int4",
    "created_at": "float8",
    "updated_at": "float8",
    "due_at": "float8",
    "lease": "text",
    "lease_expires_at": "float8",
    "timeout": "float8",
    "deadline_at": "float8",
    "result_ttl": "float8",
    "expires_at": "float8",
    "finished_at": "float8",
    "error": "text",
    "callback_url": "text",
    "callback_state": "text",
    "callback_attempts": "int4",
    "callback_next_at": "float8",
    "callback_last_error": "text",
}
COLUMNS = tuple(f.name for f in msgspec.structs.fields(Job))
if set(COLUMNS) != set(COLUMN_TYPES):  # pragma: no cover - a programming error
    raise RuntimeError(f"postgres columns out of step with Job: {set(COLUMNS) ^ set(COLUMN_TYPES)}")
MUTABLE = tuple(c for c in COLUMNS if c not in ("id", "queue", "created_at"))

_LIST = ", ".join(COLUMNS)
_J_LIST = ", ".join(f"j.{c}" for c in COLUMNS)
_ACTIVE = "('delayed', 'queued', 'running')"

# Sends each payload of the text[] parameter $n on the channel.
_NOTIFY_ALL = "SELECT pg_notify('{channel}', p) FROM unnest(${n}::text[]) AS p"


def _unnest(columns: Sequence[str], first: int) -> str:
    args = ", ".join(f"${first + i}::{COLUMN_TYPES[c]}[]" for i, c in enumerate(columns))
    return f"unnest({args})"


INSERT = (
    f"WITH inserted AS (INSERT INTO {TABLE} ({_LIST}) "
    f"SELECT * FROM {_unnest(COLUMNS, 1)}) "
    + _NOTIFY_ALL.format(channel=CHANNEL, n=len(COLUMNS) + 1)
)

# Writes the new rows of jobs, by id, and sends the payloads in the last parameter.
UPDATE = (
    f"WITH changed AS (UPDATE {TABLE} AS j SET ({', '.join(MUTABLE)}) = "
    f"({', '.join('u.' + c for c in MUTABLE)}) "
    f"FROM {_unnest(('id', *MUTABLE), 1)} AS u(id, {', '.join(MUTABLE)}) "
    "WHERE j.id = u.id) " + _NOTIFY_ALL.format(channel=CHANNEL, n=len(MUTABLE) + 2)
)

SELECT_ONE = f"SELECT {_LIST} FROM {TABLE} WHERE id = $1"
LOCK_ONE = SELECT_ONE + " FOR UPDATE"
# Locks in id order, so two batches naming the same jobs cannot deadlock.
LOCK_MANY = f"SELECT {_LIST} FROM {TABLE} WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE"

# The deleted row, and a notice for waiters if it was not final yet.
DELETE = (
    f"WITH gone AS (DELETE FROM {TABLE} WHERE id = $1 RETURNING {_LIST}), "
    f"told AS (SELECT pg_notify('{CHANNEL}', $2) FROM gone WHERE status IN {_ACTIVE}) "
    f"SELECT {_LIST}, (SELECT count(*) FROM told) AS told FROM gone"
)


def claim_query(queues: Sequence[str] | None) -> str:
    """Claim in one statement: lock the best queued rows, skipping rows others hold.

    $1 now, $2 how many, $3 lease tokens (text[]), $4 lease expiry, $5 the queue(s).
    One queue is matched with `=` so the per-queue partial index serves the
    ORDER BY ... LIMIT directly; several use `= ANY`.
    """
    where = "status = 'queued' AND (deadline_at IS NULL OR deadline_at > $1)"
    if queues is not None:
        where += " AND queue = $5" if len(queues) == 1 else " AND queue = ANY($5::text[])"
    return (
        f"WITH picked AS (SELECT seq, priority, due_at FROM {TABLE} WHERE {where} "
        "ORDER BY priority, due_at, seq LIMIT $2 FOR UPDATE SKIP LOCKED), "
        "numbered AS (SELECT seq, row_number() OVER (ORDER BY priority, due_at, seq) AS n "
        "FROM picked) "
        f"UPDATE {TABLE} AS j SET status = 'running', attempts = j.attempts + 1, "
        "lease = ($3::text[])[numbered.n], lease_expires_at = $4, updated_at = $1 "
        f"FROM numbered WHERE j.seq = numbered.seq RETURNING numbered.n, {_J_LIST}"
    )


# Which rows each sweep looks at, and the column holding their time. Each
# condition is the predicate of a partial index in the migration.
DUE_WHERE: dict[Due, tuple[str, str]] = {
    Due.DELAYED: ("status = 'delayed'", "due_at"),
    Due.LEASE: ("status = 'running'", "lease_expires_at"),
    Due.DEADLINE: (f"deadline_at IS NOT NULL AND status IN {_ACTIVE}", "deadline_at"),
    Due.CALLBACK: ("callback_state = 'pending'", "callback_next_at"),
    Due.EXPIRED: (
        "expires_at IS NOT NULL AND callback_state IS DISTINCT FROM 'pending'",
        "expires_at",
    ),
}


def sweep_query(due: Due) -> str:
    """Up to $2 due rows at $1, locked; rows another node's sweep holds are skipped."""
    where, column = DUE_WHERE[due]
    return (
        f"SELECT {_LIST} FROM {TABLE} WHERE {where} AND {column} <= $1 "
        f"ORDER BY {column} LIMIT $2 FOR UPDATE SKIP LOCKED"
    )


def next_due_query(due: Due) -> str:
    where, column = DUE_WHERE[due]
    return f"SELECT min({column}) FROM {TABLE} WHERE {where}"


PURGE = (
    f"DELETE FROM {TABLE} WHERE seq IN (SELECT seq FROM {TABLE} "
    f"WHERE {DUE_WHERE[Due.EXPIRED][0]} AND expires_at <= $1 "
    "ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING id"
)


# -- rows ------------------------------------------------------------------------


def column_arrays(jobs: Sequence[Job], columns: Sequence[str]) -> list[list[Any]]:
    """One array per column, for an `unnest` of the jobs."""
    return [[_value(getattr(job, c)) for job in jobs] for c in columns]


def _value(value: Any) -> Any:
    if isinstance(value, msgspec.Raw):
        return bytes(value)
    return value


def from_record(record: Any) -> Job:
    """A Job from an asyncpg Record holding (at least) every column."""
    values = {c: record[c] for c in COLUMNS}
    values["id"] = str(values["id"])
    values["status"] = JobStatus(values["status"])
    values["params"] = msgspec.Raw(values["params"])
    values["result"] = msgspec.Raw(values["result"])
    if values["callback_state"] is not None:
        values["callback_state"] = CallbackState(values["callback_state"])
    return Job(**values)


# -- notices -----------------------------------------------------------------------
# Payloads are "<kind> <node> <rest>": kind q (rest "<count> <queue>": jobs became
# takeable) or s (rest "<id>,<id>...": jobs became final or were deleted). The
# node lets each node skip its own notices, which it has already acted on.

MAX_PAYLOAD = 7900  # PostgreSQL refuses payloads of 8000 bytes or more
_IDS_PER_NOTICE = 200


def available_notice(node: str, queue: str, count: int) -> str | None:
    payload = f"q {node} {count} {queue}"
    # A name too long to announce is not announced: its takers find the job
    # at their next re-check instead.
    return payload if len(payload.encode()) < MAX_PAYLOAD else None


def settled_notices(node: str, job_ids: Sequence[str]) -> list[str]:
    return [
        f"s {node} " + ",".join(job_ids[i : i + _IDS_PER_NOTICE])
        for i in range(0, len(job_ids), _IDS_PER_NOTICE)
    ]


def change_notices(node: str, changes: Iterable[tuple[Job, Job]]) -> list[str]:
    """What to announce for (old, new) row pairs: newly takeable and newly final jobs."""
    counts: dict[str, int] = {}
    settled: list[str] = []
    for old, new in changes:
        if new.status is JobStatus.QUEUED and old.status is not JobStatus.QUEUED:
            counts[new.queue] = counts.get(new.queue, 0) + 1
        elif new.is_final and not old.is_final:
            settled.append(new.id)
    return [*_available(node, counts), *settled_notices(node, settled)]


def insert_notices(node: str, jobs: Iterable[Job]) -> list[str]:
    counts: dict[str, int] = {}
    for job in jobs:
        if job.status is JobStatus.QUEUED:
            counts[job.queue] = counts.get(job.queue, 0) + 1
    return list(_available(node, counts))


def _available(node: str, counts: dict[str, int]) -> Iterable[str]:
    for queue, count in counts.items():
        notice = available_notice(node, queue, count)
        if notice is not None:
            yield notice
