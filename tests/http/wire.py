"""Raw HTTP/1.1 over asyncio streams, for tests of what clients like httpx never send:
oversized or malformed heads, half-sent requests, connections that say nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def error(self) -> dict[str, str]:
        """The API's error shape, checked: `{"error": {"code", "message"}}` as JSON."""
        assert self.headers.get("content-type", "").startswith("application/json"), self
        parsed: Any = json.loads(self.body)
        assert set(parsed) == {"error"} and set(parsed["error"]) == {"code", "message"}, parsed
        error: dict[str, str] = parsed["error"]
        return error


async def connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(url)
    return await asyncio.open_connection(parts.hostname, parts.port)


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    """One response with a Content-Length body (every answer of ours has one, or is a 204)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Answer(status, headers, body)


async def exchange(url: str, data: bytes) -> Answer:
    """Send `data` on a new connection and read one answer."""
    reader, writer = await connect(url)
    try:
        writer.write(data)
        await writer.drain()
        return await read_answer(reader)
    finally:
        writer.close()


async def until_closed(reader: asyncio.StreamReader) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed."""
    data = await reader.read()
    while chunk := await reader.read():
        data += chunk
    return data, time.monotonic()


def request(method: str, path: str, *headers: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test", *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def metric(url: str, series: str) -> float:
    """One series of the server's /metrics (`name` or `name{labels}`), 0 when absent."""
    async with httpx.AsyncClient(base_url=url) as client:
        text = (await client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[1])
    return 0.0


async def await_metric(url: str, series: str, value: float) -> None:
    """Until `series` on /metrics reads `value`: what a test awaits instead of sleeping."""
    deadline = time.monotonic() + 10
    while (now := await metric(url, series)) != value:
        assert time.monotonic() < deadline, f"{series} is {now}, never reached {value}"
        await asyncio.sleep(0.02)
