"""Keeps this node's token cache current: the safety net behind change notices.

Each run is one version read (a single-row select); the tokens are re-read
only when it moved. Poked by another node's change notice, it runs at once.
"""

from __future__ import annotations

from typing import Any

from accepted.service.auth import REFRESH_INTERVAL, AuthService
from accepted.service.signals import Alarm
from accepted.tasks.base import Task


class TokenRefresher(Task):
    name = "tokens"

    def __init__(self, auth: AuthService, **kwargs: Any) -> None:
        super().__init__(Alarm(), **kwargs)
        self.auth = auth

    def changed(self) -> None:
        """Another node changed the tokens: look now rather than at the next check."""
        self.alarm.poke(0.0)

    async def run_once(self, now: float) -> float | None:
        await self.auth.refresh()
        return now + REFRESH_INTERVAL
