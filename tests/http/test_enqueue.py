"""POST /jobs: the answer, and what each X-Accepted-* header of SPEC.md does."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.http.helpers import (
    PROMPT,
    Background,
    assert_error,
    enqueue,
    get,
    note_latency,
    report,
    settle,
    take,
    timestamp,
    unique_queue,
    until,
)


@pytest.mark.documents("enqueue-202")
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


@pytest.mark.documents("enqueue-202")
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


@pytest.mark.documents("enqueue-202", "want-block")
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


@pytest.mark.documents("enqueue-202")
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


@pytest.mark.documents("decision-timeout-clock")
def test_job_timeout_is_counted_from_the_due_time(api: httpx.Client, q: str) -> None:
    job = enqueue(api, q, delay=0.3, job_timeout=0.2)
    assert timestamp(job["deadline_at"]) == pytest.approx(
        timestamp(job["created_at"]) + 0.5, abs=0.01)
    taken = take(api, q, block_for=5)
    assert taken is not None and taken["id"] == job["id"]  # handed out after the delay


@pytest.mark.documents("report-409")
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


@pytest.mark.documents("decision-attempts")
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


# -- batches, queue names, the direct hand-off ---------------------------------------


@pytest.mark.documents("enqueue-batch-202")
def test_a_batch_is_enqueued_in_the_order_sent_with_the_headers_as_defaults(
    api: httpx.Client, q: str
) -> None:
    other = unique_queue()
    body = [
        {"queue": q, "params": 1},
        {"queue": other, "priority": 0, "delay": 5},
        {"queue": q, "params": {"n": 3}, "max_attempts": 2, "result_ttl": 60},
    ]
    response = api.post("/jobs", json=body, headers={"X-Accepted-Priority": "2",
                                                     "X-Accepted-Result-TTL": "30"})
    assert response.status_code == 202
    assert "location" not in response.headers
    jobs = response.json()
    assert [j["queue"] for j in jobs] == [q, other, q]
    assert [j["params"] for j in jobs] == [1, {}, {"n": 3}]
    assert [j["priority"] for j in jobs] == [2, 0, 2]  # the header, unless the item says
    assert [j["result_ttl"] for j in jobs] == [30, 30, 60]
    assert [j["status"] for j in jobs] == ["queued", "delayed", "queued"]
    assert jobs[2]["max_attempts"] == 2
    for job in jobs:
        assert get(api, job["id"]) == job


@pytest.mark.documents("decision-order", "enqueue-batch-202")
def test_jobs_of_one_priority_and_due_time_are_handed_out_first_in_first_out(
    api: httpx.Client, q: str
) -> None:
    jobs = api.post("/jobs", json=[{"queue": q, "params": n} for n in range(10)]).json()
    assert len({job["due_at"] for job in jobs}) == 1  # one batch, one due time: all ties
    taken = [take(api, q) for _ in jobs]
    assert [t["id"] for t in taken if t] == [job["id"] for job in jobs]


@pytest.mark.documents("enqueue-batch-400")
@pytest.mark.parametrize(
    ("items", "words"),
    [
        ([{"queue": "ok"}] * 3 + [{"queue": ""}], ["[3].queue"]),
        ([{"queue": "ok"}, {"queue": "ok", "priority": 9}], ["[1].priority"]),
        ([{"queue": "ok"}, {"queue": "ok", "job_timeout": 0}], ["[1].job_timeout"]),
        ([{"queue": "ok", "priorty": 0}], ["priorty"]),
        ([{"queue": "ok"}, {"params": 1}], ["queue"]),
        ([], ["1000"]),
        ([{"queue": "ok"}] * 1001, ["1000"]),
    ],
    ids=["empty-queue", "priority", "job-timeout", "unknown-field", "no-queue", "empty",
         "too-many"],
)
def test_a_bad_batch_refuses_every_item(
    api: httpx.Client, q: str, items: list[dict[str, object]], words: list[str]
) -> None:
    body = [{**item, "queue": q} if item.get("queue") == "ok" else item for item in items]
    error = assert_error(api.post("/jobs", json=body), 400, *words)
    assert error["code"] == "invalid_field"
    assert take(api, q) is None  # nothing of the batch was enqueued


@pytest.mark.documents("decision-queue-names", "enqueue-400", "enqueue-batch-400")
def test_queue_names_are_1_to_255_characters_of_any_kind(api: httpx.Client) -> None:
    longest = unique_queue() + "ü" * 241  # 255 characters, more bytes than that
    assert len(longest) == 255
    job = enqueue(api, longest)
    assert take(api, longest)["id"] == job["id"]  # type: ignore[index]
    too_long = longest + "x"
    error = assert_error(api.post("/jobs", json={"queue": too_long}), 400, "queue")
    assert error["code"] == "invalid_field"
    error = assert_error(api.post("/jobs", json=[{"queue": too_long}]), 400, "[0].queue")
    assert error["code"] == "invalid_field"
    error = assert_error(api.post("/want_job", params={"queue": too_long}), 400, "queue")
    assert error["code"] == "invalid_field"


@pytest.mark.documents("decision-handoff", "decision-lease-token")
def test_a_new_job_is_handed_straight_to_a_blocked_worker_in_its_own_enqueue(
    api: httpx.Client, q: str, api_runner: Background
) -> None:
    waiting = api_runner.request("POST", "/want_job", params={"queue": q, "block": "30"})
    settle()
    response = api.post("/jobs", json={"queue": q})
    assert response.status_code == 202
    job = response.json()
    taken = waiting.result(timeout=10).response.json()
    assert taken["id"] == job["id"]
    assert (job["status"], job["attempts"]) == ("running", 1)  # the producer sees the hand-off
    assert job["lease_expires_at"] == taken["lease_expires_at"]
    assert "lease" not in job and taken["lease"]  # the token goes to the worker only
    assert get(api, job["id"])["status"] == "running"
