"""The four deadline sweeps. Each is a `Task` whose `run_once` is one maintenance call:

- promoter: delayed jobs become queued the moment their delay passes;
- reaper: running jobs whose lease ran out go back to the queue (or fail on
  their last allowed attempt);
- timeouts: jobs not final by their job timeout fail and are never handed out;
- purger: final jobs are removed once their result TTL has passed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from accepted.service.maintenance import Maintenance
from accepted.service.signals import Signals
from accepted.tasks.base import Task
from accepted.types import Due

Sweep = Callable[[float], Awaitable[float | None]]


class SweepTask(Task):
    def __init__(self, name: str, sweep: Sweep, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.sweep = sweep

    async def run_once(self, now: float) -> float | None:
        return await self.sweep(now)


def sweep_tasks(maintenance: Maintenance, signals: Signals, **kwargs: Any) -> list[Task]:
    table: list[tuple[str, Due, Sweep]] = [
        ("promoter", Due.DELAYED, maintenance.promote_delayed),
        ("reaper", Due.LEASE, maintenance.expire_leases),
        ("timeouts", Due.DEADLINE, maintenance.time_out_jobs),
        ("purger", Due.EXPIRED, maintenance.purge_expired),
    ]
    return [
        SweepTask(name, sweep, alarm=signals.alarms[due], **kwargs) for name, due, sweep in table
    ]
