"""kill -9 in the middle of concurrent work loses nothing the server acknowledged.

Producers enqueue and workers take and finish jobs as fast as they can while
the server is killed outright and restarted, round after round; in the end
every job that got a 202 is there, every result that got a 200 is stored, and
no hand-out was given twice (tests/e2e/load.py keeps the ledger). Leases and
pending callbacks held at the crash carry on after it.
"""

from __future__ import annotations

import time

import httpx

from tests.e2e.load import Ledger, drain, load
from tests.http.helpers import CallbackReceiver, enqueue, get, report, take, until
from tests.support.servers import ServerProcess

ROUNDS = 4


def test_kill_9_rounds_under_load_lose_nothing_acknowledged_and_double_nothing(
    server: ServerProcess,
) -> None:
    """Start, load, SIGKILL, restart, several times, with the clients running throughout."""
    ledger = Ledger()
    with load([server.url], ledger):
        for round_ in range(1, ROUNDS + 1):
            # Each round gets real work in flight before the kill: every client
            # thread is in a request or about to send one.
            ledger.wait_until(jobs=150 * round_, results=50 * round_, timeout=30)
            server.kill()
            server.restart()
    assert ledger.count(0) > 0  # the kills did cut requests off
    assert ledger.other_errors == []
    drain(server.url, ledger)
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
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
