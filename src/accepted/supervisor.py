"""`accepted serve`: one process, or a parent process and N children, each a node of the queue.

This is process supervision, so it sits above the HTTP floor (it runs
`http/server.py`'s `serve` in each child) and beside `siblings.py` (each
child's place among the node's processes), not inside `http/`: nothing in
`http/` knows how many processes serve it.

With `--workers 1` `run` serves in this process, with no parent. With
`--workers N` above 1, the parent does no HTTP. It:

1. binds the listening socket once (so a port in use is one clear error) and,
   on SQLite, takes the file's server lock (`<db>.lock`), which the children
   inherit: the file admits this server's processes and refuses any other;
2. makes the node's private run directory (`siblings.py`);
3. forks child 0 and waits until it serves (it alone applies migrations),
   then the others; each child runs `server.serve` on the inherited socket,
   and the kernel gives each new connection to whichever child accepts it
   first (a busy child accepts less);
4. restarts a child that dies, with the same index, at once the first time
   and with a growing pause if it keeps dying (a kill -9 of one child loses
   only its own connections; what it acknowledged is in the database);
5. on SIGTERM or SIGINT, sends SIGTERM to every child, which shuts down as a
   single-process server does, waits for them, removes the run directory
   and exits 0.

Children are in a process group of their own, so a Ctrl-C at a terminal
reaches the parent only, which stops them once, gracefully. Each child
watches a pipe that only the parent holds open: if the parent dies (kill -9),
the children see the pipe close and shut down too, releasing the lock.

The parent waits on signals through `signal.set_wakeup_fd` and `select`, with
no threads, so forking it is safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import shutil
import signal
import socket
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import IO, Any

from accepted import logs
from accepted.config import Settings
from accepted.errors import StoreUnavailable
from accepted.http.server import BACKLOG, GRACEFUL_SECONDS, serve
from accepted.logs import safe_target
from accepted.siblings import Siblings
from accepted.store import check_driver, hold_database

log = logging.getLogger("accepted.supervisor")

RESTART_PAUSES = (0.0, 0.5, 1.0, 2.0, 5.0)  # seconds, by how often it died in a row
STEADY = 10.0  # a child that served this long before dying starts again at once
STOP_GRACE = GRACEFUL_SECONDS + 10.0  # then the children left are killed
_CAUGHT = (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD)


def run(settings: Settings) -> int:
    """Serve until a stop signal: one process, or a parent and `worker_count` children."""
    logs.configure(settings.log_level, settings.log_format, lazy=settings.worker_count == 1)
    if settings.worker_count > 1:
        check_driver(settings.db)
        return Supervisor(settings).run()
    return serve(settings)


class Supervisor:
    """The parent of a several-process server; see the module docstring."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.count = settings.worker_count
        self.children: dict[int, int] = {}  # pid -> index
        self.started_at: dict[int, float] = {}  # index -> monotonic time of its fork
        self.failures: dict[int, int] = {}  # index -> deaths in a row
        self.due: dict[int, float] = {}  # index -> when to start it again
        self.ready: set[int] = set()
        self.stopping = False
        self.serving = False  # child 0 is up: from now on a child that dies is restarted
        self.rundir = Path()
        self._sock: socket.socket | None = None
        self._db_lock: IO[bytes] | None = None
        self._ready_r = self._ready_w = self._life_r = self._life_w = -1
        self._wake_r = self._wake_w = -1

    def run(self) -> int:
        try:
            self._sock = _listen(self.settings.host, self.settings.port)
            self._db_lock = hold_database(self.settings.db)
        except (OSError, StoreUnavailable) as exc:
            log.error("cannot start: %s", exc)
            return 1
        self.rundir = Path(tempfile.mkdtemp(prefix="accepted-node-"))
        self._ready_r, self._ready_w = os.pipe()
        self._life_r, self._life_w = os.pipe()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        previous = self._catch_signals()
        try:
            return self._supervise()
        finally:
            self._stop_children()
            signal.set_wakeup_fd(-1)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._close()

    def _supervise(self) -> int:
        self._spawn(0)
        if not self._await_ready(0):  # it alone migrates the database
            log.error("the first process did not start; see above")
            return 1
        self.serving = True
        for index in range(1, self.count):
            self._spawn(index)
        log.info(
            # The parent's pid: the one to signal to stop the server (uvicorn's own
            # "Started server process" lines name the children, which are restarted).
            "accepted serving http://%s:%d on %d processes, database %s; stop it with "
            "SIGTERM to pid %d",
            self.settings.host,
            self._sock.getsockname()[1] if self._sock is not None else self.settings.port,
            self.count,
            safe_target(self.settings.db),
            os.getpid(),
        )
        while not self.stopping:
            self._wait(self._next_timeout())
            self._reap()
            self._restart_due()
        return 0

    # -- children -------------------------------------------------------------------

    def _spawn(self, index: int) -> None:
        self.started_at[index] = time.monotonic()
        # Signals wait until the child has its own handlers: one arriving in
        # between would otherwise run the parent's handler there, and be lost.
        signal.pthread_sigmask(signal.SIG_BLOCK, _CAUGHT)
        pid = os.fork()
        if pid != 0:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _CAUGHT)
        if pid == 0:  # the child: never returns
            code = 1
            try:
                code = self._child(index)
            except SystemExit as exc:  # uvicorn's exit after a failed start-up
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        self.children[pid] = index

    def _child(self, index: int) -> int:
        signal.set_wakeup_fd(-1)
        for sig in _CAUGHT:
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _CAUGHT)  # a stop that came meanwhile: exit
        os.setpgid(0, 0)  # a terminal's Ctrl-C reaches the parent, which stops us once
        for fd in (self._ready_r, self._life_w, self._wake_r, self._wake_w):
            os.close(fd)
        settings = self.settings
        logs.configure(settings.log_level, settings.log_format)
        assert self._sock is not None
        siblings = Siblings(self.rundir, index, self.count)
        parent = os.getppid()
        code = serve(settings, sock=self._sock, siblings=siblings, started=self._started(index))
        if os.getppid() != parent:  # the parent died: nobody else removes the run directory
            shutil.rmtree(self.rundir, ignore_errors=True)
        return code

    def _started(self, index: int) -> Callable[[], None]:
        ready_w, life_r = self._ready_w, self._life_r

        def started() -> None:
            os.write(ready_w, f"{index}\n".encode())
            loop = asyncio.get_running_loop()

            def parent_gone() -> None:  # its end of the pipe closed: it died
                loop.remove_reader(life_r)
                log.warning("the parent process is gone; stopping")
                os.kill(os.getpid(), signal.SIGTERM)

            loop.add_reader(life_r, parent_gone)

        return started

    def _await_ready(self, index: int) -> bool:
        while index not in self.ready:
            if self.stopping or index not in self.children.values():
                return False
            self._wait(1.0)
            self._reap()
        return True

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            index = self.children.pop(pid, None)
            if index is None:
                continue
            self.ready.discard(index)
            if self.serving and not self.stopping:
                self._schedule_restart(index, pid, status)

    def _schedule_restart(self, index: int, pid: int, status: int) -> None:
        lived = time.monotonic() - self.started_at.get(index, 0.0)
        failures = 0 if lived >= STEADY else self.failures.get(index, 0) + 1
        self.failures[index] = failures
        pause = RESTART_PAUSES[min(failures, len(RESTART_PAUSES)) - 1] if failures else 0.0
        log.warning(
            "process %d (pid %d) %s; starting it again %s",
            index,
            pid,
            _how_it_ended(status),
            f"in {pause:g} s" if pause else "at once",
        )
        self.due[index] = time.monotonic() + pause

    def _restart_due(self) -> None:
        now = time.monotonic()
        for index, when in list(self.due.items()):
            if when <= now:
                del self.due[index]
                self._spawn(index)

    def _next_timeout(self) -> float | None:
        if not self.due:
            return None
        return max(0.0, min(self.due.values()) - time.monotonic())

    def _stop_children(self) -> None:
        self.stopping = True
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        while self.children and time.monotonic() < deadline:
            self._wait(0.1)
            self._reap()
        for pid in self.children:
            log.warning("process %d did not stop in %.0f s; killing it", pid, STOP_GRACE)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        while self.children:
            pid, _ = os.waitpid(-1, 0)
            self.children.pop(pid, None)

    # -- signals and the wait -------------------------------------------------------

    def _catch_signals(self) -> dict[int, Any]:
        signal.set_wakeup_fd(self._wake_w)
        previous: dict[int, Any] = {}
        for sig in _CAUGHT:
            previous[sig] = signal.signal(sig, self._on_signal)
        return previous

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        if sig in (signal.SIGTERM, signal.SIGINT):
            self.stopping = True

    def _wait(self, timeout: float | None) -> None:
        """Until a signal, a child's "ready", or `timeout` seconds."""
        readable, _, _ = select.select([self._wake_r, self._ready_r], [], [], timeout)
        if self._wake_r in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(self._wake_r, 512)
        if self._ready_r in readable:
            for line in os.read(self._ready_r, 512).decode().split():
                self.ready.add(int(line))

    def _close(self) -> None:
        for fd in (self._ready_r, self._ready_w, self._life_r, self._life_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self._sock is not None:
            self._sock.close()
        if self._db_lock is not None:
            self._db_lock.close()
        shutil.rmtree(self.rundir, ignore_errors=True)


def _listen(host: str, port: int) -> socket.socket:
    """The one listening socket every child serves."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(BACKLOG)
    return sock


def _how_it_ended(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"
