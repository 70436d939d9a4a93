"""A second SQLite connection, on a thread of its own, for reads that take a while.

Listing, searching and counting read many rows; on the writer thread (which
also serves reads that must see the latest write) a one-second search would
hold up every commit for that second. WAL lets a reader run beside the
writer; the writer settles a caller only after its commit, so whatever a
client was told is written is visible here too.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from accepted.errors import StoreUnavailable
from accepted.store.sqlite_walsync import WalSync

T = TypeVar("T")


class SqliteReader:
    """Runs read-only functions on one connection of its own thread."""

    def __init__(self, path: str, *, durable: WalSync | None = None) -> None:
        self.path = path
        self._durable = durable
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    def start(self) -> None:
        """Open after the writer: the schema is migrated by then."""
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="accepted-sqlite-read")
        self._executor.submit(self._open).result()

    def _open(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA query_only = ON")
        conn.execute("PRAGMA busy_timeout = 5000")
        self._conn = conn

    def stop(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.submit(self._close).result()
            executor.shutdown()

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` in one read transaction (one snapshot of the file)."""
        if self._executor is None:
            raise StoreUnavailable("the database is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._in_snapshot, work)

    def _in_snapshot(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        if conn is None:
            raise StoreUnavailable("the database is closed")
        try:
            conn.execute("BEGIN")
            try:
                result = work(conn)
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"the database failed: {exc}") from exc
        if self._durable is not None:
            try:
                self._durable.cover()  # what it read may not be durable yet
            except OSError as exc:
                raise StoreUnavailable(f"the database could not sync its log: {exc}") from exc
        return result
