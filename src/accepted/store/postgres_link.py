"""A PostgreSQL node's links to the others: LISTEN for their changes, and the shared clock.

Both run on one dedicated connection, kept alive by one task: it listens,
reads the database clock every few seconds (which doubles as a check that
the connection still works), and reconnects with backoff when it fails.
Notices only hurry waiters along; after a reconnect, when some may have been
missed, the node is told to re-check (`Wakeups.resync`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import asyncpg

from accepted.store.base import Wakeups
from accepted.store.postgres_sql import CHANNEL

log = logging.getLogger("accepted.store.postgres")

CLOCK_REFRESH = 5.0  # seconds between readings of the database clock
CHECK_TIMEOUT = 5.0  # a reading slower than this means the connection is gone
RECONNECT_BACKOFF = (0.1, 0.25, 0.5, 1.0, 2.0)
_SAMPLES = 3

_DB_NOW = "SELECT extract(epoch FROM clock_timestamp())::float8"


class DbClock:
    """The database server's clock, read through this host's clock plus a measured offset.

    Every node's `now()` is the same database clock, to within half a round
    trip plus the drift since the last reading (seconds apart), so leases and
    deadlines that one node writes mean the same on another whatever the
    hosts' clocks say.
    """

    def __init__(self, local: Callable[[], float] = time.time) -> None:
        self.local = local
        self.offset = 0.0
        self.synced = False

    def now(self) -> float:
        return self.local() + self.offset

    async def sync(self, conn: Any) -> None:
        """Measure the offset: the reading with the shortest round trip wins."""
        best: tuple[float, float] | None = None
        for _ in range(_SAMPLES):
            before = self.local()
            db_now = await conn.fetchval(_DB_NOW, timeout=CHECK_TIMEOUT)
            after = self.local()
            sample = (after - before, db_now - (before + after) / 2)
            if best is None or sample < best:
                best = sample
        assert best is not None
        self.offset = best[1]
        self.synced = True


class Listener:
    """Keeps a LISTEN connection open and passes other nodes' notices to `wakeups`."""

    def __init__(
        self,
        connect: Callable[[], Any],
        node: str,
        clock: DbClock,
    ) -> None:
        self._connect = connect
        self.node = node
        self.clock = clock
        self.wakeups: Wakeups | None = None
        self._task: asyncio.Task[None] | None = None
        self._conn: Any = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pg-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._drop()

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await self._listen()
                if failures and self.wakeups is not None:
                    self.wakeups.resync()
                failures = 0
                await self._keep_checking()
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
                delay = RECONNECT_BACKOFF[min(failures, len(RECONNECT_BACKOFF) - 1)]
                failures += 1
                log.warning("listener connection lost (%s); reconnecting in %.2f s", exc, delay)
                await self._drop()
                await asyncio.sleep(delay)

    async def _listen(self) -> None:
        self._conn = await self._connect()
        await self._conn.add_listener(CHANNEL, self._on_notice)
        await self.clock.sync(self._conn)

    async def _keep_checking(self) -> None:
        """Re-read the clock every few seconds; return to reconnect once the link drops."""
        lost = asyncio.Event()
        self._conn.add_termination_listener(lambda conn: lost.set())
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOCK_REFRESH):
                    await lost.wait()
            if lost.is_set() or self._conn.is_closed():
                raise asyncpg.InterfaceError("listener connection closed")
            await self.clock.sync(self._conn)

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()

    def _on_notice(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        kind, node, rest = [*payload.split(" ", 2), "", ""][:3]
        if node == self.node or self.wakeups is None:
            return  # our own change: the service has signalled it already
        try:
            if kind == "q":
                count, queue = rest.split(" ", 1)
                self.wakeups.jobs_available(queue, int(count))
            elif kind == "s":
                self.wakeups.jobs_settled(rest.split(","))
        except Exception:
            log.exception("bad notice %r", payload)
