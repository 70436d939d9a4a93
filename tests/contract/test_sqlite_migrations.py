"""SQLite only: migrations are applied by their number, each recorded with it, so
one that lands after a higher number (they are merged as they are done) is
still applied; a file from before the record counts 1..user_version as applied."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from accepted.store.migrations import load_migrations
from accepted.store.sqlite import SqliteStore
from accepted.store.sqlite_migrations import _statements, migrate
from tests.contract.builders import make_job

ALL = load_migrations("sqlite")


def _recorded(path: Path) -> tuple[list[int], int]:
    with sqlite3.connect(path) as conn:
        numbers = [row[0] for row in conn.execute("SELECT version FROM migrations ORDER BY 1")]
        return numbers, conn.execute("PRAGMA user_version").fetchone()[0]


def _columns(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[1] for row in conn.execute("PRAGMA table_info(jobs)")}


async def _open_and_use(path: Path) -> None:
    store = SqliteStore(str(path))
    await store.open()
    try:
        job = make_job(unique_key="k")
        await store.insert_jobs([job])
        assert await store.get_job(job.id) == job
    finally:
        await store.close()


async def test_a_migration_that_landed_after_a_higher_one_is_applied(tmp_path: Path) -> None:
    path = tmp_path / "dev.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, [(n, sql) for n, sql in ALL if n <= 13 and n != 12])  # before 0012 landed
    conn.close()
    assert _recorded(path)[1] == 13
    assert "unique_key" not in _columns(path)
    await _open_and_use(path)
    assert "unique_key" in _columns(path)
    assert _recorded(path) == ([n for n, _ in ALL], ALL[-1][0])


async def test_a_file_counted_by_user_version_keeps_what_it_applied(tmp_path: Path) -> None:
    path = tmp_path / "released.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for number, script in ALL[:10]:  # as releases applied them: in order, counted
        for statement in _statements(script):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")
    conn.close()
    await _open_and_use(path)  # 0001 again would fail: the jobs table exists
    numbers, version = _recorded(path)
    assert numbers == list(range(1, 11)) + [n for n, _ in ALL[10:]]
    assert version == ALL[-1][0]


async def test_a_number_not_landed_when_the_file_was_counted_is_applied_later(
    tmp_path: Path,
) -> None:
    path = tmp_path / "counted.db"
    before = [(n, sql) for n, sql in ALL if n != 12]
    conn = sqlite3.connect(path, isolation_level=None)
    for number, script in before:  # the old runner, in a build without 0012 yet
        for statement in _statements(script):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")
    migrate(conn, before)  # this runner, same build: the table starts without 12
    conn.close()
    assert 12 not in _recorded(path)[0]
    await _open_and_use(path)  # the build with 0012
    assert "unique_key" in _columns(path)
    assert _recorded(path)[0] == [n for n, _ in ALL]


def test_a_failing_migration_leaves_neither_its_changes_nor_its_record(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    conn = sqlite3.connect(path, isolation_level=None)
    broken = (99, "CREATE TABLE half (a);\nINSERT INTO nowhere VALUES (1);\n")
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, [*ALL, broken])
    assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'half'").fetchone() is None
    conn.close()
    assert _recorded(path) == ([n for n, _ in ALL], ALL[-1][0])
