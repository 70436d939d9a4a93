"""Routes of API tokens: list, create, revoke; and the caller's own, GET /whoami."""

from __future__ import annotations

from accepted.http import params as p
from accepted.http import tokens
from accepted.http.answers import (
    FORBIDDEN,
    TOO_LARGE,
    UNAUTHORIZED,
    UNAVAILABLE,
)
from accepted.http.route import Answer, Op, Route
from accepted.http.tokens import NewTokenBody, TokenList, TokenView, WhoAmI
from accepted.service.auth import Access, Rule

ADMIN_ALL = Rule(Access.ADMIN, unlimited=True)
TOKEN_ANSWERS: dict[int, Answer | str] = {
    401: UNAUTHORIZED,
    403: FORBIDDEN,
    503: UNAVAILABLE,
}

TOKENS = (
    Route(
        "/tokens",
        {
            "GET": Op(
                tokens.list_tokens,
                "List API tokens, without their secrets",
                responses={
                    200: Answer(
                        "Every token, sorted by name.", TokenList, anchors=("tokens-list-200",)
                    ),
                    **TOKEN_ANSWERS,
                },
                tag="tokens",
                anchor="tokens",
                access=ADMIN_ALL,
            ),
            "POST": Op(
                tokens.create_token,
                "Create an API token; its secret is shown only in this answer",
                body=NewTokenBody,
                responses={
                    201: Answer(
                        "The token with its secret (`token`), and its Location.",
                        TokenView,
                        headers=(p.LOCATION,),
                        anchors=("tokens-create-201",),
                    ),
                    400: Answer(
                        "A bad name, role, queues or expires_in.",
                        anchors=("tokens-create-400",),
                    ),
                    409: Answer(
                        "A token of that name exists (token_exists).",
                        anchors=("tokens-create-409",),
                    ),
                    413: TOO_LARGE,
                    **TOKEN_ANSWERS,
                },
                tag="tokens",
                anchor="tokens",
                access=ADMIN_ALL,
            ),
        },
    ),
    Route(
        "/tokens/{name}",
        {
            "DELETE": Op(
                tokens.revoke_token,
                "Revoke an API token",
                responses={
                    200: Answer(
                        "The token as it was; every node refuses it within a second.",
                        TokenView,
                        anchors=("tokens-delete-200",),
                    ),
                    404: Answer(
                        "No token has this name (token_not_found).",
                        anchors=("tokens-delete-404",),
                    ),
                    **TOKEN_ANSWERS,
                },
                tag="tokens",
                anchor="tokens",
                access=ADMIN_ALL,
            )
        },
        params=(p.TOKEN_NAME,),
    ),
    Route(
        "/whoami",
        {
            "GET": Op(
                tokens.whoami,
                "The caller's own standing: whether auth is on, and its token's role and queues",
                description="What a client may do, learnt from one read rather than by trying "
                "(the dashboard hides what its token may not do by it). With auth off: "
                '`{"auth": false, "role": "admin"}`, every request may do everything. '
                "Never the token's secret. [whoami](/docs#whoami)",
                responses={
                    200: Answer("The caller's standing.", WhoAmI, anchors=("whoami-200",)),
                    401: UNAUTHORIZED,
                },
                tag="tokens",
                anchor="whoami",
                # Every role: a token may always read what it is.
                access=Rule(Access.READ),
            )
        },
    ),
)
