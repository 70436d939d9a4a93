"""`accepted queues | jobs | pause | resume` as a person or a script runs them."""

from __future__ import annotations

import json

import httpx

from accepted.client import Client
from tests.e2e.test_cli import Cli, cli, client
from tests.support.servers import ServerProcess

__all__ = ["cli", "client"]  # fixtures used here


def test_queues_prints_a_table_and_json_prints_the_api_answer(
    cli: Cli, client: Client, server: ServerProcess
) -> None:
    client.enqueue("emails", {"to": "ada"})
    client.enqueue("emails", {"to": "bob"}, delay=60)
    table = cli("queues")
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()
    assert header.split() == ["QUEUE", "PAUSED", "DELAYED", "QUEUED", "RUNNING", "DONE",
                              "FAILED", "CANCELLED", "OLDEST"]
    assert row.split()[:8] == ["emails", "no", "1", "1", "0", "0", "0", "0"]
    as_json = cli("queues", "--json")
    assert as_json.returncode == 0
    printed = json.loads(as_json.stdout)
    served = httpx.get(f"{server.url}/queues").json()
    for answer in (printed, served):  # the age moves on between the two reads
        for queue in answer["queues"]:
            queue.pop("oldest_queued_age")
    assert printed == served


def test_pause_and_resume_a_queue(cli: Cli, client: Client) -> None:
    paused = cli("pause", "emails", "--json")
    assert paused.returncode == 0, paused.stderr
    assert json.loads(paused.stdout)["paused"] is True
    assert client.queue("emails").paused
    resumed = cli("resume", "emails")
    assert resumed.returncode == 0
    assert resumed.stdout.splitlines()[1].split()[:2] == ["emails", "no"]
    missing = cli("resume", "nowhere")
    assert missing.returncode == 3  # not found
    assert "nowhere" in missing.stderr


def test_pausing_a_queue_without_jobs_says_so(cli: Cli, client: Client) -> None:
    """Pausing ahead of a queue's first job is allowed (SPEC); the note on stderr
    catches the typo that paused a queue nobody uses instead of the busy one."""
    client.enqueue("emails")
    busy = cli("pause", "emails")
    assert busy.returncode == 0 and busy.stderr == ""
    ahead = cli("pause", "emials", "--json")
    assert ahead.returncode == 0, ahead.stderr
    assert json.loads(ahead.stdout)["paused"] is True  # stdout stays the answer
    assert ahead.stderr == "note: queue emials holds no jobs; it is paused ahead of its first one\n"
    assert client.queue("emials").paused


def test_jobs_filters_searches_and_pages(cli: Cli, client: Client) -> None:
    first = client.enqueue("a", {"email": "ada@example.com"})
    second = client.enqueue("b", {"email": "bob@example.com"})
    third = client.enqueue("a", {"email": "cy@example.com"})
    listed = cli("jobs", "--queue", "a")
    assert listed.returncode == 0, listed.stderr
    rows = listed.stdout.splitlines()
    assert rows[0].split()[:3] == ["ID", "QUEUE", "STATUS"]
    assert [row.split()[0] for row in rows[1:]] == [third.id, first.id]
    found = cli("jobs", "--search", "BOB@", "--json")
    assert [job["id"] for job in json.loads(found.stdout)["jobs"]] == [second.id]
    paged = cli("jobs", "--limit", "2", "--status", "queued,running")
    assert "more: add --cursor " in paged.stderr
    cursor = paged.stderr.split("--cursor ")[1].split()[0]
    rest = cli("jobs", "--limit", "2", "--status", "queued,running", "--cursor", cursor, "--json")
    assert [job["id"] for job in json.loads(rest.stdout)["jobs"]] == [first.id]
    bad = cli("jobs", "--status", "sleeping")
    assert bad.returncode == 2 and "sleeping" in bad.stderr


