"""Per-piece costs of the hot paths, in microseconds, in this process:
`python -m bench.micro`. Where the server profile says "the loop thread spends
~130 us per enqueue", these say which pieces add up to it, so a proposed change
comes with the number it can save. Each figure is the best of 5 repeats.

Nothing here starts a server; the SQLite figures use a scratch file in a temp dir.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import sqlite3
import tempfile
import time
import timeit
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from accepted.config import Settings
from accepted.http import handlers, parse, render
from accepted.http.request import Request
from accepted.http.routes import ROUTES, Router
from accepted.store import sqlite as sq
from accepted.store.rows import COLUMN_LIST, MUTABLE, column_value, job_from_row
from accepted.store.sqlite_batch import MUTABLE_OF, update_one_sql
from accepted.store.sqlite_writer import SqliteWriter
from accepted.types import Job, JobStatus

BODY = b'{"queue":"bench","params":{"n":1}}'
SCOPE: dict[str, Any] = {
    "type": "http",
    "method": "POST",
    "path": "/jobs",
    "query_string": b"",
    "headers": [
        (b"host", b"127.0.0.1:8000"),
        (b"content-type", b"application/json"),
        (b"content-length", b"34"),
    ],
    "client": ("127.0.0.1", 5000),
    "server": ("127.0.0.1", 8000),
    "scheme": "http",
}


def per_call_us(fn: Callable[[], object], number: int = 20_000) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def a_job(now: float | None = None) -> Job:
    now = time.time() if now is None else now
    return Job(
        id=str(uuid.uuid4()),
        queue="bench",
        status=JobStatus.QUEUED,
        priority=1,
        params=msgspec.Raw(b'{"n":1}'),
        max_attempts=5,
        created_at=now,
        updated_at=now,
        due_at=now,
    )


def http_pieces() -> dict[str, float]:
    job = a_job()
    router = Router(ROUTES)
    request = Request(SCOPE, None, {})  # type: ignore[arg-type]
    plain = msgspec.json.Encoder()
    return {
        "Router.match('/jobs')": per_call_us(lambda: router.match("/jobs")),
        "Request(scope) (dict of headers)": per_call_us(lambda: Request(SCOPE, None, {})),  # type: ignore[arg-type]
        "parse.decode(body, EnqueueBody)": per_call_us(
            lambda: parse.decode(BODY, parse.EnqueueBody)
        ),
        "handlers._enqueue_headers (6 headers, all absent)": per_call_us(
            lambda: handlers._enqueue_headers(request)
        ),
        "str(uuid.uuid4())": per_call_us(lambda: str(uuid.uuid4())),
        "Job(...) (25 fields)": per_call_us(lambda: a_job(1.0)),
        "render.job_json(job) (JobView + 4 datetimes)": per_call_us(lambda: render.job_json(job)),
        "msgspec encode of the Job itself (float times)": per_call_us(lambda: plain.encode(job)),
        "secrets.token_hex(12) (one lease)": per_call_us(lambda: secrets.token_hex(12)),
        "location header f-string + encode": per_call_us(lambda: f"/jobs/{job.id}".encode()),
    }


def proxy_headers_us() -> float:
    """uvicorn's ProxyHeadersMiddleware, on by default, wraps every request."""
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    wrapped = ProxyHeadersMiddleware(app, trusted_hosts="127.0.0.1")

    async def run(n: int, target: Any) -> float:
        began = time.perf_counter()
        for _ in range(n):
            await target(dict(SCOPE), None, None)
        return time.perf_counter() - began

    n = 50_000
    with_mw = min(asyncio.run(run(n, wrapped)) for _ in range(3))
    without = min(asyncio.run(run(n, app)) for _ in range(3))
    return (with_mw - without) / n * 1e6


