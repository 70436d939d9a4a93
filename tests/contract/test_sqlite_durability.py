"""SQLite only: the WAL is synced after the write lock, not inside the COMMIT
(store/sqlite_walsync.py), and nothing is answered before the sync that
makes it durable: not a write's caller, not a read of a commit (this
process's or another's) that is visible but not yet synced.

The sync is wrapped (`WalSync.sync_file`) to hold it and see who waits on
it; the writer, the reader, SQLite and the file are the real ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from accepted.errors import StoreUnavailable
from accepted.store.sqlite import SqliteStore
from accepted.store.sqlite_walsync import WalSync
from tests.contract.builders import make_job

WAIT = 10  # seconds; every wait below ends on an event long before


class HeldSync:
    """The real fdatasync, entered only when the test lets it through."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()  # passes through until `hold()`
        self.calls = 0
        self.seen: list[tuple[int, bool]] = []  # per sync: the inode synced, the same as the WAL's
        self.fail: OSError | None = None
        self.probe: Callable[[], bool] = lambda: True  # looked at as each sync begins
        self.probed: list[bool] = []

    def __call__(self, fd: int) -> None:
        self.calls += 1
        inode = os.fstat(fd).st_ino
        self.seen.append((inode, inode == os.stat(self.path + "-wal").st_ino))
        self.probed.append(self.probe())
        self.entered.set()
        assert self.release.wait(WAIT)
        if self.fail is not None:
            raise self.fail
        os.fdatasync(fd)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        self.entered.clear()
        self.release.clear()
        try:
            yield
        finally:
            self.release.set()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(str(tmp_path / "durable.db"))
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def held(store: SqliteStore) -> HeldSync:
    assert store._durable is not None
    held = HeldSync(store.path)
    store._durable.sync_file = held
    return held


def committed_priority(path: str, job_id: str) -> int | None:
    """The job's priority as a connection of another process sees it now."""
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT priority FROM jobs WHERE id = ?", (job_id,)).fetchone()
    finally:
        conn.close()
    return None if row is None else int(row[0])


