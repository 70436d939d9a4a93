"""Two ways to serve on every core, as throw-away prototypes to measure before choosing
(issue 11). Neither is the product; docs/architecture.md records what they showed.

    python -m bench.procmodel nodes --procs 2 --port 8000 --db /tmp/x.db
    python -m bench.procmodel front --procs 2 --port 8000 --db /tmp/x.db

- `nodes`: each process a whole node (the real app) on one shared SQLite file,
  all bound to one port with SO_REUSEPORT. Write transactions take turns on a
  blocking flock (the kernel wakes the next writer at once, unlike SQLite's
  sleeping busy handler), and wake-ups cross processes as datagrams on Unix
  sockets, the way PostgreSQL nodes use NOTIFY.
- `front`: one store process runs the real service and store; `--procs` HTTP
  processes on one port (SO_REUSEPORT) run the real handlers, whose service is
  a proxy that forwards each call as a length-prefixed JSON frame over a Unix
  socket. All coordination (takers, hand-offs, result waits) stays in one place.

The launcher's PID is the tree to measure: `python -m bench --url ... --server-pid PID`.
Stop it with SIGTERM; it stops its children.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import fcntl
import functools
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import msgspec
import uvicorn

from accepted import errors
from accepted.config import Settings
from accepted.errors import AcceptedError, MethodNotAllowed, NotFound
from accepted.http.app import App, error_response
from accepted.http.asgi import Receive, Scope, Send
from accepted.http.context import Context
from accepted.http.request import Request, Response
from accepted.http.routes import ROUTES, Router
from accepted.service.crossnode import CrossNodeWakeups
from accepted.service.jobs import NewJob, Report
from accepted.store.sqlite import SqliteStore
from accepted.store.sqlite_writer import SqliteWriter
from accepted.types import Job, JobStatus

_LENGTH = struct.Struct("!I")


def listening_socket(port: int) -> socket.socket:
    """One process's own socket on the shared port: the kernel spreads connections."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(4096)
    sock.set_inheritable(True)
    return sock


def serve(app: Any, port: int) -> None:
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_level="warning",
        access_log=False,
        proxy_headers=False,
    )
    uvicorn.Server(config).run(sockets=[listening_socket(port)])


# -- nodes: every process a node on one SQLite file ------------------------------------------


class PeerLink:
    """Wake-ups between the processes: one datagram socket each, a send to every peer."""

    def __init__(self, rundir: Path, index: int, procs: int) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(rundir / f"peer-{index}"))
        self.sock.setblocking(False)
        self.peers = [str(rundir / f"peer-{i}") for i in range(procs) if i != index]

    def send(self, message: bytes) -> None:
        for peer in self.peers:
            # A peer not up yet, or its buffer full: its takers re-look on their own.
            with contextlib.suppress(OSError):
                self.sock.sendto(message, peer)

    def listen(self, wakeups: CrossNodeWakeups) -> None:
        def readable() -> None:
            while True:
                try:
                    message = self.sock.recv(4096)
                except BlockingIOError:
                    return
                kind, body = message[:1], message[1:].decode()
                if kind == b"q":
                    wakeups.jobs_available(body, 1)
                else:
                    wakeups.jobs_settled([body])

        asyncio.get_running_loop().add_reader(self.sock.fileno(), readable)


def node_app(settings: Settings, rundir: Path, index: int, procs: int) -> App:
    lock = os.open(rundir / "write.lock", os.O_RDWR | os.O_CREAT)
    run_batch = SqliteWriter._run_batch

    def turn_taking(self: SqliteWriter, conn: Any, batch: Any) -> Any:
        fcntl.flock(lock, fcntl.LOCK_EX)  # blocks this writer thread only
        try:
            return run_batch(self, conn, batch)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)

    SqliteWriter._run_batch = turn_taking  # type: ignore[method-assign]
    SqliteStore._take_file_lock = lambda self: None  # type: ignore[method-assign]
    app = App(settings, SqliteStore(settings.db))
    link = PeerLink(rundir, index, procs)
    _broadcast_changes(app, link)
    startup = app.startup

    async def started() -> None:
        await startup()
        link.listen(CrossNodeWakeups(app.signals, app.store))

    app.startup = started  # type: ignore[method-assign]
    return app


