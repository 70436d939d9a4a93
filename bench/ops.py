"""The operator's reads at scale: `python -m bench.ops --db TARGET`.

Fills a database with `--jobs` jobs (default 1,000,000) over `--queues` queues
(default 100), written straight through the store in batches of 10,000, then
starts a server on it and times, over real HTTP on loopback:

- `GET /queues` (the counts the dashboard and `/metrics` read), and `GET /metrics`;
- a filtered first page of `GET /jobs` (one queue and status, one status, one queue);
- `GET /jobs?q=...`: a text that matches nothing (the whole table is read)
  and one that matches a single job.

With `--bulk`, also the p99 of other requests (`GET /jobs/{id}` and an
enqueue, by `--clients` connections) on the idle server, and again while
`POST /jobs/bulk` cancels (or `--bulk-action`s) every queued job.

A database that already holds the jobs is reused (`--refill` starts over).
Loopback only; the server it starts is stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec

from accepted.store import JobStore, open_store
from accepted.types import Job, JobStatus
from bench.client import Connection, request_bytes
from bench.servers import RunningServer, ServerSpec

BATCH = 10_000
NOW = time.time()
# One job in N of each status: most jobs in a busy queue's history are done.
MIX = [
    (JobStatus.DONE, 70),
    (JobStatus.FAILED, 8),
    (JobStatus.CANCELLED, 2),
    (JobStatus.QUEUED, 12),
    (JobStatus.DELAYED, 5),
    (JobStatus.RUNNING, 3),
]
STATUS_OF = [status for status, share in MIX for _ in range(share)]


def make_job(i: int, queues: int) -> Job:
    status = STATUS_OF[(i // queues * 7919 + i) % len(STATUS_OF)]  # every status in each queue
    created = NOW - 86_400 + i * 0.01
    params = f'{{"user":"user-{i}","email":"user{i}@example.com","order":{i * 31 % 100_000},'
    params += '"note":"lorem ipsum dolor sit amet"}'
    result = b'{"ok":true,"took_ms":%d}' % (i % 1000) if status.is_final else b"null"
    return Job(
        id=str(uuid.UUID(int=(int(created * 1000) << 80) | (7 << 76) | i)),
        queue=f"q{i % queues:03d}",
        status=status,
        priority=i % 4,
        params=msgspec.Raw(params.encode()),
        result=msgspec.Raw(result),
        attempts=0 if status in (JobStatus.QUEUED, JobStatus.DELAYED) else 1,
        max_attempts=3,
        created_at=created,
        updated_at=created,
        due_at=NOW + 86_400 if status is JobStatus.DELAYED else created,  # no promotions
        lease="bench" if status is JobStatus.RUNNING else None,
        lease_expires_at=NOW + 86_400 if status is JobStatus.RUNNING else None,
        finished_at=created + 1 if status.is_final else None,
    )


async def fill(target: str, jobs: int, queues: int, refill: bool) -> None:
    store = open_store(target)
    await store.open()
    try:
        have = sum(sum(q.counts.values()) for q in await store.queue_states())
        if have >= jobs and not refill:
            print(f"# {target}: {have:,} jobs already there")
        elif have:
            raise SystemExit(f"{target} holds {have:,} jobs; give an empty database")
        else:
            await _insert_all(store, jobs, queues)
        await _catch_up_index(store)
    finally:
        await store.close()


async def _catch_up_index(store: JobStore) -> None:
    """Index what SQLite indexes behind the jobs, as a server running all along would have."""
    started, total = time.monotonic(), 0
    while done := await store.index_text(10_000):
        total += done
        await store.checkpoint(time.time())
    if total:
        print(f"# indexed {total:,} jobs' text in {time.monotonic() - started:.0f} s", flush=True)


async def _insert_all(store: JobStore, jobs: int, queues: int) -> None:
    started = time.monotonic()
    for start in range(0, jobs, BATCH):
        batch = [make_job(i, queues) for i in range(start, min(start + BATCH, jobs))]
        await store.insert_jobs(batch)
        await store.checkpoint(time.time())  # no server task here: keep SQLite's WAL short
        if start % 100_000 == 0:
            print(f"# filled {start:,} ({time.monotonic() - started:.0f} s)", flush=True)
    await store.fold_counts()
    print(f"# filled {jobs:,} jobs in {time.monotonic() - started:.0f} s", flush=True)


async def timed(conn: Connection, raw: bytes, samples: int) -> dict[str, float]:
    """Milliseconds per request: median, p95 and max of `samples` sequential requests."""
    took = []
    for _ in range(samples):
        started = time.perf_counter()
        response = await conn.request(raw)
        took.append((time.perf_counter() - started) * 1000)
        if response.status != 200:
            raise RuntimeError(f"{raw[:80]!r}: {response.status} {response.body[:300]!r}")
    took.sort()
    return {
        "median_ms": round(statistics.median(took), 2),
        "p95_ms": round(took[int(len(took) * 0.95) - 1], 2),
        "max_ms": round(took[-1], 2),
        "n": samples,
    }


def reads(queues: int) -> Iterator[tuple[str, str, int]]:
    """(name, path, samples) of each timed read."""
    yield "GET /queues", "/queues", 50
    yield "GET /metrics", "/metrics", 50
    yield "first page, queue+status", "/jobs?queue=q017&status=failed&limit=50", 50
    yield "first page, status", "/jobs?status=queued&limit=50", 50
    yield "first page, queue", "/jobs?queue=q042&limit=50", 50
    three = "queue=q001&queue=q002&queue=q003"
    yield "first page, 3 queues x 2 statuses", f"/jobs?{three}&status=failed,cancelled", 50
    yield "search, no match", "/jobs?q=no-such-text-anywhere", 3
    yield "search, one match", "/jobs?q=user777777%40example", 3
    yield "search, every job matches (first page)", "/jobs?q=lorem%20ipsum&limit=50", 3
    yield "search + queue + status", "/jobs?q=example.com&queue=q017&status=failed&limit=50", 3
    yield "search by id", f"/jobs?q={make_job(123_456, queues).id}", 20


async def time_reads(server: RunningServer, queues: int) -> list[dict[str, object]]:
    """Each read's wall time, and the server's CPU seconds per request (what the
    read costs on an idle core, whatever else the machine is doing)."""
    host, port = server.url.removeprefix("http://").split(":")
    conn = await Connection.open(host, int(port))
    results: list[dict[str, object]] = []
    try:
        for name, path, samples in reads(queues):
            before = _cpu(server)
            figures = await timed(conn, request_bytes("GET", path), samples)
            cpu_ms = (_cpu(server) - before) / samples * 1000
            results.append(
                {"read": name, "path": path, **figures, "server_cpu_ms": round(cpu_ms, 1)}
            )
            print(json.dumps(results[-1]), flush=True)
    finally:
        conn.close()
    return results


async def probe(url: str, clients: int, until: Callable[[], bool]) -> list[float]:
    """Latencies (ms) of an enqueue then a GET of that job, by `clients` connections."""
    host, port = url.removeprefix("http://").split(":")
    body = b'{"queue":"probe","params":{"n":1}}'
    enqueue = request_bytes("POST", "/jobs", body)
    took: list[float] = []

    async def one() -> None:
        conn = await Connection.open(host, int(port))
        try:
            while not until():
                started = time.perf_counter()
                answer = await conn.request(enqueue)
                job_id = json.loads(answer.body)["id"]
                took.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                await conn.request(request_bytes("GET", f"/jobs/{job_id}"))
                took.append((time.perf_counter() - started) * 1000)
        finally:
            conn.close()

    await asyncio.gather(*(one() for _ in range(clients)))
    return took


def percentiles(took: list[float]) -> dict[str, float]:
    took = sorted(took)
    return {
        "p50_ms": round(took[len(took) // 2], 2),
        "p99_ms": round(took[int(len(took) * 0.99) - 1], 2),
        "n": len(took),
    }


async def time_bulk(
    server: RunningServer, action: str, where: dict[str, object], clients: int, idle_seconds: float
) -> dict[str, object]:
    """Others' p99 on the idle server, then while the bulk action runs."""
    stop_at = time.monotonic() + idle_seconds
    idle = await probe(server.url, clients, lambda: time.monotonic() > stop_at)
    host, port = server.url.removeprefix("http://").split(":")
    conn = await Connection.open(host, int(port))
    body = json.dumps({"action": action, "filter": where}).encode()
    started = time.monotonic()
    bulk = asyncio.ensure_future(conn.request(request_bytes("POST", "/jobs/bulk", body)))
    during = await probe(server.url, clients, bulk.done)
    answer = await bulk
    conn.close()
    result = {
        "bulk": action,
        "filter": where,
        "answer": json.loads(answer.body),
        "bulk_seconds": round(time.monotonic() - started, 1),
        "idle": percentiles(idle),
        "during_bulk": percentiles(during),
    }
    print(json.dumps(result), flush=True)
    return result


