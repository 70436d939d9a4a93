"""Idempotency keys on PostgreSQL: checked and written inside the insert's transaction.

Several nodes may see the same key at once. Each transaction first takes a
transaction-scoped advisory lock on the key without waiting: failing to get it
means another request with that key is being handled right now (409). Holding
it, the key's row is read with a fresh snapshot, so a first request that
committed meanwhile is seen and replayed. The primary key on (scope, key)
backs this up: two inserts of one key can never both commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from accepted.store import idempotency_rows
from accepted.store.base import IdempotencyKey
from accepted.store.idempotency_rows import Replay
from accepted.types import Job

TABLE = "accepted_idempotency_keys"
LOCK_CLASS = 0x69646B  # first half of the advisory lock key: "idk"

# The scope's length first keeps ("a", "bc") and ("ab", "c") apart; a hash
# collision between two keys only makes one wait for the other (a 409).
TRY_LOCK = "SELECT pg_try_advisory_xact_lock($1, hashtext(length($2) || ':' || $2 || $3))"
SELECT = f"SELECT fingerprint, job_id::text, expires_at FROM {TABLE} WHERE scope = $1 AND key = $2"
# An expired key not purged yet is replaced; a live one (impossible under the
# lock) leaves the row alone and returns nothing.
UPSERT = (
    f"INSERT INTO {TABLE} (scope, key, fingerprint, job_id, expires_at) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scope, key) DO UPDATE SET "
    "fingerprint = EXCLUDED.fingerprint, job_id = EXCLUDED.job_id, "
    f"expires_at = EXCLUDED.expires_at WHERE {TABLE}.expires_at <= $6 RETURNING 1"
)
PURGE = (
    f"WITH gone AS (DELETE FROM {TABLE} WHERE (scope, key) IN (SELECT scope, key FROM {TABLE} "
    "WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED) "
    "RETURNING 1) SELECT count(*) FROM gone"
)
NEXT_EXPIRY = f"SELECT min(expires_at) FROM {TABLE}"


async def claim_keys(
    conn: Any, jobs: Sequence[Job], keys: Sequence[IdempotencyKey | None], now: float
) -> dict[int, Replay]:
    """Write the keys of new jobs; return {index: replay} for the jobs that are replays.

    Runs inside the caller's transaction. Raises IdempotencyKeyInUse or
    IdempotencyKeyReused; the caller's transaction then rolls back.
    """
    replays: dict[int, Replay] = {}
    for i, (job, key) in enumerate(zip(jobs, keys, strict=True)):
        if key is None:
            continue
        if not await conn.fetchval(TRY_LOCK, LOCK_CLASS, key.scope, key.key):
            raise idempotency_rows.in_use(key)
        row = await conn.fetchrow(SELECT, key.scope, key.key)
        if row is not None and row["expires_at"] > now:
            replays[i] = idempotency_rows.replay(key, row["fingerprint"], row["job_id"])
            continue
        try:
            written = await conn.fetchval(
                UPSERT, key.scope, key.key, key.fingerprint, job.id, key.expires_at, now
            )
        except asyncpg.UniqueViolationError:
            written = None
        if written is None:
            raise idempotency_rows.in_use(key)
    return replays
