"""The workloads of issue 4, each on a server of its own (a fresh SQLite file
unless --db or --url says otherwise), each returning one `Result`."""

from __future__ import annotations

import contextlib
import os
import resource
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx

from bench import features, roles, wrk
from bench.loadgen import _FORK, Fleet, Role, Tally, run_fleet
from bench.profile import Profiler, summarize
from bench.results import Result, percentiles_ms
from bench.roles import ClientSpec
from bench.servers import (
    ExternalServer,
    ProcessTree,
    RunningServer,
    Server,
    ServerSpec,
    strace_available,
)

HOST = "127.0.0.1"


@dataclass
class Options:
    duration: float = 5.0  # seconds per throughput workload (and per latency workload at most)
    procs: int = 2  # client processes
    connections: int = 32  # enqueue/constant: keep-alive connections in all
    producers: int = 16  # cycle: producer connections in all
    workers: int = 32  # cycle and drain: worker connections in all
    batch: int = 100  # cycle-batch: jobs per call
    batch_producers: int = 4
    batch_workers: int = 8
    drain_jobs: int = 20_000
    samples: int = 1000  # latency workloads
    settle_ms: float = 2.0
    idle: int = 10_000
    probe_connections: int = 16  # idle: connections of the p99 probe, in all
    wrk_threads: int = 2
    client: str = "wrk"  # "wrk", or "python" for bench/roles.py's client
    db: str | None = None  # None: a fresh SQLite file per workload
    url: str | None = None
    server_pid: int | None = None
    strace: bool = True
    stacks: list[str] = field(default_factory=lambda: ["uvicorn"])
    variants: list[str] = field(default_factory=list)  # bench/variants.py names
    workdir: Path = Path("/tmp")
    profile: Path | None = None  # py-spy the server through each measured window
    server_workers: int = 1  # accepted serve --workers: the server's processes


