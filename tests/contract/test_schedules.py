"""The schedules section of the store, on every backend.

The property everything rests on: a fire advances `next_run_at` from the
value its firer read, in the same transaction as the job's insert, so two
firers of the same fire (two nodes, or two tasks) make one job between them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
import pytest

from accepted.errors import InvalidField, ScheduleNotFound
from accepted.schedules import Schedule
from accepted.store import JobStore, open_store
from tests.contract.builders import NOW, make_job
from tests.contract.conftest import OpenStore

replace = msgspec.structs.replace


def schedule(name: str = "s", **fields: Any) -> Schedule:
    values: dict[str, Any] = {
        "name": name,
        "queue": "q",
        "every": 60.0,
        "created_at": NOW,
        "updated_at": NOW,
        "next_run_at": NOW + 60,
        "revision": 1,
    }
    values.update(fields)
    return Schedule(**values)


async def put(store: JobStore, value: Schedule) -> Schedule:
    return await store.put_schedule(value.name, lambda current: value)


async def scheduled_jobs(store: JobStore, ids: list[str]) -> list[str]:
    return [job_id for job_id in ids if await store.get_job(job_id) is not None]


async def test_schedules_are_stored_listed_and_deleted(store: JobStore) -> None:
    full = schedule(
        "b",
        cron="*/5 * * * *",
        every=None,
        timezone="Europe/Berlin",
        params=msgspec.Raw(b'{"x": [1, 2]}'),
        priority=0,
        job_timeout=30.0,
        result_ttl=3600.0,
        max_attempts=4,
        retries=2,
        callback_url="http://127.0.0.1:9/hook",
    )
    paused = schedule("a", paused=True, next_run_at=None)
    assert await put(store, full) == full
    await put(store, paused)
    assert await store.get_schedule("b") == full
    assert await store.list_schedules() == [paused, full]
    assert await store.delete_schedule("b") == full
    assert await store.get_schedule("b") is None
    with pytest.raises(ScheduleNotFound):
        await store.delete_schedule("b")


async def test_put_passes_the_current_row_and_a_refusal_writes_nothing(store: JobStore) -> None:
    seen: list[Schedule | None] = []

    def change(current: Schedule | None) -> Schedule:
        seen.append(current)
        return schedule(revision=1 if current is None else current.revision + 1)

    await store.put_schedule("s", change)
    await store.put_schedule("s", change)
    assert seen == [None, schedule()]

    def refuse(current: Schedule | None) -> Schedule:
        raise InvalidField("no")

    with pytest.raises(InvalidField):
        await store.put_schedule("s", refuse)
    assert await store.get_schedule("s") == schedule(revision=2)


async def test_due_schedules_and_the_next_due_time(store: JobStore) -> None:
    assert await store.next_schedule_due() is None
    await put(store, schedule("late", next_run_at=NOW + 30))
    await put(store, schedule("early", next_run_at=NOW + 10))
    await put(store, schedule("paused", paused=True, next_run_at=None))
    assert await store.next_schedule_due() == NOW + 10
    assert [s.name for s in await store.due_schedules(NOW + 30, 10)] == ["early", "late"]
    assert [s.name for s in await store.due_schedules(NOW + 30, 1)] == ["early"]
    assert await store.due_schedules(NOW + 9, 10) == []


async def test_a_fire_advances_and_inserts_together_once(store: JobStore) -> None:
    read = await put(store, schedule())
    job = make_job(schedule="s", due_at=NOW + 60)
    fired = replace(read, next_run_at=NOW + 120, last_run_at=NOW + 60, last_job_id=job.id)
    assert await store.fire_schedule(read, fired, job) is True
    assert await store.get_job(job.id) == job
    assert await store.get_schedule("s") == fired
    again = make_job(schedule="s")
    assert await store.fire_schedule(read, replace(fired, last_job_id=again.id), again) is False
    assert await store.get_job(again.id) is None
    assert await store.get_schedule("s") == fired


async def test_a_fire_read_before_a_change_or_a_delete_writes_nothing(store: JobStore) -> None:
    read = await put(store, schedule())
    await put(store, replace(read, queue="other", revision=2))
    job = make_job()
    assert await store.fire_schedule(read, replace(read, next_run_at=NOW + 120), job) is False
    await store.delete_schedule("s")
    assert await store.fire_schedule(read, replace(read, next_run_at=NOW + 120), job) is False
    assert await store.get_job(job.id) is None


async def test_two_firers_at_once_make_one_job(open_new_store: OpenStore) -> None:
    """Two nodes (PostgreSQL), or two calls in flight on one store (SQLite)."""
    first = await open_new_store()
    second = await open_new_store() if getattr(first, "shared", False) else first
    await _fire_twice_at_once(first, second)


async def test_two_processes_on_one_sqlite_file_make_one_job(tmp_path: Path) -> None:
    """The processes of `accepted serve --workers N` on SQLite: two stores, one file."""
    target = str(tmp_path / "two-processes.db")
    first, second = open_store(target, exclusive=False), open_store(target, exclusive=False)
    await first.open()
    await second.open()
    try:
        await _fire_twice_at_once(first, second)
    finally:
        await first.close()
        await second.close()


async def _fire_twice_at_once(first: JobStore, second: JobStore) -> None:
    for round_ in range(5):
        read = await put(first, schedule(next_run_at=NOW + round_, revision=round_ + 1))
        jobs = [make_job(schedule="s"), make_job(schedule="s")]
        won = await asyncio.gather(
            *(
                store.fire_schedule(read, replace(read, next_run_at=NOW + 100 + i), job)
                for i, (store, job) in enumerate(zip((first, second), jobs, strict=True))
            )
        )
        assert sorted(won) == [False, True]
        assert len(await scheduled_jobs(first, [job.id for job in jobs])) == 1


async def test_a_manual_run_inserts_and_records_the_last_run(store: JobStore) -> None:
    await put(store, schedule())
    job = make_job(schedule="s", created_at=NOW + 5)
    after = await store.record_run("s", job)
    assert (after.next_run_at, after.last_run_at, after.last_job_id) == (NOW + 60, NOW + 5, job.id)
    assert await store.get_job(job.id) == job
    gone = make_job(schedule="nope")
    with pytest.raises(ScheduleNotFound):
        await store.record_run("nope", gone)
    assert await store.get_job(gone.id) is None


async def test_two_puts_of_a_new_name_both_apply(open_new_store: OpenStore) -> None:
    first = await open_new_store()
    second = await open_new_store() if getattr(first, "shared", False) else first

    def bump(current: Schedule | None) -> Schedule:
        return schedule(revision=1 if current is None else current.revision + 1)

    await asyncio.gather(first.put_schedule("s", bump), second.put_schedule("s", bump))
    found = await first.get_schedule("s")
    assert found is not None and found.revision == 2


async def test_a_fire_read_before_a_delete_and_remake_writes_nothing(store: JobStore) -> None:
    """Same name, same next fire, revision 1 again: only created_at tells them apart."""
    read = await put(store, schedule())
    await store.delete_schedule("s")
    await put(store, schedule(created_at=NOW + 1, params=msgspec.Raw(b'"new"')))
    job = make_job()
    assert await store.fire_schedule(read, replace(read, next_run_at=NOW + 120), job) is False
    assert await store.get_job(job.id) is None
