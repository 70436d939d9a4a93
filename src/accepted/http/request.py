"""A request as the handlers see it, over the few ASGI scope fields our protocol
(http/protocol.py) builds, and a response to send.

No framework: the per-request cost of a framework's request objects and
middleware stack is a measurable share of an enqueue (see docs/architecture.md).
Our protocol writes a `Response` to the socket itself; `send` is the ASGI path,
for other ASGI servers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs

from accepted.errors import PayloadTooLarge
from accepted.http.asgi import Receive, Scope
from accepted.service.auth import ANYONE, Caller

JSON_TYPE = (b"content-type", b"application/json")
# Where our protocol (http/protocol.py) puts the request's `Hangup` in the scope.
HANGUP_KEY = "accepted.hangup"


class Hangup(Protocol):
    """Tells of a client that went away before its answer: how a long wait learns
    it has nobody to answer, with a callback rather than a task reading `receive`."""

    def watch(self, callback: Callable[[], object]) -> None: ...
    def unwatch(self, callback: Callable[[], object]) -> None: ...


class Request:
    __slots__ = ("_query", "caller", "headers", "method", "params", "path", "receive", "scope")

    def __init__(self, scope: Scope, receive: Receive, params: dict[str, str]) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.params = params
        # ASGI servers give header names lower-cased, so lookups are case-insensitive.
        self.headers: dict[bytes, bytes] = dict(scope["headers"])
        self._query: dict[str, list[str]] | None = None
        # Who is asking, as the auth layer admitted them (everyone, with auth off).
        self.caller: Caller = ANYONE

    @property
    def hangup(self) -> Hangup | None:
        """The hang-up watch our protocol gives; None under other ASGI servers."""
        found: Hangup | None = self.scope.get(HANGUP_KEY)
        return found

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return None if value is None else value.decode("latin-1").strip()

    def query(self, name: str) -> list[str]:
        if self._query is None:
            raw = self.scope.get("query_string", b"").decode("latin-1")
            self._query = parse_qs(raw, keep_blank_values=True)
        return self._query.get(name, [])

    async def body(self, limit: int) -> bytes:
        """The whole body, refused with 413 as soon as it passes `limit` bytes.

        The declared Content-Length is checked first and the running total
        while reading, so an oversized body is never buffered whole.
        """
        declared = self.headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] != "http.request":
                break  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body is over the {limit}-byte limit (body_limit setting)")


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=lambda: [JSON_TYPE])

    @classmethod
    def json(cls, status: int, body: bytes, *extra: tuple[bytes, bytes]) -> Response:
        return cls(status, body, [JSON_TYPE, *extra])

    @classmethod
    def empty(cls, status: int) -> Response:
        return cls(status, b"", [])

    async def send(self, send: Any) -> None:
        headers = self.headers
        if self.status != 204:  # RFC 9110: a 204 carries no Content-Length
            headers = [*headers, (b"content-length", str(len(self.body)).encode())]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


@dataclass(slots=True)
class StreamResponse(Response):
    """An answer sent as it is produced (chunked): `chunks` yields the body's parts.

    The body ends when `chunks` is exhausted. A stream that must stop without
    ending cleanly (its reader fell too far behind) raises `AbandonStream`:
    the connection is then closed, not finished.
    """

    chunks: AsyncIterator[bytes] | None = None

    async def send(self, send: Any) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        if self.chunks is not None:
            try:
                async for chunk in self.chunks:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except AbandonStream:
                return  # uvicorn closes a connection whose answer was not finished
        await send({"type": "http.response.body", "body": b""})


class AbandonStream(Exception):
    """Raised by a stream's chunks to close the connection without ending the body."""
