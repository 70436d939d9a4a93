"""GET /jobs/{id}/attempts: one entry per hand-out, oldest first, with how each
ended and what its worker reported."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.http.helpers import (
    JobJSON,
    assert_error,
    enqueue,
    report,
    take,
    timestamp,
    until,
)


def attempts(api: httpx.Client, job_id: str) -> list[JobJSON]:
    response = api.get(f"/jobs/{job_id}/attempts")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"attempts"}
    found: list[JobJSON] = body["attempts"]
    for entry in found:
        assert set(entry) == {"attempt", "started_at", "ended_at", "outcome", "result"}
    return found


def taken(api: httpx.Client, q: str, **headers: str | float) -> JobJSON:
    job = take(api, q, **headers)
    assert job is not None
    return job


@pytest.mark.documents("attempts-200")
def test_a_job_not_yet_handed_out_has_no_attempts(api: httpx.Client, q: str) -> None:
    assert attempts(api, enqueue(api, q)["id"]) == []


@pytest.mark.documents("attempts-200")
def test_the_running_attempt_has_no_end_yet(api: httpx.Client, q: str) -> None:
    enqueue(api, q)
    job = taken(api, q)
    [running] = attempts(api, job["id"])
    assert running["attempt"] == 1
    assert running["started_at"] == job["started_at"] == job["updated_at"]
    assert (running["ended_at"], running["outcome"], running["result"]) == (None, None, None)


@pytest.mark.documents("attempts-200")
def test_each_hand_out_is_one_entry_with_its_outcome_and_result(
    api: httpx.Client, q: str
) -> None:
    job = enqueue(api, q, retries=1, retry_backoff=0.05)
    first = taken(api, q)
    assert report(api, first["id"], "queued").status_code == 200  # given back
    second = taken(api, q)
    failed = report(api, second["id"], "failed", {"error": "boom"}).json()
    assert failed["status"] == "delayed"
    third = taken(api, q, block_for=5)
    done = report(api, third["id"], "done", {"ok": True}).json()
    history = attempts(api, job["id"])
    assert [(a["attempt"], a["outcome"], a["result"]) for a in history] == [
        (1, "given_back", None),
        (2, "retried", {"error": "boom"}),
        (3, "done", {"ok": True}),
    ]
    assert history[0]["started_at"] == first["started_at"]
    assert history[2]["ended_at"] == done["finished_at"]
    for entry in history:
        assert timestamp(entry["started_at"]) <= timestamp(entry["ended_at"])
    assert history[0]["ended_at"] <= history[1]["started_at"]


@pytest.mark.documents("attempts-200")
def test_a_lost_lease_and_a_failure_for_good(api: httpx.Client, q: str) -> None:
    job = enqueue(api, q, retries=3)
    taken(api, q, timeout=0.2)
    until(lambda: attempts(api, job["id"])[-1]["outcome"] == "lease_expired")
    again = taken(api, q, block_for=5)
    response = api.put(f"/jobs/{again['id']}", json={"status": "failed", "result": "x",
                                                     "retry": False})
    assert response.json()["status"] == "failed"
    assert [a["outcome"] for a in attempts(api, job["id"])] == ["lease_expired", "failed"]


@pytest.mark.documents("attempts-200")
def test_cancel_and_job_timeout_end_the_running_attempt(api: httpx.Client, q: str) -> None:
    cancelled = enqueue(api, q)
    taken(api, q)
    api.post(f"/jobs/{cancelled['id']}/cancel")
    assert [a["outcome"] for a in attempts(api, cancelled["id"])] == ["cancelled"]

    timed = enqueue(api, q, job_timeout=0.3)
    taken(api, q)
    until(lambda: [a["outcome"] for a in attempts(api, timed["id"])] == ["timed_out"])


@pytest.mark.documents("attempts-200", "retry-200")
def test_a_retried_job_goes_on_numbering_its_attempts(api: httpx.Client, q: str) -> None:
    job = enqueue(api, q)
    report(api, taken(api, q)["id"], "failed", "first")
    again = api.post(f"/jobs/{job['id']}/retry").json()
    assert again["attempts"] == 0
    rerun = taken(api, q)
    assert rerun["attempts"] == 1
    assert [(a["attempt"], a["outcome"]) for a in attempts(api, job["id"])] == [
        (1, "failed"), (2, None)]


@pytest.mark.documents("attempts-404")
def test_attempts_of_an_unknown_or_deleted_job_are_404(api: httpx.Client, q: str) -> None:
    job = enqueue(api, q)
    report(api, taken(api, q)["id"], "done")
    assert len(attempts(api, job["id"])) == 1
    api.delete(f"/jobs/{job['id']}")
    for job_id in (job["id"], str(uuid.uuid4()), "nope"):
        error = assert_error(api.get(f"/jobs/{job_id}/attempts"), 404)
        assert error["code"] == "job_not_found"
