"""Fairness groups on SQLite: ranking grouped jobs as they are inserted (see fair_rows)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from accepted.store import sql_rules
from accepted.store.fair_rows import STEP, first_rank, group_counts, ranked
from accepted.types import Job

# The rank of the head of a queue's priority: one look-up in the claim index.
_HEAD = (
    f"SELECT {sql_rules.RANK} FROM jobs WHERE {sql_rules.QUEUED} AND queue = ? "
    f"AND priority = ? ORDER BY {sql_rules.head_order()} LIMIT 1"
)
_LAST = "SELECT last_rank FROM fair_groups WHERE queue = ? AND priority = ? AND name = ?"
_SET_LAST = (
    "INSERT INTO fair_groups (queue, priority, name, last_rank) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (queue, priority, name) DO UPDATE SET last_rank = excluded.last_rank"
)


# Group rows that no longer change a rank (see JobStore.purge_fair_groups).
_PURGE = (
    "DELETE FROM fair_groups WHERE (queue, priority, name) IN ("
    "SELECT g.queue, g.priority, g.name FROM fair_groups AS g WHERE g.last_rank + ? <= "
    "coalesce((SELECT coalesce(j.fair_rank, j.due_at) FROM jobs AS j "
    "WHERE j.status = 'queued' AND j.queue = g.queue AND j.priority = g.priority "
    "ORDER BY coalesce(j.fair_rank, j.due_at), j.seq LIMIT 1), ?) LIMIT ?)"
)


def purge(conn: sqlite3.Connection, now: float, limit: int) -> int:
    return conn.execute(_PURGE, (STEP, now, limit)).rowcount


def rank_groups(conn: sqlite3.Connection, jobs: Sequence[Job]) -> list[Job]:
    """The jobs with the grouped ones ranked; records each group's last rank.

    Runs in the inserting transaction (one writer), so two batches of one
    group never get the same ranks.
    """
    firsts = {}
    heads: dict[tuple[str, int], float] = {}  # one look-up per queue and priority
    now = min(job.created_at for job in jobs)
    for key, n in group_counts(jobs).items():
        if key[:2] not in heads:
            head = conn.execute(_HEAD, key[:2]).fetchone()
            heads[key[:2]] = now if head is None else head[0]
        last = conn.execute(_LAST, key).fetchone()
        first = first_rank(heads[key[:2]], None if last is None else last[0])
        firsts[key] = first
        conn.execute(_SET_LAST, (*key, first + (n - 1) * STEP))
    return ranked(jobs, firsts)
