"""Retries of failed jobs: X-Accepted-Retries, X-Accepted-Retry-Backoff and
{"retry": false}; the server-wide defaults for retries and the result TTL."""

from __future__ import annotations

import httpx
import pytest

from tests.http.conftest import StartServer
from tests.http.helpers import (
    JobJSON,
    assert_error,
    enqueue,
    get,
    report,
    take,
    timestamp,
    until,
)


def fail(api: httpx.Client, job: JobJSON, result: object = None, **body: object) -> JobJSON:
    """PUT failed on a taken job (with its lease), asserting 200."""
    response = api.put(
        f"/jobs/{job['id']}",
        json={"status": "failed", "result": result, **body},
        headers={"X-Accepted-Lease": job["lease"]},
    )
    assert response.status_code == 200, response.text
    answer: JobJSON = response.json()
    return answer


def take_within(api: httpx.Client, q: str, seconds: float) -> JobJSON:
    """Take a job of `q`, blocking up to `seconds` for it to come due."""
    job = take(api, q, block_for=seconds)
    assert job is not None, f"nothing came due in {q} within {seconds} s"
    return job


@pytest.mark.documents("report-failed-retry")
def test_a_failed_job_with_retries_waits_out_its_backoff_then_runs_again(
    api: httpx.Client, q: str
) -> None:
    job = enqueue(api, q, {"n": 1}, retries=2, retry_backoff=0.5)
    assert (job["retries"], job["retries_left"], job["retry_backoff"]) == (2, 2, 0.5)
    taken = take_within(api, q, 0)
    delayed = fail(api, taken, {"error": "first"})
    assert (delayed["status"], delayed["retries_left"], delayed["attempts"]) == ("delayed", 1, 1)
    assert delayed["result"] == {"error": "first"}  # why it failed, while it waits
    assert (delayed["finished_at"], delayed["error"], delayed["lease_expires_at"]) == (
        None, None, None)
    wait = timestamp(delayed["due_at"]) - timestamp(delayed["updated_at"])
    assert 0.25 <= wait <= 0.75  # the first backoff, times 0.5 to 1.5
    assert take(api, q) is None  # not before the backoff passes

    second = take_within(api, q, 5)
    assert (second["id"], second["attempts"], second["status"]) == (job["id"], 2, "running")
    delayed = fail(api, second, {"error": "second"})
    wait = timestamp(delayed["due_at"]) - timestamp(delayed["updated_at"])
    assert 0.5 <= wait <= 1.5  # doubled
    assert delayed["retries_left"] == 0

    third = take_within(api, q, 5)
    final = fail(api, third, {"error": "third"})
    assert (final["status"], final["result"], final["attempts"]) == (
        "failed", {"error": "third"}, 3)
    assert final["retries_left"] == 0 and final["finished_at"] is not None
    assert take(api, q, block_for=0.5) is None


@pytest.mark.documents("report-failed-retry")
def test_a_retry_comes_back_done(api: httpx.Client, q: str) -> None:
    enqueue(api, q, retries=1, retry_backoff=0.05)
    fail(api, take_within(api, q, 0))
    again = take_within(api, q, 5)
    done = report(api, again["id"], "done", "ok", lease=again["lease"]).json()
    assert (done["status"], done["result"], done["attempts"], done["retries_left"]) == (
        "done", "ok", 2, 0)


@pytest.mark.documents("report-retry-false")
def test_retry_false_fails_the_job_for_good(api: httpx.Client, q: str) -> None:
    enqueue(api, q, retries=5)
    final = fail(api, take_within(api, q, 0), "bad input", retry=False)
    assert (final["status"], final["result"], final["retries_left"]) == ("failed", "bad input", 5)
    assert take(api, q) is None


@pytest.mark.documents("report-retry-false")
def test_retry_false_in_a_batch_report(api: httpx.Client, q: str) -> None:
    enqueue(api, q, retries=5)
    enqueue(api, q, retries=5)
    first, second = take_within(api, q, 0), take_within(api, q, 0)
    response = api.put("/jobs", json=[
        {"id": first["id"], "status": "failed", "retry": False},
        {"id": second["id"], "status": "failed"},
    ])
    assert response.status_code == 200, response.text
    statuses = [outcome["job"]["status"] for outcome in response.json()]
    assert statuses == ["failed", "delayed"]


@pytest.mark.documents("report-done-200")
def test_without_retries_a_failure_is_final_at_once(api: httpx.Client, q: str) -> None:
    job = enqueue(api, q)
    assert (job["retries"], job["retries_left"], job["retry_backoff"]) == (0, 0, 1.0)
    assert fail(api, take_within(api, q, 0))["status"] == "failed"