def _broadcast_changes(app: App, link: PeerLink) -> None:
    """Tell the other processes what this one tells its own waiters."""
    service, signals = app.service, app.signals
    after_change, jobs_available = service.after_change, signals.jobs_available

    def changed(job: Job) -> None:
        after_change(job)
        if job.status is JobStatus.QUEUED:
            link.send(b"q" + job.queue.encode())
        elif job.is_final:
            link.send(b"f" + job.id.encode())

    def available(jobs: Iterable[Job]) -> None:
        jobs = list(jobs)
        jobs_available(jobs)
        for job in jobs:
            link.send(b"q" + job.queue.encode())

    service.after_change = changed  # type: ignore[method-assign]
    signals.jobs_available = available  # type: ignore[method-assign]


# -- front: HTTP processes in front of one store process -------------------------------------

_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    "jobs": msgspec.json.Decoder(list[Job]),
    "job": msgspec.json.Decoder(Job),
    "outcomes": msgspec.json.Decoder(list[Job | tuple[str, str]]),
    "none": msgspec.json.Decoder(None),
}
_CALLS = msgspec.json.Decoder(tuple[int, str, msgspec.Raw])
_ANSWERS = msgspec.json.Decoder(tuple[int, bool, msgspec.Raw])
_ERRORS = {
    cls.code: cls
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, AcceptedError)
}


async def _frames(reader: asyncio.StreamReader) -> Any:
    while True:
        try:
            head = await reader.readexactly(4)
            yield await reader.readexactly(_LENGTH.unpack(head)[0])
        except asyncio.IncompleteReadError:
            return  # the other side closed


