"""Producers and workers that hammer servers over HTTP, and a ledger of what the
servers acknowledged, for the fault tests (kill -9, PostgreSQL stopped).

The ledger is what the faults are judged against:
- every job that got a 202 must exist afterwards (none lost);
- every result that got a 200 must be stored, and the job `done`;
- no hand-out is given twice: one (job, attempt) goes to one worker only, and a
  job whose `done` was acknowledged is never handed out again.

A job may legitimately be handed out again with a higher attempt number: a
worker whose report never got an answer holds a lease nobody will use, and the
job comes back when it runs out. That is at-least-once delivery, not a double.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx

from tests.http.helpers import get, until

QUEUE = "load"
LEASE = 2.0  # seconds: jobs orphaned by a fault come back soon when draining


class Ledger:
    """What the servers acknowledged and handed out, written by many client threads."""

    def __init__(self) -> None:
        self.jobs: set[str] = set()
        self.results: dict[str, tuple[int, Any]] = {}  # id -> (attempt, result)
        self.handouts: Counter[tuple[str, int]] = Counter()
        self.statuses: Counter[int] = Counter()  # every answer's status, 0 for no answer
        self.other_errors: list[str] = []  # answers with a status but not the JSON error shape
        self._changed = threading.Condition()

    def job(self, job_id: str) -> None:
        with self._changed:
            self.jobs.add(job_id)
            self._changed.notify_all()

    def handout(self, job: dict[str, Any]) -> None:
        with self._changed:
            self.handouts[(job["id"], job["attempts"])] += 1

    def result(self, job_id: str, attempt: int, result: Any) -> None:
        with self._changed:
            self.results[job_id] = (attempt, result)
            self._changed.notify_all()

    def answer(self, response: httpx.Response | None) -> None:
        with self._changed:
            self.statuses[0 if response is None else response.status_code] += 1
            if response is not None and response.status_code >= 500:
                code = _error_code(response)
                if code != "store_unavailable":
                    self.other_errors.append(f"{response.status_code} {response.text[:200]}")

    def count(self, status: int) -> int:
        with self._changed:
            return self.statuses[status]

    def wait_until(self, jobs: int, results: int, timeout: float) -> None:
        """Block until at least this many jobs and results were acknowledged in total."""
        with self._changed:
            done = self._changed.wait_for(
                lambda: len(self.jobs) >= jobs and len(self.results) >= results, timeout
            )
        assert done, f"only {len(self.jobs)} jobs and {len(self.results)} results acknowledged"

    def doubles(self) -> list[str]:
        """Hand-outs given twice: the same attempt twice, or any after an acknowledged done."""
        twice = [f"{i} attempt {n} x{c}" for (i, n), c in self.handouts.items() if c > 1]
        after = [
            f"{i} attempt {n} after done at attempt {self.results[i][0]}"
            for (i, n) in self.handouts
            if i in self.results and n > self.results[i][0]
        ]
        return twice + after


def _error_code(response: httpx.Response) -> str | None:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


def produce(url: str, n: int, ledger: Ledger, stop: threading.Event) -> None:
    """Enqueue numbered jobs until `stop`, through refusals and a vanished server."""
    with httpx.Client(base_url=url, timeout=10.0) as client:
        i = 0
        while not stop.is_set():
            response = _call(client, ledger, "POST", "/jobs",
                             json={"queue": QUEUE, "params": [n, i]})
            if response is not None and response.status_code == 202:
                ledger.job(response.json()["id"])
            i += 1


def work(url: str, n: int, ledger: Ledger, stop: threading.Event) -> None:
    """Take jobs and report them done until `stop`, through refusals and a vanished server."""
    with httpx.Client(base_url=url, timeout=10.0) as client:
        while not stop.is_set():
            taken = _call(client, ledger, "POST", "/want_job", params={"queue": QUEUE},
                          headers={"X-Accepted-Block-For": "0.5",
                                   "X-Accepted-Timeout": str(LEASE)})
            if taken is None or taken.status_code != 200:
                continue
            job = taken.json()
            ledger.handout(job)
            result = {"worker": n, "params": job["params"]}
            done = _call(client, ledger, "PUT", f"/jobs/{job['id']}",
                         json={"status": "done", "result": result},
                         headers={"X-Accepted-Lease": job["lease"]})
            if done is not None and done.status_code == 200:
                ledger.result(job["id"], job["attempts"], result)


def _call(client: httpx.Client, ledger: Ledger, method: str, path: str,
          **kwargs: Any) -> httpx.Response | None:
    """One request; None when no answer came (refused, reset or timed out)."""
    try:
        response = client.request(method, path, **kwargs)
    except httpx.TransportError:
        response = None
        stop_briefly()
    ledger.answer(response)
    return response


def stop_briefly() -> None:
    """After a failed connection: a short pause, so a dead port is not spun on."""
    threading.Event().wait(0.05)


Role = Callable[[str, int, Ledger, threading.Event], None]


@contextmanager
def load(urls: Sequence[str], ledger: Ledger, producers: int = 3,
         workers: int = 3) -> Iterator[None]:
    """Producers and workers spread over `urls`, running until the block ends."""
    stop = threading.Event()
    roles: list[tuple[Role, int]] = [
        *((produce, n) for n in range(producers)),
        *((work, n) for n in range(workers)),
    ]
    threads = [
        threading.Thread(target=role, args=(urls[i % len(urls)], n, ledger, stop))
        for i, (role, n) in enumerate(roles)
    ]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert not any(thread.is_alive() for thread in threads), "a client thread hung"


def drain(url: str, ledger: Ledger, timeout: float = 30.0) -> None:
    """Finish every job left (orphaned leases come back within LEASE), then
    check the ledger: nothing acknowledged lost, nothing handed out twice."""
    stop = threading.Event()
    with httpx.Client(base_url=url, timeout=10.0) as client:

        def empty() -> bool:
            counts = client.get(f"/queues/{QUEUE}").json()["counts"]
            return sum(counts[s] for s in ("delayed", "queued", "running")) == 0

        worker = threading.Thread(target=work, args=(url, 99, ledger, stop))
        worker.start()
        try:
            until(empty, timeout=timeout, interval=0.2)
        finally:
            stop.set()
            worker.join(30)
        check(client, ledger)


def check(client: httpx.Client, ledger: Ledger) -> None:
    """Every acknowledged job is there, every acknowledged result stored, no doubles."""
    assert ledger.doubles() == []
    missing = [i for i in ledger.jobs if client.get(f"/jobs/{i}").status_code != 200]
    assert missing == []
    for job_id, (_, result) in ledger.results.items():
        job = get(client, job_id)
        assert (job["status"], job["result"]) == ("done", result), job_id