@pytest.mark.documents("decision-retries-attempts")
def test_each_retry_counts_against_max_attempts(api: httpx.Client, q: str) -> None:
    enqueue(api, q, retries=5, retry_backoff=0.05, max_attempts=2)
    fail(api, take_within(api, q, 0))
    final = fail(api, take_within(api, q, 5), "again")
    assert (final["status"], final["attempts"], final["retries_left"]) == ("failed", 2, 4)
    assert "last allowed attempt" in final["error"]


@pytest.mark.documents("decision-retries-attempts")
def test_retries_raise_the_default_max_attempts(api: httpx.Client, q: str) -> None:
    assert enqueue(api, q, retries=10)["max_attempts"] == 11
    assert enqueue(api, q, retries=1)["max_attempts"] == 5  # the setting, when larger
    assert enqueue(api, q, retries=10, max_attempts=3)["max_attempts"] == 3  # as sent


@pytest.mark.documents("enqueue-batch-202")
def test_batch_items_carry_retries(api: httpx.Client, q: str) -> None:
    response = api.post(
        "/jobs",
        json=[{"queue": q}, {"queue": q, "retries": 3, "retry_backoff": 2.5}],
        headers={"X-Accepted-Retries": "1"},
    )
    assert response.status_code == 202, response.text
    jobs = response.json()
    assert [(j["retries"], j["retries_left"], j["retry_backoff"]) for j in jobs] == [
        (1, 1, 1.0), (3, 3, 2.5)]


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Accepted-Retries", "101"),
        ("X-Accepted-Retries", "-1"),
        ("X-Accepted-Retries", "1.5"),
        ("X-Accepted-Retry-Backoff", "0"),
        ("X-Accepted-Retry-Backoff", "-2"),
        ("X-Accepted-Retry-Backoff", "soon"),
    ],
)
@pytest.mark.documents("enqueue-400")
def test_bad_retry_headers_are_400(api: httpx.Client, q: str, header: str, value: str) -> None:
    response = api.post("/jobs", json={"queue": q}, headers={header: value})
    assert assert_error(response, 400, header)["code"] == "invalid_header"
    assert take(api, q) is None


@pytest.mark.parametrize(
    "item", [{"retries": 101}, {"retries": -1}, {"retry_backoff": 0}, {"retries": "2"}]
)
@pytest.mark.documents("enqueue-batch-400")
def test_bad_retry_fields_of_a_batch_are_400(
    api: httpx.Client, q: str, item: dict[str, object]
) -> None:
    response = api.post("/jobs", json=[{"queue": q, **item}])
    assert_error(response, 400, next(iter(item)))
    assert take(api, q) is None


@pytest.mark.documents("report-400")
def test_a_retry_that_is_not_a_boolean_is_400(api: httpx.Client, q: str) -> None:
    enqueue(api, q, retries=1)
    job = take_within(api, q, 0)
    response = api.put(f"/jobs/{job['id']}", json={"status": "failed", "retry": "no"})
    assert_error(response, 400, "retry")
    assert get(api, job["id"])["status"] == "running"


@pytest.mark.documents("decision-retry-settings")
def test_the_server_sets_default_retries_and_caps_the_backoff(
    start_server: StartServer,
) -> None:
    server = start_server(ACCEPTED_RETRIES="1", ACCEPTED_RETRY_BACKOFF_CAP="0.05")
    with httpx.Client(base_url=server.url, timeout=30.0) as api:
        job = enqueue(api, "r", retry_backoff=1000)
        assert (job["retries"], job["retries_left"]) == (1, 1)
        delayed = fail(api, take_within(api, "r", 0))
        wait = timestamp(delayed["due_at"]) - timestamp(delayed["updated_at"])
        assert 0 < wait <= 0.05 + 2e-6  # times on the wire are whole microseconds
        assert take_within(api, "r", 5)["id"] == job["id"]


@pytest.mark.documents("decision-default-result-ttl")
def test_the_server_sets_a_default_result_ttl(start_server: StartServer) -> None:
    server = start_server(ACCEPTED_RESULT_TTL="0.2")
    with httpx.Client(base_url=server.url, timeout=30.0) as api:
        short, kept = enqueue(api, "t"), enqueue(api, "t", result_ttl=3600)
        assert (short["result_ttl"], kept["result_ttl"]) == (0.2, 3600)
        for _ in (short, kept):
            report(api, take_within(api, "t", 0)["id"], "done")
        until(lambda: api.get(f"/jobs/{short['id']}").status_code == 404)
        assert get(api, kept["id"])["status"] == "done"


@pytest.mark.documents("decision-default-result-ttl")
def test_by_default_final_jobs_are_kept_forever(api: httpx.Client, q: str) -> None:
    job = enqueue(api, q)
    assert job["result_ttl"] is None
    report(api, take_within(api, q, 0)["id"], "done")
    assert get(api, job["id"])["expires_at"] is None
