"""WAL checkpoints off the commit path: a connection and a thread of their own.

SQLite's automatic checkpoint runs inside the commit that pushes the WAL past
`wal_autocheckpoint` pages: that commit copies the WAL into the database file
and syncs it, and every caller batched into it (store/sqlite_writer.py) waits
for all of that. So the writer turns it off (`wal_autocheckpoint = 0`) and
this checkpointer does the work beside it:

- it looks at the WAL every `POLL` seconds by reading the WAL-index header
  (the `-shm` file, whose layout SQLite documents and keeps across versions,
  since processes of different versions share it): one `pread`, no lock, on
  the event loop;
- when `PAGES` committed frames wait to be copied, or frames wait and no
  commit came since the last look (a quiet moment), it runs
  `PRAGMA wal_checkpoint(PASSIVE)` on its own thread. A passive checkpoint
  takes no lock a writer needs: it copies what no reader still uses while
  commits go on appending to the WAL, and syncs the database file (SQLite
  syncs it only when it copied everything; otherwise the checkpointer does,
  on its thread, so the dirty pages never pile up);
- the WAL file starts over from its beginning only when a write transaction
  begins with every frame copied. A checkpoint beside a busy writer finishes
  with new frames behind it, so under sustained writes that moment never
  comes and the file would grow without bound. Once the WAL holds `RESTART`
  frames, the checkpointer therefore copies once more without a lock (what
  came during the last copy), then takes the node's write turn and runs
  `wal_checkpoint(RESTART)`: it copies the last few frames, syncs the few
  pages, and the next commit starts the WAL over. Commits wait for that
  remainder, about one sync, on a lock that wakes them (not in SQLite's
  sleeping busy handler), once per `RESTART` frames; never for the copy of
  the whole WAL. If the file has grown past `LIMIT` bytes anyway (readers
  kept old frames in use), that step is a `TRUNCATE`, which also shrinks it.
- the checkpoint connection never waits itself (`busy_timeout = 0`): if a
  reader (a long search, `accepted backup`) still needs frames, the
  checkpoint copies what it can and the rest waits for the next look.

One process checkpoints per node: the only one, or process 0 of a
several-process server (`accepted serve --workers N`); the WAL is the whole
node's. A restarted process 0 picks up where it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import struct
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import NamedTuple

from accepted.errors import StoreUnavailable

PAGES = 1000  # frames that call for a checkpoint now (SQLite's own autocheckpoint default)
POLL = 0.1  # seconds between looks at the WAL-index header
RESTART = 8 * PAGES  # frames in the WAL at which it is made to start over
LIMIT = 64 * 1024 * 1024  # bytes of WAL file above which it is truncated
FALLBACK = 10  # looks in a row without a readable header, then a passive checkpoint anyway

# The WAL-index header (https://www.sqlite.org/walformat.html#the_wal_index_file_format):
# two copies of a 48-byte WalIndexHdr (iVersion at 0, isInit at 12, mxFrame at 16),
# then WalCkptInfo (nBackfill at 96). Native byte order.
_HEADER_BYTES = 100
_COPY = 48
_VERSION = 3007000


class WalMark(NamedTuple):
    """Where the WAL stands: frames committed to it, and frames copied out of it."""

    frames: int
    copied: int

    @property
    def pending(self) -> int:
        return self.frames - self.copied


class Checkpointed(NamedTuple):
    """What one checkpoint did, as SQLite reports it (PRAGMA wal_checkpoint)."""

    busy: bool  # it could not do all it was asked: a reader (or writer) was in the way
    frames: int  # frames in the WAL when it ran
    copied: int  # frames copied into the database file by now


class SqliteCheckpointer:
    """Checkpoints the WAL of the file at `path`; see the module docstring."""

    def __init__(
        self,
        path: str,
        turn: Callable[[], AbstractContextManager[None]],
        *,
        pages: int = PAGES,
        restart: int = RESTART,
        limit: int = LIMIT,
        poll: float = POLL,
    ) -> None:
        self.path = path
        self._turn = turn  # the writer's: excludes every commit of the node while held
        self.pages = pages
        self.restart = restart
        self.limit = limit
        self.poll = poll
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._file: int | None = None  # the database file, to sync what a checkpoint copied
        self._index: int | None = None  # the -shm file, for the header
        self._last: WalMark | None = None
        self._unread = 0  # looks in a row that found no readable header
        self.passives = 0  # checkpoints run, for tests and benchmarks
        self.restarts = 0  # of them with the write turn held (RESTART or TRUNCATE)
        self.truncates = 0

    async def run_once(self, now: float) -> float:
        """Checkpoint if the WAL calls for it; when to look again."""
        mark = self.mark()
        if mark is None:  # caught mid-change (a commit), or a header we cannot read
            self._unread += 1
            if self._unread >= FALLBACK:  # then passive checkpoints on a timer
                self._unread = 0
                await self.checkpoint()
            return now + self.poll
        self._unread = 0
        quiet = mark == self._last
        self._last = mark
        if mark.pending >= self.pages or (quiet and mark.pending > 0):
            await self.checkpoint()
            self._last = self.mark()
        return now + self.poll

    async def checkpoint(self) -> Checkpointed:
        """A passive checkpoint, and the WAL made to start over if it holds `restart` frames."""
        return await self._on_thread(self._checkpoint)

    def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.submit(self._close).result()
            executor.shutdown()
        for fd in (self._index, self._file):
            if fd is not None:
                os.close(fd)
        self._index = self._file = None

    def mark(self) -> WalMark | None:
        """The WAL-index header's frame counts, or None if it cannot be read now."""
        try:
            if self._index is None:
                self._index = os.open(self.path + "-shm", os.O_RDONLY)
            header = os.pread(self._index, _HEADER_BYTES, 0)
        except OSError:
            return None
        if len(header) < _HEADER_BYTES or header[:_COPY] != header[_COPY : 2 * _COPY]:
            return None  # not there yet, or a writer is changing it right now
        version, _unused, _change, initialized, frames = struct.unpack_from("=IIIB3xI", header)
        if version != _VERSION or not initialized:
            return None
        (copied,) = struct.unpack_from("=I", header, 2 * _COPY)
        return WalMark(frames, copied)

    async def _on_thread(self, work: Callable[[], Checkpointed]) -> Checkpointed:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="accepted-sqlite-checkpoint")
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def _checkpoint(self) -> Checkpointed:
        try:
            done = self._copy()
            after = self.mark()
            if after is None or after.frames < self.restart:
                return done
            self._copy()  # what came during the last copy: the turn is then held for little
            with self._turn():
                done = self._pragma("TRUNCATE" if self._wal_bytes() > self.limit else "RESTART")
            self.restarts += 1
            self.truncates += self._wal_bytes() == 0
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(f"the WAL checkpoint failed: {exc}") from exc
        return done

    def _copy(self) -> Checkpointed:
        """A passive checkpoint. SQLite syncs the file only if no commit came
        meanwhile; if one did, the sync is done here, so the dirty pages never
        pile up for a sync with the turn held."""
        done = self._pragma("PASSIVE")
        self.passives += 1
        after = self.mark()
        if done.copied > 0 and (after is None or after.frames != done.frames):
            if self._file is None:
                self._file = os.open(self.path, os.O_RDONLY)
            os.fdatasync(self._file)
        return done

    def _pragma(self, mode: str) -> Checkpointed:
        pragma = f"PRAGMA wal_checkpoint({mode})"
        busy, frames, copied = self._connection().execute(pragma).fetchone()
        return Checkpointed(bool(busy), frames, copied)

    def _wal_bytes(self) -> int:
        try:
            return os.stat(self.path + "-wal").st_size
        except FileNotFoundError:
            return 0

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 0")  # never wait: try again at the next look
            # A checkpoint syncs the WAL before it copies it and the file after it copied
            # everything (the writer commits at NORMAL and syncs the WAL itself, after).
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            self._conn = conn
        return self._conn

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
