"""The token table on PostgreSQL: `TokenStore` over the store's pool.

Every change bumps the version row in its own transaction and is announced to
the other nodes just after it commits, so they re-read at once; their
periodic version check covers a lost notice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from accepted.errors import TokenExists, TokenNotFound
from accepted.tokens import Role, Token

_COLUMNS = "name, hash, role, queues, created_at, expires_at"
_INSERT = f"INSERT INTO accepted_tokens ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
_DELETE_NAMED = "DELETE FROM accepted_tokens WHERE name = $1"
_DELETE = f"DELETE FROM accepted_tokens WHERE name = $1 RETURNING {_COLUMNS}"
_SELECT_ALL = f"SELECT {_COLUMNS} FROM accepted_tokens"
_VERSION = "SELECT version FROM accepted_token_version WHERE id = 1"
_BUMP = "UPDATE accepted_token_version SET version = version + 1 WHERE id = 1"


class PostgresTokens:
    """`store.base.TokenStore` on the database of a `PostgresStore`."""

    def __init__(self, run: Callable[..., Awaitable[Any]], announce: Callable[[], None]) -> None:
        self._run = run
        self._announce = announce

    async def insert_token(self, token: Token, *, replace: bool = False) -> None:
        async def work(conn: Any) -> None:
            # The bump comes first: its row lock queues every other token change
            # behind this one, so two nodes replacing `admin` at start-up run one
            # after the other (the later one's delete sees the earlier's row)
            # instead of both deleting nothing and the later insert clashing.
            await conn.execute(_BUMP)
            if replace:
                await conn.execute(_DELETE_NAMED, token.name)
            try:
                async with conn.transaction():  # a savepoint: the clash leaves the rest usable
                    await conn.execute(_INSERT, *_to_row(token))
            except asyncpg.UniqueViolationError:
                raise TokenExists(f"a token named {token.name!r} exists") from None

        await self._run(work)
        self._announce()

    async def delete_token(self, name: str) -> Token:
        async def work(conn: Any) -> Token:
            await conn.execute(_BUMP)  # first, as in insert_token: token changes queue
            record = await conn.fetchrow(_DELETE, name)
            if record is None:
                raise TokenNotFound(f"no token named {name!r}")
            return _from_record(record)

        token: Token = await self._run(work)
        self._announce()
        return token

    async def load_tokens(self) -> tuple[int, list[Token]]:
        async def work(conn: Any) -> tuple[int, list[Token]]:
            version = await conn.fetchval(_VERSION)
            return int(version), [_from_record(r) for r in await conn.fetch(_SELECT_ALL)]

        result: tuple[int, list[Token]] = await self._run(work)
        return result

    async def token_version(self) -> int:
        async def work(conn: Any) -> int:
            return int(await conn.fetchval(_VERSION))

        version: int = await self._run(work, transaction=False)
        return version


def _to_row(token: Token) -> tuple[Any, ...]:
    queues = None if token.queues is None else list(token.queues)
    return (token.name, token.hash, str(token.role), queues, token.created_at, token.expires_at)


def _from_record(record: Any) -> Token:
    queues = record["queues"]
    return Token(
        name=record["name"],
        role=Role(record["role"]),
        queues=None if queues is None else tuple(queues),
        created_at=record["created_at"],
        expires_at=record["expires_at"],
        hash=record["hash"],
    )
