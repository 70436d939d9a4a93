"""GET /metrics: this node's counters and histograms, and the store's gauges, for Prometheus.

The gauges of jobs (by queue and status, the oldest queued age, paused) are
read from the store at each scrape through the queue service's cheap counts,
so every node answers the same for them; counters and histograms are this
node's own (SPEC: counters are per node): on a several-process server, the
sum over its processes (`metrics_share.py`), whichever process is scraped.
"""

from __future__ import annotations

from collections.abc import Sequence

from accepted.http.context import Context
from accepted.http.request import Request, Response
from accepted.metrics import Gauge, exposition
from accepted.queries import Queue

CONTENT_TYPE = (b"content-type", b"text/plain; version=0.0.4; charset=utf-8")


async def metrics(ctx: Context, request: Request) -> Response:
    assert ctx.queues is not None, "create_app sets the queue service"
    queues = await ctx.queues.list_queues(ctx.clock())
    counted = ctx.service.metrics if ctx.node_metrics is None else await ctx.node_metrics.total()
    signals = ctx.service.signals
    waiters = waiter_gauges(signals.takers.waiting(), len(signals.results), signals.events.count)
    text = exposition([*queue_gauges(queues), *waiters, *counted.all])
    return Response(200, text.encode(), [CONTENT_TYPE])


def queue_gauges(queues: Sequence[Queue]) -> list[Gauge]:
    jobs = Gauge(
        "accepted_jobs", "Jobs now, by queue and status (from the store).", ["queue", "status"]
    )
    oldest = Gauge(
        "accepted_queue_oldest_age_seconds",
        "Seconds since the longest-waiting due queued job became due (0 when none).",
        ["queue"],
    )
    paused = Gauge("accepted_queue_paused", "1 while the queue is paused.", ["queue"])
    for queue in queues:
        for status, count in queue.counts.items():
            jobs.set(count, queue.name, status)
        oldest.set(queue.oldest_queued_age or 0.0, queue.name)
        paused.set(1 if queue.paused else 0, queue.name)
    return [jobs, oldest, paused]


def waiter_gauges(takers: int, results: int, streams: int) -> list[Gauge]:
    """Who waits on the scraped process: blocked takers, result waits, event streams.

    Per process, not summed: they show whether a worker is parked or a client
    is waiting (what an operator sizing the fleet asks, and what a test awaits
    before it acts)."""
    table = [
        ("accepted_takers_waiting", "Takers blocked waiting for a job (this process).", takers),
        (
            "accepted_results_waiting",
            "Requests waiting for a job's result (this process).",
            results,
        ),
        ("accepted_event_streams", "Open event streams (this process).", streams),
    ]
    gauges = []
    for name, text, value in table:
        gauge = Gauge(name, text, [])
        gauge.set(value)
        gauges.append(gauge)
    return gauges
