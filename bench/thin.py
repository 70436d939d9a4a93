"""The thinnest HTTP path we could own: an `asyncio.Protocol` on httptools on
uvloop, answering bench/constant.py's constant. A prototype to measure against
the constant under uvicorn (issue 11, "a leaner HTTP layer"), not the product
(that is accepted/http/protocol.py): no limits, no timers, no flow control, no
graceful shutdown.

What it saves over uvicorn is all the Python between the parser and the
transport: the ASGI scope dict, the request-response cycle object, its
`asyncio.Event`, the task per request and the message dicts. What it keeps is
what any server on this stack pays: epoll, the socket reads and writes, and
llhttp's parsing.

`--db TARGET` serves accepted's own app the same way (`AcceptedProtocol`):
the request handed to `App._dispatch` with a whole body, the `Response`
written to the transport as bytes, the metrics told directly. No limits, no
streaming, no long-poll disconnects: enough to measure an enqueue, no more.

    python -m bench.thin --port 8001
    python -m bench.thin --port 8001 --db /tmp/x.db
    python -m bench constant enqueue --stacks uvicorn,thin --repeat 3   # interleaved A/B
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
from http import HTTPStatus
from time import perf_counter
from typing import Any

import httptools
import uvloop

from bench.constant import BODY

RESPONSE = (
    b"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\n"
    b"location: /jobs/7c0d6f0e-2a55-4a51-9b1e-1f3f0c8a2d41\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(BODY), BODY)
)


class ThinProtocol(asyncio.Protocol):
    """One connection: parse, and answer each complete request at once, in order."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    # What a real server must collect per request, so the comparison is fair.
    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []
        self.body = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        assert self.transport is not None
        self.transport.write(RESPONSE)
        if not self.parser.should_keep_alive():
            self.transport.close()


_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}


class AcceptedProtocol(ThinProtocol):
    """accepted's app behind the thin path: one task per request, answers in order."""

    app: Any = None  # set by _serve_accepted

    def __init__(self) -> None:
        super().__init__()
        self.pending: asyncio.Task[None] | None = None

    def on_message_complete(self) -> None:
        method = self.parser.get_method().decode()
        raw, _, query = self.url.partition(b"?")
        scope = {
            "method": method,
            "path": raw.decode("latin-1"),
            "raw_path": raw,
            "query_string": query,
            "headers": self.headers,
        }
        body = b"".join(self.body)
        keep = self.parser.should_keep_alive()
        self.pending = asyncio.get_running_loop().create_task(
            self._answer(scope, body, keep, self.pending)
        )

    async def _answer(
        self, scope: dict[str, Any], body: bytes, keep: bool, before: asyncio.Task[None] | None
    ) -> None:
        from accepted.errors import AcceptedError
        from accepted.http.app import error_response
        from accepted.http.observe import ROUTE_KEY, UNMATCHED

        started = perf_counter()
        message = {"type": "http.request", "body": body, "more_body": False}

        async def receive() -> dict[str, Any]:
            return message

        try:
            response = await self.app._dispatch(scope, receive)
        except AcceptedError as error:
            response = error_response(error)
        if before is not None and not before.done():
            await before  # pipelined: answer in order
        head = [b"HTTP/1.1 %d %s\r\n" % (response.status, _REASONS[response.status])]
        head += [b"%s: %s\r\n" % h for h in response.headers]
        head.append(b"content-length: %d\r\n\r\n" % len(response.body))
        assert self.transport is not None
        self.transport.write(b"".join(head) + response.body)
        if not keep:
            self.transport.close()
        seconds = perf_counter() - started
        self.app.metrics.request(
            scope.get(ROUTE_KEY, UNMATCHED), scope["method"], response.status, seconds
        )


async def _serve(host: str, port: int, db: str | None = None) -> None:
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    factory: Any = ThinProtocol
    app = None
    if db is not None:
        from accepted.config import Settings
        from accepted.http.app import create_app

        app = create_app(Settings(db=db, host=host, port=port))
        await app.startup()
        factory = type("Bound", (AcceptedProtocol,), {"app": app})
    server = await loop.create_server(factory, sock=sock, backlog=4096)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    if app is not None:
        await app.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1, help="only 1")
    parser.add_argument("--db", default=None, help="serve accepted on this database")
    args, _ = parser.parse_known_args()
    uvloop.run(_serve(args.host, args.port, args.db))


if __name__ == "__main__":
    main()
