"""Idempotency keys on SQLite: checked and written inside the insert's transaction.

The one writer thread runs each transaction alone, so a key read here cannot
be taken by anyone else before this transaction commits.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from accepted.store import idempotency_rows
from accepted.store.base import IdempotencyKey
from accepted.store.idempotency_rows import Replay
from accepted.types import Job

SELECT = "SELECT fingerprint, job_id, expires_at FROM idempotency_keys WHERE scope = ? AND key = ?"
# An expired key not purged yet is simply replaced.
UPSERT = (
    "INSERT OR REPLACE INTO idempotency_keys (scope, key, fingerprint, job_id, expires_at) "
    "VALUES (?, ?, ?, ?, ?)"
)
PURGE = (
    "DELETE FROM idempotency_keys WHERE (scope, key) IN (SELECT scope, key "
    "FROM idempotency_keys WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)"
)
NEXT_EXPIRY = "SELECT min(expires_at) FROM idempotency_keys"


def claim_keys(
    conn: sqlite3.Connection,
    jobs: Sequence[Job],
    keys: Sequence[IdempotencyKey | None],
    now: float,
) -> dict[int, Replay]:
    """Write the keys of new jobs; return {index: replay} for the jobs that are replays.

    Raises IdempotencyKeyReused for a held key with another fingerprint.
    """
    replays: dict[int, Replay] = {}
    for i, (job, key) in enumerate(zip(jobs, keys, strict=True)):
        if key is None:
            continue
        row = conn.execute(SELECT, (key.scope, key.key)).fetchone()
        if row is not None and row[2] > now:
            replays[i] = idempotency_rows.replay(key, row[0], row[1])
            continue
        conn.execute(UPSERT, (key.scope, key.key, key.fingerprint, job.id, key.expires_at))
    return replays


def purge(conn: sqlite3.Connection, now: float, limit: int) -> int:
    return conn.execute(PURGE, (now, limit)).rowcount


def next_expiry(conn: sqlite3.Connection) -> float | None:
    value: float | None = conn.execute(NEXT_EXPIRY).fetchone()[0]
    return value
