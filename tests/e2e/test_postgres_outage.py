"""PostgreSQL stopped and started again under load.

Two nodes share a cluster this test makes for itself (tests/support/pg_cluster.py;
the machine's own is never touched). Producers and workers keep going on both
nodes while the cluster is stopped: every request still gets an answer, a
clear `503 store_unavailable` rather than a hang, and `/healthz` stops saying
200. When the cluster is back the nodes recover by themselves, with no
restart, and in the end no acknowledged job is lost and no hand-out was given
twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.load import Ledger, drain, load
from tests.http.helpers import until
from tests.support.pg_cluster import Cluster, own_cluster
from tests.support.servers import ServerProcess

pytest.importorskip("asyncpg")
pytestmark = pytest.mark.postgres


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with own_cluster() as made:
        yield made


@pytest.fixture
def nodes(cluster: Cluster, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    started = [
        ServerProcess(db=cluster.url, log_path=tmp_path / f"node{i}.log") for i in range(2)
    ]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(ServerProcess.start, started))
    try:
        yield started
    finally:
        for node in started:
            node.stop()


def _health(node: ServerProcess) -> int:
    return httpx.get(node.url + "/healthz", timeout=10.0).status_code


@pytest.mark.documents("any-503", "healthz-503-writes")
@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgresql_stopped_and_started_under_load(
    mode: str, cluster: Cluster, nodes: list[ServerProcess]
) -> None:
    """`fast`: PostgreSQL shut down, its clients cut off; `immediate`: it crashes,
    and recovers from its log at the start."""
    ledger = Ledger()
    with load([node.url for node in nodes], ledger, producers=4, workers=4):
        ledger.wait_until(jobs=150, results=50, timeout=30)

        cluster.stop(mode)
        refused = ledger.count(503)
        until(lambda: all(_health(node) == 503 for node in nodes), timeout=15)
        until(lambda: ledger.count(503) > refused + 20, timeout=15)  # clients keep asking
        acknowledged = len(ledger.jobs), len(ledger.results)

        cluster.start()
        until(lambda: all(_health(node) == 200 for node in nodes), timeout=30)
        ledger.wait_until(jobs=acknowledged[0] + 150, results=acknowledged[1] + 50,
                          timeout=30)

    assert ledger.count(0) == 0  # every request got an answer: nothing hung or was cut
    assert ledger.other_errors == []  # and every refusal was the retryable 503
    drain(nodes[1].url, ledger)
    for node in nodes:  # an outage is a warning line, not a traceback
        assert "Traceback" not in node.log_path.read_text(), node.log_path.read_text()
