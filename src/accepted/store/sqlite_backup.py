"""An online copy of a SQLite database, while a server keeps writing to it.

SQLite's backup API copies the pages of one consistent snapshot: in WAL mode
the copy is a reader, so the server's writer is never blocked, and every
commit made before the copy began (every job that got its 202) is in it. The
copy is written beside the target and renamed into place once it is synced,
so an interrupted backup never leaves a half-written file under the name.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path


class BackupError(Exception):
    """The backup could not be made; the message names the path and why."""


def backup(source: str, target: str) -> int:
    """Copy the database at `source` to the new file `target`; returns its page count."""
    src, dst = Path(source), Path(target)
    if not src.is_file():
        raise BackupError(f"no SQLite database at {src}")
    if dst.exists():
        raise BackupError(f"{dst} exists; a backup never overwrites a file")
    partial = dst.with_name(dst.name + ".partial")
    try:
        pages = _copy(src, partial)
        _sync(partial)
        partial.rename(dst)
        _sync(dst.parent)
    except (OSError, sqlite3.Error) as exc:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise BackupError(f"cannot back up {src} to {dst}: {exc}") from exc
    return pages


def _copy(src: Path, dst: Path) -> int:
    # Read-only in intent (query_only); a plain connection so it can use the WAL
    # index the running server keeps.
    source = sqlite3.connect(src, isolation_level=None)
    try:
        source.execute("PRAGMA query_only = ON")
        copy = sqlite3.connect(dst, isolation_level=None)
        try:
            source.backup(copy)  # all pages in one step: one snapshot
            # A backup is one self-contained file, not a WAL database with side files.
            copy.execute("PRAGMA journal_mode = DELETE")
            pages: int = copy.execute("PRAGMA page_count").fetchone()[0]
        finally:
            copy.close()
    finally:
        source.close()
    return pages


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
