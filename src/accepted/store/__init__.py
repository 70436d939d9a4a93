"""Storage backends behind one `JobStore` protocol, chosen by the `--db` target."""

from __future__ import annotations

from typing import IO, TYPE_CHECKING

from accepted.store.base import Decide, JobStore

if TYPE_CHECKING:
    from accepted.store.local_link import LocalLink
    from accepted.store.postgres import PostgresStore

__all__ = [
    "Decide",
    "DriverMissing",
    "JobStore",
    "check_driver",
    "hold_database",
    "open_store",
    "sqlite_path",
]


class DriverMissing(Exception):
    """The `--db` target needs a database driver that is not installed."""


def open_store(
    target: str, *, pool_size: int = 10, exclusive: bool = True, link: LocalLink | None = None
) -> JobStore:
    """The backend for a `--db` target: a postgresql:// URL, else a SQLite file path.

    `exclusive=False` opens a SQLite file even while a server holds it, for
    token commands run beside the server (they need none of its wake-ups).
    `link`: this process is one of several of one server; a SQLite file is
    then shared with the others, which hear of its changes over the link
    (PostgreSQL processes are nodes of their own and use NOTIFY).
    """
    if _is_postgres(target):
        return _postgres_store()(target, pool_size=pool_size)
    from accepted.store.sqlite import SqliteStore
    from accepted.store.sqlite_file import sqlite_path

    return SqliteStore(sqlite_path(target), exclusive=exclusive, link=link)


def check_driver(target: str) -> None:
    """Raise DriverMissing now if `target` needs a driver that is not installed.

    A server of several processes checks before it starts any, so the missing
    driver is one line from the parent rather than a failed start of a child.
    """
    if _is_postgres(target):
        _postgres_store()


def hold_database(target: str) -> IO[bytes] | None:
    """Hold `target` for one server of several processes, before any of them starts.

    On SQLite: check that the file can be written (raising StoreUnavailable
    naming it and why), then take its server lock (`<db>.lock`), held for as
    long as the returned file stays open. The parent of `serve --workers N`
    takes it and its children inherit it, so the file admits that one
    server's processes and refuses any other. PostgreSQL admits many servers
    on one database: nothing to hold, None.
    """
    if _is_postgres(target):
        return None
    from accepted.store.sqlite_file import check_writable, hold_file
    from accepted.store.sqlite_file import sqlite_path as path_of

    path = path_of(target)
    check_writable(path)
    return hold_file(path)


def sqlite_path(target: str) -> str:
    """The file path a SQLite `--db` target names (a plain path, or a sqlite:/// URL)."""
    from accepted.store.sqlite_file import sqlite_path as path_of

    return path_of(target)


def _is_postgres(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def _postgres_store() -> type[PostgresStore]:
    try:
        from accepted.store.postgres import PostgresStore
    except ModuleNotFoundError as exc:
        if exc.name != "asyncpg":
            raise
        raise DriverMissing(
            "a postgresql:// database needs the asyncpg driver: pip install 'accepted[postgres]'"
        ) from None
    return PostgresStore
