"""Several real server processes on one PostgreSQL database act as one queue.

Each test starts its nodes (`accepted serve` subprocesses, all at once, so
their migrations race) on a database of its own, and talks to them over HTTP
only: jobs go in on one node and come out on another, waits on one node are
answered by work on another, and killing a node (-9) loses nothing.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.http.helpers import (
    PROMPT,
    Background,
    CallbackReceiver,
    enqueue,
    get,
    note_latency,
    report,
    settle,
    take,
    until,
)
from tests.support.databases import PG_URL, database, run_sync, skip_without_postgres
from tests.support.servers import ServerProcess

skip_without_postgres()
pytestmark = pytest.mark.postgres

StartNodes = Callable[..., list[ServerProcess]]

# Nodes whose own re-checks come too late to pass for a wake-up: in tests that
# time a cross-node wake-up, only the NOTIFY can answer within PROMPT.
DEAF_TO_RECHECKS = {"ACCEPTED_SHARED_RECHECK": "60"}


@pytest.fixture
def pg_target(tmp_path: Path) -> Iterator[str]:
    with database("postgres", tmp_path) as target:
        yield target


@pytest.fixture
def start_nodes(pg_target: str, tmp_path: Path) -> Iterator[StartNodes]:
    """`start_nodes(3, ACCEPTED_DEFAULT_LEASE="1")`: that many nodes, started at once."""
    started: list[ServerProcess] = []

    def start(count: int, **env: str) -> list[ServerProcess]:
        nodes = [
            ServerProcess(db=pg_target, log_path=tmp_path / f"node{len(started) + i}.log", env=env)
            for i in range(count)
        ]
        started.extend(nodes)
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(ServerProcess.start, nodes))
        return nodes

    try:
        yield start
    finally:
        for node in started:
            if node.proc is not None and node.proc.poll() is None:
                node.stop()


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    hook = CallbackReceiver().start()
    try:
        yield hook
    finally:
        hook.stop()


def client(node: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=node.url, timeout=30.0)


@contextmanager
def clients(nodes: list[ServerProcess]) -> Iterator[list[httpx.Client]]:
    """One client per node, reused: building an httpx client costs tens of ms."""
    with ExitStack() as stack:
        yield [stack.enter_context(client(node)) for node in nodes]


def test_concurrent_takers_on_every_node_never_get_the_same_job(
    start_nodes: StartNodes,
) -> None:
    nodes = start_nodes(3)
    total, q = 150, "shared"
    with clients(nodes) as https:
        for i in range(total):
            enqueue(https[i % 3], q, params=i)
    handed: list[str] = []
    lock = threading.Lock()

    def work(node: ServerProcess) -> None:
        with client(node) as http:
            while True:
                job = take(http, q, block_for=0.2)
                if job is None:
                    with lock:
                        if len(handed) >= total:
                            return
                    continue
                with lock:
                    handed.append(job["id"])
                assert report(http, job["id"], "done", job["params"]).status_code == 200

    with ThreadPoolExecutor(6) as pool:
        for future in [pool.submit(work, nodes[i % 3]) for i in range(6)]:
            future.result(timeout=50)
    assert len(handed) == len(set(handed)) == total
    with client(nodes[0]) as http:
        assert all(get(http, job_id)["attempts"] == 1 for job_id in handed[:20])


def test_a_long_poll_on_one_node_gets_a_job_enqueued_on_another(
    start_nodes: StartNodes,
) -> None:
    a, b = start_nodes(2, **DEAF_TO_RECHECKS)
    runner = Background(b.url)
    try:
        for round_ in range(3):
            q = f"wake-{round_}"
            waiting = runner.request("POST", "/want_job", params={"queue": q},
                                     headers={"X-Accepted-Block-For": "30"})
            settle()
            with client(a) as http:
                sent_at = time.monotonic()
                job = enqueue(http, q)
            answer = waiting.result(timeout=30)
            assert answer.response.status_code == 200
            assert answer.response.json()["id"] == job["id"]
            note_latency("cross-node want_job wake-up", answer.done_at - sent_at)
            assert answer.done_at - sent_at < PROMPT
    finally:
        runner.close()


def test_a_result_wait_on_one_node_answers_when_another_finishes_the_job(
    start_nodes: StartNodes,
) -> None:
    # Result waits have no periodic re-check: only the cross-node notice can answer
    # them before their 30 s are up.
    a, b = start_nodes(2, **DEAF_TO_RECHECKS)
    runner = Background(b.url)
    try:
        with client(a) as http:
            job = enqueue(http, "results")
            taken = take(http, "results")
            assert taken is not None
            waiting = runner.request("GET", f"/jobs/{job['id']}",
                                     headers={"X-Accepted-Wait-Result": "30"})
            settle()
            sent_at = time.monotonic()
            assert report(http, job["id"], "done", {"answer": 42}).status_code == 200
        answer = waiting.result(timeout=30)
        note_latency("cross-node result wake-up", answer.done_at - sent_at)
        assert answer.done_at - sent_at < PROMPT
        body = answer.response.json()
        assert (body["status"], body["result"]) == ("done", {"answer": 42})

        # Deleted on the other node while waited on: the wait ends, and the job is gone.
        with client(a) as http:
            doomed = enqueue(http, "results")
            waiting = runner.request("GET", f"/jobs/{doomed['id']}",
                                     headers={"X-Accepted-Wait-Result": "30"})
            settle()
            sent_at = time.monotonic()
            assert http.delete(f"/jobs/{doomed['id']}").status_code == 200
        answer = waiting.result(timeout=30)
        assert answer.done_at - sent_at < PROMPT
        assert answer.response.status_code == 404
    finally:
        runner.close()


def test_leases_of_a_killed_node_expire_and_another_node_hands_the_job_out(
    start_nodes: StartNodes,
) -> None:
    a, b = start_nodes(2)
    with client(a) as http:
        job = enqueue(http, "orphans")
        taken = take(http, "orphans", timeout=1)
        assert taken is not None and taken["attempts"] == 1
    a.kill()
    with client(b) as http:
        again = take(http, "orphans", block_for=30)
    assert again is not None
    assert (again["id"], again["attempts"]) == (job["id"], 2)
    assert again["lease"] != taken["lease"]
    with client(b) as http:
        stale = report(http, job["id"], "done", lease=taken["lease"])
        assert stale.status_code == 409
        assert report(http, job["id"], "done", lease=again["lease"]).status_code == 200


def test_each_completion_is_called_back_once_across_nodes(
    start_nodes: StartNodes, receiver: CallbackReceiver
) -> None:
    nodes = start_nodes(3)
    total = 30
    with clients(nodes) as https:
        ids = [
            enqueue(https[i % 3], "hooks", params=i, callback_url=receiver.url)["id"]
            for i in range(total)
        ]
        for i in range(total):
            job = take(https[(i + 1) % 3], "hooks")
            assert job is not None
            assert report(https[i % 3], job["id"], "done", job["params"]).status_code == 200
    receiver.wait_for(total, timeout=20)

    def all_delivered() -> bool:
        with client(nodes[2]) as http:
            return all(get(http, i)["callback"]["state"] == "delivered" for i in ids)

    until(all_delivered, timeout=10)
    delivered = [d.headers["x-accepted-job-id"] for d in receiver.deliveries]
    assert sorted(delivered) == sorted(ids)


def test_a_killed_nodes_pending_callback_is_delivered_by_another(
    start_nodes: StartNodes, receiver: CallbackReceiver
) -> None:
    # A 1 s callback timeout makes the delivery hold (2 x timeout + 5 s) short.
    a, b = start_nodes(2, ACCEPTED_CALLBACK_TIMEOUT="1")
    receiver.hold = True
    with client(a) as http:
        job = enqueue(http, "hooks", callback_url=receiver.url)
        assert take(http, "hooks") is not None
        assert report(http, job["id"], "done", "r").status_code == 200
    assert receiver.holding.wait(10)  # a's first delivery is in flight ...
    a.kill()  # ... when a dies
    receiver.hold = False
    receiver.release.set()
    [first, second] = receiver.wait_for(2, timeout=30)
    assert first.headers["x-accepted-job-id"] == second.headers["x-accepted-job-id"] == job["id"]
    with client(b) as http:
        until(lambda: get(http, job["id"])["callback"]["state"] == "delivered", timeout=10)


@pytest.mark.documents("any-503")
def test_a_node_answers_503_while_its_database_is_unreachable_then_recovers(
    start_nodes: StartNodes, pg_target: str
) -> None:
    [node] = start_nodes(1)
    name = pg_target.rsplit("/", 1)[1]
    with client(node) as http:
        job = enqueue(http, "outage")
        run_sync(_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false',
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        f"WHERE datname = '{name}'"))
        try:
            for call in (
                lambda: http.get(f"/jobs/{job['id']}"),
                lambda: http.post("/jobs", json={"queue": "outage"}),
                lambda: http.post("/want_job", params={"queue": "outage"}),
            ):
                response = call()
                assert response.status_code == 503, response.text
                assert response.json()["error"]["code"] == "store_unavailable"
        finally:
            run_sync(_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        until(lambda: http.get(f"/jobs/{job['id']}").status_code == 200, timeout=10)
        taken = take(http, "outage")
        assert taken is not None and taken["id"] == job["id"]


async def _admin(*statements: str) -> None:
    """Statements about our own test database, run from the maintenance database."""
    conn = await asyncpg.connect(PG_URL)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def test_a_missed_wake_up_only_delays_the_hand_out(
    start_nodes: StartNodes, pg_target: str
) -> None:
    """A job whose notice never came still reaches a blocked taker (its re-check)."""
    a, b = start_nodes(2, ACCEPTED_SHARED_RECHECK="0.5")
    runner = Background(b.url)
    try:
        waiting = runner.request("POST", "/want_job", params={"queue": "deaf"},
                                 headers={"X-Accepted-Block-For": "30"})
        settle()
        # Insert straight into the table, as a write whose NOTIFY never arrived.
        job_id = str(uuid.uuid4())
        run_sync(_insert_silently(pg_target, job_id))
        answer = waiting.result(timeout=30)
        assert answer.response.status_code == 200
        assert answer.response.json()["id"] == job_id
    finally:
        runner.close()
    assert a.proc is not None and a.proc.poll() is None


async def _insert_silently(url: str, job_id: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        now = await conn.fetchval("SELECT extract(epoch FROM clock_timestamp())::float8")
        await conn.execute(
            "INSERT INTO accepted_jobs (id, queue, status, priority, params, result, attempts, "
            "max_attempts, created_at, updated_at, due_at, callback_attempts) "
            "VALUES ($1, 'deaf', 'queued', 1, '{}', 'null', 0, 3, $2, $2, $2, 0)",
            job_id,
            now,
        )
    finally:
        await conn.close()


def test_nodes_on_one_database_share_every_job(start_nodes: StartNodes) -> None:
    nodes = start_nodes(3)
    with client(nodes[0]) as http:
        job = enqueue(http, "seen", params={"x": 1})
    for node in nodes[1:]:
        with client(node) as http:
            assert get(http, job["id"])["params"] == {"x": 1}
    with client(nodes[2]) as http:
        assert http.delete(f"/jobs/{job['id']}").status_code == 200
    with client(nodes[1]) as http:
        assert http.get(f"/jobs/{job['id']}").status_code == 404
