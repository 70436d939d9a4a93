"""`accepted serve --workers 2` on one SQLite file: the processes act as one queue.

Each test pins a connection to each child (tests/support/processes.py), so
"a taker in one process, the enqueue in another" is what happens, not what
the kernel may happen to choose. The processes' own re-checks are set to a
minute: only the local link between them can answer the waits here, so these
tests fail when it is broken.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.load import Ledger, drain, load
from tests.http.helpers import enqueue, get, report, settle, take, until
from tests.http.sse import SseStream
from tests.support.databases import database, skip_without_postgres
from tests.support.processes import children, holder, one_client_per_process, serving_process
from tests.support.servers import ServerProcess

# Re-checks too late to pass for a wake-up within the waits below.
DEAF_TO_RECHECKS = {"ACCEPTED_SHARED_RECHECK": "60"}
WAIT = "10"  # seconds a long-poll waits: far less than a re-check


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(db=str(tmp_path / "accepted.db"), log_path=tmp_path / "server.log",
                         env=DEAF_TO_RECHECKS, workers=2).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def pinned(server: ServerProcess) -> Iterator[list[httpx.Client]]:
    """Two clients, each kept alive on a different child."""
    clients = one_client_per_process(server)
    try:
        yield list(clients.values())
    finally:
        for client in clients.values():
            client.close()


@pytest.mark.documents("workers")
def test_a_taker_in_one_process_is_woken_by_an_enqueue_in_another(
    pinned: list[httpx.Client],
) -> None:
    with ThreadPoolExecutor(1) as pool:
        for taker, producer in (pinned, pinned[::-1]):
            q = f"wake-{id(taker)}"
            waiting = pool.submit(take, taker, q, block_for=WAIT)
            settle()  # the taker is blocked before the job exists
            job = enqueue(producer, q)
            taken = waiting.result(timeout=30)
            assert taken is not None and taken["id"] == job["id"]


def test_a_result_wait_in_one_process_answers_when_another_finishes_the_job(
    pinned: list[httpx.Client],
) -> None:
    waiter, worker = pinned
    job = enqueue(worker, "results")
    assert take(worker, "results") is not None
    with ThreadPoolExecutor(1) as pool:
        # A wait that would end with the job as it is anyway, after 50 s: the
        # answer must come long before, from the other process's notice.
        waiting = pool.submit(waiter.get, f"/jobs/{job['id']}",
                              headers={"X-Accepted-Wait-Result": "50"})
        settle()
        assert report(worker, job["id"], "done", {"answer": 42}).status_code == 200
        answer = waiting.result(timeout=float(WAIT)).json()
    assert (answer["status"], answer["result"]) == ("done", {"answer": 42})


def test_result_waits_in_every_process_answer_a_bulk_delete(
    pinned: list[httpx.Client],
) -> None:
    job = enqueue(pinned[0], "bulk-gone")
    with ThreadPoolExecutor(len(pinned)) as pool:
        # One wait on each process: whichever serves the delete, the other
        # hears of it only over the local link (its re-check is a minute away).
        waits = [pool.submit(client.get, f"/jobs/{job['id']}",
                             headers={"X-Accepted-Wait-Result": "50"})
                 for client in pinned]
        settle()
        deleted = pinned[0].post("/jobs/bulk", json={"action": "delete",
                                                     "filter": {"ids": [job["id"]]}})
        assert deleted.status_code == 200, deleted.text
        answers = [wait.result(timeout=float(WAIT)) for wait in waits]
    assert [(a.status_code, a.json()["status"]) for a in answers] == [(200, "cancelled")] * 2


def test_an_event_stream_in_one_process_sees_changes_made_in_another(
    server: ServerProcess, pinned: list[httpx.Client],
) -> None:
    worker = pinned[0]
    other = serving_process(server, pinned[1])
    for _ in range(50):  # a stream on the process that does not do the work
        stream = SseStream(server.url, "/events?queue=seen", timeout=float(WAIT))
        port = stream.sock.getsockname()[1]
        if until(lambda p=port: holder(server, p), timeout=10) == other:
            break
        stream.close()
    else:
        raise AssertionError("no event stream reached the other process")
    with stream:
        job = enqueue(worker, "seen")
        assert take(worker, "seen") is not None
        assert report(worker, job["id"], "done", "ok").status_code == 200
        statuses = []
        while not statuses or statuses[-1] != "done":
            event = stream.next_event()
            assert event is not None, statuses
            assert event.job["id"] == job["id"]
            statuses.append(event.job["status"])
    # Every status, in order: the other process sends the jobs themselves while one listens.
    assert statuses == ["queued", "running", "done"]


def test_metrics_add_up_the_processes_whichever_is_scraped(
    pinned: list[httpx.Client],
) -> None:
    for n, client in enumerate(pinned, start=1):
        for _ in range(n):  # one job through the first process, two through the second
            enqueue(client, "counted")
    for client in pinned:
        text = client.get("/metrics").text
        assert 'accepted_jobs_enqueued_total{queue="counted"} 3' in text.splitlines()


@pytest.mark.documents("workers")
def test_a_killed_child_is_replaced_the_others_serve_and_the_file_stays_locked(
    server: ServerProcess, pinned: list[httpx.Client], tmp_path: Path,
) -> None:
    survivor, doomed = pinned
    victim = serving_process(server, doomed)
    job = enqueue(survivor, "kept")
    subprocess.run(["kill", "-9", str(victim)], check=True)
    assert get(survivor, job["id"])["status"] == "queued"  # the other child answers meanwhile
    until(lambda: len(children(server)) == 2 and victim not in children(server), timeout=20)
    assert "starting it again at once" in server.log_path.read_text()  # not "in 0.0 s"
    # Another server on the same file is still refused, while the node is whole again.
    second = subprocess.run(
        [sys.executable, "-m", "accepted", "serve", "--workers", "1", "--port", "0",
         "--db", server.db],
        capture_output=True, text=True, timeout=60,
    )
    assert second.returncode != 0
    assert "in use by another accepted server" in second.stderr
    with httpx.Client(base_url=server.url, timeout=10.0) as fresh:
        assert take(fresh, "kept")["id"] == job["id"]  # type: ignore[index]


def test_kill_9_of_one_child_under_load_loses_nothing_acknowledged_and_doubles_nothing(
    server: ServerProcess,
) -> None:
    ledger = Ledger()
    with load([server.url], ledger, producers=3, workers=3):
        for round_ in (1, 2):
            ledger.wait_until(jobs=150 * round_, results=50 * round_, timeout=30)
            victim = children(server)[round_ % 2]
            subprocess.run(["kill", "-9", str(victim)], check=True)
            until(lambda v=victim: len(children(server)) == 2 and v not in children(server),
                  timeout=20)
    assert ledger.other_errors == []
    drain(server.url, ledger)


@pytest.mark.documents("workers")
def test_a_stop_signal_stops_every_child_and_a_dead_parent_takes_them_along(
    tmp_path: Path,
) -> None:
    server = ServerProcess(db=str(tmp_path / "a.db"), log_path=tmp_path / "a.log",
                           workers=2, env={"ACCEPTED_LOG_LEVEL": "info"}).start()
    kids = children(server)
    # The log names the pid to signal (the children's own lines name theirs).
    assert server.proc is not None
    told = f"stop it with SIGTERM to pid {server.proc.pid}"
    try:
        until(lambda: told in server.log_path.read_text(), timeout=20)
    finally:
        assert server.stop(signal.SIGTERM) == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in kids)

    server = ServerProcess(db=str(tmp_path / "a.db"), log_path=tmp_path / "b.log",
                           workers=2).start()
    kids = children(server)
    server.kill()  # the parent only: its children see it gone and stop
    until(lambda: not any(_alive(pid) for pid in kids), timeout=20)
    ServerProcess(db=str(tmp_path / "a.db"), log_path=tmp_path / "c.log").start().stop()


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


@pytest.mark.postgres
def test_on_postgresql_each_process_is_a_node_and_metrics_add_up(tmp_path: Path) -> None:
    """PostgreSQL processes share the database as nodes do; only the metrics use the link."""
    skip_without_postgres()
    with database("postgres", tmp_path) as target:
        server = ServerProcess(db=target, log_path=tmp_path / "pg.log", env=DEAF_TO_RECHECKS,
                               workers=2).start()
        clients = one_client_per_process(server)
        try:
            taker, producer = clients.values()
            with ThreadPoolExecutor(1) as pool:
                waiting = pool.submit(take, taker, "pg-wake", block_for=WAIT)
                settle()
                job = enqueue(producer, "pg-wake")  # NOTIFY wakes the other process
                taken = waiting.result(timeout=30)
            assert taken is not None and taken["id"] == job["id"]
            for client in (taker, producer):
                text = client.get("/metrics").text
                assert 'accepted_jobs_enqueued_total{queue="pg-wake"} 1' in text.splitlines()
        finally:
            for client in clients.values():
                client.close()
            server.stop()
