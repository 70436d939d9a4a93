"""The schedule rules on a fake clock: first fires, catch-up, pause, and daylight saving.

The service runs on a real SQLite store; every call gets `now` from the test,
and the firer is driven the way its task drives it: run at the time the last
run said, until the window ends.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime
from zoneinfo import ZoneInfo

import msgspec
import pytest

from accepted.errors import InvalidField, ScheduleNotFound
from accepted.queries import JobFilter
from accepted.service.jobs import JobService
from accepted.service.schedules import ScheduleService, ScheduleSpec
from accepted.types import Job
from tests.unit.conftest import T0


@pytest.fixture
def schedules(service: JobService) -> ScheduleService:
    return ScheduleService(service.store, service)


async def run_until(schedules: ScheduleService, start: float, end: float) -> None:
    """What the firer task does between `start` and `end`: run, sleep until the answer."""
    now = start
    while True:
        next_at = await schedules.fire_due(now)
        if next_at is None or next_at > end:
            return
        now = max(now, next_at)


async def made(service: JobService) -> list[Job]:
    """Every job, oldest first."""
    page = await service.store.list_jobs(JobFilter(), 10_000)
    return sorted(page.jobs, key=lambda job: (job.due_at, job.created_at))


def at(zone: str, *parts: int) -> float:
    return datetime(*parts, tzinfo=ZoneInfo(zone)).timestamp()  # type: ignore[misc]


def local(zone: str, job: Job) -> str:
    return datetime.fromtimestamp(job.due_at, ZoneInfo(zone)).strftime("%m-%d %H:%M %Z")


async def test_every_first_fires_one_interval_after_creation(
    schedules: ScheduleService, service: JobService
) -> None:
    created = await schedules.put("tick", ScheduleSpec(queue="q", every=60), T0)
    assert created.next_run_at == T0 + 60
    assert await schedules.fire_due(T0 + 59.9) == T0 + 60
    assert await made(service) == []
    assert await schedules.fire_due(T0 + 60) == T0 + 120
    [job] = await made(service)
    assert (job.schedule, job.queue, job.due_at, job.created_at) == ("tick", "q", T0 + 60, T0 + 60)
    after = await schedules.get("tick")
    assert (after.next_run_at, after.last_run_at, after.last_job_id) == (T0 + 120, T0 + 60, job.id)


async def test_every_runs_each_interval_once(
    schedules: ScheduleService, service: JobService
) -> None:
    await schedules.put("tick", ScheduleSpec(queue="q", every=10), T0)
    await run_until(schedules, T0, T0 + 100)
    assert [job.due_at - T0 for job in await made(service)] == [10.0 * k for k in range(1, 11)]


async def test_a_slightly_late_fire_keeps_its_fire_time(
    schedules: ScheduleService, service: JobService
) -> None:
    """The firer woke 0.5 s late and the next fire is not due yet: a job for that fire."""
    await schedules.put("tick", ScheduleSpec(queue="q", every=1), T0)
    assert await schedules.fire_due(T0 + 1.5) == T0 + 2
    assert await schedules.fire_due(T0 + 2) == T0 + 3
    assert [job.due_at - T0 for job in await made(service)] == [1.0, 2.0]


async def test_a_single_fire_found_long_after_is_due_when_made(
    schedules: ScheduleService, service: JobService
) -> None:
    """A daily fire found 3 hours late: its job counts its timeout from now, not from then."""
    spec = ScheduleSpec(queue="q", every=86400, job_timeout=600)
    await schedules.put("daily", spec, T0)
    back = T0 + 86400 + 3 * 3600
    assert await schedules.fire_due(back) == T0 + 2 * 86400
    [job] = await made(service)
    assert (job.due_at, job.deadline_at) == (back, back + 600)


async def test_a_short_gap_with_several_fires_missed_makes_one_job(
    schedules: ScheduleService, service: JobService
) -> None:
    """A node down for 4 s under `every: 1` (well under the 5 s a single late fire may
    be): fires 1..4 were missed, and they make one job, not one each."""
    await schedules.put("tick", ScheduleSpec(queue="q", every=1), T0)
    back = T0 + 4.5
    assert await schedules.fire_due(back) == T0 + 5
    [job] = await made(service)
    assert job.due_at == back  # due now: it stands for all the fires missed
    await run_until(schedules, back, T0 + 6)
    assert [j.due_at - T0 for j in await made(service)] == [4.5, 5.0, 6.0]


async def test_a_gap_ending_on_a_fire_time_makes_one_job(
    schedules: ScheduleService, service: JobService
) -> None:
    """Back exactly at fire 4: fires 1..4 are all due now, so one job covers them."""
    await schedules.put("tick", ScheduleSpec(queue="q", every=1), T0)
    assert await schedules.fire_due(T0 + 4) == T0 + 5
    assert [job.due_at - T0 for job in await made(service)] == [4.0]


async def test_catch_up_makes_one_job_for_every_missed_fire(
    schedules: ScheduleService, service: JobService
) -> None:
    await schedules.put("tick", ScheduleSpec(queue="q", every=60), T0)
    back = T0 + 5 * 3600 + 30  # no node ran for five hours
    assert await schedules.fire_due(back) == T0 + 5 * 3600 + 60
    [job] = await made(service)
    assert job.due_at == back  # due now: it stands for all the fires missed
    assert await schedules.fire_due(back + 1) == T0 + 5 * 3600 + 60
    assert len(await made(service)) == 1
    await run_until(schedules, back + 1, T0 + 5 * 3600 + 60)
    assert [j.due_at for j in await made(service)] == [back, T0 + 5 * 3600 + 60]


async def test_cron_catch_up_makes_one_job(schedules: ScheduleService, service: JobService) -> None:
    start = at("UTC", 2026, 1, 5, 9, 0, 30)
    await schedules.put("hourly", ScheduleSpec(queue="q", cron="0 * * * *"), start)
    back = at("UTC", 2026, 1, 5, 19, 10)
    assert await schedules.fire_due(back) == at("UTC", 2026, 1, 5, 20, 0)
    assert len(await made(service)) == 1


@pytest.mark.parametrize(
    ("zone", "day"),
    [("Europe/Berlin", 29), ("America/New_York", 8)],
)
async def test_spring_forward_runs_the_skipped_time_once_right_after_the_gap(
    schedules: ScheduleService, service: JobService, zone: str, day: int
) -> None:
    """02:30 does not exist that day: the job runs at 03:00, once; the days around at 02:30."""
    start = at(zone, 2026, 3, day - 2, 12, 0)
    await schedules.put("nightly", ScheduleSpec(queue="q", cron="30 2 * * *", timezone=zone), start)
    await run_until(schedules, start, at(zone, 2026, 3, day + 2, 12, 0))
    summer = "CEST" if zone == "Europe/Berlin" else "EDT"
    winter = "CET" if zone == "Europe/Berlin" else "EST"
    assert [local(zone, job) for job in await made(service)] == [
        f"03-{day - 1:02d} 02:30 {winter}",
        f"03-{day:02d} 03:00 {summer}",
        f"03-{day + 1:02d} 02:30 {summer}",
        f"03-{day + 2:02d} 02:30 {summer}",
    ]


@pytest.mark.parametrize(
    ("zone", "month", "day"),
    [("Europe/Berlin", 10, 25), ("America/New_York", 11, 1)],
)
async def test_fall_back_runs_the_repeated_time_once(
    schedules: ScheduleService, service: JobService, zone: str, month: int, day: int
) -> None:
    """01:30 (New York) or 02:30 (Berlin) happens twice that night: one job, the first time."""
    hour = 2 if zone == "Europe/Berlin" else 1
    start = at(zone, 2026, month, day, 0, 0)
    spec = ScheduleSpec(queue="q", cron=f"30 {hour} * * *", timezone=zone)
    await schedules.put("nightly", spec, start)
    await run_until(schedules, start, start + 2 * 86400)
    summer = "CEST" if zone == "Europe/Berlin" else "EDT"
    winter = "CET" if zone == "Europe/Berlin" else "EST"
    assert [local(zone, job) for job in await made(service)] == [
        f"{month:02d}-{day:02d} {hour:02d}:30 {summer}",
        f"{month:02d}-{day + 1:02d} {hour:02d}:30 {winter}",
    ]


@pytest.mark.parametrize(("month", "day", "fires"), [(10, 25, 50), (3, 29, 46)])
async def test_a_wildcard_hour_follows_elapsed_time_through_a_change(
    schedules: ScheduleService, service: JobService, month: int, day: int, fires: int
) -> None:
    """`*/30 * * * *` fires every real half hour: 50 times on the 25-hour day, 46 on the 23."""
    zone = "Europe/Berlin"
    start = at(zone, 2026, month, day, 0, 0)
    spec = ScheduleSpec(queue="q", cron="*/30 * * * *", timezone=zone)
    await schedules.put("half", spec, start - 1)
    await run_until(schedules, start - 1, at(zone, 2026, month, day + 1, 0, 0) - 1)
    jobs = await made(service)
    assert len(jobs) == fires
    assert {b.due_at - a.due_at for a, b in itertools.pairwise(jobs)} == {1800.0}


async def test_pause_stops_fires_and_resume_does_not_make_up_for_them(
    schedules: ScheduleService, service: JobService
) -> None:
    await schedules.put("tick", ScheduleSpec(queue="q", every=60), T0)
    paused = await schedules.put("tick", ScheduleSpec(queue="q", every=60, paused=True), T0 + 1)
    assert (paused.paused, paused.next_run_at) == (True, None)
    assert await schedules.fire_due(T0 + 600) is None
    resumed = await schedules.put("tick", ScheduleSpec(queue="q", every=60), T0 + 600)
    assert resumed.next_run_at == T0 + 660
    await run_until(schedules, T0 + 600, T0 + 660)
    assert [job.due_at for job in await made(service)] == [T0 + 660]


async def test_rewrite_keeps_the_next_fire_unless_the_cadence_changes(
    schedules: ScheduleService,
) -> None:
    first = await schedules.put("tick", ScheduleSpec(queue="q", every=60), T0)
    same = await schedules.put("tick", ScheduleSpec(queue="other", every=60), T0 + 30)
    assert (same.next_run_at, same.queue, same.created_at) == (T0 + 60, "other", T0)
    assert same.revision == first.revision + 1
    other = await schedules.put("tick", ScheduleSpec(queue="q", every=100), T0 + 30)
    assert other.next_run_at == T0 + 130


async def test_a_fire_read_before_a_change_writes_nothing(
    schedules: ScheduleService, service: JobService
) -> None:
    read = await schedules.put("tick", ScheduleSpec(queue="q", every=60), T0)
    await schedules.put("tick", ScheduleSpec(queue="q", every=60, params=msgspec.Raw(b"2")), T0)
    job = schedules._job(read, T0 + 60, due_at=T0 + 60)
    fired = msgspec.structs.replace(read, next_run_at=T0 + 120)
    assert await service.store.fire_schedule(read, fired, job) is False
    assert await made(service) == []


async def test_run_now_makes_a_job_and_keeps_the_fire_times(
    schedules: ScheduleService, service: JobService
) -> None:
    spec = ScheduleSpec(queue="q", every=60, params=msgspec.Raw(b'{"a":1}'), priority=0)
    await schedules.put("tick", spec, T0)
    job = await schedules.run_now("tick", T0 + 5)
    assert (job.schedule, job.due_at, job.priority, bytes(job.params)) == (
        "tick",
        T0 + 5,
        0,
        b'{"a":1}',
    )
    after = await schedules.get("tick")
    assert (after.next_run_at, after.last_run_at, after.last_job_id) == (T0 + 60, T0 + 5, job.id)
    with pytest.raises(ScheduleNotFound):
        await schedules.run_now("nope", T0)


async def test_scheduled_jobs_take_the_job_options(
    schedules: ScheduleService, service: JobService
) -> None:
    spec = ScheduleSpec(queue="q", every=60, job_timeout=30, result_ttl=100, retries=2)
    await schedules.put("tick", spec, T0)
    await schedules.fire_due(T0 + 61)
    [job] = await made(service)
    assert (job.due_at, job.deadline_at, job.result_ttl, job.retries) == (
        T0 + 60,
        T0 + 90,
        100,
        2,
    )


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        (ScheduleSpec(queue="q"), "exactly one of cron"),
        (ScheduleSpec(queue="q", cron="* * * * *", every=5), "exactly one of cron"),
        (ScheduleSpec(queue="q", cron="61 * * * *"), "not a valid expression"),
        (ScheduleSpec(queue="q", cron="* * * *"), "5 fields"),
        (ScheduleSpec(queue="q", cron="0 0 30 2 *"), "cron"),
        (ScheduleSpec(queue="q", every=60, timezone="Mars/Olympus"), "timezone"),
        (ScheduleSpec(queue="q", every=60, timezone="../etc/passwd"), "timezone"),
        # Files of the host's zoneinfo folder that are no IANA zone: `localtime`
        # would mean this host's clock, a different zone on each node.
        (ScheduleSpec(queue="q", every=60, timezone="localtime"), "timezone"),
        (ScheduleSpec(queue="q", every=60, timezone="posixrules"), "timezone"),
    ],
)
async def test_bad_definitions_are_refused(
    schedules: ScheduleService, spec: ScheduleSpec, says: str
) -> None:
    with pytest.raises(InvalidField, match=says):
        await schedules.put("bad", spec, T0)
    assert await schedules.list() == []


async def test_a_put_wakes_the_sleeping_firer_when_its_fire_is_sooner(
    schedules: ScheduleService,
) -> None:
    """The firer sleeps until the next fire it knows of; a new one sooner wakes it."""
    asleep = asyncio.ensure_future(schedules.alarm.sleep_until(None, T0, 60.0))
    await asyncio.sleep(0)  # now asleep, for up to a minute
    await schedules.put("later", ScheduleSpec(queue="q", every=120), T0)
    assert not asleep.done()  # due after its wake-up anyway: no need to stir
    await schedules.put("sooner", ScheduleSpec(queue="q", every=30), T0)
    await asyncio.wait_for(asleep, 5.0)


async def test_another_nodes_change_wakes_the_firer(schedules: ScheduleService) -> None:
    asleep = asyncio.ensure_future(schedules.alarm.sleep_until(T0 + 3600, T0, 3600.0))
    await asyncio.sleep(0)
    schedules.changed()  # what a notice from another node calls
    await asyncio.wait_for(asleep, 5.0)
