"""A PostgreSQL node's link to the others: their notices in, ours out, and the shared clock.

One dedicated connection per node, kept alive by one task: it LISTENs, sends
this node's notices, reads the database clock every few seconds (which also
checks that the connection still works), and reconnects with backoff.

Why notices are not sent inside the writing transactions: PostgreSQL
serializes the commits of all transactions that NOTIFY (a database-wide lock
held through the commit's WAL flush), so every enqueue and report would wait
for the previous one's fsync. Instead each write commits alone, and the node
announces what it changed just after, on this connection, whose session
commits asynchronously (a notice need not be durable). While one batch is
being sent the next accumulates, so under load one statement carries many.

Notices only hurry waiters along. Those missed (the link was down, or a node
died between a commit and its notice) are covered by re-checks: takers look
again every second, and `Wakeups.resync` is called after every reconnect and
every few seconds, so result waiters re-read their jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import asyncpg

from accepted.store.base import Wakeups
from accepted.store.postgres_sql import CHANNEL, NOTIFY

log = logging.getLogger("accepted.store.postgres")

CHECK_INTERVAL = 5.0  # seconds between clock readings and resyncs
CHECK_TIMEOUT = 5.0  # a reading slower than this means the connection is gone
RECONNECT_BACKOFF = (0.1, 0.25, 0.5, 1.0, 2.0)
MAX_HELD_IDS = 100_000  # settled ids kept while the link is down; beyond, resync covers
_SAMPLES = 3

_DB_NOW = "SELECT extract(epoch FROM clock_timestamp())::float8"
# InternalClientError: what asyncpg may raise instead when the server closes the
# link in the middle of a statement ("another operation is in progress").
_LINK_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)


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


class Outbox:
    """What this node's writes changed and the others have not been told yet, merged.

    Payloads are "<kind> <node> <rest>": kind q (rest "<count> <queue>": jobs
    became takeable), s (rest "<id>,<id>...": jobs became final or were
    deleted), p (rest "<1|0> <queue>": the queue was paused or resumed), e
    (rest "<id>:<status>,...": jobs changed status, for the live events) or t
    (no rest: tokens changed) or c (no rest: schedules changed). The node id
    lets each node skip its own notices.
    """

    MAX_PAYLOAD = 7900  # PostgreSQL refuses payloads of 8000 bytes or more
    IDS_PER_NOTICE = 200
    CHANGES_PER_NOTICE = 150  # "<uuid>:<status>" is at most 46 bytes

    def __init__(self, node: str) -> None:
        self.node = node
        self.available: dict[str, int] = {}
        self.settled: list[str] = []
        self.paused: dict[str, bool] = {}  # the latest of each queue wins
        self.changed: list[str] = []
        self.tokens = False
        self.schedules = False

    def __bool__(self) -> bool:
        return bool(
            self.available
            or self.settled
            or self.paused
            or self.changed
            or self.tokens
            or self.schedules
        )

    def add(self, takeable: Iterable[str], settled: Iterable[str]) -> None:
        for queue in takeable:
            self.available[queue] = self.available.get(queue, 0) + 1
        self.settled.extend(settled)
        del self.settled[:-MAX_HELD_IDS]

    def take(self) -> Outbox:
        """Everything held, as its own outbox; this one is left empty."""
        batch = Outbox(self.node)
        batch.available, self.available = self.available, {}
        batch.settled, self.settled = self.settled, []
        batch.paused, self.paused = self.paused, {}
        batch.changed, self.changed = self.changed, []
        batch.tokens, self.tokens = self.tokens, False
        batch.schedules, self.schedules = self.schedules, False
        return batch

    def put_back(self, batch: Outbox) -> None:
        for queue, count in batch.available.items():
            self.available[queue] = self.available.get(queue, 0) + count
        self.settled[:0] = batch.settled
        self.paused = {**batch.paused, **self.paused}
        self.changed[:0] = batch.changed
        del self.changed[:-MAX_HELD_IDS]
        self.tokens = self.tokens or batch.tokens
        self.schedules = self.schedules or batch.schedules

    def payloads(self) -> list[str]:
        found = []
        for queue, count in self.available.items():
            payload = f"q {self.node} {count} {queue}"
            # A name too long to announce is not: its takers find the job at their re-check.
            if len(payload.encode()) < self.MAX_PAYLOAD:
                found.append(payload)
        for queue, paused in self.paused.items():
            payload = f"p {self.node} {int(paused)} {queue}"
            if len(payload.encode()) < self.MAX_PAYLOAD:  # else: the others' resync finds it
                found.append(payload)
        step = self.IDS_PER_NOTICE
        for i in range(0, len(self.settled), step):
            found.append(f"s {self.node} " + ",".join(self.settled[i : i + step]))
        step = self.CHANGES_PER_NOTICE
        for i in range(0, len(self.changed), step):
            found.append(f"e {self.node} " + ",".join(self.changed[i : i + step]))
        if self.tokens:
            found.append(f"t {self.node} ")
        if self.schedules:
            found.append(f"c {self.node} ")
        return found


class Link:
    """Keeps the node's link connection open; see the module docstring."""

    def __init__(self, connect: Callable[[], Any], node: str, clock: DbClock) -> None:
        self._connect = connect
        self.node = node
        self.clock = clock
        self.wakeups: Wakeups | None = None
        self.outbox = Outbox(node)
        self._conn: Any = None
        self._busy = asyncio.Lock()  # one statement at a time on the connection
        self._task: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect and listen before returning, so the node hears from its first request."""
        lost = await self._listen()
        self._task = asyncio.create_task(self._run(lost), name="pg-link")

    async def stop(self) -> None:
        # Notices still held go out first: a short-lived process (`accepted token
        # revoke --db`) would otherwise leave the other nodes to their next check.
        with contextlib.suppress(*_LINK_ERRORS):
            async with asyncio.timeout(1.0):
                if self._sender is not None and not self._sender.done():
                    await asyncio.shield(self._sender)
                await self._send()
        for task in (self._task, self._sender):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._task = self._sender = None
        self._drop()

    def announce(self, takeable: Iterable[str], settled: Iterable[str]) -> None:
        """Tell the other nodes, soon, about jobs that became takeable or settled."""
        self.outbox.add(takeable, settled)
        self._kick()

    def announce_paused(self, queue: str, paused: bool) -> None:
        """Tell the other nodes, soon, that `queue` was paused or resumed."""
        self.outbox.paused[queue] = paused
        self._kick()

    def announce_change(self, job_id: str, status: str) -> None:
        """Tell the other nodes, soon, that a job changed status (the live events)."""
        changed = self.outbox.changed
        changed.append(f"{job_id}:{status}")
        if len(changed) > MAX_HELD_IDS:
            del changed[:-MAX_HELD_IDS]  # the link is down: the oldest events are lost
        self._kick()

    def announce_tokens(self) -> None:
        """Tell the other nodes, soon, that tokens changed."""
        self.outbox.tokens = True
        self._kick()

    def announce_schedules(self) -> None:
        """Tell the other nodes, soon, that a schedule was put or deleted."""
        self.outbox.schedules = True
        self._kick()

    def _kick(self) -> None:
        if self.outbox and self._conn is not None and (self._sender is None or self._sender.done()):
            self._sender = asyncio.create_task(self._send(), name="pg-notify")

    async def _send(self) -> None:
        while self.outbox and self._conn is not None:
            batch = self.outbox.take()
            try:
                async with self._busy:
                    await self._conn.execute(NOTIFY, batch.payloads())
            except _LINK_ERRORS as exc:
                self.outbox.put_back(batch)  # sent after the reconnect
                log.debug("notice not sent (%s); kept for the reconnect", exc)
                return

    async def _run(self, lost: asyncio.Event | None) -> None:
        failures = 0
        while True:
            try:
                if lost is None:
                    lost = await self._listen()
                    self._resync()  # notices may have been missed while away
                failures = 0
                self._kick()
                await self._keep_checking(lost)
            except _LINK_ERRORS as exc:
                delay = RECONNECT_BACKOFF[min(failures, len(RECONNECT_BACKOFF) - 1)]
                failures += 1
                log.warning("link to the database lost (%s); reconnecting in %.2f s", exc, delay)
                self._drop()
                lost = None
                await asyncio.sleep(delay)

    async def _listen(self) -> asyncio.Event:
        conn = await self._connect()
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _: lost.set())
        try:
            await conn.add_listener(CHANNEL, self._on_notice)
            await self.clock.sync(conn)
        except BaseException:
            conn.terminate()
            raise
        self._conn = conn
        return lost

    async def _keep_checking(self, lost: asyncio.Event) -> None:
        """Re-read the clock and resync every few seconds; raise once the link drops."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CHECK_INTERVAL):
                    await lost.wait()
            if lost.is_set() or self._conn.is_closed():
                raise asyncpg.InterfaceError("link connection closed")
            async with self._busy:
                await self.clock.sync(self._conn)
            self._resync()

    def _resync(self) -> None:
        if self.wakeups is not None:
            self.wakeups.resync()

    def _drop(self) -> None:
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
            elif kind == "p":
                paused, queue = rest.split(" ", 1)
                self.wakeups.queue_paused(queue, paused == "1")
            elif kind == "e":
                changes = [item.split(":", 1) for item in rest.split(",")]
                self.wakeups.jobs_changed([(job_id, status) for job_id, status in changes])
            elif kind == "t":
                self.wakeups.tokens_changed()
            elif kind == "c":
                self.wakeups.schedules_changed()
        except Exception:
            log.exception("bad notice %r", payload)
