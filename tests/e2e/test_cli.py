"""`accepted enqueue | get | delete` as a person or a script runs them: a subprocess,
its output and its exit code, against a real server."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from accepted.client import Client, JobStatus
from tests.support.servers import ServerProcess, free_port

PATIENCE = 30.0


class Cli:
    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(
        self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "ACCEPTED_URL": self.url, "COLUMNS": "", **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "accepted", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=PATIENCE,
        )

    def job(self, *args: str, stdin: str | None = None) -> dict[str, Any]:
        done = self(*args, "--json", stdin=stdin)
        assert done.returncode == 0, done.stderr
        job: dict[str, Any] = json.loads(done.stdout)
        return job


@pytest.fixture(scope="module")
def server(module_server: ServerProcess) -> ServerProcess:
    """This module's server, one per backend: a test that takes a job takes it from a
    queue of its own, and the others only enqueue and read back what they made.
    (The modules that import `cli` and `client` keep a server per test.)"""
    return module_server


@pytest.fixture
def cli(server: ServerProcess) -> Cli:
    return Cli(server.url)


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Client]:
    with Client(server.url) as client:
        yield client


def finish_in_background(client: Client, queue: str, result: Any, *, fail: bool = False) -> None:
    """A worker on a thread: takes the next job of `queue` and reports on it."""

    def work() -> None:
        job = client.take(queue, block=PATIENCE)
        assert job is not None
        (client.fail if fail else client.complete)(job, result)

    threading.Thread(target=work, daemon=True).start()


def test_version_names_the_package_version() -> None:
    import accepted

    done = subprocess.run(
        [sys.executable, "-m", "accepted", "--version"], capture_output=True, text=True,
        timeout=PATIENCE, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == f"accepted {accepted.__version__}"


def test_a_postgresql_url_without_its_driver_is_one_clear_line() -> None:
    code = (
        "import sys; sys.modules['asyncpg'] = None; from accepted.cli import main; "
        "sys.exit(main(['serve', '--db', 'postgresql://nobody@127.0.0.1:1/none']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=PATIENCE,
        check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "pip install 'accepted[postgres]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_enqueue_prints_the_job_for_people(cli: Cli) -> None:
    done = cli("enqueue", "emails", '{"to": "ada@example.com"}')
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(None, 1) for line in done.stdout.splitlines() if line)
    assert lines["queue"] == "emails" and lines["status"] == "queued"
    assert lines["params"] == '{"to": "ada@example.com"}'
    assert lines["attempts"] == "0 of 5"


def test_enqueue_json_output_and_options(cli: Cli) -> None:
    job = cli.job("enqueue", "q", "[1, 2]", "--priority", "0", "--delay", "60",
                  "--max-attempts", "2", "--result-ttl", "5", "--job-timeout", "90",
                  "--callback-url", "http://127.0.0.1:9/hook")  # fmt: skip
    assert job["params"] == [1, 2] and job["priority"] == 0 and job["status"] == "delayed"
    assert job["max_attempts"] == 2 and job["result_ttl"] == 5 and job["timeout"] == 90
    assert job["callback"]["url"] == "http://127.0.0.1:9/hook"


def test_enqueue_reads_params_from_stdin_and_defaults_them(cli: Cli) -> None:
    assert cli.job("enqueue", "q", "-", stdin='{"from": "stdin"}')["params"] == {"from": "stdin"}
    assert cli.job("enqueue", "q")["params"] == {}


def test_enqueue_wait_prints_the_finished_job_with_its_result(cli: Cli, client: Client) -> None:
    finish_in_background(client, "wait-done", {"answer": 42})
    done = cli("enqueue", "wait-done", "{}", "--wait", str(PATIENCE))
    assert done.returncode == 0, done.stderr
    assert "status    done" in done.stdout and '{"answer": 42}' in done.stdout


def test_enqueue_wait_exits_1_when_the_job_fails(cli: Cli, client: Client) -> None:
    finish_in_background(client, "wait-failed", {"error": "nope"}, fail=True)
    done = cli("enqueue", "wait-failed", "--wait", "--json")  # --wait alone: no limit
    assert done.returncode == 1
    assert json.loads(done.stdout)["status"] == "failed"


def test_get_shows_a_job_and_exits_with_its_outcome(cli: Cli, client: Client) -> None:
    queued = client.enqueue("get-failed")
    assert cli.job("get", queued.id)["status"] == "queued"
    client.fail(client.take("get-failed") or pytest.fail("no job"), "bad")
    done = cli("get", queued.id)
    assert done.returncode == 1 and "status    failed" in done.stdout


def test_get_shows_group_unique_key_and_dependencies_only_when_set(
    cli: Cli, client: Client
) -> None:
    first = client.enqueue("q")
    second = client.enqueue("q")
    job = client.enqueue("q", group="tenant-7", unique_key="order-1", after=[first.id, second.id])
    shown = cli("get", job.id)
    assert shown.returncode == 0, shown.stderr
    fields = dict(line.split(maxsplit=1) for line in shown.stdout.replace("unique key", "key")
                  .splitlines() if line)  # fmt: skip
    assert (fields["group"], fields["key"]) == ("tenant-7", "order-1")
    assert fields["after"].split() == [first.id, second.id]
    plain = cli("get", first.id).stdout
    assert not any(label in plain for label in ("group", "unique key", "after"))


def test_get_wait_gives_up_with_exit_5(cli: Cli, client: Client) -> None:
    job = client.enqueue("q")
    done = cli("get", job.id, "--wait", "0.3", "--json")
    assert done.returncode == 5
    assert json.loads(done.stdout)["status"] == "queued"
    assert "still queued after 0.3 s" in done.stderr


def test_get_wait_returns_when_the_job_finishes(cli: Cli, client: Client) -> None:
    job = client.enqueue("get-waited", {"n": 1})
    finish_in_background(client, "get-waited", "ok")
    done = cli("get", job.id, "--wait", str(PATIENCE), "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["result"] == "ok"


def test_an_unknown_job_exits_3(cli: Cli) -> None:
    for command in ("get", "delete"):
        done = cli(command, "00000000-0000-0000-0000-000000000000")
        assert done.returncode == 3
        assert done.stderr.startswith("accepted: no job")
        assert done.stdout == ""


def test_delete_prints_the_cancelled_job(cli: Cli, client: Client) -> None:
    job = client.enqueue("q")
    assert cli.job("delete", job.id)["status"] == "cancelled"
    assert cli("get", job.id).returncode == 3


def test_usage_errors_exit_2(cli: Cli) -> None:
    bad_json = cli("enqueue", "q", "{oops")
    assert bad_json.returncode == 2 and "PARAMS_JSON is not valid JSON" in bad_json.stderr
    assert cli("enqueue").returncode == 2  # no queue
    assert cli("get", "x", "--wait", "soon").returncode == 2
    assert cli("frobnicate").returncode == 2
    refused = cli("enqueue", "q", "--priority", "9")
    assert refused.returncode == 2 and "Priority" in refused.stderr


def test_an_unreachable_server_exits_6(cli: Cli) -> None:
    done = cli("get", "x", "--url", f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 6 and "could not reach the server" in done.stderr


def test_every_command_s_error_line_starts_with_accepted(tmp_path: Path) -> None:
    """One prefix for every command's error, `token` and `worker` too, so people and
    scripts (grep '^accepted: ') read them alike. None of these needs a server."""
    cli = Cli(f"http://127.0.0.1:{free_port()}")  # nothing listens there
    nowhere = str(tmp_path / "no" / "such" / "folder" / "jobs.db")
    for args in (
        ["get", "x"],
        ["token", "list"],
        ["token", "list", "--db", nowhere],
        ["token", "create", "t", "--role", "reader", "--db", nowhere],
        ["worker", "no_such_module_here:run"],
    ):
        done = cli(*args)
        assert done.returncode in (2, 6), (args, done.returncode, done.stderr)
        assert done.stderr.startswith("accepted: "), (args, done.stderr)


def test_whoami_with_auth_off_says_every_request_may_do_everything(cli: Cli) -> None:
    done = cli("whoami")
    assert done.returncode == 0, done.stderr
    assert "auth is off" in done.stdout and "admin" in done.stdout
    assert json.loads(cli("whoami", "--json").stdout)["auth"] is False


def test_the_url_comes_from_accepted_url_and_the_flag_wins(cli: Cli) -> None:
    job = cli.job("enqueue", "q")  # ACCEPTED_URL only
    assert cli.job("get", job["id"], "--url", cli.url)["id"] == job["id"]


def test_help_documents_the_exit_codes(cli: Cli) -> None:
    done = cli("get", "--help")
    assert done.returncode == 0
    assert "exit codes" in done.stdout and "no such job" in done.stdout


class Terminal:
    """The CLI run with its stdout and stderr on a pseudo-terminal, as a person sees it."""

    def __init__(self, *args: str) -> None:
        self.main, child = pty.openpty()
        command = [sys.executable, "-m", "accepted", *args]
        self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=child, stderr=child)
        os.close(child)
        self.output = ""

    def read_until(self, text: str) -> None:
        deadline = time.monotonic() + PATIENCE
        while text not in self.output:
            left = deadline - time.monotonic()
            assert left > 0, f"never saw {text!r} in {self.output!r}"
            if not select.select([self.main], [], [], left)[0] or not self._read():
                raise AssertionError(f"never saw {text!r} in {self.output!r}")

    def finish(self) -> int:
        while self._read():
            pass
        os.close(self.main)
        return self.proc.wait(PATIENCE)

    def _read(self) -> bool:
        try:
            chunk = os.read(self.main, 4096)
        except OSError:  # EIO: the child closed the terminal
            return False
        self.output += chunk.decode(errors="replace")
        return bool(chunk)


def test_a_long_wait_shows_progress_on_a_terminal(server: ServerProcess, client: Client) -> None:
    job = client.enqueue("q")
    terminal = Terminal("get", job.id, "--wait", "1.5", "--url", server.url)
    assert terminal.finish() == 5
    assert f"waiting for job {job.id}: queued" in terminal.output
    assert "status    queued" in terminal.output


def test_a_job_deleted_while_waited_on_exits_4(server: ServerProcess, client: Client) -> None:
    job = client.enqueue("q")
    terminal = Terminal("get", job.id, "--wait", "--url", server.url)
    terminal.read_until("waiting for job")  # the CLI has seen the job
    client.delete(job.id)
    assert terminal.finish() == 4


def test_output_without_a_terminal_has_no_progress(cli: Cli, client: Client) -> None:
    job = client.enqueue("q")
    done = cli("get", job.id, "--wait", "1.2")
    assert "waiting for" not in done.stdout + done.stderr
    assert client.get(job.id).status is JobStatus.QUEUED


def test_enqueue_unique_key_and_after(cli: Cli, client: Client) -> None:
    first = json.loads(cli("enqueue", "flow", "--unique-key", "k", "--json").stdout)
    again = cli("enqueue", "flow", "--unique-key", "k", "--json")
    assert again.returncode == 0
    assert json.loads(again.stdout)["id"] == first["id"]
    assert again.stderr.startswith("note: not enqueued") and first["id"] in again.stderr
    other = client.enqueue("flow")
    done = cli("enqueue", "flow", "--after", first["id"], "--after", other.id, "--json")
    waiting = json.loads(done.stdout)
    assert (waiting["status"], waiting["after"]) == ("delayed", [first["id"], other.id])


def test_enqueue_group(cli: Cli, client: Client) -> None:
    done = cli("enqueue", "fair", "--group", "tenant-7", "--json")
    assert done.returncode == 0, done.stderr
    assert client.get(json.loads(done.stdout)["id"]).group == "tenant-7"


def test_a_jobs_json_shows_seconds_as_the_server_does(cli: Cli, server: ServerProcess) -> None:
    """`--json` prints 90, as GET /jobs/{id} does, not the 90.0 the client holds."""
    printed = cli.job("enqueue", "q", "--job-timeout", "90", "--result-ttl", "0.5",
                      "--retry-backoff", "2")  # fmt: skip
    served = httpx.get(f"{server.url}/jobs/{printed['id']}").json()
    fields = ("timeout", "result_ttl", "retry_backoff")
    for job in (printed, cli.job("get", printed["id"]), served):
        assert [job[name] for name in fields] == [90, 0.5, 2]
        assert [type(job[name]) for name in fields] == [int, float, int]
