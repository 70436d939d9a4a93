"""What-if servers: `accepted serve` with one change patched in at start-up, so
a proposed change can be measured against the real server in the same run
(`python -m bench --variants uuid4,...`) before anyone edits src/.

    python -m bench.variants VARIANT serve --port ... --db ...

Variants:
- `uuid4`: job ids are random UUIDs (version 4) instead of the server's
  time-ordered UUIDv7, which dirty a random page of the id index per insert:
  what the time order saves.
- `normal-sync`: SQLite `synchronous = NORMAL` and no sync of the WAL after
  it either: no fsync per commit. NOT
  durable; a yardstick for what the fsyncs cost, never a proposal.
- `sync-in-commit`: the store before the WAL's sync left the write lock
  (store/sqlite_walsync.py): `synchronous = FULL`, the COMMIT syncs the WAL
  with the write lock held, and the writer settles its batch before it
  runs the next. Durable too; what syncing after the lock gains.
- `no-proxy-headers`: uvicorn without its default ProxyHeadersMiddleware.
- `no-text-index`: SQLite without the text-search index (migration 0015's
  triggers, the indexer task): what the index costs each enqueue and report.
- `no-gc-freeze`: the server without `gc.freeze()` after start-up (see
  http/app.py): what freezing the start-up heap does to latency tails.
- `autocheckpoint`: SQLite's automatic checkpoint inside the commit that
  crosses 1,000 WAL pages (`wal_autocheckpoint = 1000`, the store before
  issue 11), and no checkpointer task: what moving checkpoints off the
  commit path does to the tails.
- `auth`: auth on (`--auth on`), with `BENCH_TOKEN` as its admin token. The
  harness's clients (wrk and its own) send `ACCEPTED_TOKEN`, which the
  harness sets to `BENCH_TOKEN` for every server of the run when this variant
  is asked for, so the servers without auth parse the same header bytes.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable
from typing import Any

from accepted.cli import main as accepted_main


def _uuid4() -> None:
    from accepted.service import jobs

    jobs.new_job_id = lambda: str(uuid.uuid4())  # type: ignore[attr-defined]


def _normal_sync() -> None:
    from accepted.store.sqlite_walsync import WalSync

    WalSync.cover = lambda self: None  # type: ignore[method-assign]


def _sync_in_commit() -> None:
    from accepted.store.sqlite import SqliteStore

    init = SqliteStore.__init__

    def patched(self: SqliteStore, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._durable = None  # then `_connect` sets synchronous = FULL
        self._writer._durable = None
        self._reader._durable = None

    SqliteStore.__init__ = patched  # type: ignore[method-assign]


def _no_text_index() -> None:
    from accepted.store import sqlite
    from accepted.tasks import text_index

    migrate = sqlite._migrate

    def patched(conn: Any) -> None:
        migrate(conn)
        for trigger in ("jobs_text_result", "jobs_text_gone", "jobs_text_reused"):
            conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")

    async def idle(self: object, now: float) -> float | None:
        return None

    sqlite._migrate = patched
    text_index.TextIndexer.run_once = idle  # type: ignore[method-assign]


def _autocheckpoint() -> None:
    from accepted.store.sqlite import SqliteStore
    from accepted.tasks import checkpoints

    connect = SqliteStore._connect

    def patched(self: SqliteStore) -> object:
        conn = connect(self)
        conn.execute("PRAGMA wal_autocheckpoint = 1000")
        return conn

    async def idle(self: object, now: float) -> float | None:
        return None

    SqliteStore._connect = patched  # type: ignore[assignment,method-assign]
    checkpoints.WalCheckpointer.run_once = idle  # type: ignore[method-assign]


def _no_gc_freeze() -> None:
    from accepted.http import app

    app.freeze_start_up_heap = lambda: None


def _no_proxy_headers() -> None:
    import uvicorn

    class Config(uvicorn.Config):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["proxy_headers"] = False
            super().__init__(*args, **kwargs)

    uvicorn.Config = Config  # type: ignore[misc]


# Not a secret: a loopback benchmark server's admin token.
BENCH_TOKEN = "bench-admin-token-0123456789abcdef"


def _auth() -> None:
    os.environ["ACCEPTED_AUTH"] = "on"
    os.environ["ACCEPTED_ADMIN_TOKEN"] = BENCH_TOKEN


VARIANTS: dict[str, Callable[[], None]] = {
    "auth": _auth,
    "uuid4": _uuid4,
    "normal-sync": _normal_sync,
    "sync-in-commit": _sync_in_commit,
    "no-proxy-headers": _no_proxy_headers,
    "no-text-index": _no_text_index,
    "no-gc-freeze": _no_gc_freeze,
    "autocheckpoint": _autocheckpoint,
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
