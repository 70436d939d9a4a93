"""uvicorn's httptools protocol with the limits it lacks: head size, head and idle timeouts,
and JSON answers for everything the HTTP parser refuses.

uvicorn with httptools buffers a request head of any size, keeps a connection
that never finishes its head forever, and answers a parser refusal in plain
text. This subclass adds, per connection:

- a head limit: request line plus headers over `HEAD_LIMIT` bytes answer `431`
  and close. Bytes are counted while they arrive, so an endless header is
  refused after at most one read beyond the limit, never buffered whole;
- a head timer: a connection that has not sent a whole request head within
  `head_timeout` seconds of opening (or of the first byte of its next request)
  is closed, with a `408` if it had sent part of one;
- the idle timer: uvicorn's keep-alive timer, armed only between requests, so
  a long-poll that is waiting for a job is never idle.

Why a subclass and not a server loop of our own: see docs/architecture.md,
"The HTTP layer".
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from accepted.errors import AcceptedError, HeadersTooLarge, MalformedRequest, RequestTimeout
from accepted.http import render

# Request line plus headers, in bytes (SPEC: "over 64 KiB: 431").
HEAD_LIMIT = 64 * 1024
# What a header line costs beyond its name and value: ": " and CRLF.
_HEADER_OVERHEAD = 4
# " HTTP/1.1\r\n" after the URL, and the blank line that ends the head.
_LINE_OVERHEAD = 13
# After a refusal, seconds the rest of what the client sends is read and dropped
# before the connection closes (a lingering close, as nginx does): closing with
# unread bytes makes the kernel send a reset, and a reset can destroy the
# refusal in the client's buffer before the client reads it.
LINGER = 2.0
# ... or until this many bytes were dropped: a client that goes on flooding is
# cut off at once (an endless header must not be read to its end).
LINGER_BYTES = 64 * 1024


class LimitedProtocol(HttpToolsProtocol):
    """One connection. `head_timeout` is set on the subclass `limited_protocol` makes."""

    head_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = False  # between a request's first byte and its last header
        self._head_size = 0  # bytes of the current head the parser has passed us
        self._head_raw = 0  # bytes of reads that fell wholly inside the current head
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False  # answered with a refusal: the rest is read and dropped
        self._dropped = 0  # bytes read and dropped since

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # What uvicorn's data_received does, plus: a callback's refusal becomes
        # its own JSON answer, and reads inside a head count toward its limit.
        if self._refused:
            self._dropped += len(data)
            if self._dropped > LINGER_BYTES:
                self.transport.close()
            return
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None
        was_in_head = self._in_head
        try:
            self.parser.feed_data(data)
            if was_in_head and self._in_head:
                self._head_raw += len(data)
                self._check_head(self._head_raw)
        except httptools.HttpParserUpgrade:
            pass  # we speak no upgrades; the request was dispatched as plain HTTP
        except (httptools.HttpParserError, AcceptedError) as exc:
            self.refuse(_refusal(exc))

    # Parser callbacks: count the head, time it, refuse it when it is too big.

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_size = self._head_raw = 0
        if self._head_timer is None:
            self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._head_size += len(url)
        self._check_head(self._head_size)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + _HEADER_OVERHEAD
        self._check_head(self._head_size)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._check_head(self._head_size + len(self.parser.get_method()) + _LINE_OVERHEAD)
        self._in_head = False
        self._cancel_head_timer()
        super().on_headers_complete()

    # Answers of our own, in the API's error shape.

    def refuse(self, error: AcceptedError) -> None:
        """Answer `error` as JSON and close: after a refused head, the stream cannot be trusted."""
        if self.transport.is_closing() or self._refused:
            return
        self._refused = True
        self._cancel_head_timer()
        body = render.error_json(error)
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (error.status, HTTPStatus(error.status).phrase.encode(), len(body), body)
        )
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        # Half-close: the answer and then our FIN go out; what the client still
        # sends is dropped (data_received) until it closes or LINGER passes.
        self.transport.write_eof()
        self.loop.call_later(LINGER, self.transport.close)

    def send_400_response(self, msg: str) -> None:
        """Any 400 uvicorn itself would send, in our shape."""
        self.refuse(MalformedRequest(f"the request is not valid HTTP/1.1: {msg}"))

    def _check_head(self, size: int) -> None:
        if size > HEAD_LIMIT:
            raise HeadersTooLarge(
                f"the request line and headers are over the {HEAD_LIMIT}-byte limit"
            )

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._in_head:
            self.transport.close()  # sent nothing: nobody to tell
            return
        self.refuse(
            RequestTimeout(f"the request head was not complete within {self.head_timeout:g} s")
        )


def _refusal(exc: Exception) -> AcceptedError:
    """The answer for a parser refusal: ours if one of our checks raised it inside a callback."""
    if isinstance(exc, AcceptedError):
        return exc
    cause = exc.__context__
    if isinstance(cause, AcceptedError):
        return cause
    detail = str(exc) or type(exc).__name__
    if isinstance(cause, UnicodeError):
        detail = "the request target is not ASCII"
    return MalformedRequest(f"the request is not valid HTTP/1.1: {detail}")


def limited_protocol(head_timeout: float) -> type[LimitedProtocol]:
    """The protocol class uvicorn instantiates per connection, with this server's settings."""
    return type("LimitedProtocol", (LimitedProtocol,), {"head_timeout": head_timeout})