def commit_elsewhere(path: str, sql: str, job_id: str) -> None:
    """Another process's commit: visible at once, not synced (as its writer commits)."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("PRAGMA synchronous = NORMAL")
        other.execute(sql, (job_id,))
    finally:
        other.close()


async def entered(held: HeldSync) -> None:
    """Wait until a sync is entered. Its completion reaches the loop after any
    settle the writer scheduled before the sync, so a caller settled too early
    is done by then."""
    assert await asyncio.to_thread(held.entered.wait, WAIT)


async def test_a_write_is_answered_only_after_the_sync_that_follows_its_commit(
    store: SqliteStore, held: HeldSync
) -> None:
    job = make_job("q", priority=7)
    with held.hold():
        insert = asyncio.ensure_future(store.insert_jobs([job]))
        await entered(held)
        assert committed_priority(store.path, job.id) == 7  # committed: the sync came after
        assert not insert.done()  # ... and the caller still waits for it
    await asyncio.wait_for(insert, WAIT)
    assert held.seen and all(same for _inode, same in held.seen)  # the WAL's file, synced


async def test_a_batch_committed_during_a_sync_waits_for_a_sync_of_its_own(
    store: SqliteStore, held: HeldSync
) -> None:
    """With a call queued behind a batch, the batch is synced on the syncer
    thread while the writer commits the next: that one needs a later sync."""
    job = make_job("q")
    running, proceed = threading.Event(), threading.Event()

    def slow(conn: sqlite3.Connection) -> None:
        running.set()
        assert proceed.wait(WAIT)

    with held.hold():
        one = asyncio.ensure_future(store._writer.run(slow))
        assert await asyncio.to_thread(running.wait, WAIT)
        two = asyncio.ensure_future(store.insert_jobs([job]))
        await asyncio.sleep(0)  # its call is queued behind the running batch
        commits = threading.Semaphore(0)
        store._writer.on_commit = lambda _seconds: commits.release()
        held.probe = lambda: committed_priority(store.path, job.id) is not None
        proceed.set()
        await entered(held)  # the first batch's sync, held on the syncer thread
        for _batch in (one, two):  # ... while the writer commits the second
            assert await asyncio.to_thread(commits.acquire, True, WAIT)
        assert committed_priority(store.path, job.id) is not None
        assert not one.done() and not two.done()
    await asyncio.wait_for(asyncio.gather(one, two), WAIT)
    # The second batch was answered after a sync that began after its commit:
    # the held one, if the syncer read the WAL's end after that commit, or the next.
    assert held.probed[-1]


async def test_a_read_of_a_commit_not_yet_synced_waits_for_the_sync(
    store: SqliteStore, held: HeldSync
) -> None:
    job = make_job("q", priority=1)
    await store.insert_jobs([job])

    async def on_writer() -> int:
        found = await store.get_job(job.id)
        assert found is not None
        return found.priority

    async def on_reader() -> int:
        return (await store.get_attempts(job.id))[0].priority

    for read, priority in ((on_writer, 2), (on_reader, 3)):
        commit_elsewhere(store.path, "UPDATE jobs SET priority = priority + 1 WHERE id = ?", job.id)
        with held.hold():
            answer = asyncio.ensure_future(read())
            await entered(held)
            assert not answer.done()
        assert await asyncio.wait_for(answer, WAIT) == priority


async def test_a_read_of_what_is_synced_already_makes_no_sync(
    store: SqliteStore, held: HeldSync
) -> None:
    job = make_job("q")
    await store.insert_jobs([job])
    calls = held.calls
    assert await store.get_job(job.id) is not None
    await store.get_attempts(job.id)
    assert held.calls == calls


async def test_the_file_synced_is_the_wal_after_a_truncating_checkpoint(
    store: SqliteStore, held: HeldSync
) -> None:
    await store.insert_jobs([make_job("q")])
    conn = sqlite3.connect(store.path, isolation_level=None)
    assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
    conn.close()
    assert os.stat(store.path + "-wal").st_size == 0
    held.seen.clear()
    await store.insert_jobs([make_job("q")])
    assert held.seen and all(same for _inode, same in held.seen)


async def test_a_failed_sync_fails_its_callers_and_every_call_after(
    store: SqliteStore, held: HeldSync
) -> None:
    held.fail = OSError(5, "Input/output error")
    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(store.insert_jobs([make_job("q")]), WAIT)
    held.fail = None  # a sync that works again proves nothing about the frames lost
    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(store.insert_jobs([make_job("q")]), WAIT)


async def test_a_sync_by_one_process_spares_the_others_theirs(
    store: SqliteStore, tmp_path: Path
) -> None:
    """With the node's shared record (serve --workers N), a process whose reads
    saw only what another process synced makes no sync of its own; without
    it, or with the record torn, it syncs."""
    job = make_job("q")
    await store.insert_jobs([job])
    record = tmp_path / "wal-synced"
    one, two = (WalSync(store.path, shared=record) for _ in range(2))
    alone = WalSync(store.path)
    try:
        commit_elsewhere(store.path, "UPDATE jobs SET priority = 5 WHERE id = ?", job.id)
        one.cover()
        two.cover()
        alone.cover()
        assert (one.syncs, two.syncs, alone.syncs) == (1, 0, 1)
        commit_elsewhere(store.path, "UPDATE jobs SET priority = 6 WHERE id = ?", job.id)
        one.cover()
        record.write_bytes(record.read_bytes()[:-1] + b"?")  # caught half-written
        two.cover()
        assert (one.syncs, two.syncs) == (2, 1)
    finally:
        for sync in (one, two, alone):
            sync.close()


async def test_a_sync_failed_on_the_reader_fails_every_call_after(
    store: SqliteStore, held: HeldSync
) -> None:
    """Linux reports a failed writeback once: whichever thread's sync saw it,
    the writer must not answer a later write as durable, nor a read show
    frames that may be lost."""
    job = make_job("q")
    await store.insert_jobs([job])
    commit_elsewhere(store.path, "UPDATE jobs SET priority = priority + 1 WHERE id = ?", job.id)
    held.fail = OSError(5, "Input/output error")
    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(store.get_attempts(job.id), WAIT)  # the reader's sync fails
    held.fail = None  # later syncs succeed, and prove nothing about the frames lost
    later = make_job("q")
    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(store.insert_jobs([later]), WAIT)
    assert committed_priority(store.path, later.id) is None  # refused, not run
    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(store.get_job(job.id), WAIT)
    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(store.get_attempts(job.id), WAIT)


async def test_the_wal_is_open_from_the_start(store: SqliteStore) -> None:
    """An fd opened after a failed writeback would never hear of it: the
    store holds the WAL open before its first sync."""
    assert store._durable is not None and store._durable.syncs == 0
    assert store._durable._wal is not None
    assert os.fstat(store._durable._wal).st_ino == os.stat(store.path + "-wal").st_ino


async def test_a_sync_failed_in_one_process_fails_the_others(
    store: SqliteStore, tmp_path: Path
) -> None:
    """With the node's shared record (serve --workers N), a process whose sync
    failed marks it there: every other process refuses from then on, even
    one whose own sync would succeed or that has nothing new to sync."""
    job = make_job("q")
    await store.insert_jobs([job])
    record = tmp_path / "wal-synced"

    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    one = WalSync(store.path, shared=record, sync=failing)
    two, three = WalSync(store.path, shared=record), WalSync(store.path, shared=record)
    try:
        commit_elsewhere(store.path, "UPDATE jobs SET priority = 5 WHERE id = ?", job.id)
        two.cover()  # synced: this point is covered for every process
        commit_elsewhere(store.path, "UPDATE jobs SET priority = 6 WHERE id = ?", job.id)
        with pytest.raises(OSError):
            one.cover()
        with pytest.raises(OSError):
            two.cover()  # its own sync would succeed
        commit_elsewhere(store.path, "UPDATE jobs SET priority = 7 WHERE id = ?", job.id)
        for sync in (one, two, three):
            with pytest.raises(OSError):
                sync.cover()
        assert two.syncs == 1 and three.syncs == 0
    finally:
        for sync in (one, two, three):
            sync.close()
