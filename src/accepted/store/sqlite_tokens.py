"""The token table on SQLite: `TokenStore` over the store's writer thread."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import msgspec

from accepted.errors import TokenExists, TokenNotFound
from accepted.store.sqlite_writer import SqliteWriter
from accepted.tokens import Role, Token

_COLUMNS = "name, hash, role, queues, created_at, expires_at"
_INSERT = f"INSERT INTO tokens ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
_REPLACE = f"INSERT OR REPLACE INTO tokens ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
_DELETE = f"DELETE FROM tokens WHERE name = ? RETURNING {_COLUMNS}"
_SELECT_ALL = f"SELECT {_COLUMNS} FROM tokens"
_VERSION = "SELECT version FROM token_version WHERE id = 1"
_BUMP = "UPDATE token_version SET version = version + 1 WHERE id = 1"


class SqliteTokens:
    """`store.base.TokenStore` on the SQLite file of a `SqliteStore`."""

    def __init__(self, writer: SqliteWriter, announce: Callable[[], None] = lambda: None) -> None:
        self._writer = writer
        self._announce = announce  # tells a several-process server's other processes

    async def insert_token(self, token: Token, *, replace: bool = False) -> None:
        row = _to_row(token)

        def work(conn: sqlite3.Connection) -> None:
            if replace:  # the name is overwritten; a hash held by another name still clashes
                conn.execute("DELETE FROM tokens WHERE name = ?", (token.name,))
            try:
                conn.execute(_INSERT, row)
            except sqlite3.IntegrityError:
                raise TokenExists(f"a token named {token.name!r} exists") from None
            conn.execute(_BUMP)

        await self._writer.run(work)
        self._announce()

    async def delete_token(self, name: str) -> Token:
        def work(conn: sqlite3.Connection) -> Token:
            row = conn.execute(_DELETE, (name,)).fetchone()
            if row is None:
                raise TokenNotFound(f"no token named {name!r}")
            conn.execute(_BUMP)
            return _from_row(row)

        token = await self._writer.run(work)
        self._announce()
        return token

    async def load_tokens(self) -> tuple[int, list[Token]]:
        def work(conn: sqlite3.Connection) -> tuple[int, list[Token]]:
            version = conn.execute(_VERSION).fetchone()[0]
            return int(version), [_from_row(r) for r in conn.execute(_SELECT_ALL)]

        return await self._writer.run(work, savepoint=False)

    async def token_version(self) -> int:
        def work(conn: sqlite3.Connection) -> int:
            return int(conn.execute(_VERSION).fetchone()[0])

        return await self._writer.run(work, savepoint=False)


def _to_row(token: Token) -> tuple[object, ...]:
    queues = None if token.queues is None else msgspec.json.encode(list(token.queues)).decode()
    return (token.name, token.hash, str(token.role), queues, token.created_at, token.expires_at)


def _from_row(row: tuple[object, ...]) -> Token:
    name, digest, role, queues, created_at, expires_at = row
    return Token(
        name=str(name),
        role=Role(str(role)),
        queues=None if queues is None else tuple(msgspec.json.decode(str(queues))),
        created_at=float(created_at),  # type: ignore[arg-type]
        expires_at=None if expires_at is None else float(expires_at),  # type: ignore[arg-type]
        hash=str(digest),
    )
