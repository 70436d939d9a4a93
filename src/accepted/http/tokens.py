"""The admin API of tokens: POST /tokens, GET /tokens, DELETE /tokens/{name}.

Only unlimited admin tokens reach these (the route table says so); the
secret of a token is in the answer to its POST and nowhere else, ever.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import quote

import msgspec

from accepted.http import parse, render
from accepted.http.context import Context
from accepted.http.request import Request, Response
from accepted.service.auth import (
    MAX_EXPIRES_IN,
    MAX_QUEUE_PATTERNS,
    MAX_TOKEN_NAME,
    AuthService,
    check_new_token,
)
from accepted.tokens import Role, Token

# The checks of service.auth.check_new_token, stated in the schema as far as JSON
# Schema can say them, so a generated client (or a fuzzer) sends what is accepted.
TokenName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_TOKEN_NAME,
        pattern=r"^[^/\x00-\x1f\x7f]+$",
        description="1 to 255 printable characters, no '/'; unique",
    ),
]
QueuePattern = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=255,
        pattern=r"^[^*]*\*?$",
        description="a queue name, or a prefix ending in '*' (matches any rest)",
    ),
]


class NewTokenBody(msgspec.Struct, forbid_unknown_fields=True):
    """A token to make. Unknown fields are refused."""

    name: TokenName
    role: Annotated[Role, msgspec.Meta(description="reader, producer, worker or admin")]
    queues: (
        Annotated[
            list[QueuePattern],
            msgspec.Meta(
                min_length=1,
                max_length=MAX_QUEUE_PATTERNS,
                description="the queues it may act on; null: every queue",
            ),
        ]
        | None
    ) = None
    expires_in: (
        Annotated[
            float,
            msgspec.Meta(
                description="seconds until it expires; null: never", gt=0, le=MAX_EXPIRES_IN
            ),
        ]
        | None
    ) = None


class TokenView(msgspec.Struct):
    name: str
    role: Role
    queues: list[str] | None
    created_at: datetime
    expires_at: datetime | None
    token: str | msgspec.UnsetType = msgspec.UNSET  # the secret: only when created


class TokenList(msgspec.Struct):
    tokens: list[TokenView]


_encoder = msgspec.json.Encoder()


def token_view(token: Token, secret: str | msgspec.UnsetType = msgspec.UNSET) -> TokenView:
    return TokenView(
        name=token.name,
        role=token.role,
        queues=None if token.queues is None else list(token.queues),
        created_at=render.utc(token.created_at),
        expires_at=render.utc_or_none(token.expires_at),
        token=secret,
    )


def _auth(ctx: Context) -> AuthService:
    assert ctx.auth is not None, "create_app always gives the context an AuthService"
    return ctx.auth


async def create_token(ctx: Context, request: Request) -> Response:
    body: NewTokenBody = parse.decode(await request.body(ctx.settings.body_limit), NewTokenBody)
    new = check_new_token(body.name, body.role, body.queues, body.expires_in)
    token, secret = await _auth(ctx).create(new, ctx.clock())
    location = ("/tokens/" + quote(token.name, safe="")).encode()
    return Response.json(201, _encoder.encode(token_view(token, secret)), (b"location", location))


async def list_tokens(ctx: Context, request: Request) -> Response:
    tokens = await _auth(ctx).list()
    return Response.json(200, _encoder.encode(TokenList([token_view(t) for t in tokens])))


async def revoke_token(ctx: Context, request: Request) -> Response:
    token = await _auth(ctx).revoke(request.params["name"])
    return Response.json(200, _encoder.encode(token_view(token)))
