"""Keeps this node's token cache current, and times each token's expiry.

Each run is one version read (a single-row select); the tokens are re-read
only when it moved. Poked by another node's change notice, it runs at once.
It also sleeps no later than the next cached token's expiry, so the waiters
of a token that expires (a blocked want_job, a result wait, an event stream)
leave at that moment: a timer at the expiry, not a look at each wake-up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accepted.service.alarm import Alarm
from accepted.service.auth import REFRESH_INTERVAL, AuthService
from accepted.tasks.base import Task


class TokenRefresher(Task):
    name = "tokens"

    def __init__(
        self, auth: AuthService, waiters: Callable[[], None] = lambda: None, **kwargs: Any
    ) -> None:
        super().__init__(Alarm(), **kwargs)
        self.auth = auth
        # Told when a token may have stopped holding (`Signals.standing_changed`).
        self.waiters = waiters

    def changed(self) -> None:
        """Another node changed the tokens: look now rather than at the next check."""
        self.alarm.poke(0.0)

    def standing_changed(self) -> None:
        """The tokens were re-read or one expired: the waiters hear it, and a new
        token's expiry sooner than this task's sleep wakes it in time."""
        self.waiters()
        at = self.auth.next_expiry()
        if at is not None:
            self.alarm.poke(at)

    async def run_once(self, now: float) -> float | None:
        self.auth.expire(now)  # first: a refresh that fails must not hold up an expiry
        await self.auth.refresh()
        at = self.auth.next_expiry()
        return now + REFRESH_INTERVAL if at is None else min(at, now + REFRESH_INTERVAL)