def store_pieces(directory: Path) -> dict[str, float]:
    conn = sq.SqliteStore(str(directory / "micro.db"))._connect()
    n = 2000
    out: dict[str, float] = {}

    def timed(label: str, fn: Callable[[int], object], count: int = n) -> None:
        conn.execute("BEGIN IMMEDIATE")
        began = time.perf_counter()
        for i in range(count):
            fn(i)
        out[label] = (time.perf_counter() - began) / count * 1e6
        conn.execute("COMMIT")

    jobs = [a_job() for _ in range(n)]
    timed("_to_row(job)", lambda i: sq._to_row(jobs[i]))
    timed(
        "INSERT one job (executemany of 1 row)",
        lambda i: conn.executemany(sq._INSERT, [sq._to_row(jobs[i])]),
    )
    timed(
        "SAVEPOINT + RELEASE (per store call)",
        lambda i: (conn.execute("SAVEPOINT call"), conn.execute("RELEASE call")),
    )
    row = conn.execute(f"{sq._SELECT} WHERE id = ?", (jobs[0].id,)).fetchone()
    timed("_from_row(row) (dict + zip + Job(**))", lambda i: job_from_row(row))
    timed("_get(conn, id) (SELECT by id + _from_row)", lambda i: sq._get(conn, jobs[i].id))
    claim = (
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease = ?, "
        "lease_expires_at = ?, updated_at = ? WHERE seq = (SELECT seq FROM jobs WHERE "
        "status = 'queued' AND queue = ? AND (deadline_at IS NULL OR deadline_at > ?) "
        f"ORDER BY priority, due_at, seq LIMIT 1) RETURNING {COLUMN_LIST}"
    )
    now = time.time()
    timed(
        "claim one (UPDATE .. RETURNING + _from_row)",
        lambda i: job_from_row(conn.execute(claim, ("t", now + 30, now, "bench", now)).fetchone()),
    )
    running = [job for j in jobs[:n] if (job := sq._get(conn, j.id)) is not None]
    every_column = update_one_sql(tuple(range(len(MUTABLE))))
    timed(
        f"UPDATE all {len(MUTABLE)} mutable columns by id",
        lambda i: conn.execute(
            every_column,
            [*(column_value(v) for v in MUTABLE_OF(running[i])), running[i].id],
        ),
        count=len(running),
    )
    conn.close()
    return out


def commit_costs(directory: Path) -> dict[str, float]:
    """One commit of k inserts, synchronous FULL (what we run) vs NORMAL."""
    out = {}
    for sync in ("FULL", "NORMAL"):
        conn = sq.SqliteStore(str(directory / f"commit-{sync}.db"))._connect()
        conn.execute(f"PRAGMA synchronous = {sync}")
        for k in (1, 32):
            rounds = 200
            began = time.perf_counter()
            for _ in range(rounds):
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(sq._INSERT, [sq._to_row(a_job()) for _ in range(k)])
                conn.execute("COMMIT")
            out[f"BEGIN + {k} insert(s) + COMMIT, synchronous={sync}"] = (
                (time.perf_counter() - began) / rounds * 1e6
            )
        conn.close()
    return out


def wal_pages_per_job(directory: Path) -> dict[str, float]:
    """Pages each commit writes to the WAL (and so fsyncs), per job: random ids
    dirty a random page of the id index per insert; time-ordered ids append."""
    from accepted.service.ids import new_job_id

    out = {}
    for name, make_id in (("uuid4", lambda: str(uuid.uuid4())), ("uuid7", new_job_id)):
        path = directory / f"wal-{name}.db"
        conn = sq.SqliteStore(str(path))._connect()

        def job(make_id: Callable[[], str] = make_id) -> Job:
            return msgspec.structs.replace(a_job(), id=make_id())

        conn.execute("BEGIN")
        conn.executemany(sq._INSERT, [sq._to_row(job()) for _ in range(20_000)])
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        for k in (1, 8, 32):
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            rounds = 100
            for _ in range(rounds):
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(sq._INSERT, [sq._to_row(job()) for _ in range(k)])
                conn.execute("COMMIT")
            frames = (Path(f"{path}-wal").stat().st_size - 32) / (4096 + 24)
            out[f"{name} ids, {k} inserts per commit: WAL pages per job"] = frames / rounds / k
        conn.close()
    return out


