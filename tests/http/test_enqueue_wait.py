"""POST /jobs with X-Accepted-Wait-Result: enqueue, then answer once the job is final."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.http.helpers import PROMPT, Background, assert_error, get, report, take

# Also against a several-process server (tests/http/conftest.py).
pytestmark = pytest.mark.processes

WAIT_30 = {"X-Accepted-Wait-Result": "30"}


def _taken(api: httpx.Client, q: str) -> dict[str, object]:
    """The job the waiting enqueue made, taken as a worker would (it may not be in yet)."""
    job = take(api, q, block_for=10)
    assert job is not None
    return job


@pytest.mark.parametrize(("status", "result"), [("done", {"thumb": "x.png"}), ("failed", "boom")])
@pytest.mark.documents("enqueue-wait")
def test_the_answer_is_the_final_job_the_moment_a_worker_reports(
    api: httpx.Client, q: str, api_runner: Background, status: str, result: object
) -> None:
    waiting = api_runner.request("POST", "/jobs", json={"queue": q, "params": 1}, headers=WAIT_30)
    job = _taken(api, q)
    assert not waiting.done()  # held while the job runs
    put_at = time.monotonic()
    assert report(api, str(job["id"]), status, result).status_code == 200
    answer = waiting.result(timeout=10)
    assert answer.response.status_code == 200
    body = answer.response.json()
    assert (body["id"], body["status"], body["result"]) == (job["id"], status, result)
    assert answer.response.headers["location"] == f"/jobs/{job['id']}"
    assert answer.done_at - put_at < PROMPT


@pytest.mark.documents("enqueue-wait")
def test_a_wait_that_runs_out_answers_202_with_the_job_as_it_is(api: httpx.Client, q: str) -> None:
    started = time.monotonic()
    response = api.post("/jobs", json={"queue": q}, headers={"X-Accepted-Wait-Result": "0.5"})
    elapsed = time.monotonic() - started
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    assert response.headers["location"] == f"/jobs/{body['id']}"
    assert 0.45 <= elapsed < 0.5 + PROMPT
    assert get(api, body["id"])["status"] == "queued"  # enqueued all the same


@pytest.mark.documents("enqueue-wait")
def test_a_job_deleted_during_the_wait_answers_200_cancelled(
    api: httpx.Client, q: str, api_runner: Background
) -> None:
    waiting = api_runner.request("POST", "/jobs", json={"queue": q}, headers=WAIT_30)
    job = _taken(api, q)
    assert api.delete(f"/jobs/{job['id']}").status_code == 200
    answer = waiting.result(timeout=10)
    assert answer.response.status_code == 200
    assert answer.response.json()["status"] == "cancelled"


@pytest.mark.documents("enqueue-wait")
def test_the_header_on_a_batch_is_400_and_enqueues_nothing(api: httpx.Client, q: str) -> None:
    response = api.post("/jobs", json=[{"queue": q}, {"queue": q}], headers=WAIT_30)
    error = assert_error(response, 400, "X-Accepted-Wait-Result")
    assert error["code"] == "invalid_header"
    assert take(api, q) is None


@pytest.mark.documents("enqueue-wait")
def test_a_zero_wait_answers_at_once_with_202(api: httpx.Client, q: str) -> None:
    response = api.post("/jobs", json={"queue": q}, headers={"X-Accepted-Wait-Result": "0"})
    assert response.status_code == 202
    assert response.json()["status"] == "queued"


@pytest.mark.documents("enqueue-wait")
def test_a_replayed_idempotent_enqueue_waits_for_the_same_job(api: httpx.Client, q: str) -> None:
    headers = {"Idempotency-Key": f"wait-{q}", "X-Accepted-Wait-Result": "0.2"}
    first = api.post("/jobs", json={"queue": q}, headers=headers)
    assert first.status_code == 202
    job = take(api, q)
    assert job is not None and job["id"] == first.json()["id"]
    assert report(api, str(job["id"]), "done", "ok").status_code == 200
    replay = {"Idempotency-Key": headers["Idempotency-Key"]}
    plain = api.post("/jobs", json={"queue": q}, headers=replay)
    assert plain.status_code == 202  # a replay answers as the first did, final or not
    assert plain.json()["status"] == "done"
    again = api.post("/jobs", json={"queue": q}, headers=headers)
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert (again.json()["id"], again.json()["result"]) == (job["id"], "ok")
