"""SQLite only: reads that need no write of their own run on the reader
connection, so they answer while the one writer is busy with a long
transaction (a bulk chunk, a big batch) instead of queueing behind it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from accepted.store.sqlite import SqliteStore
from tests.contract.builders import NOW, make_job


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(str(tmp_path / "reads.db"))
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def test_attempts_and_paused_queues_answer_while_the_writer_is_held(
    sqlite_store: SqliteStore,
) -> None:
    job = make_job("q")
    await sqlite_store.insert_jobs([job])
    await sqlite_store.set_paused("p", True, NOW)
    release = threading.Event()
    held = asyncio.ensure_future(sqlite_store._writer.run(lambda conn: release.wait(30)))
    try:
        found, ended = await asyncio.wait_for(sqlite_store.get_attempts(job.id), 10)
        paused = await asyncio.wait_for(sqlite_store.paused_queues(), 10)
        assert not held.done()  # both answered while the writer was still held
    finally:
        release.set()
        await held
    assert found.id == job.id and ended == []
    assert paused == ["p"]
