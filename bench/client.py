"""A lean keep-alive HTTP/1.1 client for load generation.

One `Connection` is one TCP connection carrying one request at a time (no
pipelining). Requests are pre-encoded bytes and responses are parsed by
httptools without looking at headers, so a client process spends little CPU
per request: on a 2-core machine every cycle the load generator burns is a
cycle the server does not get. (httpx costs ~10x more per request.)
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

import httptools

__all__ = ["Connection", "Response", "request_bytes"]


@dataclass(slots=True)
class Response:
    status: int
    body: bytes


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Response] | None = None
        self.chunks: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"bad response: {exc}"))
            if self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError(f"connection closed: {exc}"))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        body = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        self.chunks = []
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(Response(self.parser.get_status_code(), body))

    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)


class Connection:
    """One keep-alive connection; `send` returns a future of the response."""

    def __init__(self, protocol: _Protocol) -> None:
        self._protocol = protocol

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(_Protocol, host, port)
        return cls(protocol)

    def send(self, data: bytes) -> asyncio.Future[Response]:
        """Write one request now; the future settles when its response is complete."""
        protocol = self._protocol
        if protocol.waiter is not None:
            raise RuntimeError("one request at a time on a connection")
        if protocol.transport is None or protocol.transport.is_closing():
            raise ConnectionError("connection closed")
        waiter: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        protocol.waiter = waiter
        protocol.transport.write(data)
        return waiter

    async def request(self, data: bytes) -> Response:
        return await self.send(data)

    def close(self) -> None:
        if self._protocol.transport is not None:
            self._protocol.transport.close()


def request_bytes(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    """An HTTP/1.1 request, encoded once and sent many times."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if body or method in ("POST", "PUT"):
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    token = os.environ.get("ACCEPTED_TOKEN")  # a server with auth on (bench/variants.py)
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
