"""The token calls of the client (the admin API, and GET /whoami) and the token a client sends.

Kept apart from `core` so the job calls there stay on one screen; both
clients send these calls as they send the others.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import msgspec

from accepted.client.core import USER_AGENT, Answer, Call, Retry, _check, _decode

TOKEN_ENV = "ACCEPTED_TOKEN"

_json_decoder = msgspec.json.Decoder(dict[str, Any])
_encoder = msgspec.json.Encoder()


def request_headers(token: str | None, headers: Mapping[str, str] | None) -> dict[str, str]:
    """Every request's headers: the token (argument, else ACCEPTED_TOKEN) as a Bearer."""
    token = os.environ.get(TOKEN_ENV) if token is None else token
    found = {"user-agent": USER_AGENT}
    if token:
        found["authorization"] = f"Bearer {token}"
    found.update(headers or {})
    return found


def _read_json(expected: int) -> Any:
    def read(answer: Answer) -> dict[str, Any]:
        _check(answer, expected)
        return _decode(_json_decoder, answer)

    return read


def create_token(
    name: str,
    role: str,
    queues: Sequence[str] | None = None,
    expires_in: float | None = None,
) -> Call[dict[str, Any]]:
    """POST /tokens: the answer holds the secret (`token`), shown this once."""
    body = {"name": name, "role": role, "queues": queues, "expires_in": expires_in}
    # Not retried: a retry after a lost answer would meet token_exists, the secret lost.
    return Call("POST", "/tokens", _read_json(201), body=_encoder.encode(body), retry=Retry.NEVER)


def list_tokens() -> Call[dict[str, Any]]:
    return Call("GET", "/tokens", _read_json(200), retry=Retry.ALWAYS)


def whoami() -> Call[dict[str, Any]]:
    """GET /whoami: the token this client sends, as the server sees it (any role)."""
    return Call("GET", "/whoami", _read_json(200), retry=Retry.ALWAYS)


def revoke_token(name: str) -> Call[dict[str, Any]]:
    return Call("DELETE", "/tokens/" + quote(name, safe=""), _read_json(200))
