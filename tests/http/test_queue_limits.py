"""PUT /queues/{name}/limits on a real server: the route, its validation, and the limits
holding (concurrency, group concurrency, rate), with blocked takers woken the moment a
limit lets a job through."""

from __future__ import annotations

import time
from typing import Any

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
)


def set_limits(api: httpx.Client, queue: str, **limits: Any) -> dict[str, Any]:
    response = api.put(f"/queues/{queue}/limits", json=limits)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def take_all(api: httpx.Client, queue: str) -> list[dict[str, Any]]:
    """Take until the server hands out nothing more (no blocking)."""
    taken = []
    while (job := take(api, queue)) is not None:
        taken.append(job)
    return taken


@pytest.mark.documents("queue-limits", "queue-limits-200")
def test_limits_are_set_shown_and_cleared(api: httpx.Client, q: str) -> None:
    queue = set_limits(api, q, rate={"jobs": 10, "per": 1.5}, concurrency=3, group_concurrency=1)
    assert queue["name"] == q and queue["paused"] is False
    assert queue["limits"] == {
        "rate": {"jobs": 10, "per": 1.5},
        "concurrency": 3,
        "group_concurrency": 1,
    }
    assert api.get(f"/queues/{q}").json()["limits"] == queue["limits"]
    listed = [x for x in api.get("/queues").json()["queues"] if x["name"] == q]
    assert listed[0]["limits"] == queue["limits"]
    # The body is the whole set: what is left out is no limit.
    assert set_limits(api, q, concurrency=2)["limits"] == {
        "rate": None,
        "concurrency": 2,
        "group_concurrency": None,
    }
    cleared = set_limits(api, q)
    assert cleared["limits"] == {"rate": None, "concurrency": None, "group_concurrency": None}
    assert api.get(f"/queues/{q}").status_code == 404  # no job, no setting: gone


@pytest.mark.documents("queue-limits-400")
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"group_concurrency": 0}, "group_concurrency"),
        ({"rate": {"jobs": 0, "per": 1}}, "jobs"),
        ({"rate": {"jobs": 1, "per": 0}}, "per"),
        ({"rate": {"jobs": 1, "per": -1}}, "per"),
        ({"rate": {"jobs": 10001, "per": 1}}, "jobs"),
        ({"rate": {"jobs": 1}}, "per"),
        ({"concurrency": "2"}, "concurrency"),
        ({"concurrency": 1.5}, "concurrency"),
        ({"concurrncy": 2}, "concurrncy"),
        ([], "object"),
    ],
)
def test_bad_limits_are_a_400_naming_the_field(
    api: httpx.Client, q: str, body: Any, field: str
) -> None:
    error = assert_error(api.put(f"/queues/{q}/limits", json=body), 400, field)
    assert error["code"] == "invalid_field"
    assert api.get(f"/queues/{q}").status_code == 404  # nothing was written


@pytest.mark.documents("queue-limits-400")
def test_a_limits_body_that_is_not_json_is_a_400(api: httpx.Client, q: str) -> None:
    response = api.put(f"/queues/{q}/limits", content=b"{concurrency: 2")
    assert assert_error(response, 400)["code"] == "malformed_json"


@pytest.mark.documents("queue-limits-404")
def test_clearing_the_limits_of_no_queue_is_a_404(api: httpx.Client, q: str) -> None:
    assert assert_error(api.put(f"/queues/{q}/limits", json={}), 404, q)["code"] == (
        "queue_not_found"
    )


@pytest.mark.documents("queue-limits-200")
def test_concurrency_holds_and_a_completion_wakes_the_blocked_taker(
    api: httpx.Client, q: str, api_runner: Background
) -> None:
    set_limits(api, q, concurrency=2)
    for _ in range(4):
        enqueue(api, q)
    running = take_all(api, q)
    assert len(running) == 2
    assert api.get(f"/queues/{q}").json()["counts"]["running"] == 2
    waiting = api_runner.request("POST", "/want_job", params={"queue": q, "block": "30"})
    settle()
    assert not waiting.done()  # two queued jobs, but no room
    finished_at = time.monotonic()
    assert report(api, running[0]["id"], "done").status_code == 200
    answer = waiting.result(timeout=10)
    assert answer.response.status_code == 200, answer.response.text
    assert answer.done_at - finished_at < PROMPT
    assert api.get(f"/queues/{q}").json()["counts"]["running"] == 2


