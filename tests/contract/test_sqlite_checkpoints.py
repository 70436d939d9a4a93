"""SQLite only: WAL checkpoints run beside the writer, never inside a commit
(store/sqlite_checkpoints.py), and the WAL stays bounded under sustained
writes, with one process of a node checkpointing for all of them."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import msgspec
import pytest

from accepted.config import Settings
from accepted.errors import StoreUnavailable
from accepted.http.app import App
from accepted.siblings import Siblings
from accepted.store.local_link import LocalLink
from accepted.store.sqlite import SqliteStore
from accepted.store.sqlite_checkpoints import FALLBACK, PAGES, SqliteCheckpointer
from accepted.tasks.base import TaskGroup
from accepted.tasks.checkpoints import WalCheckpointer
from accepted.types import Job
from tests.contract.builders import NOW, make_job

PARAMS = msgspec.Raw(b'{"blob":"' + b"x" * 4000 + b'"}')  # two 4 KiB pages of WAL per job
COMMITS = 480  # of 10 such jobs: a WAL of ~40 MiB if nothing were copied out of it
# The WAL file stays below this with restart=400 frames (1.6 MiB): a few MiB on a
# quiet machine, up to ~24 MiB seen where the checkpointer's thread waits for a
# core while four producers write; without the held restart it takes all ~40 MiB
# (and `restarts` below, which does not depend on timing, stays 0).
BOUND = 32 * 2**20


def big_jobs(n: int) -> list[Job]:
    return [make_job("big", params=PARAMS) for _ in range(n)]


def wal_bytes(path: str) -> int:
    try:
        return os.stat(path + "-wal").st_size
    except FileNotFoundError:
        return 0


def small_checkpointer(store: SqliteStore, **limits: int) -> SqliteCheckpointer:
    """The store's checkpointer with thresholds a test reaches in a second."""
    checkpoints = SqliteCheckpointer(store.path, store._writer.turn, poll=0.01, **limits)
    store.checkpoints = checkpoints
    return checkpoints


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(str(tmp_path / "wal.db"))
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def test_a_commit_never_checkpoints(store: SqliteStore) -> None:
    for _ in range(40):  # well past SQLite's automatic threshold of 1000 pages
        await store.insert_jobs(big_jobs(20))
    assert store.checkpoints is not None
    mark = store.checkpoints.mark()
    assert mark is not None and mark.frames > PAGES
    assert mark.copied == 0  # no commit copied the WAL into the file; the checkpointer will


async def write_while_watching(stores: Sequence[SqliteStore], commits: int) -> int:
    """Four producers per store, `commits` commits of 10 big jobs each in all;
    the largest WAL file seen after any commit."""
    largest = 0

    async def produce(store: SqliteStore) -> None:
        nonlocal largest
        for _ in range(commits // (4 * len(stores))):
            await store.insert_jobs(big_jobs(10))
            largest = max(largest, wal_bytes(store.path))

    await asyncio.gather(*(produce(s) for s in stores for _ in range(4)))
    return largest


async def test_the_wal_stays_bounded_under_sustained_writes(store: SqliteStore) -> None:
    checkpoints = small_checkpointer(store, pages=100, restart=400)
    tasks = TaskGroup([WalCheckpointer(store)])
    tasks.start()
    try:
        largest = await write_while_watching([store], COMMITS)
    finally:
        await tasks.stop()
    assert checkpoints.passives > 0
    assert checkpoints.restarts > 0  # the WAL started over while the writes went on
    assert largest < BOUND, largest
    # Once writes stop, a quiet look copies the rest: the next commit starts the WAL over.
    await checkpoints.run_once(NOW)
    await checkpoints.run_once(NOW)
    mark = checkpoints.mark()
    assert mark is not None and mark.pending == 0


async def test_a_reader_holding_old_frames_delays_the_truncation_only(
    store: SqliteStore,
) -> None:
    checkpoints = small_checkpointer(store, restart=50, limit=256 * 1024)
    await store.insert_jobs(big_jobs(10))
    reader = sqlite3.connect(store.path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM jobs").fetchone()  # a snapshot before the writes
        for _ in range(10):
            await store.insert_jobs(big_jobs(10))
        held = await checkpoints.checkpoint()  # answers at once; copies what it may
        assert held.copied < held.frames
        assert wal_bytes(store.path) > checkpoints.limit
        reader.execute("COMMIT")
    finally:
        reader.close()
    await checkpoints.checkpoint()
    assert wal_bytes(store.path) == 0 and checkpoints.truncates == 1
    [job] = big_jobs(1)
    await store.insert_jobs([job])  # the WAL grows again from nothing
    assert await store.get_job(job.id) == job


async def test_one_process_checkpoints_for_all_processes_of_a_node(tmp_path: Path) -> None:
    path = str(tmp_path / "node.db")
    links = [LocalLink(Siblings(tmp_path, i, 2)) for i in range(2)]
    stores = [SqliteStore(path, link=link) for link in links]
    for store, link in zip(stores, links, strict=True):
        link.start()
        await store.open()
    first, second = stores
    assert first.checkpoints is not None and second.checkpoints is None
    assert await second.checkpoint(NOW) is None
    checkpoints = small_checkpointer(first, pages=100, restart=400)
    tasks = TaskGroup([WalCheckpointer(store) for store in stores])
    tasks.start()
    try:
        largest = await write_while_watching(stores, COMMITS)
    finally:
        await tasks.stop()
        for store, link in zip(stores, links, strict=True):
            await store.close()
            link.stop()
    assert checkpoints.passives > 0
    assert checkpoints.restarts > 0  # the WAL started over while the writes went on
    assert largest < BOUND, largest


async def test_the_checkpointer_is_supervised_and_stops_with_the_app(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = str(tmp_path / "app.db")
    store = SqliteStore(db)
    app = App(Settings(db=db), store)
    assert "checkpointer" in [task.name for task in app.tasks.tasks]
    real = store.checkpoint
    calls = 0
    ran_again = asyncio.Event()

    async def failing_once(now: float) -> float | None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise StoreUnavailable("the disk is full")
        next_at = await real(now)
        ran_again.set()  # the task logs that it works again before the test sees this
        return next_at

    store.checkpoint = failing_once  # type: ignore[method-assign]
    caplog.set_level(logging.WARNING, "accepted.tasks")
    before = set(threading.enumerate())
    await app.startup()
    try:
        await asyncio.wait_for(ran_again.wait(), 10)
    finally:
        await app.shutdown()
    assert "checkpointer cannot run: the disk is full" in caplog.text
    assert "checkpointer works again" in caplog.text
    left = [t.name for t in set(threading.enumerate()) - before]
    assert not [name for name in left if name.startswith("accepted-sqlite")], left


async def test_without_a_readable_header_it_still_checkpoints_now_and_then(
    store: SqliteStore,
) -> None:
    checkpoints = small_checkpointer(store)
    await store.insert_jobs(big_jobs(10))
    checkpoints.mark = lambda: None  # type: ignore[method-assign]
    for _ in range(FALLBACK - 1):  # caught mid-commit: it only looks again
        await checkpoints.run_once(NOW)
    assert checkpoints.passives == 0
    await checkpoints.run_once(NOW)
    assert checkpoints.passives == 1
