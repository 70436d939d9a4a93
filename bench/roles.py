"""What each client process does in a workload. Every role connects first,
calls `start()` (the barrier shared with the other clients and the harness),
then runs for `spec.duration` seconds or `spec.samples` samples, and returns a Tally.

Jobs go to `spec.queue`, one queue per client process, so that a process's
workers take exactly the jobs its own producers made (and its backlog limit
means what it says) and runs never see each other's jobs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import msgspec

from bench.client import Connection, Response, request_bytes
from bench.loadgen import Tally, until_deadline


@dataclass(frozen=True)
class ClientSpec:
    host: str
    port: int
    queue: str
    duration: float
    producers: int = 0  # connections that enqueue
    workers: int = 0  # connections that take and report
    batch: int = 1  # jobs per call; 1 means the single-job calls
    backlog: int = 0  # most jobs enqueued but not yet done, per process (0: no limit)
    samples: int = 0  # latency roles: how many
    settle: float = 0.002  # latency roles: time for a request to be parked server-side
    block: float = 1.0  # want_job long-poll seconds in the cycle roles
    chain: bool = False  # cycle-after: every second job waits on the one before (X-Accepted-After)
    groups: int = 0  # cycle-group: each job of one of this many fairness groups, in turn
    # cycle-report-take: a worker's report rides on its next want_job (2 requests per job)
    report_take: bool = False
    stop: Any = field(default=None, compare=False)  # idle holder: a multiprocessing.Event


class Taken(msgspec.Struct):
    id: str
    lease: str | None = None


class Outcome(msgspec.Struct):
    status: int


class Final(msgspec.Struct):
    status: str


_take_one = msgspec.json.Decoder(Taken)
_take_many = msgspec.json.Decoder(list[Taken])
_outcomes = msgspec.json.Decoder(list[Outcome])
_final = msgspec.json.Decoder(Final)
_RESULT = b'{"status":"done","result":{"ok":true}}'


def job_body(queue: str, n: int = 1) -> bytes:
    return msgspec.json.encode({"queue": queue, "params": {"n": n}})


def batch_body(queue: str, size: int) -> bytes:
    return msgspec.json.encode([{"queue": queue, "params": {"n": i}} for i in range(size)])


def enqueue_request(queue: str) -> bytes:
    return request_bytes("POST", "/jobs", job_body(queue))


def want_request(queue: str, block: float = 0.0, count: int | None = None) -> bytes:
    path = f"/want_job?queue={queue}" + (f"&block={block:g}" if block else "")
    headers = {} if count is None else {"X-Accepted-Count": str(count)}
    return request_bytes("POST", path, headers=headers)


def want_with_reports(queue: str, block: float, count: int | None, jobs: list[Taken]) -> bytes:
    """want_job carrying the reports on `jobs` (report and take in one request)."""
    path = f"/want_job?queue={queue}" + (f"&block={block:g}" if block else "")
    headers = {} if count is None else {"X-Accepted-Count": str(count)}
    items = [{"id": j.id, "status": "done", "result": {"ok": True}, "lease": j.lease} for j in jobs]
    body = msgspec.json.encode({"report": items[0] if count is None else items})
    return request_bytes("POST", path, body, headers)


def done_request(job: Taken) -> bytes:
    headers = {} if job.lease is None else {"X-Accepted-Lease": job.lease}
    return request_bytes("PUT", f"/jobs/{job.id}", _RESULT, headers)


def batch_done_request(jobs: list[Taken]) -> bytes:
    reports = [
        {"id": j.id, "status": "done", "result": {"ok": True}, "lease": j.lease} for j in jobs
    ]
    return request_bytes("PUT", "/jobs", msgspec.json.encode(reports))


async def _timed(conn: Connection, data: bytes, tally: Tally) -> Response:
    began = time.perf_counter()
    response = await conn.send(data)
    tally.latencies.append(time.perf_counter() - began)
    return response


def _unexpected(tally: Tally, what: str, response: Response) -> None:
    tally.error(f"{what}: HTTP {response.status} {response.body[:200]!r}")


async def _connect(spec: ClientSpec, n: int) -> list[Connection]:
    return list(await asyncio.gather(*(Connection.open(spec.host, spec.port) for _ in range(n))))


def _task(work: Coroutine[Any, Any, None], tally: Tally) -> asyncio.Task[None]:
    """A connection's loop; a dropped connection ends it and counts as an error."""

    async def guarded() -> None:
        try:
            await work
        except (ConnectionError, OSError) as exc:
            tally.error(f"connection lost: {exc}")

    return asyncio.create_task(guarded())


