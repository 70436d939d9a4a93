"""The PostgreSQL backend's SQL and row mapping, kept apart from its connection logic."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from accepted.store import sql_rules
from accepted.store.limits_rows import LIMITED
from accepted.store.rows import (
    ATTEMPT_COLUMNS,
    COLUMN_LIST,
    COLUMNS,
    MUTABLE,
    AttemptRow,
    attempt_from_columns,
    column_value,
    job_from_columns,
)
from accepted.types import Attempt, Due, Job

TABLE = "accepted_jobs"
ATTEMPTS = "accepted_job_attempts"
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
    "retries": "int4",
    "retry_backoff": "float8",
    "retries_left": "int4",
    "started_at": "float8",
    "attempt_base": "int4",
    # -- schedules (migration 0013) --
    "schedule": "text",
    # -- unique jobs and dependencies (flow-deps) --
    "unique_key": "text",
    "after": "text",
    "waiting": "int4",
    "has_dependents": "bool",
    # fairness groups (flow-limits)
    "fair_group": "text",
    "fair_rank": "float8",
}
if set(COLUMNS) != set(COLUMN_TYPES):  # pragma: no cover - a programming error
    raise RuntimeError(f"postgres columns out of step with Job: {set(COLUMNS) ^ set(COLUMN_TYPES)}")

_LIST = COLUMN_LIST
_J_LIST = ", ".join(f"j.{c}" for c in COLUMNS)


def _unnest(columns: Sequence[str], first: int) -> str:
    args = ", ".join(f"${first + i}::{COLUMN_TYPES[c]}[]" for i, c in enumerate(columns))
    return f"unnest({args})"


# A batch goes in as one array per column; one job (the common case) as plain
# parameters, which asyncpg encodes faster.
INSERT = f"INSERT INTO {TABLE} ({_LIST}) SELECT * FROM {_unnest(COLUMNS, 1)}"
_VALUES = ", ".join(f"${i + 1}::{COLUMN_TYPES[c]}" for i, c in enumerate(COLUMNS))
INSERT_ONE = f"INSERT INTO {TABLE} ({_LIST}) VALUES ({_VALUES})"

# Writes the new rows of jobs, matched by id.
UPDATE = (
    f"UPDATE {TABLE} AS j SET ({', '.join(MUTABLE)}) = "
    f"({', '.join('u.' + c for c in MUTABLE)}) "
    f"FROM {_unnest(('id', *MUTABLE), 1)} AS u(id, {', '.join(MUTABLE)}) "
    "WHERE j.id = u.id"
)

UPDATE_ONE = (
    f"UPDATE {TABLE} SET ({', '.join(MUTABLE)}) = "
    f"({', '.join(f'${i + 2}::{COLUMN_TYPES[c]}' for i, c in enumerate(MUTABLE))}) "
    "WHERE id = $1"
)

SELECT_ONE = f"SELECT {_LIST} FROM {TABLE} WHERE id = $1"
# The row with its version (the id of the transaction that wrote it), and the
# write that applies only to that version (returning the version it wrote).
SELECT_VERSION = f"SELECT xmin AS version, {_LIST} FROM {TABLE} WHERE id = $1"
UPDATE_IF_VERSION = UPDATE_ONE + f" AND xmin = ${len(MUTABLE) + 2}::xid RETURNING xmin"
LOCK_ONE = SELECT_ONE + " FOR UPDATE"
# Locks in id order, so two batches naming the same jobs cannot deadlock.
SELECT_MANY = f"SELECT {_LIST} FROM {TABLE} WHERE id = ANY($1::uuid[])"
LOCK_MANY = f"SELECT {_LIST} FROM {TABLE} WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE"

DELETE = f"DELETE FROM {TABLE} WHERE id = $1 RETURNING {_LIST}"

# -- the attempt history ------------------------------------------------------------

# Ended hand-outs' rows: $1 job ids, $2.. one array per column of an AttemptRow.
INSERT_ATTEMPTS = (
    f"INSERT INTO {ATTEMPTS} (job_id, attempt, started_at, ended_at, outcome, result) "
    "SELECT * FROM unnest($1::uuid[], $2::int4[], $3::float8[], $4::float8[], $5::text[], "
    "$6::bytea[])"
)
# UPDATE_IF_VERSION and the history row of the hand-out it ends, in one
# statement (so atomic without a transaction): the row is written only if the
# update was. Its last five parameters are the attempt's (an AttemptRow).
_N = len(MUTABLE) + 3
UPDATE_IF_VERSION_ENDING = (
    f"WITH u AS ({UPDATE_ONE} AND xmin = ${len(MUTABLE) + 2}::xid RETURNING id) "
    f"INSERT INTO {ATTEMPTS} (job_id, attempt, started_at, ended_at, outcome, result) "
    f"SELECT u.id, ${_N}::int4, ${_N + 1}::float8, ${_N + 2}::float8, ${_N + 3}::text, "
    f"${_N + 4}::bytea FROM u"
)
# The job and its ended hand-outs in one statement (one snapshot).
SELECT_ATTEMPTS = (
    f"SELECT {', '.join('a.' + c + ' AS a_' + c for c in ATTEMPT_COLUMNS)}, "
    f"{', '.join('j.' + c for c in COLUMNS)} "
    f"FROM {TABLE} AS j LEFT JOIN {ATTEMPTS} AS a ON a.job_id = j.id "
    "WHERE j.id = $1 ORDER BY a.attempt"
)


def attempt_from_record(record: Any) -> Attempt:
    return attempt_from_columns({c: record["a_" + c] for c in ATTEMPT_COLUMNS})


def attempt_values(attempt: AttemptRow) -> list[Any]:
    return list(attempt)


# Sends each payload of the text[] parameter on the channel.
NOTIFY = f"SELECT pg_notify('{CHANNEL}', p) FROM unnest($1::text[]) AS p"


# The claim order's second key (store/sql_rules.py); the claim indexes are on it.
RANK = sql_rules.RANK
# Queues a plain claim skips: paused ones, and limited ones, which only the
# limited claim (store/postgres_limits.py) takes from.
HELD = f"paused OR {LIMITED}"

# A job handed to a blocked taker as it is inserted, in one statement: inserted
# (running) only if its queue is neither paused nor limited, and then with its
# version (`postgres_known`); else nothing is, and the caller inserts it queued
# (limits_rows.hold_back). Like the transaction it replaces, the settings read
# takes no lock: a pause committed meanwhile applies from the next take on.
INSERT_ONE_HANDED = (
    f"INSERT INTO {TABLE} ({_LIST}) SELECT {_VALUES} WHERE NOT EXISTS (SELECT 1 "
    f"FROM accepted_queues WHERE name = ${COLUMNS.index('queue') + 1}::text AND ({HELD})) "
    "RETURNING xmin"
)


def claim_query(queues: Sequence[str] | None, prefixes: Sequence[str] = ()) -> str:
    """Claim in one statement: lock the best queued rows, skipping rows others hold.

    $1 now, $2 how many, $3 lease tokens (text[]), $4 lease expiry, $5 the queue(s).
    Each row comes with its version, so its report needs no read (`postgres_known`).
    One queue is matched with `=` so the per-queue partial index serves the
    ORDER BY ... LIMIT directly; several use `= ANY`. Paused queues are read
    once per statement (an InitPlan) and skipped. With `prefixes` (a limited
    token's `prefix*` queues, $6) a queue may also start with one.
    """
    return f"WITH {_claim_picks(claim_where(queues, prefixes))} {_CLAIM_UPDATE}"


def _claim_picks(where: str) -> str:
    """The claim's CTEs: the rows to take (`where`), locked, and numbered in claim order."""
    return (
        f"picked AS (SELECT {sql_rules.PICK} FROM {TABLE} WHERE {where} "
        f"ORDER BY {sql_rules.order_by()} LIMIT $2 FOR UPDATE SKIP LOCKED), "
        f"numbered AS (SELECT seq, row_number() OVER (ORDER BY {sql_rules.PICKED_ORDER}) AS n "
        "FROM picked)"
    )


_CLAIM_UPDATE = (
    f"UPDATE {TABLE} AS j SET status = 'running', attempts = j.attempts + 1, "
    "lease = ($3::text[])[numbered.n], lease_expires_at = $4, "
    "updated_at = greatest($1, j.updated_at), started_at = greatest($1, j.updated_at) "
    f"FROM numbered WHERE j.seq = numbered.seq RETURNING numbered.n, j.xmin AS version, "
    f"{_J_LIST}"
)

# The claim's parameters come after UPDATE_IF_VERSION's in `riding_query`.
RIDING_SHIFT = len(MUTABLE) + 2


def riding_query(queues: Sequence[str] | None, prefixes: Sequence[str] = ()) -> str:
    """A report written by compare-and-set and the plain claim after it, in one statement.

    UPDATE_IF_VERSION's parameters, then `claim_query`'s numbered from
    RIDING_SHIFT + 1. The claim takes rows only if the report was written, so
    a report that finds its row moved on leaves nothing done. One row always
    comes back: `reported` (the version written, or NULL), and the claimed
    rows' columns (all NULL when nothing was claimed). The claim runs on the
    statement's snapshot, which is the report's: it cannot see the report's
    write, so only a report that makes nothing takeable (the caller's check)
    may ride this way.
    """
    where = claim_where(queues, prefixes) + " AND EXISTS (SELECT 1 FROM reported)"
    claim = _shifted(f"{_claim_picks(where)}, claimed AS ({_CLAIM_UPDATE})", RIDING_SHIFT)
    return (
        f"WITH reported AS ({UPDATE_IF_VERSION}), {claim} "
        "SELECT (SELECT xmin FROM reported) AS reported, claimed.* "
        "FROM (SELECT 1) AS one LEFT JOIN claimed ON true"
    )


def _shifted(query: str, by: int) -> str:
    """`query` with each placeholder $n renumbered $(n + by)."""
    return re.sub(r"\$(\d+)", lambda m: f"${int(m.group(1)) + by}", query)


def claim_where(
    queues: Sequence[str] | None,
    prefixes: Sequence[str] = (),
    *,
    now: str = "$1",
    names: str = "$5",
    starts: str = "$6",
) -> str:
    """The rows a plain claim may take: queued, before their deadline (`now`), of an
    unpaused, unlimited queue among `names` or starting with one of `starts`."""
    where = (
        f"{sql_rules.takeable(now)} "
        f"AND queue <> ALL (ARRAY(SELECT name FROM accepted_queues WHERE {HELD}))"
    )
    if prefixes:
        where += (
            f" AND (queue = ANY({names}::text[]) OR EXISTS "
            f"(SELECT 1 FROM unnest({starts}::text[]) AS p WHERE starts_with(queue, p)))"
        )
    elif queues is not None:
        where += (
            f" AND queue = {names}" if len(queues) == 1 else f" AND queue = ANY({names}::text[])"
        )
    return where


# Which rows each sweep looks at, and the column holding their time
# (store/sql_rules.py). Each condition is the predicate of a partial index in the migration.
DUE_WHERE = sql_rules.due_where("IS DISTINCT FROM")


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
    return [[column_value(getattr(job, c)) for job in jobs] for c in columns]


def column_values(job: Job, columns: Sequence[str] = COLUMNS) -> list[Any]:
    """The job's values of `columns`, for INSERT_ONE and UPDATE_ONE."""
    return [column_value(getattr(job, c)) for c in columns]


def from_record(record: Any) -> Job:
    """A Job from an asyncpg Record holding (at least) every column."""
    values = {c: record[c] for c in COLUMNS}
    values["id"] = str(values["id"])
    return job_from_columns(values)
