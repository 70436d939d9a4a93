"""What-if servers: `accepted serve` with one change patched in at start-up, so
a proposed change can be measured against the real server in the same run
(`python -m bench --variants uuid7,...`) before anyone edits src/.

    python -m bench.variants VARIANT serve --port ... --db ...

Variants:
- `uuid7`: job ids are time-ordered UUIDs (version 7) instead of random ones,
  so inserts append to the id index instead of dirtying a random page each.
- `normal-sync`: SQLite `synchronous = NORMAL`: no fsync per commit. NOT
  durable; a yardstick for what the fsyncs cost, never a proposal.
- `no-proxy-headers`: uvicorn without its default ProxyHeadersMiddleware.
"""

from __future__ import annotations

import os
import sys
import time
import types
import uuid
from collections.abc import Callable
from typing import Any

from accepted.cli import main as accepted_main


def uuid7() -> uuid.UUID:
    """RFC 9562 version 7: 48 bits of Unix milliseconds, then 74 random bits."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # variant
    return uuid.UUID(int=value)


def _uuid7() -> None:
    from accepted.service import jobs

    jobs.uuid = types.SimpleNamespace(uuid4=uuid7, UUID=uuid.UUID)  # type: ignore[attr-defined,assignment]


def _normal_sync() -> None:
    from accepted.store.sqlite import SqliteStore

    connect = SqliteStore._connect

    def patched(self: SqliteStore) -> object:
        conn = connect(self)
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    SqliteStore._connect = patched  # type: ignore[assignment,method-assign]


def _no_proxy_headers() -> None:
    import uvicorn

    class Config(uvicorn.Config):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["proxy_headers"] = False
            super().__init__(*args, **kwargs)

    uvicorn.Config = Config  # type: ignore[misc]


VARIANTS: dict[str, Callable[[], None]] = {
    "uuid7": _uuid7,
    "normal-sync": _normal_sync,
    "no-proxy-headers": _no_proxy_headers,
}


def main(argv: list[str]) -> int:
    names, rest = argv[0], argv[1:]
    for name in names.split("+"):
        if name not in VARIANTS:
            print(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}", file=sys.stderr)
            return 2
        VARIANTS[name]()
    return accepted_main(rest)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
