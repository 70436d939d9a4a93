"""PUT /jobs/<id>: done, failed, heartbeat, give back; lease fencing; illegal reports."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.http.helpers import (
    PROMPT,
    JobJSON,
    assert_error,
    enqueue,
    get,
    in_process,
    report,
    take,
    timestamp,
    unique_queue,
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
@pytest.mark.documents("report-done-200")
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


@pytest.mark.documents("report-done-200")
def test_result_defaults_to_null(api: httpx.Client, q: str) -> None:
    job = _running(api, q)
    response = api.put(f"/jobs/{job['id']}", json={"status": "done"})
    assert response.status_code == 200 and response.json()["result"] is None


def test_put_trailing_slash_and_header_case(api: httpx.Client, q: str) -> None:
    job = _running(api, q)
    response = api.put(f"/jobs/{job['id']}/", json={"status": "done", "result": 1},
                       headers={"X-ACCEPTED-LEASE": job["lease"]})
    assert response.status_code == 200


@pytest.mark.documents("report-running-200")
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


@pytest.mark.documents("report-running-200", "decision-heartbeat-lease")
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


@pytest.mark.documents("report-queued-200")
def test_give_back_queues_the_job_at_once(api: httpx.Client, q: str) -> None:
    job = _running(api, q)
    response = report(api, job["id"], "queued", lease=job["lease"])
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["attempts"], body["lease_expires_at"]) == ("queued", 1, None)
    again = take(api, q)
    assert again is not None and (again["id"], again["attempts"]) == (job["id"], 2)


@pytest.mark.documents("report-queued-200", "decision-attempts")
def test_give_back_on_the_last_attempt_fails_the_job(api: httpx.Client, q: str) -> None:
    job = _running(api, q, max_attempts=1)
    body = report(api, job["id"], "queued").json()
    assert body["status"] == "failed"
    assert "attempt" in body["error"]
    assert take(api, q) is None


@pytest.mark.documents("report-409-lease")
def test_a_stale_lease_is_refused_and_changes_nothing(api: httpx.Client, q: str) -> None:
    first = _running(api, q, lease=0.3)
    until(lambda: get(api, first["id"])["status"] == "queued")
    second = take(api, q)
    assert second is not None and second["id"] == first["id"]
    for status in ("done", "failed", "running", "queued"):
        stale = report(api, first["id"], status, "stale twin", lease=first["lease"])
        assert assert_error(stale, 409, "lease")["code"] == "lease_mismatch"
    now = get(api, first["id"])
    assert (now["status"], now["attempts"], now["result"]) == ("running", 2, None)
    assert now["lease_expires_at"] == second["lease_expires_at"]
    fresh = report(api, first["id"], "done", "real", lease=second["lease"])
    assert fresh.status_code == 200 and fresh.json()["result"] == "real"


@pytest.mark.documents("report-409-lease")
def test_a_lease_given_back_is_stale(api: httpx.Client, q: str) -> None:
    first = _running(api, q)
    report(api, first["id"], "queued", lease=first["lease"])
    second = take(api, q)
    assert second is not None
    stale = report(api, first["id"], "done", lease=first["lease"])
    assert assert_error(stale, 409, "lease")["code"] == "lease_mismatch"


def test_a_put_without_a_lease_is_accepted(api: httpx.Client, q: str) -> None:
    job = _running(api, q)
    assert report(api, job["id"], "done", 1).status_code == 200


@pytest.mark.parametrize("status", ["cancelled", "delayed", "bogus", "", "DONE"])
@pytest.mark.documents("report-400")
def test_an_unknown_status_is_400(api: httpx.Client, q: str, status: str) -> None:
    job = _running(api, q)
    assert_error(report(api, job["id"], status), 400, "status")
    assert get(api, job["id"])["status"] == "running"


@pytest.mark.documents("report-400")
def test_a_missing_status_is_400(api: httpx.Client, q: str) -> None:
    job = _running(api, q)
    assert_error(api.put(f"/jobs/{job['id']}", json={"result": 1}), 400, "status")


@pytest.mark.documents("report-404")
def test_an_unknown_job_is_404(api: httpx.Client) -> None:
    job_id = str(uuid.uuid4())
    assert assert_error(report(api, job_id, "done"), 404, job_id)["code"] == "job_not_found"


@pytest.mark.documents("report-409")
def test_a_queued_job_is_409(api: httpx.Client, q: str) -> None:
    job = enqueue(api, q)
    for status in ("done", "failed", "running", "queued"):
        assert assert_error(report(api, job["id"], status, "x"), 409, "queued")["code"] == (
            "conflict")
    assert get(api, job["id"]) == job


@pytest.mark.documents("report-409")
def test_a_delayed_job_is_409(api: httpx.Client, q: str) -> None:
    job = enqueue(api, q, delay=60)
    for status in ("done", "failed", "running", "queued"):
        assert assert_error(report(api, job["id"], status, "x"), 409, "delayed")["code"] == (
            "conflict")
    assert get(api, job["id"]) == job


@pytest.mark.parametrize("final", ["done", "failed"])
@pytest.mark.documents("report-409")
def test_a_final_job_is_409_and_never_changes(api: httpx.Client, q: str, final: str) -> None:
    job = _running(api, q)
    finished = report(api, job["id"], final, "first").json()
    for status in ("done", "failed", "running", "queued"):
        assert assert_error(report(api, job["id"], status, "second"), 409, final)["code"] == (
            "conflict")
    assert get(api, job["id"]) == finished


@pytest.mark.documents("report-409-timeout")
async def test_a_report_past_the_job_timeout_is_refused_before_the_sweep_marks_it(
    tmp_path: Path,
) -> None:
    # A real server's sweep fails the job at its deadline, faster than any client
    # can report; in-process, with the clock held still, the instant in between
    # lasts as long as the test needs.
    now = [time.time()]
    async with in_process(str(tmp_path / "a.db"), clock=lambda: now[0]) as (_, client):
        enqueued = await client.post("/jobs", json={"queue": "q"},
                                     headers={"X-Accepted-Job-Timeout": "100"})
        job = (await client.post("/want_job", params={"queue": "q", "timeout": "1000"})).json()
        assert job["id"] == enqueued.json()["id"]
        now[0] += 101  # past the deadline; the sweep is asleep until then in real time
        late = await client.put(f"/jobs/{job['id']}", json={"status": "done", "result": 1},
                                headers={"X-Accepted-Lease": job["lease"]})
        assert assert_error(late, 409, "timeout")["code"] == "job_timed_out"
        after = (await client.get(f"/jobs/{job['id']}")).json()
        assert after["status"] != "done" and after["result"] is None  # the report was dropped


# -- PUT /jobs: several reports ---------------------------------------------------------


@pytest.mark.documents("report-batch-200")
def test_a_batch_of_reports_applies_each_on_its_own(api: httpx.Client, q: str) -> None:
    done, beat, back, stale = (_running(api, q) for _ in range(4))
    report(api, stale["id"], "queued")
    again = take(api, q)  # handed out anew: the first lease is stale
    assert again is not None and again["id"] == stale["id"]
    queued = enqueue(api, unique_queue())
    missing = str(uuid.uuid4())
    reports = [
        {"id": done["id"], "status": "done", "result": {"ok": 1}, "lease": done["lease"]},
        {"id": missing, "status": "done"},
        {"id": beat["id"], "status": "running", "timeout": 120},
        {"id": queued["id"], "status": "failed", "result": "x"},
        {"id": stale["id"], "status": "done", "lease": stale["lease"]},
        {"id": back["id"], "status": "queued"},
    ]
    response = api.put("/jobs", json=reports)
    assert response.status_code == 200
    outcomes = response.json()
    assert [o["id"] for o in outcomes] == [r["id"] for r in reports]
    assert [o["status"] for o in outcomes] == [200, 404, 200, 409, 409, 200]
    assert [o["error"]["code"] for o in outcomes if o["status"] != 200] == [
        "job_not_found", "conflict", "lease_mismatch"]
    for outcome in outcomes:
        assert set(outcome) == ({"id", "status", "job"} if outcome["status"] == 200
                                else {"id", "status", "error"})
        if outcome["status"] != 200:
            assert set(outcome["error"]) == {"code", "message"} and outcome["error"]["message"]
    assert (outcomes[0]["job"]["status"], outcomes[0]["job"]["result"]) == ("done", {"ok": 1})
    beat_job = outcomes[2]["job"]
    assert timestamp(beat_job["lease_expires_at"]) == pytest.approx(
        timestamp(beat_job["updated_at"]) + 120, abs=0.01)
    assert outcomes[5]["job"]["status"] == "queued"
    assert get(api, done["id"]) == outcomes[0]["job"]
    assert get(api, queued["id"]) == queued  # the refused ones changed nothing
    assert get(api, stale["id"])["lease_expires_at"] == again["lease_expires_at"]


@pytest.mark.documents("report-batch-400")
@pytest.mark.parametrize(
    "body",
    [
        {"id": "ID", "status": "done"},
        [],
        [{"id": "ID", "status": "done"}] * 1001,
        [{"status": "done"}],
        [{"id": "ID"}],
        [{"id": "ID", "status": "done", "reslut": 1}],
        [{"id": "ID", "status": "done"}, {"id": "ID", "status": "cancelled"}],
        [{"id": "ID", "status": "running", "timeout": 0}],
        [{"id": "ID", "status": "done"}, "done"],
    ],
    ids=["object", "empty", "too-many", "no-id", "no-status", "unknown-field", "bad-status",
         "bad-timeout", "not-an-object"],
)
def test_a_bad_batch_of_reports_applies_none(api: httpx.Client, q: str, body: object) -> None:
    job = _running(api, q)
    raw = json.dumps(body).replace('"ID"', json.dumps(job["id"]))
    assert_error(api.put("/jobs", content=raw), 400)
    assert get(api, job["id"])["status"] == "running"