def _cpu(server: RunningServer) -> float:
    return server.snapshot().cpu_seconds or 0.0


def with_server(target: str, work: Callable[[RunningServer], object]) -> object:
    with tempfile.TemporaryDirectory() as tmp:
        server = RunningServer(ServerSpec("accepted", db=target), Path(tmp)).start()
        try:
            return work(server)
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="a SQLite file path or a postgresql:// URL")
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--queues", type=int, default=100)
    parser.add_argument("--refill", action="store_true")
    parser.add_argument("--fill-only", action="store_true")
    parser.add_argument(
        "--bulk",
        metavar="ACTION",
        help="instead of the reads: others' p99 idle, then during this bulk action "
        "(retry, cancel, delete) on --bulk-status jobs (changes the database)",
    )
    parser.add_argument("--bulk-status", default="queued")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    args = parser.parse_args()
    asyncio.run(fill(args.db, args.jobs, args.queues, args.refill))
    if args.fill_only:
        return
    if args.bulk:
        where = {"status": args.bulk_status.split(",")}
        with_server(
            args.db,
            lambda server: asyncio.run(
                time_bulk(server, args.bulk, where, args.clients, args.idle_seconds)
            ),
        )
        return
    with_server(args.db, lambda server: asyncio.run(time_reads(server, args.queues)))


if __name__ == "__main__":
    main()
