"""POST /jobs/{id}/cancel and POST /jobs/{id}/retry: stopping a job while keeping
it, and running a failed or cancelled one again."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.http.helpers import (
    PROMPT,
    Background,
    assert_error,
    enqueue,
    get,
    report,
    settle,
    take,
    timestamp,
)


def cancel(api: httpx.Client, job_id: str) -> httpx.Response:
    return api.post(f"/jobs/{job_id}/cancel")


def retry(api: httpx.Client, job_id: str) -> httpx.Response:
    return api.post(f"/jobs/{job_id}/retry")


def failed_job(api: httpx.Client, q: str, **headers: str | float) -> dict[str, object]:
    enqueue(api, q, {"n": 1}, **headers)
    job = take(api, q)
    assert job is not None
    response = report(api, job["id"], "failed", {"why": "boom"})
    assert response.json()["status"] == "failed"
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("delay", [0, 30])
@pytest.mark.documents("cancel-200")
def test_cancelling_a_waiting_job_keeps_it_and_nobody_gets_it(
    api: httpx.Client, q: str, delay: float
) -> None:
    job = enqueue(api, q, {"p": 1}, delay=delay)
    response = cancel(api, job["id"])
    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert (cancelled["id"], cancelled["status"], cancelled["params"]) == (
        job["id"], "cancelled", {"p": 1})
    assert cancelled["finished_at"] is not None
    assert get(api, job["id"]) == cancelled  # kept, unlike DELETE
    assert take(api, q) is None


@pytest.mark.documents("cancel-200")
def test_cancelling_a_running_job_refuses_its_worker(api: httpx.Client, q: str) -> None:
    enqueue(api, q)
    job = take(api, q)
    assert job is not None
    cancelled = cancel(api, job["id"]).json()
    assert (cancelled["status"], cancelled["attempts"]) == ("cancelled", 1)
    assert cancelled["lease_expires_at"] is None
    for status in ("running", "done", "queued"):
        late = report(api, job["id"], status, "late", lease=job["lease"])
        assert assert_error(late, 409)["code"] == "conflict"
    assert get(api, job["id"]) == cancelled


@pytest.mark.documents("cancel-200")
def test_cancelling_answers_a_waiting_get(
    api: httpx.Client, api_runner: Background, q: str
) -> None:
    job = enqueue(api, q)
    waiting = api_runner.request(
        "GET", f"/jobs/{job['id']}", headers={"X-Accepted-Wait-Result": "30"})
    cancelled = cancel(api, job["id"]).json()
    answer = waiting.result(timeout=PROMPT).response
    assert answer.json() == cancelled


@pytest.mark.documents("cancel-200")
def test_a_cancelled_job_with_a_result_ttl_expires(api: httpx.Client, q: str) -> None:
    job = enqueue(api, q, result_ttl=3600)
    cancelled = cancel(api, job["id"]).json()
    assert timestamp(cancelled["expires_at"]) == pytest.approx(
        timestamp(cancelled["finished_at"]) + 3600, abs=1e-3)


@pytest.mark.parametrize("final", ["done", "failed", "cancelled"])
@pytest.mark.documents("cancel-409")
def test_cancelling_a_final_job_is_409(api: httpx.Client, q: str, final: str) -> None:
    job = enqueue(api, q)
    if final == "cancelled":
        cancel(api, job["id"])
    else:
        taken = take(api, q)
        assert taken is not None
        report(api, job["id"], final, {"r": 1})
    before = get(api, job["id"])
    error = assert_error(cancel(api, job["id"]), 409, job["id"], final)
    assert error["code"] == "conflict"
    assert get(api, job["id"]) == before


@pytest.mark.documents("cancel-404", "retry-404")
def test_cancel_or_retry_of_an_unknown_job_is_404(api: httpx.Client) -> None:
    for act in (cancel, retry):
        assert assert_error(act(api, str(uuid.uuid4())), 404)["code"] == "job_not_found"
        assert_error(act(api, "not-a-uuid"), 404, "not-a-uuid")


def test_cancel_and_retry_take_only_post(api: httpx.Client, q: str) -> None:
    job = enqueue(api, q)
    for action in ("cancel", "retry"):
        response = api.get(f"/jobs/{job['id']}/{action}")
        assert assert_error(response, 405)["code"] == "method_not_allowed"
        assert response.headers["allow"] == "POST"


@pytest.mark.documents("retry-200")
def test_retrying_a_failed_job_queues_it_afresh(api: httpx.Client, q: str) -> None:
    failed = failed_job(api, q, job_timeout=3600)
    response = retry(api, str(failed["id"]))
    assert response.status_code == 200, response.text
    again = response.json()
    assert again["status"] == "queued"
    assert (again["attempts"], again["result"], again["error"]) == (0, None, None)
    assert (again["finished_at"], again["expires_at"]) == (None, None)
    assert again["retries_left"] == again["retries"]
    now = timestamp(again["updated_at"])
    assert timestamp(again["due_at"]) == pytest.approx(now, abs=1e-3)
    assert timestamp(again["deadline_at"]) == pytest.approx(now + 3600, abs=1e-3)
    taken = take(api, q)
    assert taken is not None and taken["id"] == again["id"] and taken["attempts"] == 1
    assert report(api, taken["id"], "done", "ok").json()["status"] == "done"


@pytest.mark.documents("retry-200")
def test_retrying_a_cancelled_job_wakes_a_blocked_worker(
    api: httpx.Client, api_runner: Background, q: str
) -> None:
    job = enqueue(api, q)
    cancel(api, job["id"])
    blocked = api_runner.request(
        "POST", "/want_job", params={"queue": q}, headers={"X-Accepted-Block-For": "30"})
    settle()
    assert retry(api, job["id"]).json()["status"] == "queued"
    answer = blocked.result(timeout=PROMPT).response
    assert answer.status_code == 200 and answer.json()["id"] == job["id"]


@pytest.mark.parametrize("state", ["queued", "delayed", "running", "done"])
@pytest.mark.documents("retry-409")
def test_retrying_a_job_that_is_not_failed_or_cancelled_is_409(
    api: httpx.Client, q: str, state: str
) -> None:
    job = enqueue(api, q, delay=30 if state == "delayed" else 0)
    if state in ("running", "done"):
        assert take(api, q) is not None
    if state == "done":
        report(api, job["id"], "done")
    before = get(api, job["id"])
    error = assert_error(retry(api, job["id"]), 409, job["id"], state)
    assert error["code"] == "conflict"
    assert get(api, job["id"]) == before
