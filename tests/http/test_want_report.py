"""POST /want_job carrying the worker's report: two requests per job instead of three."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.http.helpers import (
    NO_TLS,
    Background,
    assert_error,
    enqueue,
    get,
    settle,
    take,
    unique_queue,
)
from tests.support.servers import ServerProcess

# Also against a several-process server (tests/http/conftest.py).
pytestmark = pytest.mark.processes


def want(api: httpx.Client, q: str, report: Any, **headers: str) -> httpx.Response:
    return api.post("/want_job", params={"queue": q}, json={"report": report}, headers=headers)


def running(api: httpx.Client, q: str) -> dict[str, Any]:
    job = take(api, q)
    assert job is not None
    return job


@pytest.mark.documents("want-report")
def test_the_report_is_applied_then_the_next_job_is_taken(api: httpx.Client, q: str) -> None:
    first, second = enqueue(api, q, 1), enqueue(api, q, 2)
    held = running(api, q)
    assert held["id"] == first["id"]
    report = {"id": held["id"], "status": "done", "result": {"ok": 1}, "lease": held["lease"]}
    answer = want(api, q, report)
    assert answer.status_code == 200
    assert (answer.json()["id"], answer.json()["status"]) == (second["id"], "running")
    done = get(api, first["id"])
    assert (done["status"], done["result"]) == ("done", {"ok": 1})


@pytest.mark.documents("want-report")
def test_reports_as_an_array_with_a_count(api: httpx.Client, q: str) -> None:
    for n in range(4):
        enqueue(api, q, n)
    held = api.post("/want_job", params={"queue": q, "count": 2}).json()
    reports = [
        {"id": held[0]["id"], "status": "failed", "result": "no", "lease": held[0]["lease"]},
        {"id": held[1]["id"], "status": "queued", "lease": held[1]["lease"]},
    ]
    answer = api.post("/want_job", params={"queue": q, "count": 3}, json={"report": reports})
    assert answer.status_code == 200
    assert get(api, held[0]["id"])["status"] == "failed"
    # The given-back job is queued again, and keeps its place: this take gets it back.
    assert held[1]["id"] in [job["id"] for job in answer.json()]


@pytest.mark.documents("want-report")
def test_a_failure_with_retries_left_is_retried_as_put_would(api: httpx.Client, q: str) -> None:
    job = enqueue(api, q, retries=1, retry_backoff=60)
    held = running(api, q)
    answer = want(api, q, {"id": job["id"], "status": "failed", "lease": held["lease"]})
    assert answer.status_code == 204  # the retry waits out its backoff
    assert get(api, job["id"])["status"] == "delayed"


@pytest.mark.documents("want-report")
def test_a_refused_report_is_the_answer_and_nothing_is_taken(api: httpx.Client, q: str) -> None:
    enqueue(api, q)
    enqueue(api, q)
    held = running(api, q)
    stale = want(api, q, {"id": held["id"], "status": "done", "lease": "not-the-lease"})
    error = assert_error(stale, 409, "report")
    assert error["code"] == "lease_mismatch"
    assert get(api, held["id"])["status"] == "running"
    counts = api.get(f"/queues/{q}").json()["counts"]
    assert (counts["queued"], counts["running"]) == (1, 1)  # the other job was not taken

    unknown = want(api, q, [{"id": "0190a4d2-0000-7000-8000-000000000000", "status": "done"}])
    assert assert_error(unknown, 404, "report[0]")["code"] == "job_not_found"


@pytest.mark.parametrize("status", ["running", "delayed", "nonsense"])
@pytest.mark.documents("want-report")
def test_only_done_failed_and_queued_may_be_reported(
    api: httpx.Client, q: str, status: str
) -> None:
    held = (enqueue(api, q), running(api, q))[1]
    answer = want(api, q, {"id": held["id"], "status": status})
    assert assert_error(answer, 400, "report.status")["code"] == "invalid_field"
    assert get(api, held["id"])["status"] == "running"


# -- the reports and the take share one transaction; the rest is as with PUT ----------


def test_a_take_that_blocks_has_applied_its_report_first(
    api: httpx.Client, q: str, api_runner: Background
) -> None:
    held = (enqueue(api, q), running(api, q))[1]
    report = {"id": held["id"], "status": "done", "result": 7, "lease": held["lease"]}
    waiting = api_runner.request(
        "POST", "/want_job", params={"queue": q, "block": "30"}, json={"report": report}
    )
    # A result waiter hears the job final while the take is still blocked.
    final = api.get(f"/jobs/{held['id']}", headers={"X-Accepted-Wait-Result": "10"}).json()
    assert (final["status"], final["result"]) == ("done", 7)
    assert not waiting.done()
    job = enqueue(api, q)
    answer = waiting.result(timeout=10).response
    assert answer.status_code == 200 and answer.json()["id"] == job["id"]


def test_a_refused_report_answers_at_once_even_from_a_blocking_take(
    api: httpx.Client, q: str
) -> None:
    held = (enqueue(api, q), running(api, q))[1]
    stale = {"id": held["id"], "status": "done", "lease": "not-the-lease"}
    # Blocking would outlast the client's timeout: the refusal must not wait for a job.
    answer = api.post(
        "/want_job", params={"queue": q, "block": "60"}, json={"report": stale}, timeout=20
    )
    assert assert_error(answer, 409, "report")["code"] == "lease_mismatch"


def test_a_job_the_report_releases_is_taken_with_it(api: httpx.Client, q: str) -> None:
    first = enqueue(api, q)
    then = enqueue(api, q, after=first["id"])
    held = running(api, q)
    assert held["id"] == first["id"]
    answer = want(api, q, {"id": held["id"], "status": "done", "lease": held["lease"]})
    assert answer.status_code == 200
    assert answer.json()["id"] == then["id"]


@pytest.mark.one_process  # each process hears of the limit on its own schedule
def test_the_place_a_report_frees_in_a_limited_queue_is_taken(api: httpx.Client, q: str) -> None:
    assert api.put(f"/queues/{q}/limits", json={"concurrency": 1}).status_code == 200
    enqueue(api, q)
    second = enqueue(api, q)
    held = running(api, q)
    assert take(api, q) is None  # the limit holds
    answer = want(api, q, {"id": held["id"], "status": "done", "lease": held["lease"]})
    assert answer.status_code == 200
    assert answer.json()["id"] == second["id"]


def test_a_give_back_riding_on_another_queue_s_take_wakes_a_blocked_taker(
    api: httpx.Client, q: str, api_runner: Background
) -> None:
    held = (enqueue(api, q), running(api, q))[1]
    waiting = api_runner.request("POST", "/want_job", params={"queue": q, "block": "30"})
    settle()
    other = unique_queue()
    answer = want(api, other, {"id": held["id"], "status": "queued", "lease": held["lease"]})
    assert answer.status_code == 204  # nothing in the other queue; the report stands
    woken = waiting.result(timeout=10).response
    assert woken.status_code == 200 and woken.json()["id"] == held["id"]


def test_require_lease_refuses_a_riding_report_without_one(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(ACCEPTED_REQUIRE_LEASE="on")
    with httpx.Client(base_url=server.url, verify=NO_TLS) as http:
        q = unique_queue()
        enqueue(http, q)
        enqueue(http, q)
        held = running(http, q)
        refused = want(http, q, {"id": held["id"], "status": "done"})
        error = assert_error(refused, 428, "report.lease")
        assert error["code"] == "lease_required"
        assert "X-Accepted-Lease" not in error["message"]  # the lease belongs in the body
        in_list = want(http, q, [{"id": held["id"], "status": "done"}])
        assert "report[0].lease" in assert_error(in_list, 428)["message"]
        counts = http.get(f"/queues/{q}").json()["counts"]
        assert (counts["queued"], counts["running"]) == (1, 1)  # nothing was taken
        done = want(http, q, {"id": held["id"], "status": "done", "lease": held["lease"]})
        assert done.status_code == 200
