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

A node alone on the database sends no notices: its own would only come back
to it (PostgreSQL delivers a NOTIFY to every listener, the sender too), and
it acts on its own changes without them. The link counts the other nodes'
link sessions when it connects and every few seconds after, and a node
whose link connects says so on the channel ("h <node>"). A node that hears
that sends its notices from then on and answers ("a <node> <new node>");
the new node waits, up to HELLO_TIMEOUT, for the answers of the nodes it
counted before its first request. A write committed before a node answered
was committed before the new node's first request, which then sees it.

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
from accepted.store.notices import Outbox, deliver
from accepted.store.postgres_sql import CHANNEL, NOTIFY

log = logging.getLogger("accepted.store.postgres")

CHECK_INTERVAL = 5.0  # seconds between clock readings and resyncs
# Live-event listeners: a node with event subscribers marks its link session
# (application_name ends in "+events") and says so ("w <node> 1|0"); a node
# sends its status-change notices only while some other session is marked.
# A node that dies unmarks itself: its session is gone from pg_stat_activity.
_MARK = (
    "SELECT set_config('application_name', regexp_replace("
    "current_setting('application_name'), '\\+events$', '') || "
    "CASE WHEN $1 THEN '+events' ELSE '' END, false), pg_notify($2, $3)"
)
# Every other node's link session (application_name "accepted/<node>/link",
# "+events" when marked).
_LINKS = (
    "SELECT application_name FROM pg_stat_activity WHERE datname = current_database() "
    "AND application_name LIKE 'accepted/%/link%' AND pid <> pg_backend_pid()"
)
_SAY = "SELECT pg_notify($1, $2)"
HELLO_TIMEOUT = 1.0  # seconds a starting node waits for the nodes it counted to answer
CHECK_TIMEOUT = 5.0  # a reading slower than this means the connection is gone
RECONNECT_BACKOFF = (0.1, 0.25, 0.5, 1.0, 2.0)
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
        self.listening = False  # this node has live-event subscribers
        self.others_listen = True  # some other node has: until counted, assume so
        self.others = True  # some other node's link is up: until counted, assume so
        self._hellos = 0  # other nodes' hellos heard so far
        self._unanswered: set[str] = set()  # nodes counted at start that have not answered
        self._answered = asyncio.Event()
        self._answers: set[asyncio.Task[None]] = set()  # answers being sent
        self._marking: asyncio.Task[None] | None = None
        self._counting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect and listen before returning, so the node hears from its first request."""
        lost = await self._listen()
        self._task = asyncio.create_task(self._run(lost), name="pg-link")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(HELLO_TIMEOUT):
                await self._answered.wait()

    async def stop(self) -> None:
        # Notices still held go out first: a short-lived process (`accepted token
        # revoke --db`) would otherwise leave the other nodes to their next check.
        with contextlib.suppress(*_LINK_ERRORS):
            async with asyncio.timeout(1.0):
                if self._sender is not None and not self._sender.done():
                    await asyncio.shield(self._sender)
                await self._send()
        for task in (self._task, self._sender, *self._answers):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._task = self._sender = None
        self._drop()

    def announce(self, takeable: Iterable[str], settled: Iterable[str]) -> None:
        """Tell the other nodes, soon, about jobs that became takeable or settled."""
        if not self.others:
            return
        self.outbox.add(takeable, settled)
        self._kick()

    def announce_paused(self, queue: str, paused: bool) -> None:
        """Tell the other nodes, soon, that `queue` was paused or resumed."""
        self.outbox.paused[queue] = paused
        self._kick()

    def announce_change(self, job_id: str, status: str) -> None:
        """Tell the other nodes, soon, that a job changed status (the live events);
        nothing while no other node has a subscriber to give it to."""
        if not self.others_listen:
            return
        self.outbox.change(job_id, status)
        self._kick()

    def set_listening(self, listening: bool) -> None:
        """This node has live-event subscribers (or none any more): mark the session, tell."""
        if listening == self.listening:
            return
        self.listening = listening
        if self._conn is not None:
            self._marking = asyncio.create_task(self._mark(self._conn), name="pg-listening")

    async def advertised(self) -> None:
        """Wait for the marking under way, if any (a failure is retried on reconnect)."""
        if self._marking is not None and not self._marking.done():
            with contextlib.suppress(*_LINK_ERRORS):
                await asyncio.shield(self._marking)

    async def _mark(self, conn: Any) -> None:
        notice = f"w {self.node} {int(self.listening)}"
        with contextlib.suppress(*_LINK_ERRORS):
            async with self._busy:
                await conn.execute(_MARK, self.listening, CHANNEL, notice)

    async def _count_listeners(self, conn: Any) -> None:
        async with self._busy:
            hellos = self._hellos
            links = [r[0] for r in await conn.fetch(_LINKS)]
        self._counted(links, hellos)

    def _counted(self, links: list[str], hellos: int) -> None:
        """The other nodes' link sessions, as counted; `hellos` as the count began
        (a node whose hello came meanwhile is there, whatever the count says)."""
        self.others_listen = any(name.endswith("+events") for name in links)
        self.others = bool(links) or self._hellos != hellos

    def _recount(self) -> None:
        conn = self._conn
        if conn is not None and (self._counting is None or self._counting.done()):
            self._counting = asyncio.create_task(self._count_quietly(conn), name="pg-listeners")

    async def _count_quietly(self, conn: Any) -> None:
        with contextlib.suppress(*_LINK_ERRORS):
            await self._count_listeners(conn)

    def announce_capacity(self, queue: str, count: int) -> None:
        """Tell the other nodes, soon, that `count` jobs of limited `queue` stopped running."""
        self.outbox.freed[queue] = self.outbox.freed.get(queue, 0) + count
        self._kick()

    def announce_limits(self, queue: str) -> None:
        """Tell the other nodes, soon, that `queue`'s limits changed."""
        self.outbox.limits.add(queue)
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
        if not self.others:
            self.outbox.take()  # nobody to tell
            return
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
            async with self._busy:  # answers to others' hellos share the connection
                await conn.add_listener(CHANNEL, self._on_notice)
                await self.clock.sync(conn)
                if self.listening:  # a new session: mark it again
                    await conn.execute(_MARK, True, CHANNEL, f"w {self.node} 1")
                hellos = self._hellos
                links = [r[0] for r in await conn.fetch(_LINKS)]
                self._counted(links, hellos)
                self._unanswered = {name.split("/")[1] for name in links}
                if not self._unanswered:
                    self._answered.set()
                await conn.execute(_SAY, CHANNEL, f"h {self.node}")
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
            await self._count_listeners(self._conn)  # a node that died unmarked itself
            self._resync()

    def _resync(self) -> None:
        if self.wakeups is not None:
            self.wakeups.resync()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()

    def _on_notice(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        if payload.startswith(("h ", "a ")):
            self._on_hello(conn, payload)
            return
        if payload.startswith("w "):  # a node's live-event listening changed
            if payload.split(" ")[1] != self.node:
                if payload.endswith(" 1"):
                    self.others_listen = True
                else:
                    self._recount()  # maybe the last one
            return
        if self.wakeups is not None:
            deliver(self.wakeups, payload, self.node)

    def _on_hello(self, conn: Any, payload: str) -> None:
        """Another node's link connected ("h <node>"): tell it from now on, and answer.
        Or a node answered ours ("a <node> <us>")."""
        kind, node, *to = payload.split(" ")
        if node == self.node:
            return
        if kind == "h":
            self._hellos += 1
            self.others = True
            answer = asyncio.create_task(self._answer(conn, node), name="pg-answer")
            self._answers.add(answer)
            answer.add_done_callback(self._answers.discard)
        elif to == [self.node]:
            self._unanswered.discard(node)
            if not self._unanswered:
                self._answered.set()

    async def _answer(self, conn: Any, node: str) -> None:
        with contextlib.suppress(*_LINK_ERRORS):
            async with self._busy:
                await conn.execute(_SAY, CHANNEL, f"a {self.node} {node}")
