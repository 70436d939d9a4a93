"""The loop every background task shares: run once, sleep until the next deadline.

A task does not scan on an interval. `run_once(now)` handles what is due and
returns when it next has work; the loop sleeps until then, or until the
task's alarm is poked with an earlier deadline (a new delayed job, a lease
just handed out). A crash inside `run_once` is logged and the task restarts
after a short backoff, so a failing database never silently kills it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from accepted.errors import StoreUnavailable
from accepted.service.alarm import Alarm

log = logging.getLogger("accepted.tasks")

RESTART_BACKOFF = (0.1, 0.5, 1.0, 2.0, 5.0)


class Task:
    """One background duty. Subclasses set `name` and implement `run_once`."""

    name = "task"

    def __init__(
        self, alarm: Alarm, *, clock: Callable[[], float] = time.time, max_sleep: float = 60.0
    ) -> None:
        self.alarm = alarm
        self.clock = clock
        # Longest sleep even with nothing due: other nodes may add deadlines we
        # were not told about (PostgreSQL), so we look again at least this often.
        self.max_sleep = max_sleep

    async def run_once(self, now: float) -> float | None:
        """Handle everything due at `now`; return when to run next (None: nothing known)."""
        raise NotImplementedError

    async def run_forever(self) -> None:
        failures = 0
        while True:
            try:
                next_at = await self.run_once(self.clock())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = RESTART_BACKOFF[min(failures, len(RESTART_BACKOFF) - 1)]
                self._log_failure(exc, failures, delay)
                failures += 1
                await asyncio.sleep(delay)
                continue
            if failures:
                log.warning("%s works again after %d failed runs", self.name, failures)
                failures = 0
            await self.alarm.sleep_until(next_at, self.clock(), self.max_sleep)

    def _log_failure(self, exc: Exception, failures: int, delay: float) -> None:
        """A bug: its traceback, each time. The store refusing (full disk, database
        down): one line when it starts, and one when it ends, not one every 5 s.
        """
        if not isinstance(exc, StoreUnavailable):
            log.exception("%s failed; restarting in %.1f s", self.name, delay)
        elif failures == 0:
            log.warning("%s cannot run: %s; retrying quietly until it can", self.name, exc)


class TaskGroup:
    """Starts the tasks with the app and stops them, waiting, at shutdown."""

    def __init__(self, tasks: list[Task]) -> None:
        self.tasks = tasks
        self._running: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for task in self.tasks:
            self._running.append(asyncio.create_task(task.run_forever(), name=task.name))

    async def stop(self) -> None:
        for running in self._running:
            running.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        self._running.clear()
