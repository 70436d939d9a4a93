"""`python -m bench.inprocess enqueue|cycle`: the server's own CPU per job, in one
process, with no sockets and no load generator.

The real `App` on a real SQLite file (its writer thread, group commits and
fsyncs included) answers requests fed to our `HttpProtocol` over fake
transports: 32 connections each send one request, all are answered, and
again. `enqueue` is one POST /jobs per job; `cycle` adds want_job and PUT done
(3 requests per job). Printed: the event loop thread's CPU per job (the
10th percentile and median over the rounds, and the mean), the process's
CPU per job (the writer thread's included), and commits per job.

Why: on the shared 2-core machine, a workload over the network moves with
everything else that runs, and a change of a few microseconds per request is
lost in it. Here the socket I/O and the client are left out, and a round's
thread CPU is timed on its own, so a round that was preempted or stalled
shows as one slow round, which the median ignores. Compare two trees by
running each in turn (`PYTHONPATH=<tree>/src`); the load average still
scales every figure, so only figures measured together compare.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import uvloop
from uvicorn.server import ServerState

import accepted
from accepted.config import Settings
from accepted.http import protocol
from accepted.http.app import App, create_app

RESULT = b'{"status":"done","result":{"ok":true}}'


class _Transport:
    """What a protocol writes to: keeps the answer of the request in flight."""

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.out.append(data)

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


def request(method: str, target: str, body: bytes = b"", headers: str = "") -> bytes:
    return (
        f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n{headers}"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


ENQUEUE = request("POST", "/jobs", b'{"queue":"bench","params":{"n":1}}')
TAKE = request("POST", "/want_job?queue=bench&block=1")


class Connections:
    """`count` connections of our protocol to `app`, fed a request each at once."""

    def __init__(self, app: App, count: int) -> None:
        cls = protocol.protocol_class(app, head_timeout=10.0, idle_timeout=60.0)
        self.state = ServerState()
        self.state.default_headers = [(b"date", b"Wed, 02 Dec 2026 19:00:00 GMT")]
        self.protocols = [cls(config=None, server_state=self.state) for _ in range(count)]
        self.transports = [_Transport() for _ in range(count)]
        for proto, transport in zip(self.protocols, self.transports, strict=True):
            proto.connection_made(transport)  # type: ignore[arg-type]

    async def send(self, requests: list[bytes], status: bytes) -> list[bytes]:
        """Each connection's request answered; every answer must have `status`."""
        for proto, transport, data in zip(self.protocols, self.transports, requests, strict=True):
            transport.out.clear()
            proto.data_received(data)
        while self.state.tasks:
            await asyncio.wait(list(self.state.tasks))
        answers = [b"".join(t.out) for t in self.transports]
        bad = [a for a in answers if not a.startswith(b"HTTP/1.1 " + status)]
        if bad:
            raise RuntimeError(f"expected {status.decode()}, got {bad[0][:300]!r}")
        return answers


async def one_round(conns: Connections, cycle: bool) -> None:
    n = len(conns.protocols)
    await conns.send([ENQUEUE] * n, b"202")
    if cycle:
        taken = await conns.send([TAKE] * n, b"200")
        reports = []
        for answer in taken:
            job = msgspec.json.decode(answer.split(b"\r\n\r\n", 1)[1])
            lease = f"X-Accepted-Lease: {job['lease']}\r\n"
            reports.append(request("PUT", f"/jobs/{job['id']}", RESULT, lease))
        await conns.send(reports, b"200")


async def measure(workload: str, rounds: int, connections: int) -> str:
    with tempfile.TemporaryDirectory(prefix="accepted-inprocess-") as tmp:
        app = create_app(Settings(db=str(Path(tmp) / "bench.db")))
        await app.startup()
        try:
            conns = Connections(app, connections)
            cycle = workload == "cycle"
            for _ in range(20):  # warm up: caches, the WAL, the statement cache
                await one_round(conns, cycle)
            writer = app.store._writer  # type: ignore[attr-defined]
            commits = writer.commits
            rounds_cpu: list[float] = []
            thread, process = time.thread_time(), time.process_time()
            for _ in range(rounds):
                began = time.thread_time()
                await one_round(conns, cycle)
                rounds_cpu.append(time.thread_time() - began)
            thread, process = time.thread_time() - thread, time.process_time() - process
            commits = writer.commits - commits
        finally:
            await app.shutdown()
    jobs = rounds * connections
    per_job = [1e6 * r / connections for r in sorted(rounds_cpu)]
    tree = Path(accepted.__file__).parents[2]
    return (
        f"{workload} ({tree}): loop thread p10 {per_job[len(per_job) // 10]:.1f} "
        f"median {statistics.median(per_job):.1f} mean {1e6 * thread / jobs:.1f} us/job; "
        f"process {1e6 * process / jobs:.1f} us/job; commits/job {commits / jobs:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess", description=__doc__)
    parser.add_argument("workload", choices=("enqueue", "cycle"))
    parser.add_argument("--rounds", type=int, default=300, help="measured rounds [300]")
    parser.add_argument("--connections", type=int, default=32, help="requests per round [32]")
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        print(runner.run(measure(args.workload, args.rounds, args.connections)))


if __name__ == "__main__":
    main()
