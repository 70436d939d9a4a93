"""The link between the processes of one node: what NOTIFY is to PostgreSQL nodes.

Each process binds one Unix datagram socket in the node's run directory
(`siblings.py`) and sends its notices (`store/notices.py`: jobs takeable or
settled, pauses, token and schedule changes, live-event changes) to every other process's
socket. A send costs a few microseconds and needs no server in between.

Notices are merged in an `Outbox` and sent once per turn of the event loop,
all payloads of a turn in one datagram per peer (newline-separated), so a
busy process sends few datagrams. A peer whose receive queue is full (Linux
holds `net.unix.max_dgram_qlen` datagrams, often 10) refuses the send; what it
refused is kept and sent again a moment later, in as few datagrams as fit. A
peer that is not up (starting, or restarting after a crash) misses what is
sent meanwhile: it re-reads what it needs when it starts, and, like every
receiver, the takers' re-checks and the periodic `Wakeups.resync` cover any
notice that is lost. A peer so far behind that over `MAX_BACKLOG` datagrams
wait for it loses the oldest; if live events were among them, it is told
("x", sent before the rest of its backlog) and its event streams send
`event: resync`, as a PostgreSQL node's do when it falls behind.

Two kinds carry whole jobs (base64 of their JSON), which NOTIFY's 8000 bytes
could not: "d", a job deleted before it was final, so the other processes'
result waiters answer with its last state (`cancelled`) as in the deleting
process; and "j", a status change for the live events, sent instead of the
"e" id while some peer has subscribers (each process says so with "w <0|1>"
when it gains its first or loses its last, and answers "W", the question a
starting process asks), so a subscriber elsewhere sees every status, not a
late read-back of the latest.

Other kinds of message (the metrics' "dump your counters") ride the same
socket: `handlers` maps a kind letter to its receiver.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import socket
from collections.abc import Callable, Iterable

import msgspec

from accepted.siblings import Siblings
from accepted.store.base import Wakeups
from accepted.store.notices import Outbox, deliver
from accepted.types import Job

log = logging.getLogger("accepted.store.local_link")

DATAGRAM = 60_000  # bytes a datagram carries at most (well under the socket buffer)
RETRY_AFTER = 0.002  # seconds before a refused send is tried again
MAX_BACKLOG = 1_000  # datagrams held per peer; beyond, the oldest go (see `_hold`)
_JOBS = msgspec.json.Encoder()
_JOBS_IN = msgspec.json.Decoder(list[Job])
RESYNC_INTERVAL = 5.0  # seconds at least between resyncs (result waiters re-read their jobs)


class LocalLink:
    """This process's end of the node's local link; see the module docstring."""

    def __init__(
        self,
        siblings: Siblings,
        *,
        resync_every: float = RESYNC_INTERVAL,
        max_backlog: int = MAX_BACKLOG,
    ) -> None:
        self.siblings = siblings
        self.max_backlog = max_backlog
        self.resync_every = max(resync_every, RESYNC_INTERVAL)
        self.node = str(siblings.index)
        self.wakeups: Wakeups | None = None
        self.outbox = Outbox(self.node)
        # Kinds other than the notices': kind letter -> receiver of the whole payload.
        self.handlers: dict[str, Callable[[str], None]] = {}
        self._peers = {i: siblings.peer(i) for i in siblings.others}
        self._backlog: dict[int, list[bytes]] = {}
        self._lost = f"x {self.node} ".encode()  # live events were lost on the way to you
        self._gapped: set[int] = set()  # peers owed an "x" before their backlog
        self._deleted: list[bytes] = []  # "d" payloads: deleted jobs, whole
        self._changed: list[Job] = []  # live events, whole, while a peer listens
        self.listening = False  # this process has live-event subscribers
        self._listeners: set[str] = set()  # the peers that have
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flushing = False
        self._retry: asyncio.TimerHandle | None = None
        self._resync: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Bind this process's socket and listen; call on the running loop."""
        path = self.siblings.peer(self.siblings.index)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # our predecessor's, if it crashed
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.setblocking(False)
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._readable)
        for index in self._peers:  # we do not listen (yet); who does? (a peer answers "w")
            self.send(index, "w", "0")  # a predecessor that crashed may have
            self.send(index, "W", "")
        self._schedule_resync()

    def stop(self) -> None:
        """Send what is held (best effort), then close and remove the socket."""
        if self._sock is None:
            return
        self._flush()
        for handle in (self._retry, self._resync):
            if handle is not None:
                handle.cancel()
        assert self._loop is not None
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        self._sock = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.siblings.peer(self.siblings.index))

    # -- out ---------------------------------------------------------------------------

    def announce(self, takeable: Iterable[str], settled: Iterable[str]) -> None:
        """Tell the other processes, soon, about jobs that became takeable or settled."""
        self.outbox.add(takeable, settled)
        self._kick()

    def announce_paused(self, queue: str, paused: bool) -> None:
        self.outbox.paused[queue] = paused
        self._kick()

    def announce_change(self, job_id: str, status: str) -> None:
        """A job changed status (the live events), by id: the peers read it back."""
        self.outbox.change(job_id, status)
        self._kick()

    def announce_job(self, job: Job) -> None:
        """A job changed status: the job itself while a peer listens, else its id."""
        if self._listeners:
            self._changed.append(job)
        else:
            self.outbox.change(job.id, job.status)
        self._kick()

    def set_listening(self, listening: bool) -> None:
        """Tell the peers, now, that this process has live-event subscribers (or none)."""
        self.listening = listening
        for index in self._peers:
            self.send(index, "w", str(int(listening)))

    def announce_tokens(self) -> None:
        self.outbox.tokens = True
        self._kick()

    def announce_capacity(self, queue: str, count: int) -> None:
        """`count` jobs of limited `queue` stopped running (flow-limits)."""
        self.outbox.freed[queue] = self.outbox.freed.get(queue, 0) + count
        self._kick()

    def announce_limits(self, queue: str) -> None:
        """`queue`'s limits changed (flow-limits)."""
        self.outbox.limits.add(queue)
        self._kick()

    def announce_schedules(self) -> None:
        self.outbox.schedules = True
        self._kick()

    def announce_deleted(self, job: Job) -> None:
        """A job deleted before it was final, whole: the others' waiters answer with it.

        Base64 of its JSON, since the client's params may hold newlines. A job
        too large for one datagram is announced as settled instead (its
        waiters then re-read it, and find it gone).
        """
        encoded = base64.b64encode(_JOBS.encode([job]))
        if len(encoded) > DATAGRAM - 64:
            self.announce((), (job.id,))
            return
        self._deleted.append(f"d {self.node} ".encode() + encoded)
        self._kick()

    def send(self, index: int, kind: str, rest: str) -> None:
        """One message of another kind to process `index` (see `handlers`), now."""
        self._send_to(index, [f"{kind} {self.node} {rest}".encode()])

    def _kick(self) -> None:
        if not self._flushing and self._loop is not None:
            self._flushing = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flushing = False
        if not (self.outbox or self._deleted or self._changed) or self._sock is None:
            return
        changed = self._whole(self._changed)
        payloads = [p.encode() for p in self.outbox.take().payloads()] + self._deleted + changed
        self._deleted, self._changed = [], []
        datagrams = _pack(payloads)
        for index in self._peers:
            self._send_to(index, datagrams)

    def _whole(self, jobs: list[Job]) -> list[bytes]:
        """'j' payloads of `jobs`; one too large for a datagram goes by id ('e')."""
        payloads = []
        for job in jobs:
            encoded = base64.b64encode(_JOBS.encode([job]))
            if len(encoded) > DATAGRAM - 64:
                self.outbox.change(job.id, job.status)
            else:
                payloads.append(f"j {self.node} ".encode() + encoded)
        return payloads  # (called before the outbox is taken: the fallbacks go with it)

    def _send_to(self, index: int, datagrams: list[bytes]) -> None:
        held = self._backlog.get(index)
        if held is not None:  # keep the order: behind what waits already
            self._hold(index, held, datagrams)
            return
        left = self._send_now(index, datagrams)
        if left:
            self._backlog[index] = []
            self._hold(index, self._backlog[index], left)
            self._schedule_retry()

    def _hold(self, index: int, held: list[bytes], datagrams: list[bytes]) -> None:
        """Add to peer `index`'s backlog; beyond `max_backlog` the oldest go.

        Live events among those let go are not lost silently: the peer is sent
        an "x" (events lost) before the rest of its backlog, and its event
        streams tell their readers to re-read at that place.
        """
        held.extend(datagrams)
        excess = len(held) - self.max_backlog
        if excess > 0:
            if any(_carries_events(d) for d in held[:excess]):
                self._gapped.add(index)
            del held[:excess]

    def _send_now(self, index: int, datagrams: list[bytes]) -> list[bytes]:
        """Send in order; return what the peer's full queue refused."""
        if self._sock is None:
            return []
        for i, datagram in enumerate(datagrams):
            try:
                self._sock.sendto(datagram, self._peers[index])
            except BlockingIOError:
                return datagrams[i:]
            except OSError:  # not up (starting or restarting): it re-reads when it starts
                return []
        return []

    def _schedule_retry(self) -> None:
        if self._loop is not None and (self._retry is None or self._retry.cancelled()):
            self._retry = self._loop.call_later(RETRY_AFTER, self._send_backlog)

    def _send_backlog(self) -> None:
        self._retry = None
        backlog, self._backlog = self._backlog, {}
        for index, held in backlog.items():
            if index in self._gapped:  # first the news of the loss, on its own
                if self._send_now(index, [self._lost]):
                    self._backlog[index] = held  # still full: all waits
                    continue
                self._gapped.discard(index)
            left = self._send_now(index, _pack(held))
            if left:
                self._backlog[index] = left
        if self._backlog:
            self._schedule_retry()

    # -- in ----------------------------------------------------------------------------

    def _readable(self) -> None:
        while self._sock is not None:
            try:
                datagram = self._sock.recv(DATAGRAM + 1024)
            except (BlockingIOError, InterruptedError):
                return
            for payload in datagram.decode().split("\n"):
                self._receive(payload)

    def _receive(self, payload: str) -> None:
        kind = payload[:1]
        if not kind:
            return
        handler = self.handlers.get(kind)
        if kind in "wW":
            self._listening_notice(payload)
        elif kind == "x" and self.wakeups is not None:
            self.wakeups.events_lost()
        elif kind in "dj" and self.wakeups is not None:
            try:
                jobs = _JOBS_IN.decode(base64.b64decode(payload.split(" ", 2)[2]))
            except (ValueError, IndexError, msgspec.DecodeError):
                log.exception("bad job notice")
                return
            if kind == "d":
                self.wakeups.jobs_deleted(jobs)
            else:
                self.wakeups.job_states(jobs)
        elif handler is not None:
            try:
                handler(payload)
            except Exception:
                log.exception("bad message %r", payload)
        elif self.wakeups is not None:
            deliver(self.wakeups, payload, self.node)

    def _listening_notice(self, payload: str) -> None:
        """ "W <node>": asked whether we listen; "w <node> <1|0>": whether it does."""
        kind, sender, rest = [*payload.split(" ", 2), "", ""][:3]
        if kind == "W":
            self.send(int(sender), "w", str(int(self.listening)))
        elif rest == "1":
            self._listeners.add(sender)
        else:
            self._listeners.discard(sender)

    def _schedule_resync(self) -> None:
        """Result waiters and pauses re-read now and then: a lost notice only delays."""
        if self.wakeups is not None:
            self.wakeups.resync()
        assert self._loop is not None
        self._resync = self._loop.call_later(self.resync_every, self._schedule_resync)


def _carries_events(datagram: bytes) -> bool:
    """Whether a datagram holds live events ("e" ids or "j" whole jobs)."""
    return datagram[:2] in (b"e ", b"j ") or b"\ne " in datagram or b"\nj " in datagram


def _pack(payloads: Iterable[bytes]) -> list[bytes]:
    """Payloads joined by newlines into as few datagrams of at most `DATAGRAM` bytes."""
    datagrams: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for payload in payloads:
        for line in payload.split(b"\n"):
            if current and size + len(line) + 1 > DATAGRAM:
                datagrams.append(b"\n".join(current))
                current, size = [], 0
            current.append(line)
            size += len(line) + 1
    if current:
        datagrams.append(b"\n".join(current))
    return datagrams
