"""Our HTTP/1.1 connection: httptools parses, the app answers, the answer is written as bytes.

uvicorn's `Server` still owns the sockets, the lifespan, the signals and the
graceful shutdown: it builds one of these per connection through its `http=`
protocol-class hook, and we register in its `server_state` (`connections`,
`tasks`) and answer its `shutdown()`. What we own is the request cycle:

- per request, the head becomes the few scope fields `App.answer` reads, the
  body reaches the handler through `Cycle.receive`, and the `Response` is
  written to the transport as one `bytes` (head and body), with no ASGI
  message dicts, no `send` coroutine per message and no `asyncio.Event`;
- keep-alive; pipelined requests answered in order (reading pauses while one
  waits its turn, and while an answer fills the transport's buffer, until the
  client reads it); `Expect: 100-continue` answered when the handler first
  reads the body; chunked request bodies (httptools de-chunks them);
  streamed answers (`GET /events`) sent chunked, waiting while the transport
  says its buffer is full; `HEAD` answered without a body; `Connection:
  close` and HTTP/1.0 closed after their answer;
- a client that hangs up mid-request wakes the handler's pending `receive`
  with `http.disconnect`, and calls back whoever watches the request's
  `Hangup` (how a long-poll learns it has nobody to answer).

And the limits uvicorn's protocol lacks, per connection:

- a head limit: request line plus headers over `HEAD_LIMIT` bytes answer `431`
  and close. Bytes are counted while they arrive, so an endless header is
  refused after at most one read beyond the limit, never buffered whole;
- a head timer: a connection that has not sent a whole request head within
  `head_timeout` seconds of opening (or of the first byte of its next request,
  or of the end of the answers before a pipelined one) is closed, with a `408`
  if it had sent part of one;
- an idle timer, armed only between requests, so a long-poll that is waiting
  for a job is never idle;
- every refusal (ours, or the parser's) in the API's JSON error shape,
  after the answers of the requests pipelined before it, followed by a
  lingering close.

Why our own cycle rather than uvicorn's: see docs/architecture.md, "The HTTP layer".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from http import HTTPStatus
from time import perf_counter
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import httptools

from accepted.errors import AcceptedError, HeadersTooLarge, MalformedRequest, RequestTimeout
from accepted.http import render
from accepted.http.asgi import Message, Scope
from accepted.http.request import HANGUP_KEY, AbandonStream, Response, StreamResponse

if TYPE_CHECKING:
    from accepted.http.app import App

log = logging.getLogger("accepted")

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
# Body bytes buffered for a handler that has not read them yet, before reading pauses.
BODY_BUFFER = 64 * 1024

STATUS_LINE = {s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode()) for s in HTTPStatus}
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
CLOSE = b"connection: close\r\n"
CHUNKED = b"transfer-encoding: chunked\r\n"
LAST_CHUNK = b"0\r\n\r\n"
DISCONNECT: Message = {"type": "http.disconnect"}


class Cycle:
    """One request: its head as the app reads it, its body as it arrives, its answer's state."""

    __slots__ = (
        "body",
        "complete",
        "conn",
        "expect_continue",
        "gone",
        "keep_alive",
        "more_body",
        "read_all",
        "scope",
        "size",
        "started",
        "waiter",
        "watchers",
    )

    def __init__(self, conn: HttpProtocol, scope: Scope, keep_alive: bool, expect: bool) -> None:
        self.conn = conn
        self.scope = scope
        self.keep_alive = keep_alive
        self.expect_continue = expect
        self.started = perf_counter()
        self.body: list[bytes] = []
        self.size = 0  # bytes in `body`
        self.more_body = True  # the parser has not seen the body's end yet
        self.read_all = False  # the handler was given the body's end
        self.gone = False  # the client hung up before the answer was written
        self.complete = False  # the answer was written whole
        self.waiter: asyncio.Future[None] | None = None
        self.watchers: list[Callable[[], object]] | None = None  # told when the client goes
        scope[HANGUP_KEY] = self  # taken out again once answered (`_finished`): no ref cycle

    async def receive(self) -> Message:
        """The body as ASGI `http.request` messages, then `http.disconnect` once the client
        has gone (or the answer is written): what `Request.body` and the long-polls await."""
        conn = self.conn
        if self.expect_continue:
            self.expect_continue = False
            if not conn.transport.is_closing():
                conn.transport.write(CONTINUE)
        while not (self.gone or self.complete):
            if self.body or not (self.more_body or self.read_all):
                body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
                self.body, self.size = [], 0
                self.read_all = not self.more_body
                conn.resume_reading()
                return {"type": "http.request", "body": body, "more_body": self.more_body}
            conn.resume_reading()
            self.waiter = conn.loop.create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return DISCONNECT

    def wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def watch(self, callback: Callable[[], object]) -> None:
        """Call `callback` once the client has gone (at once if it has): what a long
        wait uses, instead of a task of its own reading `receive` (request.Hangup)."""
        if self.gone:
            callback()
        elif self.watchers is None:
            self.watchers = [callback]
        else:
            self.watchers.append(callback)

    def unwatch(self, callback: Callable[[], object]) -> None:
        if self.watchers is not None and callback in self.watchers:
            self.watchers.remove(callback)

    def hang_up(self) -> None:
        """The client went away before the answer was written."""
        self.gone = True
        self.wake()
        watchers, self.watchers = self.watchers, None
        for callback in watchers or ():
            callback()


