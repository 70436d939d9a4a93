"""GET /queues, GET /queues/{name}, POST /queues/{name}/pause and /resume, on a real server."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.http.helpers import (
    PROMPT,
    Background,
    assert_error,
    enqueue,
    report,
    settle,
    take,
    unique_queue,
)

STATUSES = ["delayed", "queued", "running", "done", "failed", "cancelled"]


def queue_of(api: httpx.Client, name: str) -> dict[str, object]:
    response = api.get(f"/queues/{name}")
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


@pytest.mark.documents("queues-200", "queue-object")
def test_the_list_shows_each_queue_with_its_counts_sorted_by_name(
    api: httpx.Client, q: str
) -> None:
    second, first = f"{q}-b", f"{q}-a"
    for _ in range(2):
        enqueue(api, second)
    enqueue(api, second, delay=60)
    job = take(api, second)
    assert job is not None
    assert report(api, job["id"], "done", 1).status_code == 200
    enqueue(api, first)
    response = api.get("/queues")
    assert response.status_code == 200
    listed = [queue for queue in response.json()["queues"] if queue["name"].startswith(q)]
    assert [queue["name"] for queue in listed] == [first, second]
    names = [queue["name"] for queue in response.json()["queues"]]
    assert names == sorted(names)
    b = listed[1]
    assert set(b) == {"name", "paused", "counts", "oldest_queued_age", "limits"}
    assert list(b["counts"]) == STATUSES
    assert b["counts"] == {"delayed": 1, "queued": 1, "running": 0, "done": 1, "failed": 0,
                           "cancelled": 0}
    assert b["paused"] is False
    assert b["limits"] == {"rate": None, "concurrency": None, "group_concurrency": None}
    assert isinstance(b["oldest_queued_age"], float) and 0 <= b["oldest_queued_age"] < 60


@pytest.mark.documents("queue-200", "queue-object")
def test_a_queue_reads_alone_and_its_age_is_null_with_nothing_queued(
    api: httpx.Client, q: str
) -> None:
    enqueue(api, q, delay=60)
    queue = queue_of(api, q)
    assert queue["name"] == q and queue["oldest_queued_age"] is None
    assert queue["counts"] == {"delayed": 1, "queued": 0, "running": 0, "done": 0,
                               "failed": 0, "cancelled": 0}


@pytest.mark.documents("queue-404", "decision-queue-exists")
def test_a_queue_without_jobs_or_setting_is_not_found(api: httpx.Client, q: str) -> None:
    error = assert_error(api.get(f"/queues/{q}"), 404, q)
    assert error["code"] == "queue_not_found"
    job = enqueue(api, q)
    assert queue_of(api, q)["name"] == q
    assert api.delete(f"/jobs/{job['id']}").status_code == 200
    assert_error(api.get(f"/queues/{q}"), 404)
    assert q not in [queue["name"] for queue in api.get("/queues").json()["queues"]]


@pytest.mark.documents("queue-pause-200", "decision-queue-exists")
def test_pausing_an_unknown_queue_creates_it_paused(api: httpx.Client, q: str) -> None:
    response = api.post(f"/queues/{q}/pause")
    assert response.status_code == 200
    assert response.json()["paused"] is True and response.json()["name"] == q
    assert queue_of(api, q)["paused"] is True
    assert api.post(f"/queues/{q}/pause").json()["paused"] is True  # twice is fine
    resumed = api.post(f"/queues/{q}/resume")
    assert resumed.status_code == 200 and resumed.json()["paused"] is False
    assert_error(api.get(f"/queues/{q}"), 404)  # no job, no setting: gone again


@pytest.mark.documents("queue-resume-404")
def test_resuming_an_unknown_queue_is_not_found(api: httpx.Client, q: str) -> None:
    error = assert_error(api.post(f"/queues/{q}/resume"), 404, q)
    assert error["code"] == "queue_not_found"


@pytest.mark.documents("queue-pause-200", "queue-resume-200")
def test_a_paused_queue_hands_out_nothing_and_the_resume_wakes_its_taker(
    api: httpx.Client, q: str, api_runner: Background
) -> None:
    other = unique_queue()
    assert api.post(f"/queues/{q}/pause").status_code == 200
    job = enqueue(api, q, priority="0")
    assert take(api, q) is None
    later = enqueue(api, other, priority="3")
    taken = take(api, q, other)  # from the caller's other queue
    assert taken is not None and taken["id"] == later["id"]
    waiting = api_runner.request("POST", "/want_job", params={"queue": q, "block": "30"})
    settle()
    enqueue(api, q)  # arrives while paused: wakes nobody
    time.sleep(0.2)
    assert not waiting.done()
    resumed_at = time.monotonic()
    response = api.post(f"/queues/{q}/resume")
    assert response.status_code == 200 and response.json()["counts"]["queued"] == 2
    answer = waiting.result(timeout=10)
    assert answer.response.status_code == 200
    assert answer.response.json()["id"] == job["id"]
    assert answer.done_at - resumed_at < PROMPT


@pytest.mark.documents("queue-pause-200")
def test_reports_and_enqueues_go_on_while_paused(api: httpx.Client, q: str) -> None:
    running = enqueue(api, q)
    taken = take(api, q)
    assert taken is not None
    assert api.post(f"/queues/{q}/pause").status_code == 200
    assert report(api, running["id"], "running").status_code == 200  # heartbeat
    assert report(api, running["id"], "done", 7).status_code == 200
    enqueue(api, q)
    counts = queue_of(api, q)["counts"]
    assert counts == {"delayed": 0, "queued": 1, "running": 0, "done": 1, "failed": 0,
                      "cancelled": 0}


@pytest.mark.documents("queue-400")
def test_a_bad_queue_name_in_the_path_is_refused(api: httpx.Client) -> None:
    long = "x" * 256
    for path in (f"/queues/{long}", f"/queues/{long}/pause", f"/queues/{long}/resume"):
        method = "GET" if path.count("/") == 2 else "POST"
        assert_error(api.request(method, path), 400, "255")
