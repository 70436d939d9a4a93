"""One result per workload run: its JSON line, the readable table, the medians
of repeated runs, and the issue's targets checked against them."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.loadgen import Tally
from bench.servers import Snapshot


@dataclass
class Result:
    workload: str
    stack: str = "uvicorn"
    db: str = "sqlite"
    run: int = 1
    skipped: str | None = None
    seconds: float | None = None
    jobs: int | None = None
    jobs_per_s: float | None = None
    requests_per_s: float | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)
    server_cpu_s_per_1k_jobs: float | None = None
    server_cpu_util: float | None = None  # CPU seconds per wall second (1.0 = one core)
    fsyncs_per_1k_jobs: float | None = None
    client_cpu_util: float | None = None
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    client: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def json_line(self) -> str:
        values = {k: v for k, v in asdict(self).items() if v not in (None, {}, [], "")}
        return json.dumps(values, sort_keys=False)

    def server_figures(self, before: Snapshot, after: Snapshot) -> None:
        """CPU and fsyncs per 1,000 jobs between two server snapshots."""
        wall = after.at - before.at
        jobs = self.jobs or 0
        if before.cpu_seconds is not None and after.cpu_seconds is not None:
            cpu = after.cpu_seconds - before.cpu_seconds
            self.server_cpu_util = _round(cpu / wall) if wall > 0 else None
            self.server_cpu_s_per_1k_jobs = _round(cpu / jobs * 1000, 3) if jobs else None
        if before.main_thread_cpu is not None and after.main_thread_cpu is not None and jobs:
            main = after.main_thread_cpu - before.main_thread_cpu
            self.extra["loop_thread_cpu_s_per_1k"] = _round(main / jobs * 1000, 3)
        if before.fsyncs is not None and after.fsyncs is not None and jobs:
            self.fsyncs_per_1k_jobs = _round((after.fsyncs - before.fsyncs) / jobs * 1000)

    def from_tallies(self, tallies: Sequence[Tally], seconds: float) -> None:
        """Throughput over `seconds` and latency percentiles from the clients' tallies."""
        latencies = [x for t in tallies for x in t.latencies]
        self.seconds = _round(seconds)
        self.jobs = sum(t.counts["jobs"] for t in tallies)
        self.jobs_per_s = _round(self.jobs / seconds) if seconds > 0 else None
        self.requests_per_s = _round(len(latencies) / seconds) if seconds > 0 else None
        self.latency_ms = percentiles_ms(latencies)
        self.errors = sum(t.counts["errors"] for t in tallies)
        self.error_samples = [e for t in tallies for e in t.errors][:5]


def percentiles_ms(samples: Iterable[float]) -> dict[str, float]:
    ordered = sorted(samples)
    if not ordered:
        return {}

    def rank(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]

    return {
        "p50": _round(rank(50) * 1000, 3),
        "p90": _round(rank(90) * 1000, 3),
        "p99": _round(rank(99) * 1000, 3),
        "max": _round(ordered[-1] * 1000, 3),
        "n": len(ordered),
    }


def _round(value: float, digits: int = 2) -> float:
    return round(value, digits)


# -- the table -----------------------------------------------------------------

_COLUMNS = (
    "workload",
    "stack",
    "jobs/s",
    "req/s",
    "p50 ms",
    "p99 ms",
    "cpu s/1k",
    "fsync/1k",
    "notes",
)


def _row(r: Result) -> list[str]:
    if r.skipped:
        return [r.workload, r.stack, "-", "-", "-", "-", "-", "-", "skipped: " + r.skipped]
    lat = r.latency_ms
    return [
        r.workload,
        r.stack,
        _fmt(r.jobs_per_s, 0),
        _fmt(r.requests_per_s, 0),
        _fmt(lat.get("p50"), 3),
        _fmt(lat.get("p99"), 3),
        _fmt(r.server_cpu_s_per_1k_jobs, 3),
        _fmt(r.fsyncs_per_1k_jobs, 1),
        notes(r),
    ]


def notes(r: Result) -> str:
    parts = [f"{k}={v}" for k, v in r.extra.items() if not isinstance(v, dict | list)]
    if r.server_cpu_util is not None:
        parts.append(f"server_cpu={r.server_cpu_util:.2f}")
    if r.errors:
        parts.append(f"ERRORS={r.errors}")
    return " ".join(parts)


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table(results: Sequence[Result]) -> str:
    rows = [list(_COLUMNS)] + [_row(r) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS) - 1)]
    lines = []
    for n, row in enumerate(rows):
        cells = [
            c.rjust(w) if 1 < i < len(widths) else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=False))
        ]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
        if n == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


