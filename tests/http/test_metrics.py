"""GET /metrics: the Prometheus text exposition with SPEC's metric set, on every store."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.http.helpers import (
    Background,
    CallbackReceiver,
    enqueue,
    report,
    take,
    unique_queue,
    until,
)
from tests.http.sse import SseStream
from tests.support.servers import ServerProcess

# Also against a several-process server (tests/http/conftest.py).
pytestmark = pytest.mark.processes

SAMPLE = re.compile(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-z_]+)="((?:[^"\\]|\\.)*)"')


def scrape(http: httpx.Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of GET /metrics, by name and label set; checks the text's shape."""
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for line in response.text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-z_]+ ", line), line
            continue
        match = SAMPLE.match(line)
        assert match, line
        labels = frozenset(LABEL.findall(match.group(2) or ""))
        samples[(match.group(1), labels)] = float(match.group(3))
    return samples


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@pytest.mark.documents("metrics-200", "metrics-set")
def test_metrics_count_the_life_of_jobs_and_requests(http: httpx.Client) -> None:
    q = unique_queue()
    done = enqueue(http, q)
    failed = enqueue(http, q)
    queued = enqueue(http, q)
    for job, status in ((done, "done"), (failed, "failed")):
        taken = take(http, q)
        assert taken is not None and taken["id"] == job["id"]
        assert report(http, job["id"], status, lease=taken["lease"]).status_code == 200
    enqueue(http, q, delay="60")
    assert http.delete(f"/jobs/{queued['id']}").status_code == 200
    assert http.post(f"/queues/{q}/pause").status_code == 200

    m = scrape(http)
    assert value(m, "accepted_jobs_enqueued_total", queue=q) == 4
    assert value(m, "accepted_jobs_finished_total", queue=q, status="done") == 1
    assert value(m, "accepted_jobs_finished_total", queue=q, status="failed") == 1
    assert value(m, "accepted_jobs_finished_total", queue=q, status="cancelled") == 1
    assert value(m, "accepted_job_wait_seconds_count", queue=q) == 2
    assert value(m, "accepted_job_wait_seconds_bucket", queue=q, le="+Inf") == 2
    assert value(m, "accepted_job_run_seconds_count", queue=q) == 2  # done and failed
    # Gauges from the store: the deleted job is gone, the delayed one is counted.
    assert value(m, "accepted_jobs", queue=q, status="done") == 1
    assert value(m, "accepted_jobs", queue=q, status="failed") == 1
    assert value(m, "accepted_jobs", queue=q, status="delayed") == 1
    assert value(m, "accepted_jobs", queue=q, status="queued") == 0
    assert value(m, "accepted_queue_paused", queue=q) == 1
    assert value(m, "accepted_queue_oldest_age_seconds", queue=q) == 0
    # Requests by route (the declared path, not the job's id), method and code.
    assert value(m, "accepted_http_requests_total", route="/jobs", method="POST", code="202") == 4
    assert (
        value(m, "accepted_http_requests_total", route="/jobs/{id}", method="PUT", code="200") == 2
    )
    assert (
        value(m, "accepted_http_requests_total", route="/want_job", method="POST", code="200") == 2
    )
    assert (value(m, "accepted_http_request_duration_seconds_count", route="/jobs") or 0) >= 4


@pytest.mark.documents("metrics-retries-leases")
def test_retries_and_expired_leases_are_counted(http: httpx.Client) -> None:
    q = unique_queue()
    job = enqueue(http, q, retries=1, retry_backoff=0.01)
    taken = take(http, q)
    assert taken is not None
    assert report(http, job["id"], "failed", lease=taken["lease"]).status_code == 200
    again = take(http, q, block_for=5, timeout=0.2)  # its lease runs out in 0.2 s
    assert again is not None and again["id"] == job["id"]
    until(lambda: value(scrape(http), "accepted_leases_expired_total", queue=q) == 1)
    assert value(scrape(http), "accepted_jobs_retried_total", queue=q) == 1


@pytest.mark.documents("metrics-callbacks")
def test_callback_outcomes_are_counted(http: httpx.Client, receiver: CallbackReceiver) -> None:
    q = unique_queue()
    job = enqueue(http, q, callback_url=receiver.url)
    taken = take(http, q)
    assert taken is not None
    assert report(http, job["id"], "done", lease=taken["lease"]).status_code == 200
    receiver.wait_for(1)
    until(lambda: value(scrape(http), "accepted_callbacks_total", outcome="delivered") == 1)


@pytest.mark.documents("metrics-set")
def test_a_made_up_method_is_counted_as_other(http: httpx.Client) -> None:
    """A label per invented method would let any client grow the series without bound."""
    for method in ("PROPFIND", "LOCK"):  # methods the parser knows; the route does not
        assert http.request(method, "/jobs").status_code == 405
    m = scrape(http)
    assert value(m, "accepted_http_requests_total", route="/jobs", method="other", code="405") == 2
    assert not [labels for name, labels in m if ("method", "LOCK") in labels]


@pytest.mark.one_process  # the gauges are the scraped process's own
@pytest.mark.documents("metrics-set")
def test_the_waiter_gauges_count_result_waits_and_event_streams(
    http: httpx.Client, server: ServerProcess, runner: Background
) -> None:
    q = unique_queue()
    job = enqueue(http, q)

    def gauges() -> tuple[float | None, float | None]:
        m = scrape(http)
        return value(m, "accepted_results_waiting"), value(m, "accepted_event_streams")

    assert gauges() == (0, 0)
    waiting = runner.request("GET", f"/jobs/{job['id']}", headers={"X-Accepted-Wait-Result": "30"})
    until(lambda: gauges() == (1, 0))
    with SseStream(server.url, f"/events?queue={q}") as stream:
        assert stream.status == 200
        assert gauges() == (1, 1)  # subscribed before the answer began
        assert http.delete(f"/jobs/{job['id']}").status_code == 200
        answered = waiting.result(timeout=10).response
        assert answered.status_code == 200 and answered.json()["status"] == "cancelled"
        assert gauges() == (0, 1)
    until(lambda: gauges() == (0, 0))  # the server hears the hang-up
