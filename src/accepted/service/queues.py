"""The queue service: list, read, pause and resume queues.

A pause is written to the store (durable, and every node's claims skip the
queue there) and applied to this node's `Takers` at once (a new job of a
paused queue is handed to nobody and wakes nobody). Other nodes hear of it
by the store's notices (`CrossNodeWakeups.queue_paused`), and re-read the
paused set when notices may have been missed.
"""

from __future__ import annotations

from accepted.errors import QueueNotFound
from accepted.queries import Queue, QueueLimits
from accepted.service.limits import check_limits
from accepted.service.signals import Signals
from accepted.store.base import JobStore


class QueueService:
    def __init__(self, store: JobStore, signals: Signals) -> None:
        self.store = store
        self.signals = signals

    async def list_queues(self, now: float) -> list[Queue]:
        """Every queue that exists, sorted by name (also what the metrics gauges show)."""
        return [Queue.at(state, now) for state in await self.store.queue_states()]

    async def get(self, name: str, now: float) -> Queue:
        found = await self.store.queue_states([name])
        if not found:
            raise QueueNotFound(f"no queue {name!r}")
        return Queue.at(found[0], now)

    async def pause(self, name: str, now: float) -> Queue:
        """Pausing a queue that does not exist yet creates its setting."""
        takers = self.signals.takers
        # Paused here before the write: no hand-off of this node slips in meanwhile.
        was_paused = name in takers.paused
        takers.set_paused(name, True)
        try:
            state = await self.store.set_paused(name, True, now)
        except BaseException:
            takers.set_paused(name, was_paused)
            raise
        assert state is not None  # a pause always leaves the queue existing
        return Queue.at(state, now)

    async def resume(self, name: str, now: float) -> Queue:
        state = await self.store.set_paused(name, False, now)
        if state is None:
            raise QueueNotFound(f"no queue {name!r}")
        self.signals.takers.set_paused(name, False)
        return Queue.at(state, now)

    async def load_paused(self) -> None:
        """Take the paused set from the store (at start, and to catch up on missed notices)."""
        self.signals.takers.replace_paused(await self.store.paused_queues())

    # -- per-queue limits (flow-limits) --------------------------------------------

    async def set_limits(self, name: str, limits: QueueLimits, now: float) -> Queue:
        """Set (or, all None, clear) a queue's limits; setting one creates the queue's setting.

        This node applies them at once; the others hear of it by the store's
        notices (`CrossNodeWakeups.limits_changed`). Takers of the queue look
        again: looser limits may have made room.
        """
        takers = self.signals.takers
        check_limits(limits)
        if limits.any:  # before the write: no hand-off of this node slips in meanwhile
            takers.set_limited(name, True)
        try:
            state = await self.store.set_limits(name, limits, now)
        except BaseException:
            await self.load_limited()
            raise
        if not limits.any:
            takers.set_limited(name, False)
        takers.limits_changed(name)
        if state is None:
            raise QueueNotFound(f"no queue {name!r}")
        return Queue.at(state, now)

    async def load_limited(self) -> None:
        """Take the limited set from the store (at start, and to catch up on missed notices)."""
        self.signals.takers.replace_limited(await self.store.limited_queues())