_CLAIM_ONE = (
    "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease = ?, "
    "lease_expires_at = ?, updated_at = ? WHERE seq = ? "
    f"RETURNING {COLUMN_LIST}"
)
_PICK = (
    "SELECT seq FROM jobs WHERE status = 'queued' AND (deadline_at IS NULL OR deadline_at > ?) "
    "AND queue IN (?) ORDER BY priority, due_at, seq LIMIT ?"
)
_CLAIM_MANY = (
    "UPDATE jobs SET status = 'running', attempts = attempts + 1, "
    "lease = lower(hex(randomblob(12))), lease_expires_at = ?, updated_at = ? "
    f"WHERE seq IN ({_PICK}) RETURNING {COLUMN_LIST}"
)
_DONE_NARROW = (
    "UPDATE jobs SET status = 'done', result = ?, updated_at = ?, finished_at = ?, "
    "lease = NULL, lease_expires_at = NULL, "
    "expires_at = CASE WHEN result_ttl IS NULL THEN NULL ELSE ? + result_ttl END, "
    "callback_state = CASE WHEN callback_url IS NULL THEN NULL ELSE 'pending' END, "
    "callback_next_at = CASE WHEN callback_url IS NULL THEN NULL ELSE ? END "
    "WHERE id = ? AND status = 'running' AND lease = ? "
    f"RETURNING {COLUMN_LIST}"
)


def _complete(job: Job, *, now: float) -> Job:
    from accepted.service import rules

    return rules.complete(job, JobStatus.DONE, msgspec.Raw(b'{"ok":true}'), job.lease, now)


def batch_paths(directory: Path, size: int = 100, rounds: int = 30) -> dict[str, float]:
    """Per job, for batches of `size`: claiming and reporting done, as the SQLite
    store does it now and in one statement per batch / per job (no fsync)."""
    conn = sq.SqliteStore(str(directory / "batch.db"))._connect()
    conn.execute("PRAGMA synchronous = OFF")
    totals = {k: 0.0 for k in ("claim-now", "claim-one-statement", "done-now", "done-narrow")}
    result = msgspec.Raw(b'{"ok":true}')
    for r in range(rounds):
        conn.execute("BEGIN")
        conn.executemany(sq._INSERT, [sq._to_row(a_job()) for _ in range(size)])
        conn.execute("COMMIT")
        now = time.time()
        many = r % 2 == 1
        conn.execute("BEGIN")
        began = time.perf_counter()
        if many:
            taken = [
                job_from_row(row)
                for row in conn.execute(_CLAIM_MANY, (now + 30, now, now, "bench", size))
            ]
        else:
            seqs = [row[0] for row in conn.execute(_PICK, (now, "bench", size))]
            taken = [
                job_from_row(
                    conn.execute(_CLAIM_ONE, (secrets.token_hex(12), now + 30, now, seq)).fetchone()
                )
                for seq in seqs
            ]
        totals["claim-one-statement" if many else "claim-now"] += time.perf_counter() - began
        began = time.perf_counter()
        for job in taken:
            if many:
                job_from_row(
                    conn.execute(
                        _DONE_NARROW, (bytes(result), now, now, now, now, job.id, job.lease)
                    ).fetchone()
                )
            else:
                conn.execute("SAVEPOINT one")
                old, new = sq._decided(conn, job.id, functools.partial(_complete, now=now))
                assert new is not None
                sq._write_changes(conn, old, new)
                conn.execute("RELEASE one")
        totals["done-narrow" if many else "done-now"] += time.perf_counter() - began
        conn.execute("COMMIT")
    conn.close()
    per_job = rounds // 2 * size
    return {
        f"claim {size}: SELECT seqs, then one UPDATE..RETURNING per job (now)": totals["claim-now"]
        / per_job
        * 1e6,
        f"claim {size}: one UPDATE..WHERE seq IN (..) RETURNING, leases from randomblob()": totals[
            "claim-one-statement"
        ]
        / per_job
        * 1e6,
        "done: SAVEPOINT + SELECT + rules.complete + UPDATE 22 columns (now)": totals["done-now"]
        / per_job
        * 1e6,
        "done: one conditional UPDATE..RETURNING of the changed columns": totals["done-narrow"]
        / per_job
        * 1e6,
    }


