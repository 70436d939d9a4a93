"""A token revoked on one PostgreSQL node ends its waiters on another.

The waiters (a result wait, a blocked want_job, an event stream) are on node
b; the revocation is made on node a. b hears of it (a notice, or its
half-second version check), re-reads its tokens, and every waiter of that
token leaves at once with a 401, none at its next job, event or timeout.
"""

from __future__ import annotations

import json
import secrets
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e import test_multinode
from tests.e2e.test_multinode import StartNodes
from tests.http.helpers import enqueue, unique_queue, until
from tests.http.sse import SseStream
from tests.support.databases import skip_without_postgres
from tests.support.servers import ServerProcess

skip_without_postgres()
pytestmark = pytest.mark.postgres


# The nodes' fixtures, shared with the other multi-node tests.
pg_target, start_nodes = test_multinode.pg_target, test_multinode.start_nodes

ADMIN_SECRET = "test-admin-" + secrets.token_hex(16)


def _client(node: ServerProcess, secret: str) -> httpx.Client:
    return httpx.Client(
        base_url=node.url, headers={"Authorization": f"Bearer {secret}"}, timeout=30.0
    )


def _gauge(admin: httpx.Client, name: str) -> float:
    for line in admin.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} on /metrics")


def test_a_revocation_on_one_node_ends_the_tokens_waiters_on_another(
    start_nodes: StartNodes,
) -> None:
    a, b = start_nodes(2, ACCEPTED_AUTH="on", ACCEPTED_ADMIN_TOKEN=ADMIN_SECRET)
    name = unique_queue("everything")
    with _client(a, ADMIN_SECRET) as on_a, _client(b, ADMIN_SECRET) as on_b:
        made = on_a.post("/tokens", json={"name": name, "role": "admin"})
        assert made.status_code == 201, made.text
        secret = made.json()["token"]
        queue = unique_queue("revoked")
        job = enqueue(on_a, queue)
        with (
            _client(b, secret) as holder,
            ThreadPoolExecutor(2) as pool,
            SseStream(
                b.url,
                f"/events?queue={queue}",
                headers={"Authorization": f"Bearer {secret}"},
                timeout=20,
            ) as stream,
        ):
            assert stream.status == 200
            result = pool.submit(
                holder.get, f"/jobs/{job['id']}", headers={"X-Accepted-Wait-Result": "300"}
            )
            taker = pool.submit(
                holder.post,
                "/want_job",
                params={"queue": unique_queue("idle")},
                headers={"X-Accepted-Block-For": "300"},
            )
            until(
                lambda: (
                    _gauge(on_b, "accepted_results_waiting") == 1
                    and _gauge(on_b, "accepted_takers_waiting") == 1
                )
            )
            assert on_a.delete(f"/tokens/{name}").status_code == 200
            for answer in (result.result(timeout=20), taker.result(timeout=20)):
                assert answer.status_code == 401, answer.text
                assert "revoked" in answer.json()["error"]["message"]
            last = stream.next()
            assert last is not None and last.event == "error", last
            assert json.loads(last.data or "")["error"]["code"] == "unauthorized"
            assert stream.next() is None