@pytest.mark.documents("queue-limits-200")
def test_a_new_job_is_not_handed_past_the_limit_to_a_blocked_taker(
    api: httpx.Client, q: str, api_runner: Background
) -> None:
    """An enqueue hands a job straight to a blocked taker, except on a limited queue."""
    set_limits(api, q, concurrency=1)
    enqueue(api, q)
    running = take(api, q)
    assert running is not None
    waiting = api_runner.request("POST", "/want_job", params={"queue": q, "block": "30"})
    settle()
    late = enqueue(api, q)
    assert late["status"] == "queued"  # not inserted running for the taker
    settle()
    assert not waiting.done()
    assert api.get(f"/queues/{q}").json()["counts"]["running"] == 1
    assert report(api, running["id"], "done").status_code == 200
    answer = waiting.result(timeout=10).response
    assert answer.status_code == 200 and answer.json()["id"] == late["id"]


@pytest.mark.documents("queue-limits-200")
def test_a_give_back_also_makes_room(api: httpx.Client, q: str, api_runner: Background) -> None:
    set_limits(api, q, concurrency=1)
    first, second = enqueue(api, q), enqueue(api, q)
    taken = take(api, q)
    assert taken is not None and taken["id"] == first["id"]
    waiting = api_runner.request("POST", "/want_job", params={"queue": q, "block": "30"})
    settle()
    assert report(api, taken["id"], "queued").status_code == 200
    answer = waiting.result(timeout=10).response
    assert answer.status_code == 200
    assert answer.json()["id"] == first["id"]  # given back: first again, before the second
    assert take(api, q) is None and second["status"] == "queued"


@pytest.mark.documents("queue-limits-200")
def test_group_concurrency_holds_per_group(api: httpx.Client, q: str) -> None:
    set_limits(api, q, group_concurrency=1)
    for group in ("a", "a", "b", "b"):
        enqueue(api, q, group=group)
    enqueue(api, q)  # no group: not counted by group_concurrency
    running = take_all(api, q)
    assert sorted(str(job["group"]) for job in running) == ["None", "a", "b"]
    done = next(job for job in running if job["group"] == "a")
    assert report(api, done["id"], "done").status_code == 200
    [again] = take_all(api, q)
    assert again["group"] == "a"


@pytest.mark.documents("queue-limits-200")
def test_rate_holds_and_the_window_wakes_the_blocked_taker(
    api: httpx.Client, q: str, api_runner: Background
) -> None:
    per = 1.5
    set_limits(api, q, rate={"jobs": 2, "per": per})
    for _ in range(3):
        enqueue(api, q)
    before = time.monotonic()
    first = take_all(api, q)
    assert len(first) == 2
    handed_at = time.monotonic()
    waiting = api_runner.request("POST", "/want_job", params={"queue": q, "block": "30"})
    answer = waiting.result(timeout=20)
    assert answer.response.status_code == 200, answer.response.text
    # Not before the window lets one more through (the first hand-out came
    # after `before`), and promptly after it does (it came before `handed_at`).
    assert answer.done_at - before >= per - 0.05
    assert answer.done_at - handed_at < per + PROMPT


@pytest.mark.documents("queue-limits-200")
def test_a_limit_does_not_hold_back_other_queues(api: httpx.Client, q: str) -> None:
    other = f"{q}-free"
    set_limits(api, q, concurrency=1)
    enqueue(api, q, priority="0")
    enqueue(api, q, priority="0")
    free = enqueue(api, other, priority="3")
    taken = [take(api, q, other) for _ in range(3)]
    assert taken[2] is None
    assert {job["queue"] for job in taken if job} == {q, other}
    assert any(job and job["id"] == free["id"] for job in taken)