def writer_round_trip_us(directory: Path) -> dict[str, float]:
    """SqliteWriter.run with a no-op: the thread hop, futures and one transaction."""

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(
            str(directory / "hop.db"), isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = OFF")  # the hop alone, not the disk
        return conn

    writer = SqliteWriter(connect)
    writer.start()

    async def many(concurrent: int, rounds: int) -> float:
        began = time.perf_counter()
        for _ in range(rounds):
            await asyncio.gather(*(writer.run(lambda c: None) for _ in range(concurrent)))
        return (time.perf_counter() - began) / (rounds * concurrent) * 1e6

    try:
        return {
            "SqliteWriter.run(no-op), 1 at a time (latency)": asyncio.run(many(1, 2000)),
            "SqliteWriter.run(no-op), 32 at once (per call)": asyncio.run(many(32, 200)),
        }
    finally:
        writer.stop()


class _Transport:
    """Enough of a transport for a protocol to write to: counts, and drops, what it gets."""

    def __init__(self) -> None:
        self.written = 0
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


async def _bench_route(ctx: Any, request: Request) -> Any:
    """What enqueue does in the HTTP layer, without the service: read the body, answer 202."""
    from accepted.http.request import Response

    await request.body(1 << 20)
    location = (b"location", b"/jobs/7c0d6f0e-2a55-4a51-9b1e-1f3f0c8a2d41")
    return Response.json(202, b'{"id":"7c0d6f0e-2a55-4a51-9b1e-1f3f0c8a2d41"}' * 12, location)


def protocol_cycle_us(directory: Path) -> dict[str, float]:
    """CPU per request through each protocol, with the real App on a route whose handler
    only reads the body and answers (the service and store left out): what the request
    cycle costs, from the bytes read to the bytes written."""
    import uvicorn
    from uvicorn.server import ServerState

    from accepted.http import protocol
    from accepted.http.app import create_app
    from accepted.http.route import Route

    app = create_app(Settings(db=str(directory / "micro-proto.db")))
    app.router = Router((*ROUTES, Route("/bench", {"POST": _bench_route})))
    data = (
        b"POST /bench HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
    )
    config = uvicorn.Config(
        app, loop="asyncio", lifespan="off", proxy_headers=False, log_config=None, access_log=False
    )
    config.load()
    classes: dict[str, Any] = {}
    if hasattr(protocol, "protocol_class"):  # ours (issue 11)
        classes["our HttpProtocol -> App.answer"] = protocol.protocol_class(
            app, head_timeout=10.0, idle_timeout=60.0
        )
    if hasattr(protocol, "limited_protocol"):  # uvicorn's, subclassed (before issue 11)
        classes["uvicorn HttpToolsProtocol + limits -> ASGI App"] = protocol.limited_protocol(10.0)
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    classes["uvicorn HttpToolsProtocol (stock) -> ASGI App"] = HttpToolsProtocol

    async def drive(cls: Any, n: int) -> float:
        state = ServerState()
        proto = cls(config=config, server_state=state, app_state={})
        proto.connection_made(_Transport())
        began = time.process_time()
        for _ in range(n):
            proto.data_received(data)
            await asyncio.wait(list(state.tasks))  # the request's task, answered
        return (time.process_time() - began) / n * 1e6

    import uvloop

    def best(cls: Any) -> float:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return min(runner.run(drive(cls, 20_000)) for _ in range(5))

    return {label: best(cls) for label, cls in classes.items()}


def main() -> None:
    Settings()  # import check: the app's modules load as the server loads them
    with tempfile.TemporaryDirectory(prefix="accepted-micro-") as tmp:
        directory = Path(tmp)
        sections = {
            "HTTP layer, per request": http_pieces(),
            "uvicorn": {"ProxyHeadersMiddleware (proxy_headers=True default)": proxy_headers_us()},
            "request cycle, per request (bytes in to bytes out)": protocol_cycle_us(directory),
            "store, per job, inside one transaction (no fsync)": store_pieces(directory),
            "commit (one transaction)": commit_costs(directory),
            "WAL pages written per job (pages, not us)": wal_pages_per_job(directory),
            "batch paths, per job (no fsync)": batch_paths(directory),
            "writer thread hop": writer_round_trip_us(directory),
        }
    for title, figures in sections.items():
        print(f"\n{title}")
        unit = "pages" if "pages, not us" in title else "us"
        for label, value in figures.items():
            print(f"  {value:10.2f} {unit:<5} {label}")


if __name__ == "__main__":
    main()
