"""GET /jobs/<id>, and X-Accepted-Wait-Result: answered the moment the job is final."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from pathlib import Path

import httpx
import pytest

from accepted.types import Job
from tests.http.helpers import (
    PROMPT,
    Background,
    assert_error,
    enqueue,
    get,
    in_process,
    note_latency,
    report,
    settle,
    take,
    timestamp,
)

WAIT_30 = {"X-Accepted-Wait-Result": "30"}


@pytest.mark.documents("get-200")
def test_get_answers_the_job(api: httpx.Client, q: str) -> None:
    job = enqueue(api, q, {"k": "v"}, priority=2)
    response = api.get(f"/jobs/{job['id']}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == job


@pytest.mark.documents("get-200", "decision-lease-token")
def test_get_follows_the_job_through_its_life(api: httpx.Client, q: str) -> None:
    job = enqueue(api, q)
    taken = take(api, q)
    assert taken is not None
    seen = get(api, job["id"])
    assert (seen["status"], seen["attempts"]) == ("running", 1)
    assert "lease" not in seen  # the token goes only to the worker holding it
    report(api, job["id"], "done", [1, 2, 3])
    seen = get(api, job["id"])
    assert (seen["status"], seen["result"]) == ("done", [1, 2, 3])


def test_get_trailing_slash(api: httpx.Client, q: str) -> None:
    job = enqueue(api, q)
    assert api.get(f"/jobs/{job['id']}/").json()["id"] == job["id"]


@pytest.mark.parametrize("job_id", [str(uuid.uuid4()), "not-a-uuid", "1234"])
@pytest.mark.documents("get-404")
def test_get_unknown_or_malformed_id_is_404(api: httpx.Client, job_id: str) -> None:
    assert assert_error(api.get(f"/jobs/{job_id}"), 404, job_id)["code"] == "job_not_found"


@pytest.mark.parametrize(("status", "result"), [("done", {"ok": True}), ("failed", "boom")])
@pytest.mark.documents("get-wait-200")
def test_wait_result_answers_as_soon_as_the_job_is_reported_final(
    api: httpx.Client, q: str, api_runner: Background, status: str, result: object
) -> None:
    job = enqueue(api, q)
    take(api, q)
    waiting = api_runner.request("GET", f"/jobs/{job['id']}", headers=WAIT_30)
    settle()
    assert not waiting.done()
    put_at = time.monotonic()
    put = report(api, job["id"], status, result)
    assert put.status_code == 200
    answer = waiting.result(timeout=10)
    assert answer.response.status_code == 200
    body = answer.response.json()
    assert (body["status"], body["result"]) == (status, result)
    assert answer.done_at - put_at < PROMPT
    note_latency(f"wait-result wake after PUT {status}", answer.done_at - put_at)


@pytest.mark.documents("get-wait-200")
def test_wait_result_answers_when_the_job_times_out(
    api: httpx.Client, q: str, api_runner: Background
) -> None:
    job = enqueue(api, q, job_timeout=0.6)
    waiting = api_runner.request("GET", f"/jobs/{job['id']}", headers=WAIT_30)
    answer = waiting.result(timeout=10)
    body = answer.response.json()
    assert body["status"] == "failed" and "timeout" in body["error"].lower()
    assert time.time() - timestamp(body["deadline_at"]) < PROMPT


@pytest.mark.documents("get-wait-200", "delete-200")
def test_wait_result_answers_when_the_job_is_deleted(
    api: httpx.Client, q: str, api_runner: Background
) -> None:
    job = enqueue(api, q)
    waiting = api_runner.request("GET", f"/jobs/{job['id']}", headers=WAIT_30)
    settle()
    deleted_at = time.monotonic()
    deleted = api.delete(f"/jobs/{job['id']}")
    assert deleted.status_code == 200
    answer = waiting.result(timeout=10)
    assert answer.response.status_code == 200
    assert answer.response.json()["status"] == "cancelled"
    assert answer.done_at - deleted_at < PROMPT
    note_latency("wait-result wake after DELETE", answer.done_at - deleted_at)


@pytest.mark.documents("get-wait-200")
def test_wait_result_returns_the_job_as_it_is_when_the_wait_ends(
    api: httpx.Client, q: str
) -> None:
    job = enqueue(api, q)
    started = time.monotonic()
    response = api.get(f"/jobs/{job['id']}", headers={"x-accepted-wait-result": "0.5"})
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.json()["status"] == "queued"
    assert 0.45 <= elapsed < 0.5 + PROMPT


@pytest.mark.documents("get-wait-200")
def test_wait_result_on_a_final_job_answers_at_once(api: httpx.Client, q: str) -> None:
    job = enqueue(api, q)
    take(api, q)
    report(api, job["id"], "done", "r")
    started = time.monotonic()
    response = api.get(f"/jobs/{job['id']}", headers=WAIT_30)
    assert time.monotonic() - started < PROMPT
    assert response.json()["result"] == "r"


@pytest.mark.documents("get-404")
def test_wait_result_on_an_unknown_job_is_404(api: httpx.Client) -> None:
    error = assert_error(api.get(f"/jobs/{uuid.uuid4()}", headers=WAIT_30), 404)
    assert error["code"] == "job_not_found"


ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")


@pytest.mark.documents("decision-times")
def test_times_are_iso_8601_utc_with_a_z_and_microseconds(api: httpx.Client, q: str) -> None:
    enqueue(api, q, job_timeout=60, result_ttl=60)
    taken = take(api, q)
    assert taken is not None
    done = report(api, taken["id"], "done").json()
    times = [taken["lease_expires_at"]] + [
        done[name]
        for name in ("created_at", "updated_at", "due_at", "deadline_at", "expires_at",
                     "finished_at")
    ]
    for value in times:
        assert ISO_UTC.fullmatch(value), value
        timestamp(value)
    assert any("." in value for value in times)  # fractions of a second are kept


async def test_a_job_ending_while_a_timed_out_wait_re_reads_it_is_reported_and_answered(
    tmp_path: Path,
) -> None:
    """A wait that timed out re-reads its job; the job ends in that gap. The report
    answers 200 (it committed), another wait on the job gets the final job, and the
    timed-out one answers what it re-read. In-process: no client can hold a
    server's re-read open on demand."""
    async with in_process(str(tmp_path / "a.db")) as (app, client):
        enqueued = (await client.post("/jobs", json={"queue": "q"})).json()
        taken = (await client.post("/want_job", params={"queue": "q"})).json()
        assert taken["id"] == enqueued["id"]
        read, rereading, go_on = app.service.get, asyncio.Event(), asyncio.Event()
        registered = asyncio.Event()
        reads = 0

        async def held_reread(job_id: str) -> Job:
            nonlocal reads
            reads += 1
            if reads == 2:  # the short wait timed out and re-reads: the job ends now
                rereading.set()
                await go_on.wait()
            elif reads == 3:  # the long wait's first read: it is registered
                registered.set()
            return await read(job_id)

        app.service.get = held_reread  # type: ignore[method-assign]
        path = f"/jobs/{taken['id']}"
        short = asyncio.create_task(client.get(path, headers={"X-Accepted-Wait-Result": "0.05"}))
        await asyncio.wait_for(rereading.wait(), 10)
        long = asyncio.create_task(client.get(path, headers=WAIT_30))
        await asyncio.wait_for(registered.wait(), 10)
        done = await client.put(path, json={"status": "done", "result": 1},
                                headers={"X-Accepted-Lease": taken["lease"]})
        assert done.status_code == 200, done.text
        answered = await asyncio.wait_for(long, 10)
        assert answered.status_code == 200 and answered.json()["status"] == "done"
        go_on.set()
        rereads = await asyncio.wait_for(short, 10)
        assert rereads.status_code == 200 and rereads.json()["status"] == "done"
