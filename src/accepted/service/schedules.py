"""The schedule service: recurring jobs, each fire time made into exactly one job.

The rules live here and take `now` from the caller; the store makes them
atomic across nodes (store.base, the schedules section):

- a new schedule's first fire: the next cron match after now, or `every`
  seconds after now; a rewrite with the same cadence keeps its next fire,
  and a resume counts from the resume (paused time is not made up);
- a fire on time (at most `grace` seconds late, and the fire after it not
  yet due) makes one job for that fire time, due at it, and moves on to the
  next fire time after it;
- otherwise no node made the fires for a while: the fire after it is already
  due too (several missed, however short the gap), or it is further behind
  than `grace`. One job for all the fire times missed, due now, and the next
  fire is the first after now;
- a manual run makes a job now and leaves the fire times alone.

Every job is stored together with the schedule's advance by one conditional
write; a firer that lost the race (another node, or a change in between)
writes nothing and reads the next due time again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import msgspec

from accepted.errors import ScheduleNotFound
from accepted.schedules import UTC_NAME, Schedule
from accepted.service.alarm import Alarm
from accepted.service.cadence import Cadence, cadence
from accepted.service.jobs import JobService, NewJob
from accepted.store.base import JobStore
from accepted.types import JSON_EMPTY_OBJECT, Job

log = logging.getLogger("accepted.schedules")

# A single fire this late (the fire after it not yet due) is still on time: a
# busy node or a pause of the event loop, and the job is due at its fire time.
# Later than this it is due now, so a job timeout counts from when it is made.
# Several fire times passed (the next one due too) always make one job.
LATE_GRACE = 5.0
FIRE_BATCH = 100  # schedules fired per store read


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """What PUT /schedules/{name} asks for; field ranges already checked by the caller."""

    queue: str
    params: msgspec.Raw = field(default_factory=lambda: JSON_EMPTY_OBJECT)
    cron: str | None = None
    every: float | None = None
    timezone: str = UTC_NAME
    paused: bool = False
    priority: int | None = None
    job_timeout: float | None = None
    result_ttl: float | None = None
    max_attempts: int | None = None
    retries: int | None = None
    callback_url: str | None = None


class ScheduleService:
    def __init__(
        self,
        store: JobStore,
        jobs: JobService,
        *,
        grace: float = LATE_GRACE,
        batch: int = FIRE_BATCH,
    ) -> None:
        self.store = store
        self.jobs = jobs
        self.grace = grace
        self.batch = batch
        # The firer task sleeps on this until the next fire; a change pokes it.
        self.alarm = Alarm()

    # -- the API -------------------------------------------------------------------

    async def put(self, name: str, spec: ScheduleSpec, now: float) -> Schedule:
        """Create or replace the schedule `name`; InvalidField on a bad definition."""
        rule = cadence(spec.cron, spec.every, spec.timezone)
        if spec.callback_url is not None:
            self.jobs.destinations.check_url(spec.callback_url, "callback_url")

        def change(current: Schedule | None) -> Schedule:
            return _rewritten(name, spec, rule, current, now)

        schedule = await self.store.put_schedule(name, change)
        self._poke(schedule.next_run_at)
        return schedule

    async def get(self, name: str) -> Schedule:
        schedule = await self.store.get_schedule(name)
        if schedule is None:
            raise ScheduleNotFound(f"no schedule {name!r}")
        return schedule

    async def list(self) -> list[Schedule]:
        return await self.store.list_schedules()

    async def delete(self, name: str) -> Schedule:
        """Remove the schedule (its jobs stay); the answer is the schedule as it was."""
        return await self.store.delete_schedule(name)

    async def run_now(self, name: str, now: float) -> Job:
        """A job of the schedule, now; the fire times stay as they are."""
        schedule = await self.get(name)
        job = self._job(schedule, now, due_at=now)
        await self.store.record_run(name, job)
        self.jobs.after_insert([job])
        return job

    def changed(self) -> None:
        """Another node changed a schedule: read the next fire again."""
        self.alarm.poke(0.0)

    # -- the firer (tasks/schedules.py) ----------------------------------------------

    async def fire_due(self, now: float) -> float | None:
        """Make the jobs of every fire due at `now`; return when the next is due."""
        due = await self.store.due_schedules(now, self.batch)
        behind = len(due) >= self.batch
        for schedule in due:
            next_run_at = await self._fire(schedule, now)
            behind = behind or (next_run_at is not None and next_run_at <= now)
        if behind:
            return now  # more fires are due already: go again at once
        return await self.store.next_schedule_due()

    async def _fire(self, schedule: Schedule, now: float) -> float | None:
        fire_at = schedule.next_run_at
        assert fire_at is not None  # due_schedules returns scheduled ones only
        rule = cadence(schedule.cron, schedule.every, schedule.timezone)
        following = rule.after(fire_at, fire_at)
        on_time = following is None or following > now
        if on_time and now - fire_at <= self.grace:
            due_at, next_run_at = fire_at, following
        else:  # missed while no node ran: one job for all of them
            due_at, next_run_at = now, rule.after(fire_at, now)
        job = self._job(schedule, now, due_at=due_at)
        fired = msgspec.structs.replace(
            schedule, next_run_at=next_run_at, last_run_at=now, last_job_id=job.id
        )
        if await self.store.fire_schedule(schedule, fired, job):
            self.jobs.after_insert([job])
            return next_run_at
        return None  # another firer made this fire's job, or the schedule changed

    def _job(self, schedule: Schedule, now: float, *, due_at: float) -> Job:
        new = NewJob(
            queue=schedule.queue,
            params=schedule.params,
            priority=1 if schedule.priority is None else schedule.priority,
            result_ttl=schedule.result_ttl,
            callback_url=schedule.callback_url,
            job_timeout=schedule.job_timeout,
            max_attempts=schedule.max_attempts,
            retries=schedule.retries,
        )
        job = self.jobs.new_job(new, now)
        deadline = None if job.timeout is None else due_at + job.timeout
        return msgspec.structs.replace(
            job, due_at=due_at, deadline_at=deadline, schedule=schedule.name
        )

    def _poke(self, next_run_at: float | None) -> None:
        if next_run_at is not None:
            self.alarm.poke(next_run_at)


def _rewritten(
    name: str, spec: ScheduleSpec, rule: Cadence, current: Schedule | None, now: float
) -> Schedule:
    """The stored schedule after a PUT of `spec` over `current` (None: a new one)."""
    new = Schedule(
        name=name,
        queue=spec.queue,
        params=spec.params,
        cron=spec.cron,
        every=spec.every,
        timezone=spec.timezone,
        paused=spec.paused,
        priority=spec.priority,
        job_timeout=spec.job_timeout,
        result_ttl=spec.result_ttl,
        max_attempts=spec.max_attempts,
        retries=spec.retries,
        callback_url=spec.callback_url,
        created_at=now if current is None else current.created_at,
        updated_at=now,
        last_run_at=None if current is None else current.last_run_at,
        last_job_id=None if current is None else current.last_job_id,
        revision=1 if current is None else current.revision + 1,
    )
    if spec.paused:
        next_run_at = None
    elif current is not None and current.same_cadence(new) and current.next_run_at is not None:
        next_run_at = current.next_run_at
    else:
        next_run_at = rule.first(now)
    return msgspec.structs.replace(new, next_run_at=next_run_at)