class HttpProtocol(asyncio.Protocol):
    """One connection. `app` and the timeouts are set on the subclass `protocol_class` makes."""

    app: App
    head_timeout: float = 10.0
    idle_timeout: float = 60.0

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: Any = None,
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        # uvicorn's signature for a protocol class; we need only its server state.
        self.loop = _loop or asyncio.get_event_loop()
        self.server_state = server_state
        self.parser = httptools.HttpRequestParser(self)
        with contextlib.suppress(AttributeError):  # httptools < 0.6.3
            # Answer the first of pipelined requests even when data follows a close.
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._expect = False
        self._reading: Cycle | None = None  # the request the parser is in
        self._current: Cycle | None = None  # the request being answered
        self._queued: deque[Cycle] = deque()  # pipelined behind it, in order
        self._idle_timer: asyncio.TimerHandle | None = None
        self._read_paused = False
        self._write_paused = False
        self._writable: asyncio.Future[None] | None = None
        self._in_head = False  # between a request's first byte and its last header
        self._head_size = 0  # bytes of the current head the parser has passed us
        self._head_raw = 0  # bytes of reads that fell wholly inside the current head
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False  # answered with a refusal: the rest is read and dropped
        # A parser refusal waiting for the requests before it to be answered first.
        self._pending_refusal: AcceptedError | None = None
        self._dropped = 0  # bytes read and dropped since

    # The transport's calls.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.server_state.connections.add(self)
        self.transport = transport  # type: ignore[assignment]
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server_state.connections.discard(self)
        self._cancel_head_timer()
        self._cancel_idle_timer()
        for cycle in (self._current, *self._queued):
            if cycle is not None and not cycle.complete:
                cycle.hang_up()
        self._queued.clear()
        self.resume_writing()

    def data_received(self, data: bytes) -> None:
        if self._refused or self._pending_refusal is not None:
            self._dropped += len(data)
            if self._dropped > LINGER_BYTES:
                self.transport.close()
            return
        self._cancel_idle_timer()
        was_in_head = self._in_head
        try:
            self.parser.feed_data(data)
            if was_in_head and self._in_head:
                self._head_raw += len(data)
                self._check_head(self._head_raw)
        except httptools.HttpParserUpgrade:
            pass  # we speak no upgrades; the request was dispatched as plain HTTP
        except (httptools.HttpParserError, AcceptedError) as exc:
            self._refuse_in_turn(_refusal(exc))

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def shutdown(self) -> None:
        """uvicorn's graceful stop: close when idle, else after the answer in progress."""
        if self._current is None:
            self.transport.close()
        else:
            self._current.keep_alive = False

    # Parser callbacks: collect the head, count it, time it.

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._expect = False
        self._in_head = True
        self._head_size = self._head_raw = 0
        if self._head_timer is None and self._current is None:
            self._arm_head_timer()  # else armed when the answers before it are done

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_size += len(url)
        self._check_head(self._head_size)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + _HEADER_OVERHEAD
        self._check_head(self._head_size)
        name = name.lower()
        value = value.rstrip(b" \t")  # llhttp keeps trailing whitespace; RFC 9110 drops it
        if name == b"expect" and value.lower() == b"100-continue":
            self._expect = True
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        method = parser.get_method()
        self._check_head(self._head_size + len(method) + _LINE_OVERHEAD)
        self._in_head = False
        self._cancel_head_timer()
        version = parser.get_http_version()
        url = httptools.parse_url(self._url)
        raw = url.path
        path = raw.decode("ascii")  # not ASCII: refused (see `_refusal`)
        scope = {
            "type": "http",
            "http_version": version,
            "method": method.decode("ascii"),
            "path": unquote(path) if "%" in path else path,
            "raw_path": raw,
            "query_string": url.query or b"",
            "headers": self._headers,
        }
        keep_alive = version != "1.0" and parser.should_keep_alive()
        cycle = self._reading = Cycle(self, scope, keep_alive, self._expect)
        if self._current is None:
            self._start(cycle)
        else:
            self._queued.append(cycle)
            self.pause_reading()  # one request waiting its turn is enough

    def on_body(self, body: bytes) -> None:
        cycle = self._reading
        if cycle is None or cycle.complete:
            return  # answered without reading it: dropped
        cycle.body.append(body)
        cycle.size += len(body)
        if cycle.size > BODY_BUFFER:
            self.pause_reading()  # until the handler reads it
        cycle.wake()

    def on_message_complete(self) -> None:
        cycle = self._reading
        if cycle is None or cycle.complete:
            return
        cycle.more_body = False
        cycle.wake()

    # Answering.

    def _start(self, cycle: Cycle) -> None:
        self._current = cycle
        task = self.loop.create_task(self._answer(cycle))
        tasks = self.server_state.tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _answer(self, cycle: Cycle) -> None:
        try:
            await self._respond(cycle)
            if self._write_paused and cycle.complete and cycle.keep_alive:
                # Backpressure: the next request (pipelined or not) is not read or
                # started until the client has read enough of this answer.
                await self._drain()
        finally:
            self._finished(cycle)

    async def _respond(self, cycle: Cycle) -> None:
        status = 0  # the client went away, or the server stopped, before an answer began
        try:
            response = await self.app.answer(cycle.scope, cycle.receive)
            if self._silenced(cycle):
                return  # nothing is written: logged and counted as status 0
            status = response.status
            if isinstance(response, StreamResponse):
                await self._stream(cycle, response)
            else:
                self._write(cycle, response)
        except Exception:
            scope = cycle.scope
            log.exception("unexpected error answering %s %s", scope["method"], scope["path"])
        finally:
            self.app.observed.done(cycle.scope, status, cycle.started)

    def _write(self, cycle: Cycle, response: Response) -> None:
        if self._silenced(cycle):
            return
        body = response.body
        head = self._head(cycle, response)
        if response.status != 204:  # RFC 9110: a 204 carries no Content-Length
            head += b"content-length: %d\r\n" % len(body)
        if cycle.scope["method"] == "HEAD":
            self.transport.write(head + b"\r\n")
        else:
            self.transport.write(b"%s\r\n%s" % (head, body))
        cycle.complete = True

    async def _stream(self, cycle: Cycle, response: StreamResponse) -> None:
        """A chunked answer, written as `response.chunks` yields; waits while the transport's
        buffer is full. Abandoned (the connection closed, not finished) on `AbandonStream`."""
        if self._silenced(cycle):
            return
        head = self._head(cycle, response)
        if cycle.scope["method"] == "HEAD" or response.status in (204, 304):
            self.transport.write(head + b"\r\n")
            cycle.complete = True
            return
        self.transport.write(head + CHUNKED + b"\r\n")
        if response.chunks is not None:
            try:
                async for chunk in response.chunks:
                    if self._write_paused:
                        await self._drain()
                    if self._silenced(cycle):
                        return
                    if chunk:
                        self.transport.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except AbandonStream:
                return  # not complete: `_finished` closes the connection
        if not self._silenced(cycle):  # the stream may end because its client has gone
            self.transport.write(LAST_CHUNK)
        cycle.complete = True

    def _head(self, cycle: Cycle, response: Response) -> bytes:
        """The status line and headers, without the blank line that ends them."""
        lines = [STATUS_LINE.get(response.status) or b"HTTP/1.1 %d \r\n" % response.status]
        lines += [b"%s: %s\r\n" % (name, value) for name, value in response.headers]
        for name, value in self.server_state.default_headers:  # date (and server)
            lines.append(b"%s: %s\r\n" % (name, value))
        if not cycle.keep_alive:
            lines.append(CLOSE)
        head = b"".join(lines)
        n = len(lines)
        if head.count(b"\n") != n or head.count(b"\r") != n:  # a CR or LF inside a header
            raise RuntimeError(f"a header of the {response.status} answer holds a line break")
        return head

    def _silenced(self, cycle: Cycle) -> bool:
        """Nothing more is to be written for `cycle`: its client is gone, or we refused."""
        return cycle.gone or self._refused or self.transport.is_closing()

    async def _drain(self) -> None:
        self._writable = self.loop.create_future()
        try:
            await self._writable
        finally:
            self._writable = None

    def _finished(self, cycle: Cycle) -> None:
        """The answer is done (or abandoned): close, or go on to the next request."""
        self._current = None
        cycle.wake()  # a handler's disconnect watcher, if one is left, hears http.disconnect
        cycle.watchers = None
        cycle.scope.pop(HANGUP_KEY, None)  # the scope and the cycle, freed by reference counts
        self.server_state.total_requests += 1
        if not (cycle.complete and cycle.keep_alive):
            self._queued.clear()
            self.transport.close()
            return
        if self.transport.is_closing():
            return
        if self._queued:
            following = self._queued.popleft()
            self.resume_reading()
            self._start(following)
        elif self._pending_refusal is not None:
            self.refuse(self._pending_refusal)  # all before it are answered: now the refusal
        else:
            self.resume_reading()
            if self._in_head:  # a pipelined head came while the answers before it were written
                self._arm_head_timer()
            else:
                self._idle_timer = self.loop.call_later(self.idle_timeout, self._idle_timed_out)

    def pause_reading(self) -> None:
        if not self._read_paused:
            self._read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        """Read again, unless a pipelined request (or a refusal) is still waiting its turn."""
        if self._read_paused and not self._queued and self._pending_refusal is None:
            self._read_paused = False
            self.transport.resume_reading()

    # Answers of our own, in the API's error shape.

    def _refuse_in_turn(self, error: AcceptedError) -> None:
        """A parser refusal: parsing stops, and `error` is answered after every request
        before it (pipelined on this connection) has had its own answer."""
        reading = self._reading
        if reading is not None and reading.more_body and not reading.complete:
            # Refused inside this request's body: it is the refused one, not answered.
            if reading in self._queued:
                self._queued.remove(reading)
            elif reading is self._current:
                self.refuse(error)  # its handler is silenced and hears the close
                return
        if self._current is None:
            self.refuse(error)
            return
        self._pending_refusal = error
        self._cancel_head_timer()
        self._cancel_idle_timer()
        self.pause_reading()  # until the refusal is written, then the lingering close reads

    def refuse(self, error: AcceptedError) -> None:
        """Answer `error` as JSON and close: after a refused head, the stream cannot be trusted."""
        if self.transport.is_closing() or self._refused:
            return
        self._refused = True
        self._cancel_head_timer()
        self._cancel_idle_timer()
        body = render.error_json(error)
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (error.status, HTTPStatus(error.status).phrase.encode(), len(body), body)
        )
        if self._read_paused:
            self._read_paused = False
            self.transport.resume_reading()  # the lingering close reads what follows
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        # Half-close: the answer and then our FIN go out; what the client still
        # sends is dropped (data_received) until it closes or LINGER passes.
        self.transport.write_eof()
        self.loop.call_later(LINGER, self.transport.close)

    # Limits and timers.

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

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _idle_timed_out(self) -> None:
        self._idle_timer = None
        if self._current is None and not self._in_head:
            self.transport.close()


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


def protocol_class(app: App, *, head_timeout: float, idle_timeout: float) -> type[HttpProtocol]:
    """The protocol class uvicorn instantiates per connection, bound to this server's app."""
    attrs = {"app": app, "head_timeout": head_timeout, "idle_timeout": idle_timeout}
    return type("HttpProtocol", (HttpProtocol,), attrs)
