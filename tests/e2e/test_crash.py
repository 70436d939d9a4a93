"""kill -9 in the middle of concurrent work loses nothing the server acknowledged.

Producers enqueue and workers take and finish jobs as fast as they can while
the server is killed outright; after a restart on the same database every job
that got a 202 is there and every result that got a 200 is stored. Leases and
pending callbacks held at the crash carry on after it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.http.helpers import CallbackReceiver, enqueue, get, report, take, until
from tests.support.servers import ServerProcess

PRODUCERS = 3
WORKERS = 3


class Ledger:
    """What the server acknowledged, written by many client threads."""

    def __init__(self) -> None:
        self.jobs: set[str] = set()
        self.results: dict[str, Any] = {}
        self._changed = threading.Condition()

    def job(self, job_id: str) -> None:
        with self._changed:
            self.jobs.add(job_id)
            self._changed.notify_all()

    def result(self, job_id: str, result: Any) -> None:
        with self._changed:
            self.results[job_id] = result
            self._changed.notify_all()

    def wait_until(self, jobs: int, results: int, timeout: float) -> None:
        with self._changed:
            self._changed.wait_for(
                lambda: len(self.jobs) >= jobs and len(self.results) >= results, timeout
            )


def _produce(url: str, n: int, ledger: Ledger, stop: threading.Event) -> None:
    with httpx.Client(base_url=url, timeout=10.0) as client:
        i = 0
        while not stop.is_set():
            try:
                response = client.post("/jobs", json={"queue": "crash", "params": [n, i]})
            except httpx.TransportError:
                return  # the server is gone: whatever was not acknowledged may be lost
            if response.status_code == 202:
                ledger.job(response.json()["id"])
            i += 1


def _work(url: str, n: int, ledger: Ledger, stop: threading.Event) -> None:
    with httpx.Client(base_url=url, timeout=10.0) as client:
        while not stop.is_set():
            try:
                job = take(client, "crash", block_for=0.5)
                if job is None:
                    continue
                result = {"worker": n, "params": job["params"]}
                response = report(client, job["id"], "done", result, lease=job["lease"])
            except (httpx.TransportError, AssertionError):
                return
            if response.status_code == 200:
                ledger.result(job["id"], result)


def test_kill_9_during_enqueues_and_takes_loses_nothing_acknowledged(
    server: ServerProcess,
) -> None:
    ledger, stop = Ledger(), threading.Event()
    roles: list[tuple[Callable[..., None], int]] = [
        *((_produce, n) for n in range(PRODUCERS)),
        *((_work, n) for n in range(WORKERS)),
    ]
    threads = [
        threading.Thread(target=role, args=(server.url, n, ledger, stop)) for role, n in roles
    ]
    for thread in threads:
        thread.start()
    try:
        ledger.wait_until(jobs=300, results=100, timeout=30)
        server.kill()  # mid-flight: every thread is in a request or about to send one
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
    assert len(ledger.jobs) >= 300 and len(ledger.results) >= 100

    server.restart()
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        missing = [i for i in ledger.jobs if client.get(f"/jobs/{i}").status_code != 200]
        assert missing == []
        for job_id, result in ledger.results.items():
            job = get(client, job_id)
            assert (job["status"], job["result"]) == ("done", result), job_id
        assert client.get("/healthz").status_code == 200


def test_a_lease_held_at_the_crash_still_expires_after_the_restart(
    server: ServerProcess, http: httpx.Client
) -> None:
    job = enqueue(http, "leased")
    held = take(http, "leased", timeout=2.0)
    assert held is not None
    expires = time.time() + 2.0
    server.kill()
    server.restart()
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        if time.time() < expires - 0.3:
            assert take(client, "leased") is None  # still held by its worker
        again = take(client, "leased", block_for=15)
        assert again is not None
        assert (again["id"], again["attempts"]) == (job["id"], 2)
        assert again["lease"] != held["lease"]
        stale = report(client, job["id"], "done", lease=held["lease"])
        assert stale.status_code == 409


def test_a_pending_callback_is_delivered_after_the_restart(server: ServerProcess) -> None:
    receiver = CallbackReceiver(answers=[500] * 100).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10.0) as client:
            job = enqueue(client, "cb", callback_url=receiver.url)
            take(client, "cb")
            assert report(client, job["id"], "done", "r").status_code == 200
            receiver.wait_for(1)
            until(lambda: get(client, job["id"])["callback"]["attempts"] >= 1)
        server.kill()
        receiver.answers.clear()  # from now on the receiver answers 200
        seen = len(receiver.deliveries)
        server.restart()
        receiver.wait_for(seen + 1, timeout=20)
        with httpx.Client(base_url=server.url, timeout=10.0) as client:
            delivered = until(
                lambda: (j := get(client, job["id"]))["callback"]["state"] == "delivered" and j,
                timeout=10,
            )
        assert delivered["status"] == "done" and delivered["result"] == "r"
    finally:
        receiver.stop()
