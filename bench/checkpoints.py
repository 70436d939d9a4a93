"""What WAL checkpoints cost the commits: `python -m bench.checkpoints`.

In this process, through the SQLite store (no HTTP, so the machine's load
moves the figures less than a server's latencies), a checkpoint-heavy write
load runs on a fresh file in each of two modes, alternating `--repeat` times:

- `auto`: SQLite's automatic checkpoint (`wal_autocheckpoint = 1000`, the
  store's setting before issue 11): the commit that crosses 1000 WAL pages
  copies the WAL into the file and syncs it, inside the COMMIT;
- `background`: the store as it is (automatic checkpoint off), with the
  checkpointer task copying beside the writer (store/sqlite_checkpoints.py).

The load: `--producers` coroutines each enqueue one job at a time with
`--params` bytes of params, and as many workers claim one and report it done:
three writes per job, group-committed by the writer thread as in a server.
Printed per run, one JSON line: the time each COMMIT statement took on the
writer thread (p50/p99/p99.9/max, ms), the time a store call took for its
caller (queueing and commit included), jobs/s, checkpoints run and the
largest WAL file seen; then the medians per mode. Load average beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import msgspec

from accepted.service import rules
from accepted.store.sqlite import SqliteStore
from accepted.store.sqlite_checkpoints import SqliteCheckpointer, WalMark
from accepted.tasks.checkpoints import WalCheckpointer
from accepted.types import Job, JobStatus

MODES = ("auto", "background")


def a_job(queue: str, params: bytes, now: float) -> Job:
    return Job(
        id=str(uuid.uuid4()),
        queue=queue,
        status=JobStatus.QUEUED,
        priority=1,
        params=msgspec.Raw(params),
        max_attempts=3,
        created_at=now,
        updated_at=now,
        due_at=now,
    )


def done(job: Job) -> Callable[[Job], Job | None]:
    result = msgspec.Raw(b'{"ok":true}')
    return lambda current: rules.complete(current, JobStatus.DONE, result, job.lease, time.time())


class Run:
    """One mode's run on a fresh file: the store, the timings, the WAL's size."""

    def __init__(self, path: Path, mode: str, options: argparse.Namespace) -> None:
        self.path = path
        self.mode = mode
        self.options = options
        self.store = SqliteStore(str(path))
        self.commits: list[float] = []
        self.checkpointing: list[float] = []  # the commits that ran a checkpoint
        self._last: WalMark | None = None
        self.wal = SqliteCheckpointer(str(path), contextlib.nullcontext)  # to read the header
        self.calls: list[float] = []
        self.jobs = 0
        self.largest_wal = 0
        self.held: list[float] = []  # how long the checkpointer held the write turn

    async def go(self) -> dict[str, Any]:
        store = self.store
        await store.open()
        store._writer.on_commit = self._commit  # on the writer thread
        checkpointer: asyncio.Task[None] | None = None
        if self.mode == "auto":
            await store._writer.run(_autocheckpoint, savepoint=False)
        else:
            if store.checkpoints is not None:
                store.checkpoints._turn = self._timed_turn(store.checkpoints._turn)
            checkpointer = asyncio.create_task(WalCheckpointer(store).run_forever())
        try:
            began = time.perf_counter()
            await self._load()
            elapsed = time.perf_counter() - began
        finally:
            if checkpointer is not None:
                checkpointer.cancel()
                await asyncio.gather(checkpointer, return_exceptions=True)
            checkpoints = store.checkpoints
            passives = 0 if checkpoints is None else checkpoints.passives
            restarts = 0 if checkpoints is None else checkpoints.restarts
            await store.close()
            self.wal.close()
        return self._summary(elapsed, passives, restarts)

    def _commit(self, seconds: float) -> None:
        """A commit's time, and whether it copied the WAL into the file itself
        (SQLite's automatic checkpoint leaves every frame copied behind it)."""
        self.commits.append(seconds)
        mark = self.wal.mark()
        if mark is not None and mark.frames and mark.pending == 0 and mark != self._last:
            self.checkpointing.append(seconds)
        self._last = mark

    def _timed_turn(
        self, turn: Callable[[], AbstractContextManager[None]]
    ) -> Callable[[], AbstractContextManager[None]]:
        @contextlib.contextmanager
        def timed() -> Iterator[None]:
            with turn():
                began = time.perf_counter()
                try:
                    yield
                finally:
                    self.held.append(time.perf_counter() - began)

        return timed

    async def _load(self) -> None:
        stop_at = time.monotonic() + self.options.duration
        params = b'{"blob":"' + b"x" * self.options.params + b'"}'
        queue = "bench-checkpoints"
        workers = [self._worker(queue, stop_at) for _ in range(self.options.producers)]
        producers = [self._producer(queue, params, stop_at) for _ in range(self.options.producers)]
        watch = asyncio.create_task(self._watch_wal(stop_at))
        await asyncio.gather(*producers, *workers)
        await watch

    async def _producer(self, queue: str, params: bytes, stop_at: float) -> None:
        while time.monotonic() < stop_at:
            await self._timed(self.store.insert_jobs([a_job(queue, params, time.time())]))

    async def _worker(self, queue: str, stop_at: float) -> None:
        while time.monotonic() < stop_at:
            now = time.time()
            lease = uuid.uuid4().hex
            claimed = await self._timed(self.store.claim_jobs([queue], 1, now, [lease], now + 60))
            if not claimed:
                await asyncio.sleep(0.001)
                continue
            await self._timed(self.store.update_job(claimed[0].id, done(claimed[0])))
            self.jobs += 1

    async def _timed(self, call: Any) -> Any:
        began = time.perf_counter()
        result = await call
        self.calls.append(time.perf_counter() - began)
        return result

    async def _watch_wal(self, stop_at: float) -> None:
        while time.monotonic() < stop_at:
            self.largest_wal = max(self.largest_wal, wal_bytes(self.path))
            await asyncio.sleep(0.05)

    def _summary(self, elapsed: float, passives: int, restarts: int) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "commit_ms": quantiles(self.commits),
            "checkpointing_commits": len(self.checkpointing),
            "checkpointing_commit_ms": spread(self.checkpointing),
            "call_ms": quantiles(self.calls),
            "commits": len(self.commits),
            "jobs_per_s": round(self.jobs / elapsed),
            "passive_checkpoints": passives,
            "restarts": restarts,
            "turn_held_ms": spread(self.held),
            "largest_wal_mib": round(self.largest_wal / 2**20, 1),
            "load_avg_1m": os.getloadavg()[0],
        }


