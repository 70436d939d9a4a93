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


def test_create_pause_resume_run_and_delete_a_schedule(
    cli: Cli, client: Client, server: ServerProcess
) -> None:
    made = cli("schedules", "create", "nightly", "reports", '{"kind": "daily"}',
               "--cron", "30 2 * * 1-5", "--timezone", "Europe/Berlin",
               "--job-timeout", "600", "--retries", "2")  # fmt: skip
    assert made.returncode == 0, made.stderr
    header, row = made.stdout.splitlines()
    assert header.split()[:2] == ["SCHEDULE", "QUEUE"] and row.split()[:2] == ["nightly", "reports"]
    stored = client.schedule("nightly")
    assert (stored.params, stored.cron, stored.timezone) == ({"kind": "daily"}, "30 2 * * 1-5",
                                                             "Europe/Berlin")  # fmt: skip
    assert (stored.job_timeout, stored.retries, stored.paused) == (600, 2, False)

    paused = cli("schedules", "pause", "nightly", "--json")
    assert paused.returncode == 0, paused.stderr
    assert json.loads(paused.stdout) == httpx.get(f"{server.url}/schedules/nightly").json()
    after_pause = client.schedule("nightly")
    assert after_pause.paused and after_pause.next_run_at is None
    unchanged = ("queue", "params", "cron", "timezone", "job_timeout", "retries", "created_at")
    assert all(getattr(after_pause, f) == getattr(stored, f) for f in unchanged)
    assert cli("schedules", "resume", "nightly").returncode == 0
    resumed = client.schedule("nightly")
    assert not resumed.paused and resumed.next_run_at is not None
    assert all(getattr(resumed, f) == getattr(stored, f) for f in unchanged)

    ran = cli("schedules", "--json", "run", "nightly")  # --json before the verb counts too
    assert ran.returncode == 0, ran.stderr
    job = json.loads(ran.stdout)
    assert (job["schedule"], job["queue"], job["params"], job["timeout"]) == (
        "nightly", "reports", {"kind": "daily"}, 600)  # fmt: skip
    assert client.schedule("nightly").last_job_id == job["id"]

    shown = cli("schedules", "show", "nightly")
    assert shown.returncode == 0 and job["id"] in shown.stdout
    deleted = cli("schedules", "delete", "nightly")
    assert (deleted.returncode, deleted.stdout) == (0, "deleted schedule nightly\n")
    assert client.schedules() == []
    assert client.get(job["id"]).schedule == "nightly"  # the jobs it made stay
    for verb in ("show", "delete", "pause", "run"):
        missing = cli("schedules", verb, "nightly")
        assert missing.returncode == 3, (verb, missing.stderr)  # not found
        assert "nightly" in missing.stderr


def test_schedule_usage_and_refusals(cli: Cli, client: Client) -> None:
    both = cli("schedules", "create", "x", "q", "--cron", "* * * * *", "--every", "60")
    assert both.returncode == 2 and "--every" in both.stderr
    neither = cli("schedules", "create", "x", "q")
    assert neither.returncode == 2 and "--cron" in neither.stderr
    bad_cron = cli("schedules", "create", "x", "q", "--cron", "every day")
    assert bad_cron.returncode == 2 and "cron" in bad_cron.stderr  # the server's 400
    every = cli("schedules", "create", "tick", "ticks", "--every", "90", "--paused", "--json")
    assert every.returncode == 0, every.stderr
    assert (json.loads(every.stdout)["every"], client.schedule("tick").paused) == (90, True)
    helped = cli("schedules", "--help")
    assert helped.returncode == 0
    for verb in ("list", "show", "create", "delete", "pause", "resume", "run"):
        assert verb in helped.stdout
    assert "exit codes" in cli("schedules", "create", "--help").stdout


def test_schedules_table_fits_the_screen_and_is_whole_into_a_pipe(
    cli: Cli, client: Client
) -> None:
    client.put_schedule("nightly", "reports-for-everyone", cron="30 2 * * *",
                        timezone="America/Argentina/Buenos_Aires")  # fmt: skip
    job = client.run_schedule("nightly")
    piped = cli("schedules").stdout.splitlines()
    assert "America/Argentina/Buenos_Aires" in piped[1] and piped[1].split()[-1] == job.id
    for columns in (80, 60):
        shown = cli("schedules", env={"COLUMNS": str(columns)})
        assert shown.returncode == 0, shown.stderr
        header, row = shown.stdout.splitlines()
        assert max(len(header), len(row)) <= columns, (columns, shown.stdout)
        assert row.split()[0] == "nightly" and "…" in row  # the cadence, cut
        assert "LAST JOB" not in header and job.id not in row  # the least needed went
    at_80 = cli("schedules", env={"COLUMNS": "80"}).stdout.splitlines()
    assert at_80[0].split()[:4] == ["SCHEDULE", "QUEUE", "WHEN", "PAUSED"]
    assert "NEXT RUN" in at_80[0]
