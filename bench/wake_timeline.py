"""Where a wake-up's time goes, hop by hop: `python -m bench.wake_timeline`.

In this process (uvloop, the app's service and SQLite store, no HTTP): a
taker blocks in `take`, 2 ms later a job is enqueued, and each sample is cut
at the points the writer thread reports:

- enqueue called -> its batch starts on the writer thread (the hop to the
  thread: a queue put, the thread scheduled, the GIL);
- batch starts -> COMMIT (the SQL);
- COMMIT (the WAL write);
- COMMIT ends -> the taker holds the job (the WAL's fsync on the syncer
  thread, then the hop back: the loop woken through its self-pipe, then the
  future, the hand-over and the taker's task, one loop turn each).

Prints p50/p90/p99/max of each piece, how many samples waited behind another
batch (and whose), and the mean of each piece over the slowest 1 %.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import uvloop

from accepted.config import Settings
from accepted.http.app import App
from accepted.service.jobs import NewJob, Report
from accepted.store.sqlite import SqliteStore
from accepted.types import JobStatus


class Batch:
    """One writer transaction: when it ran and whose calls it carried."""

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls
        self.began = time.perf_counter()
        self.ended = float("inf")


class Recorder:
    """Wraps the writer's batch runner and commit hook to time each transaction."""

    def __init__(self, store: SqliteStore) -> None:
        self.batches: list[Batch] = []
        self.commits: list[tuple[float, float]] = []  # (ended, seconds)
        writer = store._writer
        writer.on_commit = lambda seconds: self.commits.append((time.perf_counter(), seconds))
        run_batch: Callable[[sqlite3.Connection, list[Any]], list[Any]] = writer._run_batch

        def recorded(conn: sqlite3.Connection, batch: list[Any]) -> list[Any]:
            entry = Batch([getattr(item[0], "__qualname__", "?") for item in batch])
            self.batches.append(entry)
            try:
                return run_batch(conn, batch)
            finally:
                entry.ended = time.perf_counter()

        writer._run_batch = recorded  # type: ignore[method-assign]


def quantiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    n = len(ordered)
    return {
        "p50": round(ordered[n // 2] * 1000, 3),
        "p90": round(ordered[int(n * 0.9)] * 1000, 3),
        "p99": round(ordered[int(n * 0.99)] * 1000, 3),
        "max": round(ordered[-1] * 1000, 3),
    }


async def sample(app: App, rec: Recorder) -> tuple[list[float], list[str]]:
    """One wake-up: its pieces (seconds) and the calls of batches it waited behind."""
    taker = asyncio.ensure_future(app.service.take(["q"], time.time(), block=30))
    await asyncio.sleep(0.002)  # the taker parks
    first_batch, first_commit = len(rec.batches), len(rec.commits)
    began = time.perf_counter()
    enqueue = asyncio.ensure_future(app.service.enqueue(NewJob("q"), time.time()))
    [job] = await taker
    woke = time.perf_counter()
    await enqueue
    mine = next(b for b in rec.batches[first_batch:] if any("insert_jobs" in c for c in b.calls))
    ended, took = next(c for c in rec.commits[first_commit:] if c[0] - c[1] >= mine.began)
    behind = [
        call
        for b in rec.batches[max(0, first_batch - 3) :]
        if b is not mine and b.began < mine.began and b.ended > began
        for call in b.calls
    ]
    await app.service.report(job.id, Report(JobStatus.DONE, lease=job.lease), time.time())
    pieces = [woke - began, mine.began - began, ended - took - mine.began, took, woke - ended]
    return pieces, behind


NAMES = (
    "wake-up (enqueue called -> taker has the job)",
    "  enqueue -> its batch starts (thread hop)",
    "  batch starts -> COMMIT (SQL)",
    "  COMMIT (WAL write)",
    "  COMMIT ends -> taker has the job (fsync, hop back)",
)


async def main_async(samples: int) -> None:
    db = os.path.join(tempfile.mkdtemp(prefix="accepted-wake-"), "wake.db")
    store = SqliteStore(db)
    app = App(Settings(db=db), store)
    await app.startup()
    rec = Recorder(store)
    runs: list[tuple[list[float], list[str]]] = []
    try:
        for _ in range(samples):
            runs.append(await sample(app, rec))
    finally:
        await app.shutdown()
    print(f"load average {os.getloadavg()[0]:.1f}, {samples} samples")
    for i, name in enumerate(NAMES):
        print(f"{name:48s} {quantiles([r[0][i] for r in runs])}")
    behind = Counter(call for _, calls in runs for call in calls)
    waited = sum(1 for _, calls in runs if calls)
    print(f"waited behind another batch: {waited} samples; calls there: {behind.most_common(5)}")
    slowest = sorted(runs, key=lambda r: r[0][0])[-max(1, samples // 100) :]
    means = [round(sum(r[0][i] for r in slowest) / len(slowest) * 1000, 3) for i in range(5)]
    print(f"slowest 1 %, mean ms of each piece: {dict(zip(NAMES, means, strict=True))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000, help="wake-ups [2000]")
    uvloop.install()
    asyncio.run(main_async(parser.parse_args().samples))


if __name__ == "__main__":
    main()
