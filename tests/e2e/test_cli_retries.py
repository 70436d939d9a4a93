"""`accepted cancel | retry | attempts ID` and `enqueue --retries` as a user runs them."""

from __future__ import annotations

import json

import pytest

from accepted.client import Client, JobStatus
from tests.e2e.test_cli import Cli, cli, client
from tests.support.servers import ServerProcess

__all__ = ["cli", "client"]  # the fixtures, used by name


@pytest.fixture(scope="module")
def server(module_server: ServerProcess) -> ServerProcess:
    """This module's server, one per backend: each test works in a queue of its own."""
    return module_server


def test_enqueue_with_retries(cli: Cli) -> None:
    job = cli.job("enqueue", "r", "--retries", "3", "--retry-backoff", "0.5")
    assert (job["retries"], job["retries_left"], job["retry_backoff"]) == (3, 3, 0.5)


def test_cancel_then_retry_then_attempts(cli: Cli, client: Client) -> None:
    job = client.enqueue("c", {"n": 1})
    client.take("c")
    cancelled = cli.job("cancel", job.id)
    assert cancelled["status"] == "cancelled"
    shown = cli("cancel", job.id)
    assert shown.returncode == 7 and "only a job not yet final" in shown.stderr

    table = cli("retry", job.id)
    assert table.returncode == 0, table.stderr
    assert "queued" in table.stdout and job.id in table.stdout
    assert cli("retry", job.id).returncode == 7
    assert client.get(job.id).status is JobStatus.QUEUED

    client.take("c")
    answer = cli("attempts", job.id, "--json")
    assert answer.returncode == 0, answer.stderr
    attempts = json.loads(answer.stdout)["attempts"]
    assert [(a["attempt"], a["outcome"]) for a in attempts] == [(1, "cancelled"), (2, None)]
    readable = cli("attempts", job.id)
    lines = readable.stdout.splitlines()
    assert lines[0].split() == ["#", "started", "ended", "outcome", "result"]
    assert "cancelled" in lines[1] and "running" in lines[2]


def test_unknown_job_exits_3(cli: Cli) -> None:
    for command in ("cancel", "retry", "attempts"):
        done = cli(command, "00000000-0000-0000-0000-000000000000")
        assert done.returncode == 3, (command, done.stderr)


def test_retry_every_failed_job_of_a_queue(cli: Cli, client: Client) -> None:
    failed = []
    for _ in range(3):
        client.enqueue("bulk-r")
        taken = client.take("bulk-r")
        assert taken is not None
        failed.append(client.fail(taken, "boom"))
    done = client.enqueue("bulk-r")
    taken = client.take("bulk-r")
    assert taken is not None
    client.complete(taken, "ok")

    answer = cli("retry", "--queue", "bulk-r", "--status", "failed", "--json")
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout) == {"matched": 3, "changed": 3}
    assert all(client.get(job.id).status is JobStatus.QUEUED for job in failed)
    assert client.get(done.id).status is JobStatus.DONE
    again = cli("retry", "--queue", "bulk-r", "--status", "failed")
    assert (again.returncode, again.stdout.strip()) == (0, "matched 0, retried 0")


def test_retry_needs_an_id_or_a_filter(cli: Cli) -> None:
    assert cli("retry").returncode == 2
    assert cli("retry", "00000000-0000-0000-0000-000000000000", "--queue", "q").returncode == 2
