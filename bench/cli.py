"""`python -m bench`: run the workloads, print one JSON line per run and a table."""

from __future__ import annotations

import argparse
import functools
import os
import resource
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.results import Result, medians, table, verdicts
from bench.servers import STACKS, granian_available
from bench.variants import BENCH_TOKEN, VARIANTS
from bench.workloads import Bench, Options

WORKLOADS = (
    "constant",
    "enqueue",
    "drain",
    "cycle",
    "cycle-report-take",
    "cycle-after",
    "cycle-limit",
    "cycle-group",
    "cycle-batch",
    "cycle-batch-report-take",
    "wake",
    "wait-result",
    "idle",
)
PER_STACK = ("constant", "enqueue")  # run once per --stacks entry; the others on the first


def build_parser() -> argparse.ArgumentParser:
    d = Options()
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="accepted's benchmark harness (issue 4). Loopback only; every "
        "process it starts is stopped by PID when it ends.",
    )
    p.add_argument(
        "workloads",
        nargs="*",
        metavar="WORKLOAD",
        help=f"which to run, in order (default: all): {', '.join(WORKLOADS)}",
    )
    p.add_argument(
        "--duration", type=float, default=d.duration, help="seconds per workload [%(default)s]"
    )
    p.add_argument("--repeat", type=int, default=1, help="runs of everything; medians shown [1]")
    p.add_argument("--procs", type=int, default=d.procs, help="client processes [%(default)s]")
    p.add_argument(
        "--connections",
        type=int,
        default=d.connections,
        help="enqueue/constant connections [%(default)s]",
    )
    p.add_argument(
        "--producers",
        type=int,
        default=d.producers,
        help="cycle: producer connections [%(default)s]",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=d.workers,
        help="cycle and drain: worker connections [%(default)s]",
    )
    p.add_argument(
        "--batch", type=int, default=d.batch, help="cycle-batch: jobs per call [%(default)s]"
    )
    p.add_argument(
        "--batch-producers",
        type=int,
        default=d.batch_producers,
        help="cycle-batch: producer connections [%(default)s]",
    )
    p.add_argument(
        "--batch-workers",
        type=int,
        default=d.batch_workers,
        help="cycle-batch: worker connections [%(default)s]",
    )
    p.add_argument(
        "--drain-jobs",
        type=int,
        default=d.drain_jobs,
        help="drain: jobs enqueued beforehand [%(default)s]",
    )
    p.add_argument(
        "--samples",
        type=int,
        default=d.samples,
        help="wake, wait-result: samples (at most --duration s) [%(default)s]",
    )
    p.add_argument(
        "--settle-ms",
        type=float,
        default=d.settle_ms,
        help="wake, wait-result: pause before the timed request [%(default)s]",
    )
    p.add_argument(
        "--idle",
        type=int,
        default=d.idle,
        help="idle: long-polling connections held open [%(default)s]",
    )
    p.add_argument(
        "--client",
        choices=("wrk", "python"),
        default=d.client,
        help="enqueue/constant load generator [%(default)s]",
    )
    p.add_argument("--wrk-threads", type=int, default=d.wrk_threads)
    p.add_argument(
        "--stacks",
        default="uvicorn",
        help=f"comma-separated, of {', '.join(STACKS)}: constant and enqueue run "
        "on each [%(default)s]",
    )
    p.add_argument(
        "--variants",
        default="",
        help="comma-separated what-if servers from bench/variants.py "
        f"({', '.join(VARIANTS)}; join with + to combine): each accepted "
        "workload also runs on each, labelled uvicorn+NAME",
    )
    p.add_argument(
        "--db", default=None, help="the server's --db (default: a fresh SQLite file per workload)"
    )
    p.add_argument(
        "--server-workers",
        type=int,
        default=1,
        help="accepted serve --workers: processes of each accepted server [1]",
    )
    p.add_argument("--url", default=None, help="target a running server instead (loopback only)")
    p.add_argument(
        "--server-pid",
        type=int,
        default=None,
        help="with --url: the server's PID, for its CPU and memory figures",
    )
    p.add_argument(
        "--no-strace",
        action="store_true",
        help="do not count fsyncs (strace is the server's parent otherwise; "
        "never with --server-workers above 1)",
    )
    p.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="py-spy the server through each measured window; collapsed stacks "
        "and a summary of where the time goes go to DIR",
    )
    p.add_argument(
        "--keep", action="store_true", help="keep the work directory (databases, server logs)"
    )
    p.add_argument(
        "--smoke",
        action="store_true",
        help="CI's check that every workload still runs: tiny sizes, about a second each; "
        "exits 1 if a workload fails, errs or moves no job. Its figures mean nothing.",
    )
    return p


# --smoke: every workload at a size that proves it runs, not how fast.
SMOKE = {
    "duration": 1.0,
    "procs": 1,
    "connections": 4,
    "producers": 2,
    "workers": 2,
    "batch": 10,
    "batch_producers": 1,
    "batch_workers": 1,
    "drain_jobs": 200,
    "samples": 20,
    "idle": 100,
    "client": "python",
    "no_strace": True,
}


def _send_bench_token(variants: list[str]) -> None:
    """With the `auth` variant, every client of the run sends its token (see variants.py)."""
    if any("auth" in v.split("+") for v in variants):
        os.environ["ACCEPTED_TOKEN"] = BENCH_TOKEN


