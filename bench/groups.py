"""What a take costs with fairness groups: `python -m bench.groups [--db TARGET]`.

Through the store (no HTTP, so the claim's own cost shows), for each case a
fresh queue is filled with `--jobs` jobs in batches of 1,000, then `--takes`
single-job claims are timed one after another:

- `none`: jobs without a group (the claim as it always was);
- `groups`: the same jobs spread over `--groups` fairness groups (10,000 by
  default), enqueued group after group in turn, so every take rotates to the
  next group;
- `one-group`: all in one group (a group's own backlog).

Prints one JSON line per case (enqueue jobs/s, take p50/p90/p99 in ms, takes/s)
and, for `groups`, checks that the first takes came from distinct groups.
SQLite by default (a temp file: each take is a durable commit, so the
fsync is in every figure alike); `--db postgresql://...` for PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import msgspec

from accepted.store import JobStore, open_store
from accepted.types import Job, JobStatus

BATCH = 1_000


def jobs_for(queue: str, first: int, n: int, groups: int | None, now: float) -> list[Job]:
    """Jobs `first` .. `first + n - 1`, queued; with `groups`, job i is in group i % groups."""
    jobs = []
    for i in range(first, first + n):
        group = None if groups is None else f"g{i % groups}"
        jobs.append(
            Job(
                id=str(uuid.uuid4()),
                queue=queue,
                status=JobStatus.QUEUED,
                priority=1,
                params=msgspec.Raw(b'{"n":%d}' % i),
                max_attempts=3,
                created_at=now,
                updated_at=now,
                due_at=now,
                fair_group=group,
            )
        )
    return jobs


async def run_case(store: JobStore, name: str, groups: int | None, options: argparse.Namespace):  # type: ignore[no-untyped-def]
    queue = f"bench-groups-{name}-{uuid.uuid4().hex[:8]}"
    now = time.time()
    started = time.perf_counter()
    for start in range(0, options.jobs, BATCH):
        count = min(BATCH, options.jobs - start)
        await store.insert_jobs(jobs_for(queue, start, count, groups, now))
    enqueue_s = time.perf_counter() - started
    times, seen = [], []
    for _ in range(options.takes):
        began = time.perf_counter()
        [job] = await store.claim_jobs([queue], 1, time.time(), ["t"], time.time() + 300)
        times.append(time.perf_counter() - began)
        seen.append(job.fair_group)
    q = statistics.quantiles(times, n=100)
    result = {
        "case": name,
        "jobs": options.jobs,
        "groups": 0 if groups is None else groups,
        "enqueue_jobs_per_s": round(options.jobs / enqueue_s),
        "take_ms": {
            "p50": round(q[49] * 1000, 3),
            "p90": round(q[89] * 1000, 3),
            "p99": round(q[98] * 1000, 3),
        },
        "takes_per_s": round(len(times) / sum(times)),
    }
    if groups and groups > 1:
        first = seen[: min(groups, options.takes)]
        result["first_takes_distinct_groups"] = len(set(first)) == len(first)
    return result


async def main_async(options: argparse.Namespace) -> None:
    target = options.db or str(Path(tempfile.mkdtemp(prefix="accepted-groups-")) / "bench.db")
    store = open_store(target)
    await store.open()
    try:
        for name, groups in (("none", None), ("groups", options.groups), ("one-group", 1)):
            print(json.dumps(await run_case(store, name, groups, options)), flush=True)
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="a postgresql:// URL (default: a temp SQLite file)")
    parser.add_argument("--jobs", type=int, default=50_000, help="jobs per case [50000]")
    parser.add_argument("--groups", type=int, default=10_000, help="groups [10000]")
    parser.add_argument("--takes", type=int, default=2_000, help="timed takes per case [2000]")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
