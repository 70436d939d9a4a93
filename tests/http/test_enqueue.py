"""POST /jobs: the answer, and what each X-Accepted-* header of SPEC.md does."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.http.helpers import (
    PROMPT,
    Background,
    enqueue,
    get,
    note_latency,
    report,
    take,
    timestamp,
    until,
)


def test_enqueue_answers_202_with_location_and_the_job(api: httpx.Client, q: str) -> None:
    before = time.time()
    response = api.post("/jobs", json={"queue": q, "params": {"to": "a@b.c"}})
    assert response.status_code == 202
    job = response.json()
    assert response.headers["location"] == f"/jobs/{job['id']}"
    assert str(uuid.UUID(job["id"])) == job["id"]
    assert job["queue"] == q
    assert job["status"] == "queued"
    assert job["priority"] == 1
    assert job["params"] == {"to": "a@b.c"}
    assert job["result"] is None
    assert job["attempts"] == 0
    created, updated = timestamp(job["created_at"]), timestamp(job["updated_at"])
    assert before - 1 <= created <= updated <= time.time() + 1
    assert api.get(response.headers["location"]).json() == job


@pytest.mark.parametrize(
    "params", [{"nested": {"list": [1, 2.5, None, True]}}, [1, "two"], "text", 42, None, "ünï"]
)
def test_params_are_any_json_value_kept_as_sent(api: httpx.Client, q: str, params: object) -> None:
    response = api.post("/jobs", json={"queue": q, "params": params})
    assert response.status_code == 202
    job_id = response.json()["id"]
    assert response.json()["params"] == params
    assert get(api, job_id)["params"] == params
    assert take(api, q)["params"] == params  # type: ignore[index]


def test_params_default_to_an_empty_object(api: httpx.Client, q: str) -> None:
    assert enqueue(api, q)["params"] == {}


def test_trailing_slash_is_the_same_route(api: httpx.Client, q: str) -> None:
    response = api.post("/jobs/", json={"queue": q})
    assert response.status_code == 202
    assert get(api, response.json()["id"])["queue"] == q


@pytest.mark.parametrize("priority", [0, 1, 2, 3])
def test_priority_header_sets_priority(api: httpx.Client, q: str, priority: int) -> None:
    job = enqueue(api, q, priority=priority)
    assert job["priority"] == priority
    assert get(api, job["id"])["priority"] == priority


def test_header_names_are_case_insensitive(api: httpx.Client, q: str) -> None:
    response = api.post(
        "/jobs",
        json={"queue": q},
        headers={"X-ACCEPTED-PRIORITY": "0", "x-accepted-delay": "30",
                 "X-aCcEpTeD-mAx-AtTeMpTs": "7"},
    )
    assert response.status_code == 202
    job = response.json()
    assert (job["priority"], job["status"], job["max_attempts"]) == (0, "delayed", 7)


def test_delay_holds_the_job_back_then_hands_it_out_promptly(
    api: httpx.Client, q: str, api_runner: Background
) -> None:
    job = enqueue(api, q, delay=0.5)
    enqueued_at = time.monotonic()
    assert job["status"] == "delayed"
    due = timestamp(job["due_at"])
    assert due == pytest.approx(timestamp(job["created_at"]) + 0.5, abs=0.01)
    assert take(api, q) is None  # not before it is due
    taken = api_runner.request(
        "POST", "/want_job", params={"queue": q}, headers={"X-Accepted-Block-For": "10"}
    )
    answer = taken.result(timeout=15)
    assert answer.response.status_code == 200
    assert answer.response.json()["id"] == job["id"]
    assert answer.done_at - enqueued_at >= 0.45  # never before the delay passes
    assert time.time() - due < PROMPT  # and promptly once it does
    note_latency("delayed job handed out after its due time", time.time() - due)


def test_zero_delay_is_queued_at_once(api: httpx.Client, q: str) -> None:
    assert enqueue(api, q, delay=0)["status"] == "queued"


def test_a_delayed_job_becomes_queued_when_due(api: httpx.Client, q: str) -> None:
    job = enqueue(api, q, delay=0.2)
    assert until(lambda: get(api, job["id"])["status"] == "queued")


def test_result_ttl_removes_the_job_once_final_and_the_ttl_passes(
    api: httpx.Client, q: str
) -> None:
    job = enqueue(api, q, result_ttl=0.3)
    assert take(api, q) is not None
    time.sleep(0.5)  # longer than the TTL, but the job is not final: still kept
    assert get(api, job["id"])["status"] == "running"
    done = report(api, job["id"], "done", {"answer": 42})
    assert done.status_code == 200
    assert timestamp(done.json()["expires_at"]) == pytest.approx(
        timestamp(done.json()["finished_at"]) + 0.3, abs=0.01)
    assert get(api, job["id"])["result"] == {"answer": 42}  # kept meanwhile
    until(lambda: api.get(f"/jobs/{job['id']}").status_code == 404)


def test_without_result_ttl_a_final_job_is_kept(api: httpx.Client, q: str) -> None:
    job = enqueue(api, q)
    take(api, q)
    assert report(api, job["id"], "done", 1).json()["expires_at"] is None


def test_job_timeout_fails_an_untaken_job_and_it_is_never_handed_out(
    api: httpx.Client, q: str
) -> None:
    job = enqueue(api, q, job_timeout=0.4)
    deadline = timestamp(job["deadline_at"])
    assert deadline == pytest.approx(timestamp(job["due_at"]) + 0.4, abs=0.01)
    waited = api.get(f"/jobs/{job['id']}", headers={"X-Accepted-Wait-Result": "10"})
    assert waited.json()["status"] == "failed"
    assert "timeout" in waited.json()["error"].lower()
    assert time.time() - deadline < PROMPT
    note_latency("job timeout -> wait-result answer", time.time() - deadline)
    assert take(api, q) is None


def test_job_timeout_is_counted_from_the_due_time(api: httpx.Client, q: str) -> None:
    job = enqueue(api, q, delay=0.3, job_timeout=0.2)
    assert timestamp(job["deadline_at"]) == pytest.approx(
        timestamp(job["created_at"]) + 0.5, abs=0.01)
    taken = take(api, q, block_for=5)
    assert taken is not None and taken["id"] == job["id"]  # handed out after the delay


def test_job_timeout_fails_a_running_job_and_a_late_put_is_refused(
    api: httpx.Client, q: str
) -> None:
    job = enqueue(api, q, job_timeout=0.4)
    taken = take(api, q)
    assert taken is not None
    waited = api.get(f"/jobs/{job['id']}", headers={"X-Accepted-Wait-Result": "10"}).json()
    assert waited["status"] == "failed" and "timeout" in waited["error"].lower()
    late = report(api, job["id"], "done", "too late", lease=taken["lease"])
    assert late.status_code == 409
    after = get(api, job["id"])
    assert (after["status"], after["result"]) == ("failed", None)
    assert take(api, q) is None


def test_max_attempts_fails_the_job_when_the_last_lease_expires(
    api: httpx.Client, q: str
) -> None:
    job = enqueue(api, q, max_attempts=2)
    assert job["max_attempts"] == 2
    first = take(api, q, timeout=0.3)
    assert first is not None and first["attempts"] == 1
    second = take(api, q, timeout=0.3, block_for=10)  # after the first lease expired
    assert second is not None and second["id"] == job["id"] and second["attempts"] == 2
    final = api.get(f"/jobs/{job['id']}", headers={"X-Accepted-Wait-Result": "10"}).json()
    assert final["status"] == "failed"
    assert "attempt" in final["error"]
    assert take(api, q) is None


def test_default_max_attempts_is_at_least_three(api: httpx.Client, q: str) -> None:
    assert enqueue(api, q)["max_attempts"] >= 3


def test_fractional_seconds_are_accepted_everywhere(api: httpx.Client, q: str) -> None:
    job = enqueue(api, q, delay=0.25, result_ttl=1.5, job_timeout=2.75)
    assert job["result_ttl"] == 1.5
    assert job["timeout"] == 2.75
    assert timestamp(job["due_at"]) == pytest.approx(timestamp(job["created_at"]) + 0.25,
                                                     abs=0.01)