def options_from(args: argparse.Namespace, workdir: Path) -> Options:
    return Options(
        duration=args.duration,
        procs=args.procs,
        connections=args.connections,
        producers=args.producers,
        workers=args.workers,
        batch=args.batch,
        batch_producers=args.batch_producers,
        batch_workers=args.batch_workers,
        drain_jobs=args.drain_jobs,
        samples=args.samples,
        settle_ms=args.settle_ms,
        idle=args.idle,
        wrk_threads=args.wrk_threads,
        client=args.client,
        db=args.db,
        url=args.url,
        server_pid=args.server_pid,
        # strace -f stops every process at every system call: with several server
        # processes (flock turns, datagrams) it cut SQLite's throughput to a
        # quarter, so a many-process server is measured untraced.
        strace=not args.no_strace and args.server_workers == 1,
        stacks=[s.strip() for s in args.stacks.split(",") if s.strip()],
        workdir=workdir,
        profile=args.profile,
        variants=[v.strip() for v in args.variants.split(",") if v.strip()],
        server_workers=args.server_workers,
    )


def plan(bench: Bench, names: Sequence[str]) -> list[tuple[str, str, Callable[[], Result]]]:
    """Constant runs on each HTTP stack; enqueue on each stack and variant; the others
    on the first stack and each variant (variants are "uvicorn+NAME")."""
    stacks = bench.o.stacks
    variants = [f"{stacks[0]}+{v}" for v in bench.o.variants]
    steps: list[tuple[str, str, Callable[[], Result]]] = []
    for name in names:
        labels = (
            stacks
            if name == "constant"
            else [*stacks, *variants]
            if name in PER_STACK
            else [stacks[0], *variants]
        )
        method: Callable[[str], Result] = getattr(bench, name.replace("-", "_"))
        steps += [(name, s, functools.partial(method, s)) for s in labels]
    return steps


def raise_open_files_limit() -> int:
    """Idle long-polls need one descriptor per connection, here and in the server."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def problem(names: Sequence[str], options: Options) -> str | None:
    """Why these options cannot run, if they cannot."""
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        return f"unknown workload(s): {', '.join(unknown)}"
    for stack in options.stacks:
        if stack not in STACKS or (stack == "granian" and not granian_available()):
            return f"stack {stack!r} is not available (pip install granian?)"
    for variant in options.variants:
        if any(v not in VARIANTS for v in variant.split("+")) or options.stacks[0] != "uvicorn":
            return f"variant {variant!r}: unknown, or the first stack is not uvicorn"
    return None


def run_all(bench: Bench, names: Sequence[str], repeat: int) -> list[Result]:
    results: list[Result] = []
    try:
        for run in range(1, repeat + 1):
            bench.run = run
            for name, stack, step in plan(bench, names):
                print(f"# run {run}: {name} on {stack} ...", file=sys.stderr, flush=True)
                try:
                    result = step()
                except Exception as exc:  # one broken workload must not lose the others
                    result = bench.result(name, stack)
                    result.skipped = f"failed: {type(exc).__name__}: {exc}"[:300]
                results.append(result)
                print(result.json_line(), flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    return results


def report(results: Sequence[Result], repeat: int, *, targets: bool = True) -> None:
    shown = medians(results) if repeat > 1 else list(results)
    title = f"medians of {repeat} runs" if repeat > 1 else "results"
    print(f"\n{title} (latency in ms; cpu s/1k = server CPU seconds per 1,000 jobs)")
    print(table(shown))
    checks = verdicts(shown) if targets else []
    if checks:
        kinds = {r.db for r in shown}
        note = "" if kinds == {"sqlite"} else f" (set for SQLite; this run: {', '.join(kinds)})"
        print(f"\nissue 4 targets{note}")
        print("\n".join(checks))


def smoke_failures(results: Sequence[Result]) -> list[str]:
    """What a smoke run found broken: a workload that failed, erred or moved nothing."""
    found = []
    for r in results:
        if r.skipped and r.skipped.startswith("failed"):
            found.append(f"{r.workload}: {r.skipped}")
        elif r.errors:
            found.append(f"{r.workload}: {r.errors} errors, e.g. {r.error_samples[:1]}")
        elif not r.skipped and not (r.jobs or r.requests_per_s or r.latency_ms):
            found.append(f"{r.workload}: moved no job")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.smoke:
        for name, value in SMOKE.items():
            setattr(args, name, value)
    names = args.workloads or list(WORKLOADS)
    workdir = Path(tempfile.mkdtemp(prefix="accepted-bench-"))
    options = options_from(args, workdir)
    _send_bench_token(options.variants)
    trouble = problem(names, options)
    if trouble:
        print(trouble, file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)
        return 2
    limit = raise_open_files_limit()
    if "idle" in names and limit < options.idle + 1000:
        print(f"note: open-files limit {limit}; idle uses {limit - 1000}", file=sys.stderr)
        options.idle = max(0, limit - 1000)
    bench = Bench(options)
    if not bench.strace:
        print("note: fsyncs are not counted (no strace, or --no-strace)", file=sys.stderr)
    try:
        results = run_all(bench, names, args.repeat)
    finally:
        if args.keep:
            print(f"# work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report(results, args.repeat, targets=not args.smoke)
    if args.smoke:
        failures = smoke_failures(results)
        print("\n".join(["smoke: FAILED", *failures] if failures else ["smoke: ok"]))
        return 1 if failures else 0
    return 0
