"""The WAL's fsync, taken out of the write lock.

The writer commits with `synchronous = NORMAL`: in WAL mode the COMMIT then
writes the transaction's frames to the `-wal` file without syncing it, and
the commit is visible to every reader at once. The writer releases the
node's write lock and only then calls `cover()`, which `fdatasync`s the WAL
file; its callers are settled after that. One `fdatasync` of the file makes
every frame written to it before the call durable, whichever process wrote
it, so an acknowledgement still follows the durability of its commit, while
the other processes (or this one's next batch) already run their SQL.

Since a commit is visible before it is durable, whatever reveals state waits
for a sync too: `cover()` returns only once every frame committed to the WAL
when it was called is on disk. It reads where the WAL stands from the
WAL-index header (`-shm`, one `pread`) and skips the sync when a sync that
began at or after that point has finished (an `fdatasync` of a clean file
still costs a device flush, 60-160 us here): in this process, or, with
`shared` (the processes of `serve --workers N`), in any process of the node,
which each record the point their last sync covered in that file.

A failed sync is final. Linux reports a failed writeback to each open file
once and marks the pages clean all the same: the next `fdatasync` succeeds,
though frames the failed one was writing may be gone. So the first failure
is latched here, whichever thread met it (the writer's, the syncer's, the
reader's), and `cover()` raises from then on; with `shared`, it is also
marked in the node's record, which every process's `cover()` reads, so the
other processes refuse as well (their own next sync might succeed, the
kernel having told only the process that failed). The `-wal` file is opened
when the store opens (`open()`), not at the first sync: a file opened after
a failed writeback is never told of it. Only a restart recovers: SQLite's
recovery replays what is on disk, and the node's run directory, the mark
with it, is made anew.

Checkpoints cannot lose a frame not yet synced here: SQLite syncs the WAL
before a checkpoint copies it, and the database file after a checkpoint that
copied everything, before the WAL may start over (at NORMAL as at FULL; the
checkpointer's own connection runs at FULL anyway).
"""

from __future__ import annotations

import errno
import logging
import os
import struct
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

# WalIndexHdr (https://www.sqlite.org/walformat.html#the_wal_index_file_format):
# two copies of 48 bytes; mxFrame at 16, aSalt[2] at 32. Native byte order.
_COPY = 48
_VERSION = 3007000
# The shared record of the last point synced: salts, frames, and a CRC-32 of
# both, so that a record caught half-written reads as none (then one syncs).
_RECORD = struct.Struct("=8sII")
# Right after it, once any process's sync has failed: the failure mark. A
# place of its own, so that no process recording a point writes over it.
_FAILED = b"WAL sync failed\n"

log = logging.getLogger(__name__)


class WalPoint(NamedTuple):
    """A point in the WAL: which generation of the file (its salts), how many frames."""

    salt: bytes
    frames: int


def _covered(synced: WalPoint | None, point: WalPoint) -> bool:
    """Whether a sync that began at `synced` made every frame up to `point` durable."""
    return synced is not None and synced.salt == point.salt and synced.frames >= point.frames


def wal_point(header: bytes) -> WalPoint | None:
    """The WAL-index header's point, or None if caught mid-change or unreadable."""
    if len(header) < 2 * _COPY or header[:_COPY] != header[_COPY : 2 * _COPY]:
        return None
    version, _unused, _change, initialized, frames = struct.unpack_from("=IIIB3xI", header)
    if version != _VERSION or not initialized:
        return None
    return WalPoint(header[32:40], frames)


