"""PUT /jobs/<id>: done, failed, heartbeat, give back; lease fencing; illegal reports."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.http.helpers import (
    PROMPT,
    JobJSON,
    assert_error,
    enqueue,
    get,
    report,
    take,
    timestamp,
    until,
)


def _running(
    api: httpx.Client, q: str, *, lease: float | None = None, **enqueue_headers: str | float
) -> JobJSON:
    """A job taken from `q` (leased for `lease` seconds, if given)."""
    enqueue(api, q, **enqueue_headers)
    taken = take(api, q) if lease is None else take(api, q, timeout=lease)
    assert taken is not None
    return taken


@pytest.mark.parametrize("status", ["done", "failed"])
@pytest.mark.parametrize("result", [{"rows": [1, 2]}, "text", 0, None, [None, "ü"]])
def test_done_and_failed_make_the_job_final_with_the_result(
    api: httpx.Client, q: str, status: str, result: object
) -> None:
    job = _running(api, q)
    response = report(api, job["id"], status, result)
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["result"], body["id"]) == (status, result, job["id"])
    assert body["finished_at"] is not None
    assert (get(api, job["id"])["status"], get(api, job["id"])["result"]) == (status, result)
    assert take(api, q) is None  # a final job is never handed out


def test_result_defaults_to_null(api: httpx.Client, q: str) -> None:
    job = _running(api, q)
    response = api.put(f"/jobs/{job['id']}", json={"status": "done"})
    assert response.status_code == 200 and response.json()["result"] is None


def test_put_trailing_slash_and_header_case(api: httpx.Client, q: str) -> None:
    job = _running(api, q)
    response = api.put(f"/jobs/{job['id']}/", json={"status": "done", "result": 1},
                       headers={"X-ACCEPTED-LEASE": job["lease"]})
    assert response.status_code == 200


def test_a_heartbeat_starts_the_lease_afresh_with_a_new_length(
    api: httpx.Client, q: str
) -> None:
    job = _running(api, q, lease=0.5)
    response = report(api, job["id"], "running", lease=job["lease"], timeout=120)
    assert response.status_code == 200
    beat = response.json()
    assert beat["status"] == "running"
    assert timestamp(beat["lease_expires_at"]) == pytest.approx(
        timestamp(beat["updated_at"]) + 120, abs=0.01)


def test_a_heartbeat_without_a_timeout_keeps_the_lease_length(api: httpx.Client, q: str) -> None:
    job = _running(api, q, lease=0.5)

    def length(beat: JobJSON) -> float:
        return timestamp(beat["lease_expires_at"]) - timestamp(beat["updated_at"])

    assert length(report(api, job["id"], "running").json()) == pytest.approx(0.5, abs=0.01)
    report(api, job["id"], "running", timeout=120)
    assert length(report(api, job["id"], "running").json()) == pytest.approx(120, abs=0.01)


def test_a_heartbeat_that_shortens_the_lease_is_acted_on_at_the_new_expiry(
    api: httpx.Client, q: str
) -> None:
    job = _running(api, q, lease=60)
    beat = report(api, job["id"], "running", lease=job["lease"], timeout=0.3).json()
    started = time.monotonic()
    again = take(api, q, block_for=20)  # answered when the shortened lease runs out
    assert again is not None and again["id"] == job["id"]
    assert time.monotonic() - started < 0.3 + PROMPT
    assert time.time() >= timestamp(beat["lease_expires_at"]) - 0.05


def test_heartbeats_keep_a_job_past_its_first_lease_and_stopping_them_lets_it_expire(
    api: httpx.Client, q: str
) -> None:
    enqueue(api, q)
    job = take(api, q, timeout=0.8)
    assert job is not None
    first_expiry = timestamp(job["lease_expires_at"])
    while time.time() < first_expiry + 0.4:
        assert report(api, job["id"], "running", lease=job["lease"], timeout=0.8).status_code == 200
        time.sleep(0.1)
    still = get(api, job["id"])
    assert (still["status"], still["attempts"]) == ("running", 1)
    until(lambda: get(api, job["id"])["status"] == "queued")


def test_give_back_queues_the_job_at_once(api: httpx.Client, q: str) -> None:
    job = _running(api, q)
    response = report(api, job["id"], "queued", lease=job["lease"])
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["attempts"], body["lease_expires_at"]) == ("queued", 1, None)
    again = take(api, q)
    assert again is not None and (again["id"], again["attempts"]) == (job["id"], 2)


def test_give_back_on_the_last_attempt_fails_the_job(api: httpx.Client, q: str) -> None:
    job = _running(api, q, max_attempts=1)
    body = report(api, job["id"], "queued").json()
    assert body["status"] == "failed"
    assert "attempt" in body["error"]
    assert take(api, q) is None


def test_a_stale_lease_is_refused_and_changes_nothing(api: httpx.Client, q: str) -> None:
    first = _running(api, q, lease=0.3)
    until(lambda: get(api, first["id"])["status"] == "queued")
    second = take(api, q)
    assert second is not None and second["id"] == first["id"]
    for status in ("done", "failed", "running", "queued"):
        stale = report(api, first["id"], status, "stale twin", lease=first["lease"])
        assert_error(stale, 409, "lease")
    now = get(api, first["id"])
    assert (now["status"], now["attempts"], now["result"]) == ("running", 2, None)
    assert now["lease_expires_at"] == second["lease_expires_at"]
    fresh = report(api, first["id"], "done", "real", lease=second["lease"])
    assert fresh.status_code == 200 and fresh.json()["result"] == "real"


def test_a_lease_given_back_is_stale(api: httpx.Client, q: str) -> None:
    first = _running(api, q)
    report(api, first["id"], "queued", lease=first["lease"])
    second = take(api, q)
    assert second is not None
    assert_error(report(api, first["id"], "done", lease=first["lease"]), 409, "lease")


def test_a_put_without_a_lease_is_accepted(api: httpx.Client, q: str) -> None:
    job = _running(api, q)
    assert report(api, job["id"], "done", 1).status_code == 200


@pytest.mark.parametrize("status", ["cancelled", "delayed", "bogus", "", "DONE"])
def test_an_unknown_status_is_400(api: httpx.Client, q: str, status: str) -> None:
    job = _running(api, q)
    assert_error(report(api, job["id"], status), 400, "status")
    assert get(api, job["id"])["status"] == "running"


def test_a_missing_status_is_400(api: httpx.Client, q: str) -> None:
    job = _running(api, q)
    assert_error(api.put(f"/jobs/{job['id']}", json={"result": 1}), 400, "status")


def test_an_unknown_job_is_404(api: httpx.Client) -> None:
    job_id = str(uuid.uuid4())
    assert_error(report(api, job_id, "done"), 404, job_id)


def test_a_queued_job_is_409(api: httpx.Client, q: str) -> None:
    job = enqueue(api, q)
    for status in ("done", "failed", "running", "queued"):
        assert_error(report(api, job["id"], status, "x"), 409, "queued")
    assert get(api, job["id"]) == job


def test_a_delayed_job_is_409(api: httpx.Client, q: str) -> None:
    job = enqueue(api, q, delay=60)
    for status in ("done", "failed", "running", "queued"):
        assert_error(report(api, job["id"], status, "x"), 409, "delayed")
    assert get(api, job["id"]) == job


@pytest.mark.parametrize("final", ["done", "failed"])
def test_a_final_job_is_409_and_never_changes(api: httpx.Client, q: str, final: str) -> None:
    job = _running(api, q)
    finished = report(api, job["id"], final, "first").json()
    for status in ("done", "failed", "running", "queued"):
        assert_error(report(api, job["id"], status, "second"), 409, final)
    assert get(api, job["id"]) == finished
