"""The SQLite database as a file: whether it can be written, whether its disk
has room, and the lock that keeps it to one server.

Checked before the connection is opened (`check_writable`, whose error names
the file; the lock file's own error would name the wrong one), and by the
health probe (`check_room`).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from accepted.errors import StoreUnavailable

# Free space below which /healthz calls the disk full: a page split or a batch
# of jobs needs new pages, and a disk this close to full refuses them soon.
DISK_HEADROOM = 64 * 1024


def check_room(path: str) -> None:
    """Say the disk is full while it has less than `DISK_HEADROOM` free.

    The probe write alone does not find a full disk: once a checkpoint has
    moved the log into the database, a small commit reuses the log's space and
    succeeds while every enqueue that needs a new page fails, and `/healthz`
    answered 200 to a server refusing producers.
    """
    stat = os.statvfs(Path(path).parent)
    # Root may write into the blocks a file system keeps back from other users.
    blocks = stat.f_bfree if os.geteuid() == 0 else stat.f_bavail
    free = blocks * stat.f_frsize
    if free < DISK_HEADROOM:
        raise StoreUnavailable(
            f"database or disk is full: {free} bytes free on the disk holding {path}"
        )


def check_writable(path: str) -> None:
    """Refuse to start on a file we cannot write, naming it and the reason.

    Checked before the lock file, whose own error would name the wrong file.
    """
    folder = Path(path).parent
    if not folder.is_dir():
        raise StoreUnavailable(cannot_write(path, f"the folder {folder} does not exist"))
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o644))
    except OSError as exc:
        raise StoreUnavailable(cannot_write(path, exc.strerror or str(exc))) from exc


def cannot_write(path: str, why: str) -> str:
    return f"cannot open the SQLite database {path} for writing: {why}"


def hold_file(path: str) -> IO[bytes]:
    """Refuse a second server on the same file: its wake-ups would not reach ours.

    The lock (`<db>.lock`) is held for as long as the returned file is open.
    A several-process server takes it in its parent before starting its
    children, which inherit it: so the file admits the processes of that one
    server and refuses any other, until the last of them exits.
    """
    handle = open(path + ".lock", "ab")  # noqa: SIM115 - held for the server's lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        raise StoreUnavailable(
            f"{path} is in use by another accepted server "
            "(several nodes need a postgresql:// database)"
        ) from exc
    return handle


def sqlite_path(target: str) -> str:
    """The file path named by `--db` (a plain path, or a sqlite:/// URL)."""
    for prefix in ("sqlite:///", "sqlite://"):
        if target.startswith(prefix):
            return target[len(prefix) :]
    return os.fspath(target)
