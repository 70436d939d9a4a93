"""How a background task sleeps until its next deadline, and no longer.

Each task (sweeps, callbacks, schedules, checkpoints...) sleeps until the
earliest deadline it knows of. A write that makes an earlier one (a job delayed
by one second while the sweep sleeps for a minute) pokes its alarm, so nothing
polls and nothing waits past its time.
"""

from __future__ import annotations

import asyncio


class Alarm:
    """Wakes a background task early when a deadline sooner than its sleep appears."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._sleeping_until: float | None = None

    def poke(self, at: float) -> None:
        if self._sleeping_until is None or at < self._sleeping_until:
            self._event.set()

    async def sleep_until(self, at: float | None, now: float, cap: float) -> None:
        """Sleep until `at` (at most `cap` seconds), or until poked with an earlier time."""
        delay = cap if at is None else min(max(at - now, 0.0), cap)
        self._sleeping_until = now + delay
        try:
            if delay > 0:
                async with asyncio.timeout(delay):
                    await self._event.wait()
        except TimeoutError:
            pass
        finally:
            self._sleeping_until = None
            self._event.clear()