def _close(conns: list[Connection]) -> None:
    for conn in conns:
        conn.close()


# -- throughput ----------------------------------------------------------------


@dataclass
class _Backlog:
    """Holds producers back while too many of this process's jobs wait undone."""

    limit: int
    enqueued: int = 0
    done: int = 0
    room: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for_room(self) -> None:
        while self.limit and self.enqueued - self.done >= self.limit:
            self.room.clear()
            await self.room.wait()

    def finished(self, n: int) -> None:
        self.done += n
        self.room.set()


async def _producer(conn: Connection, spec: ClientSpec, tally: Tally, backlog: _Backlog) -> None:
    if spec.chain:
        return await _chain_producer(conn, spec, tally, backlog)
    single = spec.batch == 1
    data = (
        enqueue_request(spec.queue)
        if single
        else request_bytes("POST", "/jobs", batch_body(spec.queue, spec.batch))
    )
    grouped = [_grouped_request(spec.queue, g) for g in range(spec.groups)]
    sent = 0
    while True:
        if grouped:  # cycle-group: the groups in turn, the request otherwise the same
            data, sent = grouped[sent % len(grouped)], sent + 1
        await backlog.wait_for_room()
        backlog.enqueued += spec.batch  # counted before the answer so others hold back too
        response = await _timed(conn, data, tally)
        if response.status != 202:
            backlog.enqueued -= spec.batch
            _unexpected(tally, "POST /jobs", response)
            continue
        tally.counts["enqueued"] += spec.batch


def _grouped_request(queue: str, group: int) -> bytes:
    return request_bytes("POST", "/jobs", job_body(queue), {"X-Accepted-Group": f"g{group}"})


async def _chain_producer(
    conn: Connection, spec: ClientSpec, tally: Tally, backlog: _Backlog
) -> None:
    """Chains of 2 with single requests: a job, then one that waits on it (so the
    request count per job is the plain cycle's)."""
    first = enqueue_request(spec.queue)
    body = job_body(spec.queue)
    while True:
        await backlog.wait_for_room()
        backlog.enqueued += 2
        response = await _timed(conn, first, tally)
        if response.status != 202:
            backlog.enqueued -= 2
            _unexpected(tally, "POST /jobs", response)
            continue
        after = {"X-Accepted-After": _take_one.decode(response.body).id}
        second = await _timed(conn, request_bytes("POST", "/jobs", body, after), tally)
        if second.status != 202:
            backlog.enqueued -= 1
            _unexpected(tally, "POST /jobs (after)", second)
        tally.counts["enqueued"] += 1 + (second.status == 202)


async def _worker(conn: Connection, spec: ClientSpec, tally: Tally, backlog: _Backlog) -> None:
    if spec.report_take:
        return await _report_taker(conn, spec, tally, backlog)
    single = spec.batch == 1
    take = want_request(spec.queue, spec.block, None if single else spec.batch)
    while True:
        response = await _timed(conn, take, tally)
        jobs = _taken(response, single, tally)
        if not jobs:
            continue
        report = done_request(jobs[0]) if single else batch_done_request(jobs)
        answer = await _timed(conn, report, tally)
        if answer.status != 200:
            _unexpected(tally, "PUT /jobs", answer)
            continue
        ok = 1 if single else sum(1 for o in _outcomes.decode(answer.body) if o.status == 200)
        if ok < len(jobs):
            tally.error(f"PUT /jobs: {len(jobs) - ok} of {len(jobs)} reports refused")
        tally.counts["jobs"] += ok
        backlog.finished(len(jobs))


