"""One thread owns the SQLite connection and commits concurrent calls together.

SQLite allows one writer at a time, and a durable commit costs an fsync. So
rather than a thread hop and an fsync per request, every store call becomes a
function queued to this thread; the thread takes everything queued so far,
runs each in its own SAVEPOINT inside one transaction, and commits once.
Then the WAL is synced (one fdatasync, `durable`), and only then are the
callers' futures settled: by this thread if nothing else waits to run, or,
if calls wait, by a second thread (the syncer) while this one already runs
the next batch. Nothing is acknowledged before the sync that made its commit
durable; under load the cost of the sync is shared by the whole batch (group
commit), and one sync covers every batch committed while the last one ran.

When several processes of one node share the file (`accepted serve
--workers N`), each has its own writer thread, and their transactions take
turns on a `flock` of the node's write-lock file (`turns`), held from
`BEGIN IMMEDIATE` to `COMMIT`. The kernel hands the lock to the next waiter
the moment it is released; SQLite's own busy handler would instead sleep
1, 2, 5, 10 ... ms between tries, and under contention that sleeping, not
the disk, would set the latency tail. The lock is released at `COMMIT`,
before the sync, so another process's transaction runs during this one's
sync (store/sqlite_walsync.py). A process killed mid-transaction
loses the lock with its file descriptor, and SQLite rolls its transaction
back: nothing acknowledged was in it.

The WAL is moved into the database file by a checkpointer of its own
(`store/sqlite_checkpoints.py`), never inside a commit: a TRUNCATE, which
must exclude writers, holds the same turn (`turn()`), so a commit waits for
it on a lock that wakes it rather than in SQLite's busy handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from accepted.errors import AcceptedError, StoreUnavailable
from accepted.store.sqlite_walsync import WalSync

log = logging.getLogger(__name__)

T = TypeVar("T")
Work = Callable[[sqlite3.Connection], Any]
_Item = tuple[Work, "asyncio.Future[Any]", asyncio.AbstractEventLoop, bool]
_Outcomes = list[tuple[bool, Any]]
_STOP = object()

MAX_BATCH = 512


class SqliteWriter:
    """Runs functions on the connection's own thread, batching their commits."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        turns: Path | None = None,
        durable: WalSync | None = None,
    ) -> None:
        self._connect = connect
        self._turns = turns  # the node's write-lock file, shared with sibling processes
        # With `durable`, the connection commits at `synchronous = NORMAL`,
        # and the WAL is synced after the write turn, before the batch is
        # settled (`_after_turn`). Without, the COMMIT syncs (`synchronous =
        # FULL`) and this thread settles.
        self._durable = durable
        self._syncs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._syncer: threading.Thread | None = None
        self._handed = 0  # batches handed to the syncer and not yet settled
        self._handed_lock = threading.Lock()
        self._broken: StoreUnavailable | None = None  # a failed sync: nothing more is durable
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        # Held by the writer thread for each transaction, and by `turn()`.
        self._turn_lock = threading.Lock()
        self.commits = 0  # how many transactions were committed (fsyncs), for benchmarks
        # Called on the writer thread with each COMMIT's duration in seconds (benchmarks).
        self.on_commit: Callable[[float], None] | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="accepted-sqlite", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._start_error is not None:
            error = self._start_error
            if isinstance(error, StoreUnavailable):
                raise error
            raise StoreUnavailable(f"cannot open the database: {error}")

    def stop(self) -> None:
        """Run what is queued, commit it, close the connection. Blocks until done."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join()
        self._thread = None

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Hold the node's write turn from another thread: no commit of this
        process, nor of its sibling processes, runs until the block ends."""
        with self._turn_lock:
            if self._turns is None:
                yield
                return
            turn = os.open(self._turns, os.O_RDWR | os.O_CREAT)
            try:
                fcntl.flock(turn, fcntl.LOCK_EX)  # a lock of its own file description
                yield
            finally:
                os.close(turn)  # releases the flock

    async def run(self, work: Callable[[sqlite3.Connection], T], *, savepoint: bool = True) -> T:
        """Run `work` in a transaction on the writer thread; return once it is committed.

        `savepoint=False` for work that cannot fail half-way: each of its writes
        is one statement made after every check, so it needs no savepoint to
        fail without a trace (a savepoint costs about 3 us a call).
        """
        if self._thread is None:
            raise StoreUnavailable("the database is closed")
        broken = self._refusal(look=False)
        if broken is not None:
            raise broken
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((work, future, loop, savepoint))
        return await future

    def _main(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:  # reported to start()
            self._start_error = exc
            self._ready.set()
            return
        self._ready.set()
        turn = None if self._turns is None else os.open(self._turns, os.O_RDWR | os.O_CREAT)
        if self._durable is not None:
            self._syncer = threading.Thread(
                target=self._sync_main, name="accepted-sqlite-sync", daemon=True
            )
            self._syncer.start()
        try:
            while True:
                batch, stopping = self._take_batch()
                broken = self._refusal(look=True) if batch else None
                if broken is not None:  # what it would read may be lost
                    _settle_all(batch, [(False, broken)] * len(batch))
                elif batch:
                    outcomes = self._run_in_turn(conn, batch, turn)
                    self._after_turn(batch, outcomes)
                if stopping:
                    return
        finally:
            if self._syncer is not None:
                self._syncs.put(_STOP)
                self._syncer.join()
            conn.close()
            if turn is not None:
                os.close(turn)

    def _run_in_turn(
        self, conn: sqlite3.Connection, batch: list[_Item], turn: int | None
    ) -> _Outcomes:
        """Run the batch, holding the write turn (and the node's write lock if
        sibling processes share the file)."""
        with self._turn_lock:
            if turn is None:
                return self._run_batch(conn, batch)
            fcntl.flock(turn, fcntl.LOCK_EX)  # blocks this thread only, the GIL released
            try:
                return self._run_batch(conn, batch)
            finally:
                fcntl.flock(turn, fcntl.LOCK_UN)

    def _after_turn(self, batch: list[_Item], outcomes: _Outcomes) -> None:
        """Settle the committed batch once it is durable (see store/sqlite_walsync.py)."""
        if self._durable is None:  # the COMMIT synced (synchronous = FULL)
            _settle_all(batch, outcomes)
            return
        with self._handed_lock:
            # Nothing waits to run, and no batch before this one waits to be
            # settled: sync here, and spare the batch a hop to the syncer
            # thread (under load a woken thread waits for a core). A call
            # queued meanwhile waits for this sync, as it did when the COMMIT
            # synced, but other processes' writers do not.
            inline = self._handed == 0 and self._queue.empty()
            if not inline:
                self._handed += 1
        if inline:
            _settle_durable(batch, outcomes, self._sync(self._durable))
        else:
            # The next batch runs while the syncer syncs this one.
            self._syncs.put((batch, outcomes))

    def _sync_main(self) -> None:
        """The syncer: one sync for every batch committed so far, then settle them.

        A batch committed while the last sync ran is visible, and may have read
        what that sync was making durable; it is settled after a sync that
        began after its own COMMIT, which covers both.
        """
        assert self._durable is not None
        while True:
            pending = [self._syncs.get()]
            while True:
                try:
                    pending.append(self._syncs.get_nowait())
                except queue.Empty:
                    break
            stopping = pending[-1] is _STOP
            if stopping:
                pending.pop()
            if pending:
                failure = self._sync(self._durable)
                for batch, outcomes in pending:
                    _settle_durable(batch, outcomes, failure)
                with self._handed_lock:
                    self._handed -= len(pending)
            if stopping:
                return

    def _sync(self, durable: WalSync) -> StoreUnavailable | None:
        """Sync the WAL; the failure to hand the callers if it cannot be.

        A failed fdatasync may have dropped the frames (Linux marks the pages
        clean all the same), and later syncs would not report it: `durable`
        latches it, and the writer refuses every call from then on; the
        process must be restarted.
        """
        if self._broken is not None:
            return self._broken
        try:
            durable.cover()
        except OSError as exc:
            return self._break(exc)
        return None

    def _refusal(self, *, look: bool) -> StoreUnavailable | None:
        """Why every call is refused, if it is: a sync of the WAL failed on any
        thread of this process (the reader's too) or, with `look`, in another
        process of the node (one `pread` of the shared record)."""
        if self._broken is None and self._durable is not None:
            try:
                if look:
                    self._durable.check()
                elif self._durable.failed is not None:
                    self._durable.check()  # raises it
            except OSError as exc:
                return self._break(exc)
        return self._broken

    def _break(self, exc: OSError) -> StoreUnavailable:
        if self._broken is None:
            self._broken = StoreUnavailable(f"the database could not sync its log: {exc}")
        return self._broken

    def _take_batch(self) -> tuple[list[_Item], bool]:
        first = self._queue.get()
        if first is _STOP:
            return [], True
        batch: list[_Item] = [first]
        while len(batch) < MAX_BATCH:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            batch.append(item)
        return batch, False

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Item]) -> _Outcomes:
        outcomes: _Outcomes = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for work, _future, _loop, savepoint in batch:
                outcomes.append(_run_one(conn, work, savepoint=savepoint))
                if not conn.in_transaction:
                    # SQLITE_FULL, I/O and out-of-memory errors roll back the whole
                    # transaction: later calls would run in autocommit, and the
                    # batch's fate must be one.
                    raise sqlite3.OperationalError(f"transaction rolled back: {outcomes[-1][1]}")
            self._commit(conn)
        except sqlite3.Error as exc:
            log.error("sqlite transaction failed: %s", exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            failure = StoreUnavailable(f"the database refused the write: {exc}")
            outcomes = [(False, failure)] * len(batch)
        return outcomes

    def _commit(self, conn: sqlite3.Connection) -> None:
        timed = self.on_commit
        if timed is None:
            conn.execute("COMMIT")
        else:
            began = time.perf_counter()
            conn.execute("COMMIT")
            timed(time.perf_counter() - began)
        self.commits += 1


@contextlib.contextmanager
def savepoint(conn: sqlite3.Connection, name: str) -> Iterator[None]:
    """Writes that stand or fall together inside a call run with `savepoint=False`.

    For a call that decides, after its first read, that it will write more
    than one statement: only then does it pay for the savepoint.
    """
    conn.execute(f"SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        conn.execute(f"ROLLBACK TO {name}")
        conn.execute(f"RELEASE {name}")
        raise
    conn.execute(f"RELEASE {name}")


def _run_one(conn: sqlite3.Connection, work: Work, *, savepoint: bool) -> tuple[bool, Any]:
    """Run one call inside a savepoint, so its failure undoes only its own writes."""
    if savepoint:
        conn.execute("SAVEPOINT call")
    try:
        result = work(conn)
    except Exception as exc:
        if savepoint:
            conn.execute("ROLLBACK TO call")
            conn.execute("RELEASE call")
        if isinstance(exc, AcceptedError):
            return False, exc
        if isinstance(exc, sqlite3.Error):
            log.error("sqlite call failed: %s", exc)  # the store's state, not a bug: no traceback
            return False, StoreUnavailable(f"the database failed: {exc}")
        log.exception("store call failed")  # a bug in the call: it fails alone
        return False, exc
    if savepoint:
        conn.execute("RELEASE call")
    return True, result


def _settle_durable(
    batch: list[_Item], outcomes: _Outcomes, failure: StoreUnavailable | None
) -> None:
    _settle_all(batch, outcomes if failure is None else [(False, failure)] * len(batch))


def _settle_all(batch: list[_Item], outcomes: list[tuple[bool, Any]]) -> None:
    """Hand results back with one wake-up per event loop, not one per call."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
    for (_work, future, loop, _savepoint), (ok, value) in zip(batch, outcomes, strict=True):
        by_loop.setdefault(loop, []).append((future, ok, value))
    for loop, settled in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop closed: nobody waits any more
            loop.call_soon_threadsafe(_settle, settled)


def _settle(settled: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in settled:
        if future.done():  # the caller was cancelled; the write stands regardless
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
