"""The schedule calls of `Client` and `AsyncClient`, against a real server."""

from __future__ import annotations

import uuid

import pytest

from accepted.client import Schedule
from accepted.errors import InvalidField, ScheduleNotFound
from tests.client.conftest import Api


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def test_put_read_list_run_delete(api: Api, q: str) -> None:
    name = unique("s")
    made = await api.put_schedule(
        name, q, {"n": 1}, cron="30 2 * * *", timezone="Europe/Berlin", priority=0, retries=2
    )
    assert isinstance(made, Schedule)
    assert (made.name, made.queue, made.params, made.cron, made.every) == (
        name,
        q,
        {"n": 1},
        "30 2 * * *",
        None,
    )
    assert (made.timezone, made.priority, made.retries, made.paused) == (
        "Europe/Berlin",
        0,
        2,
        False,
    )
    assert made.next_run_at is not None and made.last_run_at is None
    assert await api.schedule(name) == made
    assert name in [s.name for s in await api.schedules()]
    job = await api.run_schedule(name)
    assert (job.schedule, job.queue, job.params, job.priority) == (name, q, {"n": 1}, 0)
    after = await api.schedule(name)
    assert (after.last_job_id, after.last_run_at) == (job.id, job.created_at)
    gone = await api.delete_schedule(name)
    assert gone == after
    with pytest.raises(ScheduleNotFound):
        await api.schedule(name)


async def test_every_and_paused(api: Api, q: str) -> None:
    made = await api.put_schedule(unique("s"), q, every=90, paused=True)
    assert (made.every, made.cron, made.paused, made.next_run_at) == (90, None, True, None)


async def test_a_refused_definition_raises_invalid_field(api: Api, q: str) -> None:
    with pytest.raises(InvalidField, match="timezone"):
        await api.put_schedule(unique("s"), q, every=60, timezone="Nowhere/Atlantis")
    with pytest.raises(InvalidField, match="cron"):
        await api.put_schedule(unique("s"), q, cron="every day")
