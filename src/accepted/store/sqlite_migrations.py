"""The SQLite schema's migrations: each applied once, recorded by its number.

Migrations are numbered files (`migrations/sqlite/NNNN_name.sql`), and they do
not always land in numeric order: several people reserve numbers and merge
when they are done. So an applied migration is recorded by its number in the
`migrations` table, not by a high-water mark: a database that has 0013 and
0015 still gets 0014 once it lands. Each migration runs in one transaction
with its record, so a crash leaves it either wholly applied and recorded, or
neither.

Files made before the table existed counted their migrations with
`PRAGMA user_version` and applied them in order, so a file whose user_version
is N and that has no table has applied every migration up to N: the table
starts with those numbers. Only the numbers this build has files for are
recorded so: a number reserved but not landed yet (0014 while 0015 is in)
was never applied, and is applied once its file arrives. `user_version` is
still kept at the highest number applied, for tools and older builds.

Several processes of one node (`serve --workers N`) open the file at start;
child 0 migrates first, and each transaction reads the record again under
the write lock (`BEGIN IMMEDIATE`), so a migration is never applied twice even
if two processes did race.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Sequence

from accepted.store.migrations import load_migrations

log = logging.getLogger("accepted.store")

TABLE = "migrations"
CREATE = f"CREATE TABLE {TABLE} (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
HAS_TABLE = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
APPLIED = f"SELECT version FROM {TABLE}"
IS_APPLIED = f"SELECT 1 FROM {TABLE} WHERE version = ?"
RECORD = f"INSERT INTO {TABLE} (version, applied_at) VALUES (?, ?)"


def migrate(conn: sqlite3.Connection, known: Sequence[tuple[int, str]] | None = None) -> None:
    """Apply every migration of `known` (this build's files) not yet recorded, in order."""
    known = load_migrations("sqlite") if known is None else known
    applied = _applied(conn, [number for number, _ in known])
    for number, script in known:
        if number not in applied:
            _apply(conn, number, script)


def _applied(conn: sqlite3.Connection, numbers: Sequence[int]) -> set[int]:
    """The numbers recorded; the table is made (from user_version) when missing."""
    if conn.execute(HAS_TABLE, (TABLE,)).fetchone() is None:
        _transaction(conn, lambda conn: _create_table(conn, numbers))
    return {row[0] for row in conn.execute(APPLIED)}


def _create_table(conn: sqlite3.Connection, numbers: Sequence[int]) -> None:
    if conn.execute(HAS_TABLE, (TABLE,)).fetchone() is not None:
        return  # another process made it meanwhile
    conn.execute(CREATE)
    counted = _user_version(conn)  # the old high-water mark: those up to it were applied
    now = time.time()
    conn.executemany(RECORD, [(number, now) for number in numbers if number <= counted])


def _apply(conn: sqlite3.Connection, number: int, script: str) -> None:
    def work(conn: sqlite3.Connection) -> None:
        if conn.execute(IS_APPLIED, (number,)).fetchone() is not None:
            return  # another process applied it meanwhile
        for statement in _statements(script):
            conn.execute(statement)
        conn.execute(RECORD, (number, time.time()))
        highest = max(number, _user_version(conn))
        conn.execute(f"PRAGMA user_version = {highest:d}")
        log.info("applied migration %04d", number)

    _transaction(conn, work)


def _transaction(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], None]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        work(conn)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _user_version(conn: sqlite3.Connection) -> int:
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return version


def _statements(script: str) -> list[str]:
    """The statements of a migration; a trigger's body holds `;` of its own."""
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending)
            pending = ""
    if pending.strip():
        statements.append(pending)
    return [s for s in statements if s.strip() and not _only_comments(s)]


def _only_comments(statement: str) -> bool:
    lines = statement.splitlines()
    return all(not line.strip() or line.lstrip().startswith("--") for line in lines)