def test_jobs_shows_groups_and_unique_keys_and_fits_80_columns(cli: Cli, client: Client) -> None:
    plain = client.enqueue("fair", {"n": 0})
    grouped = client.enqueue("fair", {"text": "x" * 200}, group="tenant-7", unique_key="order-1")
    piped = cli("jobs", "--queue", "fair")
    assert piped.returncode == 0, piped.stderr
    header, first, second = piped.stdout.splitlines()
    assert header.split() == ["ID", "QUEUE", "STATUS", "GROUP", "KEY", "PRI", "TRIES",
                              "CREATED", "PARAMS"]  # fmt: skip
    assert first.split()[:5] == [grouped.id, "fair", "queued", "tenant-7", "order-1"]
    assert second.split()[:5] == [plain.id, "fair", "queued", "-", "-"]
    on_80 = cli("jobs", "--queue", "fair", env={"COLUMNS": "80"})
    assert on_80.returncode == 0, on_80.stderr
    lines = on_80.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, on_80.stdout
    assert lines[0].split()[:4] == ["ID", "QUEUE", "STATUS", "GROUP"]
    assert lines[1].split()[:4] == [grouped.id, "fair", "queued", "tenant-7"]
    without_groups = cli("jobs", "--queue", "fair", "--status", "running")
    assert (without_groups.stdout, without_groups.stderr) == ("", "(none)\n")
    client.enqueue("plain", {"n": 1})
    no_group_column = cli("jobs", "--queue", "plain").stdout.splitlines()[0]
    assert "GROUP" not in no_group_column and "KEY" not in no_group_column


def test_jobs_fits_narrow_screens_dropping_group_then_queue(cli: Cli, client: Client) -> None:
    job = client.enqueue("fair-queue", {"n": 1}, group="tenant-with-a-long-name", unique_key="k")
    for columns in (64, 60, 50):
        shown = cli("jobs", "--queue", "fair-queue", env={"COLUMNS": str(columns)})
        assert shown.returncode == 0, shown.stderr
        lines = shown.stdout.splitlines()
        assert max(len(line) for line in lines) <= columns, (columns, shown.stdout)
        assert lines[1].split()[0] == job.id and "queued" in lines[1].split()
    at_64 = cli("jobs", "--queue", "fair-queue", env={"COLUMNS": "64"}).stdout.splitlines()
    assert at_64[0].split() == ["ID", "QUEUE", "STATUS"]  # the group went before the queue
    at_50 = cli("jobs", "--queue", "fair-queue", env={"COLUMNS": "50"}).stdout.splitlines()
    assert at_50[0].split() == ["ID", "STATUS"] and at_50[1].split() == [job.id, "queued"]
    # Below the id and the status nothing more goes: the line is wider than the screen.
    at_30 = cli("jobs", "--queue", "fair-queue", env={"COLUMNS": "30"}).stdout.splitlines()
    assert at_30[1].split() == [job.id, "queued"]


# -- flow-limits ------------------------------------------------------------------


def test_limits_show_set_keep_and_clear(cli: Cli, client: Client) -> None:
    set_rate = cli("limits", "emails", "--rate", "100/60", "--concurrency", "5")
    assert set_rate.returncode == 0, set_rate.stderr
    header, row = set_rate.stdout.splitlines()
    assert header.split() == ["QUEUE", "RATE", "CONCURRENCY", "GROUP_CONCURRENCY"]
    assert row.split() == ["emails", "100/60s", "5", "-"]
    kept = cli("limits", "emails", "--group-concurrency", "2", "--concurrency", "none", "--json")
    assert kept.returncode == 0, kept.stderr
    assert json.loads(kept.stdout)["limits"] == {
        "rate": {"jobs": 100, "per": 60.0},
        "concurrency": None,
        "group_concurrency": 2,
    }
    shown = cli("limits", "emails")
    assert shown.stdout.splitlines()[1].split() == ["emails", "100/60s", "-", "2"]
    assert client.queue("emails").limits.group_concurrency == 2
    bad = cli("limits", "emails", "--concurrency", "0")
    assert bad.returncode != 0 and "concurrency" in bad.stderr
    cleared = cli("limits", "emails", "--clear")
    assert cleared.returncode == 0, cleared.stderr
    assert cleared.stdout.splitlines()[1].split() == ["emails", "-", "-", "-"]
    assert cli("limits", "emails").returncode == 3  # no job, no setting: gone
