"""The schedule firer: makes each due fire's job, then sleeps until the next fire.

It never polls. `run_once` fires what is due and returns the earliest next
fire; the loop sleeps exactly until then. A PUT or DELETE on this node pokes
its alarm with the new time, and one on another node does too (the store's
notice, `Wakeups.schedules_changed`). Every node runs one; the store's
conditional advance makes each fire one job however many wake at once.
The longest sleep is only a safety net for a notice lost with a node that
died between its commit and its notice.
"""

from __future__ import annotations

from typing import Any

from accepted.service.schedules import ScheduleService
from accepted.tasks.base import Task

LONGEST_SLEEP = 60.0


class ScheduleFirer(Task):
    name = "schedules"

    def __init__(self, schedules: ScheduleService, **kwargs: Any) -> None:
        kwargs.setdefault("max_sleep", LONGEST_SLEEP)
        super().__init__(schedules.alarm, **kwargs)
        self.schedules = schedules

    async def run_once(self, now: float) -> float | None:
        return await self.schedules.fire_due(now)
