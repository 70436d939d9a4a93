"""The limited claim on SQLite: hand-outs from queues with limits (see limits_rows).

The one writer runs the whole claim in one transaction: the limits are read,
what they count is counted, and the hand-outs and the rate window are
written before anyone else writes, so the limits hold however many
processes later share the file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from accepted.store import sql_rules, sqlite_fair
from accepted.store.limits_rows import (
    GROUP_SLACK,
    LIMITED,
    LIMITS_COLUMNS,
    Candidate,
    Room,
    limits_from,
    logged,
    opens_at,
    pick,
    room_for,
)
from accepted.store.rows import COLUMN_LIST, job_from_row
from accepted.store.sqlite_writer import SqliteWriter
from accepted.types import Job

_ROOMS = f"SELECT name, {LIMITS_COLUMNS}, rate_log FROM queues WHERE {LIMITED} AND NOT paused"
_RUNNING = f"SELECT count(*) FROM jobs WHERE queue = ? AND {sql_rules.RUNNING}"
_GROUPS_RUNNING = (
    f"SELECT fair_group, count(*) FROM jobs WHERE queue = ? AND {sql_rules.RUNNING} "
    "AND fair_group IS NOT NULL GROUP BY fair_group"
)
_PICK = sql_rules.CANDIDATE
# Parameters: the queue, now, the full groups (`{groups}`, filled per call), how many.
_CANDIDATES = (
    f"SELECT {_PICK} FROM jobs WHERE queue = ? AND {sql_rules.takeable('?')} {{groups}} "
    f"ORDER BY {sql_rules.order_by()} LIMIT ?"
)
_MARK = (
    "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease = ?, "
    "lease_expires_at = ?, updated_at = max(?, updated_at), started_at = max(?, updated_at) "
    "WHERE seq = ? "
    f"RETURNING {COLUMN_LIST}"
)
_LOG = "UPDATE queues SET rate_log = ? WHERE name = ?"


def rooms(
    conn: sqlite3.Connection,
    queues: Sequence[str] | None,
    prefixes: Sequence[str],
    now: float,
) -> dict[str, Room]:
    """The room of each limited, unpaused queue the take names (None: any)."""
    found = {}
    for name, *limit_values, log in conn.execute(_ROOMS):
        if queues is not None and name not in queues and not name.startswith(tuple(prefixes)):
            continue
        limits = limits_from(*limit_values)
        running = conn.execute(_RUNNING, (name,)).fetchone()[0] if limits.concurrency else 0
        groups: dict[str, int] = {}
        if limits.group_concurrency is not None:
            groups = dict(conn.execute(_GROUPS_RUNNING, (name,)).fetchall())
        found[name] = room_for(name, limits, msgspec.json.decode(log), running, groups, now)
    return found


def candidates(conn: sqlite3.Connection, room: Room, limit: int, now: float) -> list[Candidate]:
    """The best queued jobs of a limited queue that its room may take."""
    take = min(limit, room.left)
    if take <= 0:
        return []
    groups, args = "", [room.queue, now]
    if room.limits.group_concurrency is not None:
        take += GROUP_SLACK if limit > 1 else 0
        if room.full_groups:
            marks = ", ".join("?" * len(room.full_groups))
            groups = f"AND (fair_group IS NULL OR fair_group NOT IN ({marks}))"
            args += room.full_groups
    query = _CANDIDATES.format(groups=groups)
    return [Candidate(*row) for row in conn.execute(query, (*args, take))]


def hand_out(
    conn: sqlite3.Connection,
    chosen: Sequence[Candidate],
    leases: Sequence[str],
    lease_expires_at: float,
    now: float,
) -> list[Job]:
    """Mark the chosen rows running, in claim order, each with the next lease."""
    jobs = []
    for candidate, lease in zip(chosen, leases, strict=False):
        row = conn.execute(_MARK, (lease, lease_expires_at, now, now, candidate.seq)).fetchone()
        jobs.append(job_from_row(row))
    return jobs


def write_logs(
    conn: sqlite3.Connection, found: dict[str, Room], chosen: Sequence[Candidate], now: float
) -> float | None:
    """Write each rate window back; the earliest time a full one lets a job through."""
    taken: dict[str, int] = {}
    for c in chosen:
        taken[c.queue] = taken.get(c.queue, 0) + 1
    for room in found.values():
        log = logged(room, taken.get(room.queue, 0), now)
        if log is not None and taken.get(room.queue):
            conn.execute(_LOG, (msgspec.json.encode(log).decode(), room.queue))
            room.log = log
    return opens_at(_after(room, now) for room in found.values())


def _after(room: Room, now: float) -> Room:
    """The room as the written log leaves it (for when a full window opens)."""
    return room_for(room.queue, room.limits, room.log, 0, {}, now)


class SqliteLimits:
    """Mixed into `SqliteStore`; see `store.base.JobStore.claim_limited`."""

    _writer: SqliteWriter

    def _plain_candidates(
        self,
        conn: sqlite3.Connection,
        queues: Sequence[str] | None,
        limit: int,
        now: float,
        prefixes: Sequence[str],
    ) -> list[Candidate]:
        raise NotImplementedError  # pragma: no cover - SqliteStore's

    async def purge_fair_groups(self, now: float, limit: int) -> int:
        return await self._writer.run(lambda conn: sqlite_fair.purge(conn, now, limit))

    async def claim_limited(
        self,
        queues: Sequence[str] | None,
        count: int,
        now: float,
        leases: Sequence[str],
        lease_expires_at: float,
        *,
        prefixes: Sequence[str] = (),
    ) -> tuple[list[Job], float | None]:
        work = self._claiming_limited(queues, count, now, leases, lease_expires_at, prefixes)
        return ([], None) if work is None else await self._writer.run(work)

    def _claiming_limited(
        self,
        queues: Sequence[str] | None,
        count: int,
        now: float,
        leases: Sequence[str],
        lease_expires_at: float,
        prefixes: Sequence[str],
    ) -> Callable[[sqlite3.Connection], tuple[list[Job], float | None]] | None:
        """`claim_limited`'s work on the writer thread; None when nothing can be claimed."""
        limit = sql_rules.claim_size(count, leases, queues, prefixes)
        if limit == 0:
            return None

        def work(conn: sqlite3.Connection) -> tuple[list[Job], float | None]:
            found = rooms(conn, queues, prefixes, now)
            offered: list[Any] = self._plain_candidates(conn, queues, limit, now, prefixes)
            for room in found.values():
                offered += candidates(conn, room, limit, now)
            chosen = pick(offered, limit, found)
            jobs = hand_out(conn, chosen, leases, lease_expires_at, now)
            return jobs, write_logs(conn, found, chosen, now)

        return work