def _wire(value: Any) -> Any:
    """A NewJob or Report as a dict; its raw JSON as text (msgspec decodes Raw only in Structs)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        raws = [name for name, v in fields.items() if isinstance(v, msgspec.Raw)]
        for name in raws:
            fields[name] = bytes(fields[name]).decode()
        return {"kind": type(value).__name__, "raws": raws, "fields": fields}
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    return value


def _unwire(value: Any) -> Any:
    if isinstance(value, dict) and "kind" in value:
        fields = value["fields"]
        for name in value["raws"]:
            fields[name] = msgspec.Raw(fields[name].encode())
        if "status" in fields:
            fields["status"] = JobStatus(fields["status"])
        return {"NewJob": NewJob, "Report": Report}[value["kind"]](**fields)
    if isinstance(value, list):
        return [_unwire(v) for v in value]
    return value


def _frame(value: Any) -> bytes:
    body = msgspec.json.encode(value)
    return _LENGTH.pack(len(body)) + body


class StoreServer:
    """The one process that owns the store: runs each forwarded call on the real service."""

    def __init__(self, app: App) -> None:
        self.app = app
        service = app.service
        plain: msgspec.json.Decoder[Any] = msgspec.json.Decoder(list[Any])
        self.ops: dict[str, tuple[msgspec.json.Decoder[Any], Callable[..., Any]]] = {
            "enqueue_many": (plain, service.enqueue_many),
            "take": (plain, self._take),
            "report": (plain, service.report),
            "report_many": (plain, self._report_many),
            "get": (plain, service.get),
            "wait_result": (plain, service.wait_result),
            "cancel": (plain, service.cancel),
            "check_writes": (plain, service.check_writes),
        }

    async def _take(
        self, queues: list[str] | None, now: float, lease: float | None, block: float, count: int
    ) -> list[Job]:
        return await self.app.service.take(
            queues, now, lease_seconds=lease, block=block, count=count
        )

    async def _report_many(self, reports: list[tuple[str, Report]], now: float) -> list[Any]:
        outcomes = await self.app.service.report_many(reports, now)
        return [
            o if isinstance(o, Job) else (getattr(o, "code", "error"), str(o)) for o in outcomes
        ]

    async def connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        running: dict[int, asyncio.Task[None]] = {}
        async for frame in _frames(reader):
            call_id, op, raw = _CALLS.decode(frame)
            if op == "cancel":  # the front's client hung up: stop its wait here too
                task = running.get(call_id)
                if task is not None:
                    task.cancel()
                continue
            task = asyncio.ensure_future(self._answer(call_id, op, raw, writer))
            running[call_id] = task
            task.add_done_callback(functools.partial(_forget, running, call_id))

    async def _answer(
        self, call_id: int, op: str, raw: msgspec.Raw, writer: asyncio.StreamWriter
    ) -> None:
        decoder, method = self.ops[op]
        try:
            value = await method(*_unwire(decoder.decode(raw)))
            writer.write(_frame((call_id, True, value)))
        except AcceptedError as exc:
            writer.write(_frame((call_id, False, (exc.code, exc.message))))


def _forget(running: dict[int, asyncio.Task[None]], call_id: int, _: object) -> None:
    running.pop(call_id, None)


class ServiceProxy:
    """What the front's handlers take for the JobService: each call a frame to the store."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.calls: dict[int, tuple[asyncio.Future[Any] | None, str]] = {}
        self.next_id = 0
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        reader, self.writer = await asyncio.open_unix_connection(self.path)
        asyncio.get_running_loop().create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        async for frame in _frames(reader):
            call_id, ok, raw = _ANSWERS.decode(frame)
            future, kind = self.calls.pop(call_id, (None, ""))
            if future is None or future.done():
                continue  # its caller was cancelled
            if ok:
                future.set_result(_DECODERS[kind].decode(raw))
            else:
                code, message = msgspec.json.decode(raw)
                future.set_exception(_ERRORS.get(code, AcceptedError)(message))

    async def _call(self, op: str, kind: str, *args: Any) -> Any:
        assert self.writer is not None
        self.next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.calls[self.next_id] = (future, kind)
        call_id = self.next_id
        self.writer.write(_frame((call_id, op, _wire(args))))
        try:
            return await future
        except asyncio.CancelledError:
            self.calls.pop(call_id, None)
            self.writer.write(_frame((call_id, "cancel", [])))
            raise

    async def enqueue(self, new: NewJob, now: float) -> Job:
        return (await self.enqueue_many([new], now))[0]

    async def enqueue_many(self, batch: Sequence[NewJob], now: float) -> list[Job]:
        return await self._call("enqueue_many", "jobs", list(batch), now)  # type: ignore[no-any-return]

    async def take(
        self,
        queues: Sequence[str] | None,
        now: float,
        *,
        lease_seconds: float | None = None,
        block: float = 0.0,
        count: int = 1,
        scope: object = None,  # a limited token's queues: the prototype serves no tokens
    ) -> list[Job]:
        names = None if queues is None else list(queues)
        return await self._call("take", "jobs", names, now, lease_seconds, block, count)  # type: ignore[no-any-return]

    async def report(self, job_id: str, report: Report, now: float) -> Job:
        return await self._call("report", "job", job_id, report, now)  # type: ignore[no-any-return]

    async def report_many(
        self, reports: Sequence[tuple[str, Report]], now: float
    ) -> list[Job | Exception]:
        outcomes = await self._call("report_many", "outcomes", list(reports), now)
        return [
            o if isinstance(o, Job) else _ERRORS.get(o[0], AcceptedError)(o[1]) for o in outcomes
        ]

    async def get(self, job_id: str) -> Job:
        return await self._call("get", "job", job_id)  # type: ignore[no-any-return]

    async def wait_result(self, job_id: str, wait: float) -> Job:
        return await self._call("wait_result", "job", job_id, wait)  # type: ignore[no-any-return]

    async def check_writes(self, now: float) -> None:
        await self._call("check_writes", "none", now)

    async def cancel(self, job_id: str, now: float) -> Job:
        return await self._call("cancel", "job", job_id, now)  # type: ignore[no-any-return]