# -- medians of repeated runs ----------------------------------------------------


def medians(results: Sequence[Result]) -> list[Result]:
    """One result per (workload, stack): the median of each figure over the runs."""
    groups: dict[tuple[str, str], list[Result]] = {}
    for r in results:
        groups.setdefault((r.workload, r.stack), []).append(r)
    merged = []
    for (workload, stack), runs in groups.items():
        done = [r for r in runs if not r.skipped]
        if not done:
            merged.append(runs[0])
            continue
        m = Result(workload, stack, done[0].db, run=0, client=done[0].client)
        m.jobs_per_s = _median([r.jobs_per_s for r in done])
        m.requests_per_s = _median([r.requests_per_s for r in done])
        m.server_cpu_s_per_1k_jobs = _median([r.server_cpu_s_per_1k_jobs for r in done])
        m.server_cpu_util = _median([r.server_cpu_util for r in done])
        m.fsyncs_per_1k_jobs = _median([r.fsyncs_per_1k_jobs for r in done])
        for key in ("p50", "p90", "p99", "max"):
            value = _median([r.latency_ms.get(key) for r in done])
            if value is not None:
                m.latency_ms[key] = value
        for key in done[0].extra:
            values = [r.extra.get(key) for r in done]
            if all(isinstance(v, int | float) for v in values):
                m.extra[key] = _median(values)
        m.errors = sum(r.errors for r in done)
        m.extra["runs"] = len(done)
        merged.append(m)
    return merged


def _median(values: Sequence[Any]) -> Any:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


# -- the targets ----------------------------------------------------------


def verdicts(results: Sequence[Result]) -> list[str]:
    """The issue's targets, each with the measured figure and met / NOT met."""
    by = {(r.workload, r.stack): r for r in results if not r.skipped}
    lines = []

    def check(label: str, value: float | None, ok: bool | None, shown: str) -> None:
        state = "n/a" if value is None or ok is None else ("met" if ok else "NOT met")
        lines.append(f"{label:<72} {shown:<24} {state}")

    stacks = sorted({s for _, s in by if "+" not in s})  # variants are no candidates
    for stack in stacks:
        enq = by.get(("enqueue", stack))
        if enq is None:
            continue
        ratio = enq.extra.get("ratio_to_constant")
        check(
            f"enqueue >= 70% of constant ({stack})",
            ratio,
            None if ratio is None else ratio >= 0.70,
            "-" if ratio is None else f"{ratio:.0%}",
        )
    # Each form of the full cycle on its own line: PUT after want_job is 3 requests
    # per job (per batch), the report riding on the next want_job 2.
    single, batch = "full cycle, single requests", "full cycle, batch calls"
    forms = (
        ("cycle", f"{single} (3 per job)", 3600),
        ("cycle-report-take", f"{single} (2 per job, report-and-take)", 3600),
        ("cycle-batch", f"{batch} (3 per batch)", 13000),
        ("cycle-batch-report-take", f"{batch} (2 per batch, report-and-take)", 13000),
    )
    for workload, label, target in forms:
        _throughput(check, by.get((workload, "uvicorn")), label, target)
    wake = by.get(("wake", "uvicorn"))
    if wake is not None:
        p50, p99 = wake.latency_ms.get("p50"), wake.latency_ms.get("p99")
        check(
            "blocked worker wake-up p50 <= 1 ms, p99 <= 2 ms",
            p50,
            None if p50 is None or p99 is None else p50 <= 1 and p99 <= 2,
            f"p50 {p50} / p99 {p99} ms",
        )
    wait = by.get(("wait-result", "uvicorn"))
    if wait is not None:
        p99 = wait.latency_ms.get("p99")
        check(
            "wait-for-result wake-up p99 <= 2 ms",
            p99,
            None if p99 is None else p99 <= 2,
            f"p99 {p99} ms",
        )
    idle = by.get(("idle", "uvicorn"))
    if idle is not None:
        rss, ratio = idle.extra.get("rss_mib_with_idle"), idle.extra.get("p99_ratio")
        check(
            f"{idle.extra.get('idle', '?')} idle long-polls: RSS < 300 MiB",
            rss,
            None if rss is None else rss < 300,
            f"{rss} MiB",
        )
        check(
            "  other requests' p99 within 2x",
            ratio,
            None if ratio is None else ratio <= 2,
            f"x{ratio}",
        )
    return lines


def _throughput(check: Any, r: Result | None, label: str, target: float) -> None:
    if r is not None:
        v = r.jobs_per_s
        check(
            f"{label} >= {target:,} jobs/s",
            v,
            None if v is None else v >= target,
            "-" if v is None else f"{v:,.0f} jobs/s",
        )
