"""The API of tokens: POST /tokens, GET /tokens, DELETE /tokens/{name}, and GET /whoami.

Only unlimited admin tokens reach the first three (the route table says so);
`GET /whoami`, every role's. The secret of a token is in the answer to its
POST and nowhere else, ever.
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


class WhoAmI(msgspec.Struct):
    """The caller's own standing: what a client may do, learnt without trying it."""

    auth: Annotated[
        bool, msgspec.Meta(description="false: auth is off and every request may do everything")
    ]
    name: Annotated[str | None, msgspec.Meta(description="the token's name; null with auth off")]
    role: Annotated[Role, msgspec.Meta(description="the token's role; admin with auth off")]
    queues: Annotated[
        list[str] | None,
        msgspec.Meta(description="the queues the token may act on; null: every queue"),
    ]
    expires_at: Annotated[
        datetime | None, msgspec.Meta(description="when the token expires; null: never")
    ]


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


async def whoami(ctx: Context, request: Request) -> Response:
    """The caller's token as the auth layer admitted it, so a client (the dashboard)
    learns what it may do from one read instead of probing with requests that fail."""
    caller = request.caller
    if caller.token_hash is None:  # auth off: admitted as anyone, who may do everything
        view = WhoAmI(auth=False, name=None, role=Role.ADMIN, queues=None, expires_at=None)
    else:
        _auth(ctx).check_current(caller, ctx.clock())  # revoked since admitted: 401
        token = _auth(ctx).token_of(caller)
        assert token is not None, "a current caller's token is in the cache"
        view = WhoAmI(
            auth=True,
            name=token.name,
            role=token.role,
            queues=None if token.queues is None else list(token.queues),
            expires_at=render.utc_or_none(token.expires_at),
        )
    return Response.json(200, _encoder.encode(view))


async def revoke_token(ctx: Context, request: Request) -> Response:
    token = await _auth(ctx).revoke(request.params["name"])
    return Response.json(200, _encoder.encode(token_view(token)))
