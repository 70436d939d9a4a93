"""The write path alone: where the WAL's fsync runs, under the write lock or after it.

N processes share one SQLite file and take turns on a write-lock file, as
`accepted serve --workers N` does, each with a `SqliteWriter` and C calls in
flight, each call one small insert; no HTTP, so the figure is the write
path's and little CPU is needed. Modes, interleaved run by run:

- `full`: `synchronous = FULL`, the COMMIT syncs the WAL with the lock held;
- `after`: `synchronous = NORMAL`; the WAL synced after the lock is
  released, on a thread of its own while the writer runs its next batch,
  callers settled after that (store/sqlite_walsync.py).

    python -m bench.walsync --processes 2 --concurrency 16 --seconds 3 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from accepted.store.sqlite_walsync import WalSync
from accepted.store.sqlite_writer import SqliteWriter

MODES = ("full", "after")
PAD = 24_000  # 4 KiB rows: a WAL file of ~100 MiB before the run


def _child(path: str, lock: str, mode: str, concurrency: int, seconds: float, out: object) -> None:
    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = " + ("FULL" if mode == "full" else "NORMAL"))
        conn.execute("PRAGMA busy_timeout = 5000")
        return conn

    durable = None if mode == "full" else WalSync(path)
    writer = SqliteWriter(connect, turns=Path(lock), durable=durable)
    writer.start()

    async def caller(until: float) -> int:
        done = 0
        while time.perf_counter() < until:
            await writer.run(lambda c: c.execute("INSERT INTO t (v) VALUES (?)", ("x" * 200,)))
            done += 1
        return done

    async def main() -> int:
        until = time.perf_counter() + seconds
        return sum(await asyncio.gather(*(caller(until) for _ in range(concurrency))))

    cpu = time.process_time()
    calls = asyncio.run(main())
    cpu = time.process_time() - cpu
    writer.stop()
    syncs = writer.commits if durable is None else durable.syncs
    if durable is not None:
        durable.close()
    out.put((calls, writer.commits, syncs, cpu))  # type: ignore[attr-defined]


def run(mode: str, processes: int, concurrency: int, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="accepted-walsync-") as tmp:
        path, lock = os.path.join(tmp, "w.db"), os.path.join(tmp, "write.lock")
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        # A WAL file already long, as the checkpointer keeps it (it restarts the
        # WAL, reusing the file): commits then overwrite frames in place instead
        # of growing the file, so a sync carries no size change to journal.
        conn.execute("CREATE TABLE pad (v BLOB)")
        conn.executemany("INSERT INTO pad VALUES (?)", ((b"x" * 4000,) for _ in range(PAD)))
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(RESTART)")
        conn.close()
        ctx = multiprocessing.get_context("fork")
        out = ctx.Queue()
        children = [
            ctx.Process(target=_child, args=(path, lock, mode, concurrency, seconds, out))
            for _ in range(processes)
        ]
        for child in children:
            child.start()
        results = [out.get() for _ in children]
        for child in children:
            child.join()
    calls = sum(r[0] for r in results)
    return {
        "calls/s": calls / seconds,
        "commits/s": sum(r[1] for r in results) / seconds,
        "syncs/s": sum(r[2] for r in results) / seconds,
        "cpu s/1k": sum(r[3] for r in results) / calls * 1000,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--concurrency", type=int, default=16, help="calls in flight per process")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    figures: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
    for r in range(a.repeat):
        for mode in MODES:
            result = run(mode, a.processes, a.concurrency, a.seconds)
            figures[mode].append(result)
            print(
                f"run {r + 1} {mode:<10}",
                {k: round(v, 3) for k, v in result.items()},
                f"load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    print(f"\nmedians, {a.processes} process(es) x {a.concurrency} calls in flight")
    for mode, runs in figures.items():
        med = {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]}
        print(f"  {mode:<10} {med}")


if __name__ == "__main__":
    main()