class FrontApp:
    """The real router and handlers over a `ServiceProxy`."""

    def __init__(self, settings: Settings, path: str) -> None:
        self.proxy = ServiceProxy(path)
        self.context = Context(self.proxy, settings, time.time)  # type: ignore[arg-type]
        self.router = Router(ROUTES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await self.proxy.connect()
                    self.context.ready = True
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif scope["type"] == "http":
            try:
                response = await self._dispatch(scope, receive)
            except AcceptedError as error:
                response = error_response(error)
            await response.send(send)

    async def _dispatch(self, scope: Scope, receive: Receive) -> Response:
        found = self.router.match(scope["path"])
        if found is None:
            raise NotFound(f"no route {scope['path']}")
        route, params = found
        handler = route.methods.get(scope["method"])
        if handler is None:
            raise MethodNotAllowed(f"{scope['method']} not allowed", tuple(route.methods))
        return await handler(self.context, Request(scope, receive, params))


async def run_store(settings: Settings, path: str) -> None:
    app = App(settings, SqliteStore(settings.db))
    await app.startup()
    server = await asyncio.start_unix_server(StoreServer(app).connected, path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.close()
    await app.shutdown()


# -- the launcher ----------------------------------------------------------------------------


# What `compare` starts: today's single process, and each model at 1 and 2 HTTP processes.
MODELS = {
    "single": [],
    # today's server without its request log line: what the prototypes (which
    # configure no logging) are spared, to read their figures against
    "single-quiet": ["--log-level", "warning"],
    "nodes-1": ["nodes", "--procs", "1"],
    "nodes-2": ["nodes", "--procs", "2"],
    "front-1": ["front", "--procs", "1"],
    "front-2": ["front", "--procs", "2"],
}


def compare(repeat: int, duration: float, workloads: list[str], models: list[str]) -> int:
    """Each model in turn, `repeat` rounds interleaved, the same bench workloads on each.

    Interleaving keeps a machine-wide slowdown from landing on one model only.
    """
    from bench.servers import free_port

    for run in range(1, repeat + 1):
        for name in models:
            model = MODELS[name]
            workdir = Path(tempfile.mkdtemp(prefix="accepted-compare-"))
            port = free_port()
            db = str(workdir / "jobs.db")
            if model[:1] in (["nodes"], ["front"]):
                command = [sys.executable, "-m", "bench.procmodel", *model]
            else:
                command = [sys.executable, "-m", "accepted", "serve", *model]
            server = subprocess.Popen(
                [*command, "--port", str(port), "--db", db],
                stdout=subprocess.DEVNULL,
                stderr=open(workdir / "server.log", "wb"),  # noqa: SIM115
            )
            try:
                _await_health(port)
                out = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "bench",
                        "--url",
                        f"http://127.0.0.1:{port}",
                        "--server-pid",
                        str(server.pid),
                        "--duration",
                        str(duration),
                        "--no-strace",
                        *workloads,
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                for line in out.stdout.splitlines():
                    if line.startswith("{"):
                        print(
                            f'{{"model": "{name}", "round": {run}, "result": {line}}}', flush=True
                        )
            finally:
                server.terminate()
                server.wait()
    return 0


def main(argv: Sequence[str]) -> int:
    if argv[:1] == ["compare"]:
        c = argparse.ArgumentParser(prog="python -m bench.procmodel compare")
        c.add_argument("--repeat", type=int, default=3)
        c.add_argument("--duration", type=float, default=4.0)
        c.add_argument("--models", default=",".join(MODELS), help="comma-separated")
        c.add_argument("workloads", nargs="*", default=["enqueue", "cycle", "wake", "wait-result"])
        args = c.parse_args(argv[1:])
        return compare(args.repeat, args.duration, args.workloads, args.models.split(","))
    p = argparse.ArgumentParser(prog="python -m bench.procmodel")
    p.add_argument("model", choices=["nodes", "front"])
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--db", required=True)
    p.add_argument("--role", default="launcher", help=argparse.SUPPRESS)
    p.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--rundir", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    settings = Settings.from_env(db=args.db, port=args.port)
    if args.role == "node":
        serve(node_app(settings, Path(args.rundir), args.index, args.procs), args.port)
    elif args.role == "front":
        serve(FrontApp(settings, str(Path(args.rundir) / "store.sock")), args.port)
    elif args.role == "store":
        import uvloop

        uvloop.run(run_store(settings, str(Path(args.rundir) / "store.sock")))
    else:
        return launch(args, argv)
    return 0


def launch(args: argparse.Namespace, argv: Sequence[str]) -> int:
    stopping = False

    def stop(sig: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    rundir = tempfile.mkdtemp(prefix="accepted-procmodel-")
    base = [sys.executable, "-m", "bench.procmodel", *argv, "--rundir", rundir]
    children: list[subprocess.Popen[bytes]] = []
    if args.model == "front":
        children.append(subprocess.Popen([*base, "--role", "store"]))
        sock = Path(rundir) / "store.sock"
        while not sock.exists() and not stopping:
            time.sleep(0.01)
    role = "node" if args.model == "nodes" else "front"
    for i in range(args.procs):
        children.append(subprocess.Popen([*base, "--role", role, "--index", str(i)]))
        if i == 0:
            _await_health(args.port)  # the first node migrates the file alone
    while not stopping and all(c.poll() is None for c in children):
        time.sleep(0.1)
    for child in reversed(children):
        if child.poll() is None:
            child.terminate()
    for child in children:
        child.wait()
    return 0


def _await_health(port: int) -> None:
    import httpx

    for _ in range(500):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.02)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
