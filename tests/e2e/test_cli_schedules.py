"""`accepted schedules` as a person or a script runs it."""

from __future__ import annotations

import json

import httpx

from accepted.client import Client
from tests.e2e.test_cli import Cli, cli, client
from tests.support.servers import ServerProcess

__all__ = ["cli", "client"]  # fixtures used here


def test_schedules_prints_a_table_and_json_prints_the_api_answer(
    cli: Cli, client: Client, server: ServerProcess
) -> None:
    empty = cli("schedules")
    assert (empty.returncode, empty.stdout, empty.stderr) == (0, "", "(none)\n")
    client.put_schedule("nightly", "reports", cron="30 2 * * *", timezone="Europe/Berlin")
    client.put_schedule("tick", "ticks", every=90, paused=True)
    job = client.run_schedule("tick")
    table = cli("schedules")
    assert table.returncode == 0, table.stderr
    header, nightly, tick = table.stdout.splitlines()
    assert header.split() == ["SCHEDULE", "QUEUE", "WHEN", "PAUSED", "NEXT", "RUN", "LAST",
                              "RUN", "LAST", "JOB"]  # fmt: skip
    assert nightly.split()[:6] == ["nightly", "reports", "cron", "30", "2", "*"]
    assert "(Europe/Berlin)" in nightly and nightly.split()[-1] == "-"
    assert nightly.count(" UTC") == 1  # the next run, said in UTC; no last run yet
    assert tick.split()[:5] == ["tick", "ticks", "every", "90s", "yes"]
    assert tick.split()[-1] == job.id
    as_json = cli("schedules", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == httpx.get(f"{server.url}/schedules").json()
