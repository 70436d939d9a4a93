"""SIGTERM: pending long-polls are answered at once, and the process exits cleanly."""

from __future__ import annotations

import signal
import time

import httpx
import pytest

from tests.http.helpers import PROMPT, Background, enqueue, get, settle
from tests.support.servers import ServerProcess


@pytest.mark.documents("want-204", "get-wait-200")
def test_sigterm_answers_pending_long_polls_and_exits_0(
    server: ServerProcess, http: httpx.Client, runner: Background
) -> None:
    job = enqueue(http, "waited-on", {"n": 1})
    taker = runner.request("POST", "/want_job?queue=empty", headers={"X-Accepted-Block-For": "30"})
    waiter = runner.request("GET", f"/jobs/{job['id']}", headers={"X-Accepted-Wait-Result": "30"})
    settle()
    assert not taker.done() and not waiter.done()
    assert server.proc is not None
    server.proc.send_signal(signal.SIGTERM)
    signalled_at = time.monotonic()

    took = taker.result(timeout=10)
    waited = waiter.result(timeout=10)
    assert took.response.status_code == 204
    assert waited.response.status_code == 200
    assert waited.response.json()["status"] == "queued"  # the job as it is
    assert took.done_at - signalled_at < PROMPT
    assert waited.done_at - signalled_at < PROMPT

    assert server.proc.wait(timeout=10) == 0
    assert time.monotonic() - signalled_at < 5


def test_acknowledged_jobs_are_there_after_a_clean_restart(
    server: ServerProcess, http: httpx.Client
) -> None:
    job = enqueue(http, "q", {"kept": True}, delay=60)
    assert server.stop() == 0
    server.restart()
    with httpx.Client(base_url=server.url) as client:
        assert get(client, job["id"]) == job


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_on_an_idle_server_exits_0(server: ServerProcess, sig: int) -> None:
    """uvicorn re-raises the signal after its shutdown; our handler makes that a clean exit."""
    assert server.stop(sig) == 0
    assert "Traceback" not in server.log_path.read_text()
