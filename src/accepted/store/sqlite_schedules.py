"""The schedules section of the SQLite store (see `store.base`, schedules).

Every call runs on the writer thread, one at a time, so a fire's conditional
UPDATE and its job's INSERT are one transaction no other write interleaves
with; the condition (next_run_at and revision as read) is what makes a second
firer, or a fire racing a change, write nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from accepted.errors import ScheduleNotFound
from accepted.schedules import Schedule
from accepted.store.base import ChangeSchedule
from accepted.store.notices import newly_takeable
from accepted.store.rows import COLUMN_LIST, COLUMNS, column_value
from accepted.store.schedule_rows import (
    SCHEDULE_COLUMNS,
    schedule_from_columns,
    schedule_values,
)
from accepted.store.sqlite_writer import SqliteWriter
from accepted.types import Job

if TYPE_CHECKING:
    from accepted.store.local_link import LocalLink

_LIST = ", ".join(SCHEDULE_COLUMNS)
_SELECT = f"SELECT {_LIST} FROM schedules"
_UPSERT = (
    f"INSERT OR REPLACE INTO schedules ({_LIST}) VALUES ({', '.join('?' * len(SCHEDULE_COLUMNS))})"
)
_DELETE = f"DELETE FROM schedules WHERE name = ? RETURNING {_LIST}"
_DUE = f"{_SELECT} WHERE next_run_at <= ? ORDER BY next_run_at LIMIT ?"
_NEXT_DUE = "SELECT min(next_run_at) FROM schedules"
_FIRE = (
    "UPDATE schedules SET next_run_at = ?, last_run_at = ?, last_job_id = ? "
    "WHERE name = ? AND next_run_at = ? AND revision = ? AND created_at = ?"
)
_RAN = "UPDATE schedules SET last_run_at = ?, last_job_id = ? WHERE name = ?"
_INSERT_JOB = f"INSERT INTO jobs ({COLUMN_LIST}) VALUES ({', '.join('?' * len(COLUMNS))})"


class SqliteSchedules:
    """Mixed into `SqliteStore`; see `store.base.JobStore`'s schedules section."""

    _writer: SqliteWriter
    _link: LocalLink | None  # a several-process server's other processes

    def _announce_job(self, job: Job) -> None:
        if self._link is not None:
            self._link.announce(newly_takeable([(None, job)]), ())

    def _announce_schedules(self) -> None:
        if self._link is not None:
            self._link.announce_schedules()

    async def put_schedule(self, name: str, change: ChangeSchedule) -> Schedule:
        def work(conn: sqlite3.Connection) -> Schedule:
            new = change(_get(conn, name))
            conn.execute(_UPSERT, schedule_values(new))
            return new

        schedule = await self._writer.run(work, savepoint=False)
        self._announce_schedules()
        return schedule

    async def get_schedule(self, name: str) -> Schedule | None:
        return await self._writer.run(lambda conn: _get(conn, name), savepoint=False)

    async def list_schedules(self) -> list[Schedule]:
        query = f"{_SELECT} ORDER BY name"
        return await self._writer.run(lambda conn: _all(conn, query, ()), savepoint=False)

    async def delete_schedule(self, name: str) -> Schedule:
        def work(conn: sqlite3.Connection) -> Schedule:
            row = conn.execute(_DELETE, (name,)).fetchone()
            if row is None:
                raise ScheduleNotFound(f"no schedule {name!r}")
            return _from_row(row)

        schedule = await self._writer.run(work, savepoint=False)
        self._announce_schedules()
        return schedule

    async def due_schedules(self, now: float, limit: int) -> list[Schedule]:
        return await self._writer.run(lambda conn: _all(conn, _DUE, (now, limit)), savepoint=False)

    async def next_schedule_due(self) -> float | None:
        def work(conn: sqlite3.Connection) -> float | None:
            value = conn.execute(_NEXT_DUE).fetchone()[0]
            return None if value is None else float(value)

        return await self._writer.run(work, savepoint=False)

    async def fire_schedule(self, read: Schedule, fired: Schedule, job: Job) -> bool:
        advance = (
            fired.next_run_at,
            fired.last_run_at,
            fired.last_job_id,
            read.name,
            read.next_run_at,
            read.revision,
            read.created_at,
        )
        row = _job_row(job)

        def work(conn: sqlite3.Connection) -> bool:
            if conn.execute(_FIRE, advance).rowcount != 1:
                return False
            conn.execute(_INSERT_JOB, row)
            return True

        fired_now = await self._writer.run(work)
        if fired_now:
            self._announce_job(job)
        return fired_now

    async def record_run(self, name: str, job: Job) -> Schedule:
        row = _job_row(job)

        def work(conn: sqlite3.Connection) -> Schedule:
            if conn.execute(_RAN, (job.created_at, job.id, name)).rowcount != 1:
                raise ScheduleNotFound(f"no schedule {name!r}")
            conn.execute(_INSERT_JOB, row)
            found = _get(conn, name)
            assert found is not None
            return found

        schedule = await self._writer.run(work)
        self._announce_job(job)
        return schedule


def _job_row(job: Job) -> list[Any]:
    return [column_value(getattr(job, c)) for c in COLUMNS]


def _get(conn: sqlite3.Connection, name: str) -> Schedule | None:
    row = conn.execute(f"{_SELECT} WHERE name = ?", (name,)).fetchone()
    return None if row is None else _from_row(row)


def _all(conn: sqlite3.Connection, query: str, args: Sequence[Any]) -> list[Schedule]:
    return [_from_row(row) for row in conn.execute(query, args)]


def _from_row(row: Sequence[Any]) -> Schedule:
    return schedule_from_columns(dict(zip(SCHEDULE_COLUMNS, row, strict=True)))
