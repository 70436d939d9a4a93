"""This process's counters and histograms, and their Prometheus text exposition.

Our own small registry rather than `prometheus_client`, for two reasons:

- **The hot path.** Counting is a dict update keyed by the label values
  (`inc("emails")`), on the event loop, without the lock and the per-call
  `labels()` lookup of the library's thread-safe metric objects. An enqueue,
  a hand-out and a report each count a few times; that must cost well under
  the 5 % the issue allows.
- **Several processes later.** A metric's whole state is a plain mapping of
  label tuples to numbers (`snapshot()`), which sums across processes by key
  (`merge`) and travels over any local channel, without the library's
  multiprocess mode (a shared directory of mmap'd files per metric and a
  special collector).

Gauges of jobs are not here: they are read from the store at scrape time
(`http/metrics.py`), so every node and process shows the same.

Callback outcomes are counted where they are recorded,
`Maintenance.callback_outcome` and `callback_refused`, with
`metrics.callback("delivered" | "retried" | "given_up" | "refused")`: a new
way for a delivery to end calls it once with its outcome.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence

Labels = tuple[str, ...]

# Seconds: from a millisecond hand-off to a job that waited or ran for hours.
JOB_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Counter:
    kind = "counter"

    def __init__(self, name: str, help: str, labels: Sequence[str]) -> None:
        self.name, self.help, self.labels = name, help, tuple(labels)
        self.values: dict[Labels, float] = {}

    def inc(self, *labels: str, amount: float = 1) -> None:
        values = self.values
        values[labels] = values.get(labels, 0) + amount

    def samples(self) -> Iterable[tuple[str, Labels, Labels, float]]:
        for key, value in sorted(self.values.items()):
            yield self.name, self.labels, key, value

    def merge(self, other: dict[Labels, float]) -> None:
        for key, value in other.items():
            self.inc(*key, amount=value)


class Histogram:
    """Counts per bucket (not cumulative until exposed), plus sum and count, per label set."""

    kind = "histogram"

    def __init__(
        self, name: str, help: str, labels: Sequence[str], buckets: Sequence[float]
    ) -> None:
        self.name, self.help, self.labels = name, help, tuple(labels)
        self.buckets = tuple(buckets)
        # Per label set: [count in bucket 0, ..., count above the last, sum].
        self.values: dict[Labels, list[float]] = {}

    def observe(self, value: float, *labels: str) -> None:
        row = self.values.get(labels)
        if row is None:
            row = self.values[labels] = [0.0] * (len(self.buckets) + 2)
        row[bisect_left(self.buckets, value)] += 1
        row[-1] += value

    def samples(self) -> Iterable[tuple[str, Labels, Labels, float]]:
        names = (*self.labels, "le")
        bounds = [_number(b) for b in self.buckets] + ["+Inf"]
        for key, row in sorted(self.values.items()):
            total = 0.0
            for bound, count in zip(bounds, row[:-1], strict=True):
                total += count
                yield f"{self.name}_bucket", names, (*key, bound), total
            yield f"{self.name}_sum", self.labels, key, row[-1]
            yield f"{self.name}_count", self.labels, key, total

    def merge(self, other: dict[Labels, list[float]]) -> None:
        for key, row in other.items():
            mine = self.values.setdefault(key, [0.0] * len(row))
            for i, value in enumerate(row):
                mine[i] += value


Metric = Counter | Histogram


class Metrics:
    """The counters and histograms of SPEC "Metrics", with a verb for each thing counted."""

    def __init__(self) -> None:
        self.enqueued = Counter(
            "accepted_jobs_enqueued_total", "Jobs enqueued on this node.", ["queue"]
        )
        self.finished = Counter(
            "accepted_jobs_finished_total",
            "Jobs that became done, failed or cancelled on this node.",
            ["queue", "status"],
        )
        self.retried = Counter(
            "accepted_jobs_retried_total",
            "Failed hand-outs queued for another try (retries with backoff, POST retry).",
            ["queue"],
        )
        self.leases_expired = Counter(
            "accepted_leases_expired_total",
            "Running jobs whose lease ran out, found by this node's reaper.",
            ["queue"],
        )
        self.callbacks = Counter(
            "accepted_callbacks_total", "Callback delivery attempts by outcome.", ["outcome"]
        )
        self.http_requests = Counter(
            "accepted_http_requests_total",
            "HTTP requests answered, by route, method and status code.",
            ["route", "method", "code"],
        )
        self.wait = Histogram(
            "accepted_job_wait_seconds",
            "Seconds from a job's due time to its hand-out.",
            ["queue"],
            JOB_BUCKETS,
        )
        self.run = Histogram(
            "accepted_job_run_seconds",
            "Seconds from a job's hand-out to its final status.",
            ["queue"],
            JOB_BUCKETS,
        )
        self.http_duration = Histogram(
            "accepted_http_request_duration_seconds",
            "Seconds from a request's arrival to the end of its answer (long-polls "
            "and event streams included).",
            ["route"],
            HTTP_BUCKETS,
        )
        self.all: tuple[Metric, ...] = (
            self.enqueued,
            self.finished,
            self.retried,
            self.leases_expired,
            self.wait,
            self.run,
            self.callbacks,
            self.http_requests,
            self.http_duration,
        )

    def callback(self, outcome: str) -> None:
        """One callback delivery attempt ended: delivered, retried, given_up or refused."""
        self.callbacks.inc(outcome)

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        """One HTTP request answered (a `RequestSink` of http/observe.py)."""
        self.http_requests.inc(route, method, str(status))
        self.http_duration.observe(seconds, route)

    def snapshot(self) -> dict[str, dict[Labels, object]]:
        """Every metric's values by name: what another process adds to its own with `merge`."""
        return {m.name: dict(m.values) for m in self.all}

    def merge(self, snapshot: dict[str, dict[Labels, object]]) -> None:
        for metric in self.all:
            metric.merge(snapshot.get(metric.name, {}))  # type: ignore[arg-type]


def exposition(metrics: Iterable[Metric | Gauge]) -> str:
    """The Prometheus text format (version 0.0.4) of `metrics`."""
    lines: list[str] = []
    for metric in metrics:
        lines.append(f"# HELP {metric.name} {_escape_help(metric.help)}")
        lines.append(f"# TYPE {metric.name} {metric.kind}")
        for name, names, values, value in metric.samples():
            lines.append(f"{name}{_labels(names, values)} {_number(value)}")
    return "\n".join(lines) + "\n"


class Gauge:
    """A value per label set, set at scrape time (the store's counts)."""

    kind = "gauge"

    def __init__(self, name: str, help: str, labels: Sequence[str]) -> None:
        self.name, self.help, self.labels = name, help, tuple(labels)
        self.values: dict[Labels, float] = {}

    def set(self, value: float, *labels: str) -> None:
        self.values[labels] = value

    def samples(self) -> Iterable[tuple[str, Labels, Labels, float]]:
        for key, value in sorted(self.values.items()):
            yield self.name, self.labels, key, value


def _labels(names: Labels, values: Labels) -> str:
    if not names:
        return ""
    pairs = ",".join(f'{n}="{_escape_value(v)}"' for n, v in zip(names, values, strict=True))
    return "{" + pairs + "}"


def _escape_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))