class Bench:
    """Runs workloads; remembers each run's constant rate for the enqueue ratio."""

    def __init__(self, options: Options) -> None:
        self.o = options
        self.run = 1
        self.constant_rps: dict[tuple[int, str], float] = {}
        self.strace = options.strace and strace_available()

    # -- servers -----------------------------------------------------------------

    @property
    def db_kind(self) -> str:
        if self.o.url:
            return "external"
        return "postgresql" if (self.o.db or "").startswith("postgres") else "sqlite"

    @contextlib.contextmanager
    def accepted(self, workload: str, stack: str) -> Iterator[Server]:
        server: Server
        if self.o.url:
            server = ExternalServer(self.o.url, self.o.server_pid)
        else:
            db = self.o.db or str(self.o.workdir / f"{workload}-{stack}-{self.run}.db")
            base, _, variant = stack.partition("+")
            spec = ServerSpec(
                "accepted",
                base,
                db=db,
                strace=self.strace and not self.o.db,
                variant=variant or None,
                workers=self.o.server_workers,
            )
            server = RunningServer(spec, self.o.workdir)
        server.start()
        try:
            yield server
        finally:
            server.stop()

    @contextlib.contextmanager
    def constant_server(self, stack: str) -> Iterator[RunningServer]:
        # As many processes as the accepted servers of the run: the ratio compares like with like.
        spec = ServerSpec("constant", stack, workers=self.o.server_workers)
        server = RunningServer(spec, self.o.workdir).start()
        try:
            yield server
        finally:
            server.stop()

    @contextlib.contextmanager
    def measuring(self, r: Result, server: Server) -> Iterator[None]:
        """The measured window of a workload; sampled by py-spy with --profile."""
        pid = server.loop_pid
        if self.o.profile is None or pid is None:
            yield
            return
        self.o.profile.mkdir(parents=True, exist_ok=True)
        out = self.o.profile / f"{r.workload}-{r.stack}-{r.run}"
        with Profiler(pid, out):
            yield
        collapsed = out.with_suffix(".txt")
        if collapsed.exists():
            out.with_suffix(".summary.txt").write_text(summarize(collapsed) + "\n")
            r.extra["profile"] = str(out.with_suffix(".summary.txt"))

    def result(self, workload: str, stack: str = "uvicorn") -> Result:
        return Result(workload, stack, self.db_kind, self.run)

    def queue(self, workload: str) -> str:
        return f"bench-{workload}-{uuid.uuid4().hex[:8]}"

    def spec(self, server: Server, queue: str, **kw: object) -> ClientSpec:
        return ClientSpec(HOST, server.port, queue, self.o.duration, **kw)  # type: ignore[arg-type]

    def split(self, total: int) -> list[int]:
        """`total` connections over the client processes (none gets zero)."""
        n = max(1, min(self.o.procs, total))
        return [total // n + (1 if i < total % n else 0) for i in range(n)]

    # -- enqueue and its baseline ---------------------------------------------------

    def constant(self, stack: str) -> Result:
        r = self.result("constant", stack)
        with self.constant_server(stack) as server:
            self._hammer(r, server)
        if r.requests_per_s:
            self.constant_rps[(self.run, stack)] = r.requests_per_s
        self._note_processes(r)
        return r

    def _note_processes(self, r: Result) -> None:
        """The server's process count, beside its figure, where it is not one."""
        if self.o.server_workers > 1 and not self.o.url:
            r.extra["processes"] = self.o.server_workers

    def enqueue(self, stack: str) -> Result:
        r = self.result("enqueue", stack)
        with self.accepted("enqueue", stack) as server:
            self._hammer(r, server)
        base = self.constant_rps.get((self.run, stack.partition("+")[0]))
        if base and r.requests_per_s:
            r.extra["ratio_to_constant"] = round(r.requests_per_s / base, 3)
        self._note_processes(r)
        return r

    def _hammer(self, r: Result, server: Server) -> None:
        """POST /jobs as fast as the server answers: wrk, or our client processes."""
        queue = self.queue("enqueue")
        if self.o.client == "wrk" and wrk.available():
            with self.measuring(r, server):
                before = server.snapshot()
                w = wrk.run(
                    f"http://{HOST}:{server.port}",
                    queue,
                    threads=self.o.wrk_threads,
                    connections=self.o.connections,
                    seconds=self.o.duration,
                )
                after = server.snapshot()
            r.client = f"wrk -t{self.o.wrk_threads} -c{self.o.connections}"
            r.seconds, r.jobs = round(w.seconds, 2), w.requests
            r.jobs_per_s = r.requests_per_s = round(w.requests / w.seconds, 1)
            r.latency_ms = {k: round(getattr(w, k) * 1000, 3) for k in ("p50", "p90", "p99", "max")}
            r.errors = w.errors
            r.client_cpu_util = round(w.client_cpu / w.seconds, 2)
            r.server_figures(before, after)
            return
        specs = [self.spec(server, queue, producers=n) for n in self.split(self.o.connections)]
        r.client = f"python x{len(specs)} -c{self.o.connections}"
        self._fleet(r, server, roles.enqueue, specs)

    def _fleet(
        self,
        r: Result,
        server: Server,
        role: Role,
        specs: list[ClientSpec],
        *,
        elapsed: Callable[[list[Tally]], float] | None = None,
    ) -> list[Tally]:
        """Run client processes; fill `r` with their figures and the server's."""
        fleet = Fleet(role, specs).start()
        usage = _children_cpu()
        try:
            if not fleet.go():
                r.skipped = "a client process failed to start"
            with self.measuring(r, server):
                before = server.snapshot()
                tallies = fleet.results(self.o.duration + 60)
                after = server.snapshot()
        finally:
            fleet.stop()
        seconds = elapsed(tallies) if elapsed else self.o.duration
        r.from_tallies(tallies, seconds)
        r.server_figures(before, after)
        r.client_cpu_util = round((_children_cpu() - usage) / seconds, 2) if seconds else None
        if r.skipped:
            r.skipped += ": " + "; ".join(r.error_samples)
        return tallies

    # -- throughput: drain and full cycles -----------------------------------------

    def drain(self, stack: str) -> Result:
        r = self.result("drain", stack)
        with self.accepted("drain", stack) as server:
            queue = self.queue("drain")
            found = features.probe(server.port)
            batch = 500 if found.batch_enqueue is None else 1
            fill = [
                self.spec(
                    server,
                    queue,
                    producers=4 if batch > 1 else 16,
                    batch=batch,
                    samples=self.o.drain_jobs,
                )
            ]
            tallies, _ = run_fleet(roles.fill, fill, timeout=600)
            filled = sum(t.counts["jobs"] for t in tallies)
            r.extra["prefilled"] = filled
            specs = [self.spec(server, queue, workers=n) for n in self.split(self.o.workers)]
            r.client = f"python x{len(specs)} workers={self.o.workers}"
            self._fleet(r, server, roles.drain, specs, elapsed=_span)
            r.extra["emptied"] = r.jobs == filled
        return r

    def cycle(
        self,
        stack: str,
        name: str = "cycle",
        chain: bool = False,
        *,
        groups: int = 0,
        limits: dict[str, object] | None = None,
        report_take: bool = False,
    ) -> Result:
        r = self.result(name, stack)
        with self.accepted(name, stack) as server:
            queue = self.queue(name)
            if limits is not None:
                _set_limits(server, queue, limits)
                r.extra["limits"] = limits
            specs = [
                self.spec(
                    server,
                    queue,
                    producers=p,
                    workers=w,
                    backlog=4 * w,
                    chain=chain,
                    groups=groups,
                    report_take=report_take,
                )
                for p, w in zip(
                    self.split(self.o.producers), self.split(self.o.workers), strict=False
                )
            ]
            r.client = f"python x{len(specs)} producers={self.o.producers} workers={self.o.workers}"
            tallies = self._fleet(r, server, roles.cycle, specs)
            r.extra["enqueued_per_s"] = round(
                sum(t.counts["enqueued"] for t in tallies) / self.o.duration, 1
            )
        return r

    def cycle_report_take(self, stack: str) -> Result:
        """The full cycle with each worker's report riding on its next want_job
        (report and take in one request): two requests per job instead of three."""
        return self.cycle(stack, "cycle-report-take", report_take=True)

    def cycle_after(self, stack: str) -> Result:
        """The full cycle with dependencies in use: chains of 2 (X-Accepted-After)."""
        return self.cycle(stack, "cycle-after", chain=True)

    # -- flow-limits: the cycle with a limit, and with fairness groups, in use --

    def cycle_limit(self, stack: str) -> Result:
        """The full cycle on a queue with a limit that never binds (concurrency 1000, far
        above the 32 workers): what the limited claim costs, its row lock included."""
        return self.cycle(stack, "cycle-limit", limits={"concurrency": 1000})

    def cycle_group(self, stack: str) -> Result:
        """The full cycle with every job in one of 100 fairness groups (X-Accepted-Group)."""
        return self.cycle(stack, "cycle-group", groups=100)

    def cycle_batch_report_take(self, stack: str) -> Result:
        """`cycle-batch` with each batch of reports riding on the next batch want_job."""
        return self.cycle_batch(stack, "cycle-batch-report-take", report_take=True)

    def cycle_batch(
        self, stack: str, name: str = "cycle-batch", *, report_take: bool = False
    ) -> Result:
        r = self.result(name, stack)
        with self.accepted(name, stack) as server:
            missing = features.probe(server.port).batch_missing()
            if missing:
                r.skipped = missing
                return r
            b = self.o.batch
            specs = [
                self.spec(
                    server,
                    self.queue(name),
                    producers=p,
                    workers=w,
                    batch=b,
                    backlog=4 * b * w,
                    report_take=report_take,
                )
                for p, w in zip(
                    self.split(self.o.batch_producers),
                    self.split(self.o.batch_workers),
                    strict=False,
                )
            ]
            r.client = (
                f"python x{len(specs)} producers={self.o.batch_producers} "
                f"workers={self.o.batch_workers} batch={b}"
            )
            self._fleet(r, server, roles.cycle, specs)
        return r

    # -- latency ----------------------------------------------------------------------

    def wake(self, stack: str) -> Result:
        return self._latency("wake", stack, roles.wake)

    def wait_result(self, stack: str) -> Result:
        return self._latency("wait-result", stack, roles.wait_result)

    def _latency(self, name: str, stack: str, role: Role) -> Result:
        r = self.result(name, stack)
        with self.accepted(name, stack) as server:
            spec = self.spec(
                server, self.queue(name), samples=self.o.samples, settle=self.o.settle_ms / 1000
            )
            r.client = f"python x1 sequential, settle={self.o.settle_ms:g} ms"
            tallies = self._fleet(r, server, role, [spec], elapsed=_span)
            answered = [x for t in tallies for x in t.extra.get("enqueue_answered", [])]
            if answered:
                r.extra["enqueue_answered_p50_ms"] = percentiles_ms(answered)["p50"]
        return r

    # -- idle long-polls ----------------------------------------------------------------

    def idle(self, stack: str) -> Result:
        r = self.result("idle", stack)
        n = self.o.idle
        r.extra["idle"] = n
        with self.accepted("idle", stack) as server:
            tree = server.tree
            limit = tree.nofile_limit() if tree is not None else None
            if limit is not None and limit < n + 64:
                r.skipped = f"the server may open {limit} files, fewer than {n} connections"
                return r
            probe_queue = self.queue("idle-probe")
            probe = [
                self.spec(server, probe_queue, producers=k)
                for k in self.split(self.o.probe_connections)
            ]
            r.client = f"python x{len(probe)} -c{self.o.probe_connections} + {n} idle"
            without = Result("idle")
            self._fleet(without, server, roles.enqueue, probe)
            rss_before = tree.rss_bytes() if tree is not None else None
            with self._parked(server, n) as held:
                rss_with = tree.rss_bytes() if tree is not None else None
                self._fleet(r, server, roles.enqueue, probe)
        r.extra["held"] = sum(t.counts["held"] for t in held)
        r.extra["answered_early"] = sum(t.counts["answered_early"] for t in held)
        r.errors += sum(t.counts["errors"] for t in held)
        if rss_before is not None and rss_with is not None:
            r.extra["rss_mib_before"] = round(rss_before / 2**20, 1)
            r.extra["rss_mib_with_idle"] = round(rss_with / 2**20, 1)
        p99_without, p99_with = without.latency_ms.get("p99"), r.latency_ms.get("p99")
        r.extra["p99_ms_without"] = p99_without
        r.extra["rps_without"] = without.requests_per_s
        if p99_without and p99_with:
            r.extra["p99_ratio"] = round(p99_with / p99_without, 2)
        return r

    @contextlib.contextmanager
    def _parked(self, server: Server, n: int) -> Iterator[list[Tally]]:
        """`n` connections parked in want_job for the `with` block; their tallies after it."""
        tree = server.tree
        files_before = tree.open_files() if tree is not None else 0
        stop = _FORK.Event()
        hold = replace(
            self.spec(server, self.queue("idle"), block=300.0, stop=stop),
            duration=self.o.duration * 4 + 300,  # the holders' own bound, should we vanish
        )
        holders = Fleet(roles.idle_holder, [replace(hold, producers=k) for k in _chunks(n, 5000)])
        held: list[Tally] = []
        holders.start()
        try:
            if not holders.go(timeout=300):
                stop.set()
                errors = [e for t in holders.results(30) for e in t.errors][:3]
                raise RuntimeError(f"the idle connections could not all be opened: {errors}")
            if tree is not None:
                _await_files(tree, files_before + n * 0.99, timeout=60)
            time.sleep(1.0)  # let the server finish parsing the parked requests
            yield held
        finally:
            stop.set()
            held += holders.results(60)


def _span(tallies: list[Tally]) -> float:
    """From the first client's start to the last one's end (runs that stop early)."""
    started = [t.started for t in tallies if t.started]
    finished = [t.finished for t in tallies if t.finished]
    return max(finished) - min(started) if started and finished else 0.0


def _chunks(total: int, size: int) -> list[int]:
    return [min(size, total - i) for i in range(0, total, size)]


def _await_files(tree: ProcessTree, at_least: float, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and tree.open_files() < at_least:
        time.sleep(0.1)  # the server accepts on its own schedule; nothing to await


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _set_limits(server: Server, queue: str, limits: dict[str, object]) -> None:
    """PUT /queues/{queue}/limits before the clients start."""
    url = f"http://{HOST}:{server.port}/queues/{queue}/limits"
    token = os.environ.get("ACCEPTED_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.put(url, json=limits, headers=headers, timeout=10.0)
    response.raise_for_status()
