"""The schedules section of the PostgreSQL store (see `store.base`, schedules).

A fire is one transaction: `UPDATE ... WHERE next_run_at = $read AND revision
= $read` and, only if that matched its row, the job's INSERT. Under READ
COMMITTED a second node's UPDATE of the same fire waits for the first's
commit, then re-checks its WHERE on the new row, finds `next_run_at` moved
on, and matches nothing: that node inserts no job. No leader, no lock held
between fires.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from accepted.errors import ScheduleNotFound
from accepted.schedules import Schedule
from accepted.store import postgres_sql as sql
from accepted.store.base import ChangeSchedule
from accepted.store.notices import newly_takeable
from accepted.store.postgres_link import Link
from accepted.store.schedule_rows import (
    SCHEDULE_COLUMNS,
    schedule_from_columns,
    schedule_values,
)
from accepted.types import Job

T = TypeVar("T")

TABLE = "accepted_schedules"
_LIST = ", ".join(SCHEDULE_COLUMNS)
_SELECT = f"SELECT {_LIST} FROM {TABLE}"
_LOCK = f"{_SELECT} WHERE name = $1 FOR UPDATE"
_PLACES = ", ".join(f"${i + 1}" for i in range(len(SCHEDULE_COLUMNS)))
# A new name: inserted unless a concurrent put got there first (then locked and redone).
_INSERT = f"INSERT INTO {TABLE} ({_LIST}) VALUES ({_PLACES}) ON CONFLICT (name) DO NOTHING"
_REWRITE = f"UPDATE {TABLE} SET ({_LIST}) = ({_PLACES}) WHERE name = $1"  # the row is locked
_DELETE = f"DELETE FROM {TABLE} WHERE name = $1 RETURNING {_LIST}"
_ALL = f"{_SELECT} ORDER BY name"
_DUE = f"{_SELECT} WHERE next_run_at <= $1 ORDER BY next_run_at LIMIT $2"
_NEXT_DUE = f"SELECT min(next_run_at) FROM {TABLE}"
_FIRE = (
    f"UPDATE {TABLE} SET next_run_at = $1, last_run_at = $2, last_job_id = $3 "
    "WHERE name = $4 AND next_run_at = $5 AND revision = $6 AND created_at = $7"
)
_RAN = f"UPDATE {TABLE} SET last_run_at = $1, last_job_id = $2 WHERE name = $3 RETURNING {_LIST}"


class PostgresSchedules:
    """Mixed into `PostgresStore`; see `store.base.JobStore`'s schedules section."""

    _link: Link

    def _run(
        self, work: Callable[[Any], Awaitable[T]], *, transaction: bool = True
    ) -> Awaitable[T]:
        raise NotImplementedError  # pragma: no cover - PostgresStore's

    async def put_schedule(self, name: str, change: ChangeSchedule) -> Schedule:
        async def work(conn: Any) -> Schedule:
            while True:
                record = await conn.fetchrow(_LOCK, name)
                current = None if record is None else _from_record(record)
                new = change(current)
                if current is not None:
                    await conn.execute(_REWRITE, *schedule_values(new))
                    return new
                if await conn.execute(_INSERT, *schedule_values(new)) == "INSERT 0 1":
                    return new
                # Another put inserted the name meanwhile: lock its row and decide again.

        schedule = await self._run(work)
        self._link.announce_schedules()
        return schedule

    async def get_schedule(self, name: str) -> Schedule | None:
        async def work(conn: Any) -> Schedule | None:
            record = await conn.fetchrow(f"{_SELECT} WHERE name = $1", name)
            return None if record is None else _from_record(record)

        return await self._run(work, transaction=False)

    async def list_schedules(self) -> list[Schedule]:
        async def work(conn: Any) -> list[Schedule]:
            return [_from_record(r) for r in await conn.fetch(_ALL)]

        return await self._run(work, transaction=False)

    async def delete_schedule(self, name: str) -> Schedule:
        async def work(conn: Any) -> Schedule:
            record = await conn.fetchrow(_DELETE, name)
            if record is None:
                raise ScheduleNotFound(f"no schedule {name!r}")
            return _from_record(record)

        schedule = await self._run(work, transaction=False)
        self._link.announce_schedules()
        return schedule

    async def due_schedules(self, now: float, limit: int) -> list[Schedule]:
        async def work(conn: Any) -> list[Schedule]:
            return [_from_record(r) for r in await conn.fetch(_DUE, now, limit)]

        return await self._run(work, transaction=False)

    async def next_schedule_due(self) -> float | None:
        async def work(conn: Any) -> float | None:
            value = await conn.fetchval(_NEXT_DUE)
            return None if value is None else float(value)

        return await self._run(work, transaction=False)

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

        async def work(conn: Any) -> bool:
            if await conn.execute(_FIRE, *advance) != "UPDATE 1":
                return False
            await conn.execute(sql.INSERT_ONE, *sql.column_values(job))
            return True

        fired_now = await self._run(work)
        if fired_now:
            self._link.announce(newly_takeable([(None, job)]), ())
        return fired_now

    async def record_run(self, name: str, job: Job) -> Schedule:
        async def work(conn: Any) -> Schedule:
            record = await conn.fetchrow(_RAN, job.created_at, job.id, name)
            if record is None:
                raise ScheduleNotFound(f"no schedule {name!r}")
            await conn.execute(sql.INSERT_ONE, *sql.column_values(job))
            return _from_record(record)

        schedule = await self._run(work)
        self._link.announce(newly_takeable([(None, job)]), ())
        return schedule


def _from_record(record: Any) -> Schedule:
    return schedule_from_columns({c: record[c] for c in SCHEDULE_COLUMNS})