class WalSync:
    """Syncs the WAL of the database at `path`; thread-safe."""

    def __init__(
        self,
        path: str,
        *,
        shared: Path | None = None,
        sync: Callable[[int], None] = os.fdatasync,
    ) -> None:
        self.path = path
        self.shared = shared
        self._record: int | None = None  # the `shared` file
        self.sync_file = sync  # os.fdatasync; tests wrap it to see when callers are settled
        self._lock = threading.Lock()  # held for each sync
        self._opening = threading.Lock()
        self._wal: int | None = None  # the -wal file, opened once (see `_wal_fd`)
        self._inode = 0
        self._index: int | None = None  # the -shm file, for the header
        self._synced: WalPoint | None = None  # a point every frame up to which is on disk
        self._failed: OSError | None = None  # the first failed sync, here or in the node
        self.syncs = 0  # fdatasyncs made, for tests and benchmarks
        self.skipped = 0  # covers that needed none

    def open(self) -> None:
        """Open the files now: the -wal file must be open before a writeback of
        it can fail, or its failure would not be reported to this process."""
        with self._lock:
            self._wal_fd()
        self.point()
        self._record_fd()

    @property
    def failed(self) -> OSError | None:
        """The failure latched in this process, if any (no system call)."""
        return self._failed

    def check(self) -> WalPoint | None:
        """Raise OSError if a sync of the WAL has failed, in this process or,
        with `shared`, in any process of the node; else the point the node
        last recorded as synced (one `pread`), if any."""
        if self._failed is None:
            synced, failed = self._read_shared()
            if not failed:
                return synced
            self._latch(OSError(errno.EIO, "another process of the node failed to sync the WAL"))
        failure = self._failed
        assert failure is not None
        raise OSError(failure.errno, f"an earlier sync of the WAL failed: {failure.strerror}")

    def cover(self) -> None:
        """Return once every frame committed to the WAL before this call is on disk.

        Raises OSError if the sync fails, or has failed before (here or in
        another process of the node): the frames may be lost, and the callers
        must not be told their writes are durable, nor be shown them.
        """
        point = self.point()
        shared = self.check()  # raises if a sync failed, anywhere in the node
        if point is not None and (self._covers(point) or _covered(shared, point)):
            self.skipped += 1
            return
        # One sync at a time (the kernel would serialize them on the file
        # anyway): whoever waited here may find its point covered by the
        # sync it waited for, or failed.
        with self._lock:
            shared = self.check()
            if point is not None and (self._covers(point) or _covered(shared, point)):
                self.skipped += 1
                return
            try:
                self.sync_file(self._wal_fd())
            except OSError as exc:
                self._latch(exc)
                raise
            self.syncs += 1
            if point is not None:
                self._synced = point
                self._write_shared(point)

    def _latch(self, failure: OSError) -> None:
        """Refuse from now on, and have the node's other processes refuse."""
        if self._failed is not None:
            return
        self._failed = failure
        log.critical("syncing the WAL failed, every call is refused until a restart: %s", failure)
        try:
            fd = self._record_fd()
            if fd is not None:
                os.pwrite(fd, _FAILED, _RECORD.size)
        except OSError as exc:
            log.critical("the other processes could not be told the WAL's sync failed: %s", exc)

    def point(self) -> WalPoint | None:
        """Where the WAL stands now, from the WAL-index header; None if unreadable."""
        try:
            if self._index is None:
                self._index = os.open(self.path + "-shm", os.O_RDONLY)
            return wal_point(os.pread(self._index, 2 * _COPY, 0))
        except OSError:
            return None

    def close(self) -> None:
        for fd in (self._wal, self._index, self._record):
            if fd is not None:
                os.close(fd)
        self._wal = self._index = self._record = None

    def _covers(self, point: WalPoint) -> bool:
        return _covered(self._synced, point)

    def _record_fd(self) -> int | None:
        if self.shared is not None and self._record is None:
            with self._opening:  # the writer and the reader may both get here first
                if self._record is None:
                    self._record = os.open(self.shared, os.O_RDWR | os.O_CREAT, 0o600)
        return self._record

    def _read_shared(self) -> tuple[WalPoint | None, bool]:
        """The point the node's processes last recorded as synced, if readable,
        and whether one of them marked a failed sync."""
        try:
            fd = self._record_fd()
            data = b"" if fd is None else os.pread(fd, _RECORD.size + len(_FAILED), 0)
        except OSError:
            return None, False
        failed = data[_RECORD.size :] == _FAILED
        if len(data) < _RECORD.size:
            return None, failed
        salt, frames, check = _RECORD.unpack_from(data)
        return (WalPoint(salt, frames) if zlib.crc32(data[:12]) == check else None), failed

    def _write_shared(self, point: WalPoint) -> None:
        """Record the point synced, unless the record covers it already.

        Two processes may interleave here and leave the older point: that
        costs a sync that was not needed, never a sync skipped.
        """
        if self.shared is None or _covered(self._read_shared()[0], point):
            return
        head = struct.pack("=8sI", point.salt, point.frames)
        try:
            fd = self._record_fd()
            if fd is not None:
                os.pwrite(fd, head + struct.pack("=I", zlib.crc32(head)), 0)
        except OSError:
            pass  # the others sync for themselves

    def _wal_fd(self) -> int:
        """The -wal file, opened once.

        A checkpoint's RESTART or TRUNCATE reuses the file (same inode); SQLite
        deletes it only when the last connection closes, and this process's
        writer keeps one open. Should the name come to mean another file all
        the same, the old one is synced before it is let go (our frames may be
        there) and the new one opened: a `stat`, about 2 us a sync, buys that.
        Called with `_lock` held.
        """
        name = self.path + "-wal"
        inode = os.stat(name).st_ino
        if self._wal is not None and inode != self._inode:
            self.sync_file(self._wal)
            os.close(self._wal)
            self._wal = None
        if self._wal is None:
            self._wal = os.open(name, os.O_RDONLY)
            self._inode = os.fstat(self._wal).st_ino
        return self._wal