async def _report_taker(
    conn: Connection, spec: ClientSpec, tally: Tally, backlog: _Backlog
) -> None:
    """The cycle's worker with report and take in one request: the reports on the
    jobs of one want_job ride on the next, so a job costs two requests, not three."""
    single = spec.batch == 1
    count = None if single else spec.batch
    bare = want_request(spec.queue, spec.block, count)
    held: list[Taken] = []
    while True:
        take = want_with_reports(spec.queue, spec.block, count, held) if held else bare
        response = await _timed(conn, take, tally)
        if held and response.status in (200, 204):  # the reports were applied
            tally.counts["jobs"] += len(held)
            backlog.finished(len(held))
        elif held:
            tally.error(f"want_job: {len(held)} riding reports refused")
        held = _taken(response, single, tally)


def _taken(response: Response, single: bool, tally: Tally) -> list[Taken]:
    """The jobs a want_job answer hands over (none for a 204 or an error)."""
    if response.status == 204:
        return []
    if response.status != 200:
        _unexpected(tally, "POST /want_job", response)
        return []
    return [_take_one.decode(response.body)] if single else _take_many.decode(response.body)


async def cycle(spec: ClientSpec, start: Callable[[], None]) -> Tally:
    """Producers and workers at once: enqueue, take, report done."""
    tally = Tally()
    producers = await _connect(spec, spec.producers)
    workers = await _connect(spec, spec.workers)
    backlog = _Backlog(spec.backlog)
    start()
    tally.started = time.monotonic()
    tasks = [_task(_producer(c, spec, tally, backlog), tally) for c in producers]
    tasks += [_task(_worker(c, spec, tally, backlog), tally) for c in workers]
    await until_deadline(tasks, spec.duration)
    tally.finished = time.monotonic()
    _close(producers + workers)
    return tally


async def enqueue(spec: ClientSpec, start: Callable[[], None]) -> Tally:
    """Producers only (the efficient-client stand-in for wrk, and the idle probe)."""
    tally = Tally()
    producers = await _connect(spec, spec.producers)
    backlog = _Backlog(0)
    start()
    tally.started = time.monotonic()
    tasks = [_task(_producer(c, spec, tally, backlog), tally) for c in producers]
    await until_deadline(tasks, spec.duration)
    tally.finished = time.monotonic()
    tally.counts["jobs"] = tally.counts["enqueued"]
    _close(producers)
    return tally


async def _drainer(conn: Connection, spec: ClientSpec, tally: Tally) -> None:
    take = want_request(spec.queue)
    while True:
        response = await _timed(conn, take, tally)
        if response.status == 204:
            return  # the queue is empty
        if response.status != 200:
            _unexpected(tally, "POST /want_job", response)
            continue
        answer = await _timed(conn, done_request(_take_one.decode(response.body)), tally)
        if answer.status == 200:
            tally.counts["jobs"] += 1
        else:
            _unexpected(tally, "PUT /jobs/<id>", answer)


async def drain(spec: ClientSpec, start: Callable[[], None]) -> Tally:
    """Workers only, on a queue filled beforehand, until it is empty or time is up."""
    tally = Tally()
    workers = await _connect(spec, spec.workers)
    start()
    tally.started = time.monotonic()
    await until_deadline([_task(_drainer(c, spec, tally), tally) for c in workers], spec.duration)
    tally.finished = time.monotonic()
    _close(workers)
    return tally