def wal_bytes(path: Path) -> int:
    try:
        return os.stat(f"{path}-wal").st_size
    except FileNotFoundError:
        return 0


def remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


def _autocheckpoint(conn: Any) -> None:
    conn.execute("PRAGMA wal_autocheckpoint = 1000")


def quantiles(seconds: list[float]) -> dict[str, float]:
    if len(seconds) < 2:
        return {}
    q = statistics.quantiles(seconds, n=1000)
    return {
        "p50": round(q[499] * 1000, 3),
        "p99": round(q[989] * 1000, 3),
        "p99.9": round(q[998] * 1000, 3),
        "max": round(max(seconds) * 1000, 3),
    }


def spread(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {}
    return {
        "median": round(statistics.median(seconds) * 1000, 3),
        "max": round(max(seconds) * 1000, 3),
    }


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per mode, the median of each figure over its runs."""
    out: dict[str, Any] = {}
    for mode in MODES:
        mine = [r for r in runs if r["mode"] == mode]
        out[mode] = {
            key: {q: statistics.median(r[key][q] for r in mine) for q in mine[0][key]}
            for key in ("commit_ms", "call_ms")
        } | {"jobs_per_s": statistics.median(r["jobs_per_s"] for r in mine)}
    return out


async def main_async(options: argparse.Namespace) -> None:
    directory = Path(tempfile.mkdtemp(prefix="accepted-checkpoints-"))
    runs = []
    for n in range(options.repeat):
        for mode in MODES:
            run = Run(directory / f"{mode}-{n}.db", mode, options)
            result = await run.go()
            runs.append(result)
            print(json.dumps(result), flush=True)
            remove(run.path)
    print(json.dumps({"medians": medians(runs)}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run [5]")
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode [3]")
    parser.add_argument(
        "--producers", type=int, default=8, help="producers, and as many workers [8]"
    )
    parser.add_argument("--params", type=int, default=2000, help="bytes of params per job [2000]")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
