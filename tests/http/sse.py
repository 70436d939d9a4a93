"""A Server-Sent Events client over a plain socket, for the HTTP tier.

It speaks HTTP/1.1 itself (request line, headers, chunked body), so the tests
see exactly the bytes the server sends: event frames, comment lines, and the
end of the stream.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Event:
    event: str | None
    data: str | None
    comment: str | None = None

    @property
    def job(self) -> dict[str, Any]:
        assert self.data is not None
        found: dict[str, Any] = json.loads(self.data)
        return found


class SseStream:
    """`GET path` on the server at `base_url`; read events with `next()`."""

    def __init__(
        self,
        base_url: str,
        path: str,
        *,
        timeout: float = 10.0,
        rcvbuf: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        self.sock = socket.socket()
        if rcvbuf is not None:  # before connecting, so the window starts small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((parts.hostname or "127.0.0.1", parts.port or 80))
        head = f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self.sock.sendall(f"{head}Accept: text/event-stream\r\n\r\n".encode())
        self._raw = b""
        self._text = ""
        self.ended = False
        lines = self._read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {
            k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])
        }
        self.body = b""
        if "content-length" in self.headers:  # an error answer, not a stream
            self.body = self._read_exactly(int(self.headers["content-length"]))
            self.ended = True

    def __enter__(self) -> SseStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def _recv(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the server closed the connection")
        return data

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self._raw:
            self._raw += self._recv()
        found, _, self._raw = self._raw.partition(marker)
        return found

    def _read_exactly(self, size: int) -> bytes:
        while len(self._raw) < size:
            self._raw += self._recv()
        found, self._raw = self._raw[:size], self._raw[size:]
        return found

    def _read_chunk(self) -> bool:
        """One chunk of the body into the text buffer; False at the body's end."""
        size = int(self._read_until(b"\r\n").split(b";")[0], 16)
        data = self._read_exactly(size + 2)[:size]
        if size == 0:
            self.ended = True
            return False
        self._text += data.decode()
        return True

    def next(self) -> Event | None:
        """The next event or comment; None once the stream has ended cleanly.

        Raises EOFError if the server closed the connection mid-stream, and
        TimeoutError if nothing comes within the socket's timeout.
        """
        while "\n\n" not in self._text:
            if self.ended or not self._read_chunk():
                return None
        block, _, self._text = self._text.partition("\n\n")
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
        if "" in fields and "event" not in fields:
            return Event(None, None, comment=fields[""])
        return Event(fields.get("event"), fields.get("data"))

    def next_event(self) -> Event | None:
        """The next event, skipping comment lines."""
        while True:
            found = self.next()
            if found is None or found.comment is None:
                return found