async def fill(spec: ClientSpec, start: Callable[[], None]) -> Tally:
    """Enqueue `spec.samples` jobs as fast as possible (batches when spec.batch > 1)."""
    tally = Tally()
    conns = await _connect(spec, max(1, spec.producers))
    start()
    per_call = spec.batch
    data = (
        enqueue_request(spec.queue)
        if per_call == 1
        else request_bytes("POST", "/jobs", batch_body(spec.queue, per_call))
    )
    calls = -(-spec.samples // per_call)
    todo = iter(range(calls))

    async def run(conn: Connection) -> None:
        for _ in todo:
            response = await conn.send(data)
            if response.status != 202:
                _unexpected(tally, "POST /jobs", response)
                return
            tally.counts["jobs"] += per_call

    await asyncio.gather(*(run(c) for c in conns))
    _close(conns)
    return tally


# -- latency -------------------------------------------------------------------


async def wake(spec: ClientSpec, start: Callable[[], None]) -> Tally:
    """A worker blocked in want_job; time from sending POST /jobs to the job in its hands."""
    tally = Tally()
    worker, producer = await _connect(spec, 2)
    take, enq = want_request(spec.queue, block=30), enqueue_request(spec.queue)
    start()
    tally.started = time.monotonic()
    deadline = tally.started + spec.duration
    while len(tally.latencies) < spec.samples and time.monotonic() < deadline:
        taking = worker.send(take)
        await asyncio.sleep(spec.settle)  # let the server park the taker
        began = time.perf_counter()
        enqueuing = producer.send(enq)
        response = await taking
        woke = time.perf_counter()
        answer = await enqueuing
        tally.series("enqueue_answered").append(time.perf_counter() - began)
        if response.status != 200 or answer.status != 202:
            _unexpected(tally, "want_job/enqueue", response if response.status != 200 else answer)
            break
        tally.latencies.append(woke - began)
        done = await worker.send(done_request(_take_one.decode(response.body)))
        if done.status != 200:
            _unexpected(tally, "PUT /jobs/<id>", done)
    tally.counts["jobs"] = len(tally.latencies)
    tally.finished = time.monotonic()
    _close([worker, producer])
    return tally


async def wait_result(spec: ClientSpec, start: Callable[[], None]) -> Tally:
    """A GET waiting for a result; time from sending PUT done to the GET answered."""
    tally = Tally()
    worker, producer, waiter = await _connect(spec, 3)
    enq, take = enqueue_request(spec.queue), want_request(spec.queue)
    start()
    tally.started = time.monotonic()
    deadline = tally.started + spec.duration
    while len(tally.latencies) < spec.samples and time.monotonic() < deadline:
        if (await producer.send(enq)).status != 202:
            tally.error("enqueue failed")
            break
        taken = await worker.send(take)
        if taken.status != 200:
            _unexpected(tally, "POST /want_job", taken)
            break
        job = _take_one.decode(taken.body)
        get = request_bytes("GET", f"/jobs/{job.id}", headers={"X-Accepted-Wait-Result": "30"})
        waiting = waiter.send(get)
        await asyncio.sleep(spec.settle)  # let the server park the waiter
        began = time.perf_counter()
        reporting = worker.send(done_request(job))
        answer = await waiting
        answered = time.perf_counter()
        await reporting
        if answer.status != 200 or _final.decode(answer.body).status != "done":
            _unexpected(tally, "GET wait-result", answer)
            break
        tally.latencies.append(answered - began)
    tally.counts["jobs"] = len(tally.latencies)
    tally.finished = time.monotonic()
    _close([worker, producer, waiter])
    return tally


# -- idle long-polls -------------------------------------------------------------


async def idle_holder(spec: ClientSpec, start: Callable[[], None]) -> Tally:
    """Open `spec.producers` connections, each parked in want_job on a queue nobody
    fills, and hold them until the harness sets `spec.stop`."""
    tally = Tally()
    gate = asyncio.Semaphore(256)  # stay under the server's listen backlog
    take = want_request(spec.queue, block=spec.block)

    async def park() -> tuple[Connection, asyncio.Future[Response]] | None:
        async with gate:
            try:
                conn = await Connection.open(spec.host, spec.port)
            except OSError as exc:
                tally.error(f"connect: {exc}")
                return None
        return conn, conn.send(take)

    parked = [p for p in await asyncio.gather(*(park() for _ in range(spec.producers))) if p]
    tally.counts["held"] = len(parked)
    start()
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, spec.stop.wait, spec.duration)
    tally.counts["answered_early"] = sum(1 for _, f in parked if f.done())
    for conn, future in parked:
        future.cancel()
        conn.close()
    return tally
