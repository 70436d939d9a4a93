"""How many requests the worker runner sends: real server, real `accepted worker`.

Each test here has a server of its own (tests/conftest.py's `server`), since
it counts every request the server answered; the rest of the worker's tests
share one per backend (test_worker.py).
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator

import httpx
import pytest

from accepted.client import Client, JobStatus
from tests.e2e.workers import PATIENCE, StartWorker, start_worker
from tests.support.servers import ServerProcess

__all__ = ["start_worker"]  # the fixture, used by name


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Client]:
    with Client(server.url) as client:
        yield client


def test_a_busy_worker_reports_each_job_on_its_next_take(
    client: Client, server: ServerProcess, start_worker: StartWorker
) -> None:
    """Report and take in one request: two requests per job, not three."""
    jobs = [client.enqueue("busy", {"a": n, "b": 1}) for n in range(10)]
    worker = start_worker("add", "--queue", "busy", "--concurrency", "1")
    results = [client.wait(job.id, PATIENCE).result for job in jobs]
    assert results == [n + 1 for n in range(10)]
    requests = _requests(client, server)
    assert requests.get(("/jobs/{id}", "PUT"), 0) == 0  # no report went on its own
    assert requests[("/want_job", "POST")] in (10, 11)  # the 11th, blocked, may not have ended
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert worker.log.count("(busy) done in") == 10


def test_a_busy_worker_s_failures_ride_on_its_next_take_too(
    client: Client, server: ServerProcess, start_worker: StartWorker
) -> None:
    """A failure, to be retried or for good, rides on the next take as a result does."""
    retried = [client.enqueue("flaky-busy", {"times": 1}, retries=1, retry_backoff=0.05)
               for _ in range(3)]  # fmt: skip
    for_good = client.enqueue("flaky-busy", {"times": 9})  # no retries
    worker = start_worker("fail_first_attempts", "--queue", "flaky-busy", "--concurrency", "1")
    assert [client.wait(job.id, PATIENCE).status for job in retried] == [JobStatus.DONE] * 3
    failed = client.wait(for_good.id, PATIENCE)
    assert (failed.status, failed.attempts) == (JobStatus.FAILED, 1)
    requests = _requests(client, server)
    assert requests.get(("/jobs/{id}", "PUT"), 0) == 0  # no report went on its own
    assert requests.get(("/jobs", "PUT"), 0) == 0
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert worker.log.count("0 retries left") == 3  # the log still says a retry comes


def _requests(client: Client, server: ServerProcess) -> dict[tuple[str, str], float]:
    """Requests the server answered, by route and method, from its /metrics."""
    counts: dict[tuple[str, str], float] = {}
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    # Label values may hold braces (route="/jobs/{id}"): the labels end at the last "}".
    for match in re.finditer(r"^accepted_http_requests_total\{(.*)\} (\S+)$", text, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
        key = (labels["route"], labels["method"])
        counts[key] = counts.get(key, 0) + float(match.group(2))
    return counts
