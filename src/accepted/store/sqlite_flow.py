"""Unique jobs and dependencies on SQLite: the insert that checks them, and the
settling of a dependency's waiting jobs.

Everything here runs on the one writer thread inside the caller's
transaction, so a row read here cannot change before the write that follows.
The partial unique index on (queue, unique_key) backs the unique rule up.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

import msgspec

from accepted.store import dependencies, idempotency_rows, sql_rules
from accepted.store.base import DependencyRules, IdempotencyKey, Outcome, Placed
from accepted.store.idempotency_rows import Replay
from accepted.types import Job, JobStatus

Write = Callable[[sqlite3.Connection, Job, Job], Job]
Get = Callable[[sqlite3.Connection, list[str]], dict[str, Job]]
Insert = Callable[[sqlite3.Connection, Job], None]

NOT_FINAL = sql_rules.NOT_FINAL
HOLDER = f"SELECT id FROM jobs WHERE queue = ? AND unique_key = ? AND status IN {NOT_FINAL}"
MARK = "UPDATE jobs SET has_dependents = 1 WHERE id = ? AND NOT has_dependents"
EDGE = "INSERT OR IGNORE INTO job_dependencies (dependency, job_id) VALUES (?, ?)"
TAKE_EDGES = "DELETE FROM job_dependencies WHERE dependency = ? RETURNING job_id"
REPOINT_KEY = "UPDATE idempotency_keys SET job_id = ?, fingerprint = ? WHERE scope = ? AND key = ?"


settles = dependencies.settles


class SqliteFlow:
    """The flow rules of one SQLite store; `rules` is set by `attach_dependencies`."""

    def __init__(self, get_many: Get, write: Write, insert: Insert) -> None:
        self.rules: DependencyRules | None = None
        self._get_many = get_many
        self._write = write
        self._insert = insert

    def insert(
        self,
        conn: sqlite3.Connection,
        jobs: Sequence[Job],
        keys: Sequence[IdempotencyKey | None],
        replays: dict[int, Replay],
        now: float,
    ) -> list[Placed]:
        """Insert each job not replayed, unless a holder of its unique key answers for it."""
        renamed: dict[str, str] = {}  # a job not inserted -> the job that answered for it
        answered: dict[int, str] = {}
        outcomes: dict[int, Outcome] = {}
        for i, job in enumerate(jobs):
            if i in replays:
                renamed[job.id] = answered[i] = replays[i].job_id
                outcomes[i] = replays[i].outcome
                continue
            pending: list[str] = []
            if job.after:  # first, so an unknown id is a 400 even when a holder answers
                job, pending = self._depend(conn, i, _renamed(job, renamed), now)
            holder = self._holder(conn, job)
            if holder is not None:
                renamed[job.id] = answered[i] = holder
                outcomes[i] = Outcome.DUPLICATE
                key = keys[i]
                if key is not None:  # the key stands for the job that answered, as a duplicate
                    fingerprint = idempotency_rows.answered_by_holder(key)
                    conn.execute(REPOINT_KEY, (holder, fingerprint, key.scope, key.key))
                continue
            for dependency in pending:
                conn.execute(MARK, (dependency,))
                conn.execute(EDGE, (dependency, job.id))
            self._insert(conn, job)
            answered[i] = job.id
            outcomes[i] = Outcome.NEW
        found = self._get_many(conn, list(set(answered.values())))
        for i, job_id in answered.items():
            key = keys[i]
            if job_id not in found and key is not None:
                raise idempotency_rows.gone(key, job_id)
        return [Placed(found[answered[i]], outcomes[i]) for i in range(len(jobs))]

    def _holder(self, conn: sqlite3.Connection, job: Job) -> str | None:
        if job.unique_key is None:
            return None
        row = conn.execute(HOLDER, (job.queue, job.unique_key)).fetchone()
        return None if row is None else str(row[0])

    def _depend(
        self, conn: sqlite3.Connection, index: int, job: Job, now: float
    ) -> tuple[Job, list[str]]:
        """The new job as its dependencies make it, and those it must wait for."""
        ids = list(dict.fromkeys(job.after))
        query = f"SELECT id, status FROM jobs WHERE id IN ({', '.join('?' * len(ids))})"
        statuses = {row[0]: JobStatus(row[1]) for row in conn.execute(query, ids)}
        return dependencies.shape(job, index, statuses, now, self._require_rules())

    def settle(self, conn: sqlite3.Connection, changes: Sequence[tuple[Job, Job]]) -> list[Job]:
        """Release or cancel what waits on the jobs that `changes` made final."""
        ended = [
            (new, new.status.value, new.updated_at) for old, new in changes if settles(old, new)
        ]
        return self.settle_ended(conn, ended) if ended else []

    def settle_deleted(
        self, conn: sqlite3.Connection, gone: Sequence[Job], now: float
    ) -> list[Job]:
        """Cancel what waits on jobs deleted before they were final."""
        ended = [(job, "deleted", now) for job in gone if job.has_dependents and not job.is_final]
        return self.settle_ended(conn, ended) if ended else []

    def settle_ended(
        self, conn: sqlite3.Connection, ended: list[tuple[Job, str, float]]
    ) -> list[Job]:
        """Work down the chains: each dependency's waiting jobs, then theirs if cancelled."""
        rules = self._require_rules()
        changed: list[Job] = []
        while ended:
            dependency, how, now = ended.pop(0)
            waiting = [row[0] for row in conn.execute(TAKE_EDGES, (dependency.id,))]
            for job in self._get_many(conn, waiting).values():
                new = dependencies.after_ending(job, dependency.id, how, now, rules)
                if new is None:
                    continue
                stored = self._write(conn, job, new)
                if stored.status is not JobStatus.DELAYED or stored.waiting == 0:
                    changed.append(stored)
                if stored.is_final and stored.has_dependents:
                    ended.append((stored, stored.status.value, now))
        return changed

    def _require_rules(self) -> DependencyRules:
        if self.rules is None:  # pragma: no cover - a wiring error
            raise RuntimeError("attach_dependencies was not called")
        return self.rules


def _renamed(job: Job, renamed: dict[str, str]) -> Job:
    if not renamed:
        return job
    return msgspec.structs.replace(job, after=tuple(renamed.get(a, a) for a in job.after))
