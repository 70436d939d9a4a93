"""The plain claim on SQLite: one statement that picks the best takeable jobs of
the queues asked and marks them running under their leases.

The claim order and the takeable condition are store/sql_rules.py's, shared
with PostgreSQL; the limited claim (store/sqlite_limits.py) reads candidates
through `claim_candidates` too, and decides among them in Python.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from accepted.store import sql_rules
from accepted.store.rows import COLUMN_LIST, job_from_row
from accepted.store.sqlite_queues import NOT_PAUSED
from accepted.types import Job

_QUEUED = f"{sql_rules.takeable('?')} AND {NOT_PAUSED}"
# The claim order (store/sql_rules.py): the best rows first.
_BEST = f"ORDER BY {sql_rules.order_by()} LIMIT ?"
_PICK = sql_rules.PICK
# A claimed row comes back with the order's keys first.
_KEYS = len(sql_rules.ORDER_KEYS)


def plain_claim(
    queues: Sequence[str] | None,
    count: int,
    now: float,
    leases: Sequence[str],
    lease_expires_at: float,
    prefixes: Sequence[str],
) -> Callable[[sqlite3.Connection], list[Job]] | None:
    """`claim_jobs`' work on the writer thread; None when nothing can be claimed."""
    limit = sql_rules.claim_size(count, leases, queues, prefixes)
    if limit == 0:
        return None
    candidates, args = claim_candidates(queues, now, limit, prefixes)
    # One statement picks the best `count` jobs and marks them running; the
    # n-th picked job gets the n-th lease token of the JSON array bound last.
    claim = (
        f"WITH candidates AS ({candidates}), picked AS (SELECT seq, row_number() OVER "
        f"(ORDER BY {sql_rules.PICKED_ORDER}) - 1 AS n "
        f"FROM candidates ORDER BY {sql_rules.PICKED_ORDER} LIMIT ?) "
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, "
        "lease = json_extract(?, '$[' || picked.n || ']'), lease_expires_at = ?, "
        "updated_at = max(?, updated_at), started_at = max(?, updated_at) "
        "FROM picked WHERE jobs.seq = picked.seq "
        f"RETURNING {sql_rules.order_by()}, {COLUMN_LIST}"
    )
    tokens = msgspec.json.encode(list(leases[:limit])).decode()

    def work(conn: sqlite3.Connection) -> list[Job]:
        rows = conn.execute(claim, (*args, limit, tokens, lease_expires_at, now, now)).fetchall()
        if len(rows) > 1:  # RETURNING has no order of its own
            rows.sort(key=lambda row: row[:_KEYS])
        return [job_from_row(row[_KEYS:]) for row in rows]

    return work


def no_window(
    claim: Callable[[sqlite3.Connection], list[Job]],
) -> Callable[[sqlite3.Connection], tuple[list[Job], float | None]]:
    """A plain claim's work in the limited claim's shape (no rate window)."""
    return lambda conn: (claim(conn), None)


def claim_candidates(
    queues: Sequence[str] | None,
    now: float,
    limit: int,
    prefixes: Sequence[str] = (),
    pick: str = _PICK,
) -> tuple[str, list[Any]]:
    """The best `limit` takeable rows of each named queue (or of all), and their args.

    Each queue is read through its own index in order and stops after `limit`
    rows; `queue IN (...)` instead would sort the whole backlog of every queue.
    Each prefix (a limited token's `prefix*`) adds the best rows of the queues
    it matches; UNION then drops a row that a name and a prefix both found.
    """
    if queues is None and not prefixes:
        # Named: the planner would otherwise sort the whole queued backlog by
        # status alone (jobs_by_status), where this index stops after `limit`.
        return f"SELECT {pick} FROM jobs INDEXED BY jobs_queued WHERE {_QUEUED} {_BEST}", [
            now,
            limit,
        ]
    parts, args = [], []
    for queue in dict.fromkeys(queues or ()):
        parts.append(
            f"SELECT * FROM (SELECT {pick} FROM jobs WHERE {_QUEUED} AND queue = ? {_BEST})"
        )
        args += [now, queue, limit]
    for prefix in prefixes:
        parts.append(
            f"SELECT * FROM (SELECT {pick} FROM jobs "
            f"WHERE {_QUEUED} AND substr(queue, 1, ?) = ? {_BEST})"
        )
        args += [now, len(prefix), prefix, limit]
    return (" UNION " if prefixes else " UNION ALL ").join(parts), args


PICK_CANDIDATE = sql_rules.CANDIDATE
