"""Schedules over HTTP, on every backend: each route, each refusal, and a real fire.

The module shares one server per backend; each test uses schedule and queue
names of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.http.helpers import assert_error, enqueue, take, timestamp, unique_queue


def put(api: httpx.Client, name: str, **body: Any) -> httpx.Response:
    return api.put(f"/schedules/{name}", json=body)


def made(api: httpx.Client, name: str, **body: Any) -> dict[str, Any]:
    answer = put(api, name, **body)
    assert answer.status_code == 200, answer.text
    schedule: dict[str, Any] = answer.json()
    return schedule


@pytest.mark.documents("schedules", "schedule-put-200", "schedule-object", "schedule-200")
def test_put_then_get_an_every_schedule(api: httpx.Client, q: str) -> None:
    name = unique_queue("s")
    before = datetime.now(UTC).timestamp()
    schedule = made(
        api, name, queue=q, params={"x": 1}, every=3600, priority=0, retries=2, job_timeout=60
    )
    assert list(schedule) == [
        "name", "queue", "params", "cron", "every", "timezone", "paused", "priority",
        "job_timeout", "result_ttl", "max_attempts", "retries", "callback_url", "created_at",
        "updated_at", "next_run_at", "last_run_at", "last_job_id",
    ]  # fmt: skip
    assert schedule["name"] == name and schedule["queue"] == q
    assert (schedule["params"], schedule["every"], schedule["cron"]) == ({"x": 1}, 3600, None)
    assert (schedule["timezone"], schedule["paused"], schedule["priority"]) == ("UTC", False, 0)
    assert (schedule["retries"], schedule["job_timeout"], schedule["result_ttl"]) == (2, 60, None)
    created = timestamp(schedule["created_at"])
    assert before <= created and timestamp(schedule["next_run_at"]) == created + 3600
    assert (schedule["last_run_at"], schedule["last_job_id"]) == (None, None)
    assert api.get(f"/schedules/{name}").json() == schedule


def test_a_cron_schedule_fires_next_in_its_time_zone(api: httpx.Client, q: str) -> None:
    """`0 0 1 1 *` in Tokyo: next New Year's midnight there, 15:00 UTC the day before."""
    schedule = made(api, unique_queue("s"), queue=q, cron="0 0 1 1 *", timezone="Asia/Tokyo")
    tokyo = ZoneInfo("Asia/Tokyo")
    expected = datetime(datetime.now(tokyo).year + 1, 1, 1, tzinfo=tokyo)
    assert timestamp(schedule["next_run_at"]) == expected.timestamp()
    assert (schedule["cron"], schedule["every"]) == ("0 0 1 1 *", None)


@pytest.mark.documents("schedules-200")
def test_list_is_sorted_by_name(api: httpx.Client, q: str) -> None:
    names = [unique_queue("list-b"), unique_queue("list-a")]
    for name in names:
        made(api, name, queue=q, every=60)
    answer = api.get("/schedules")
    assert answer.status_code == 200
    listed = [s["name"] for s in answer.json()["schedules"]]
    assert listed == sorted(listed)
    assert set(names) <= set(listed)


@pytest.mark.documents("schedule-delete-200", "schedule-404")
def test_delete_answers_the_schedule_as_it_was(api: httpx.Client, q: str) -> None:
    name = unique_queue("s")
    schedule = made(api, name, queue=q, every=60)
    answer = api.delete(f"/schedules/{name}")
    assert (answer.status_code, answer.json()) == (200, schedule)
    for response in (
        api.get(f"/schedules/{name}"),
        api.delete(f"/schedules/{name}"),
        api.post(f"/schedules/{name}/run"),
    ):
        assert assert_error(response, 404, name)["code"] == "schedule_not_found"


@pytest.mark.documents("schedule-run-202")
def test_run_now_enqueues_a_job_and_counts_as_the_last_run(api: httpx.Client, q: str) -> None:
    name = unique_queue("s")
    schedule = made(api, name, queue=q, params=[1, 2], every=3600, paused=True, priority=2)
    assert schedule["next_run_at"] is None
    answer = api.post(f"/schedules/{name}/run")
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert answer.headers["location"] == f"/jobs/{job['id']}"
    assert (job["schedule"], job["queue"], job["params"], job["priority"]) == (name, q, [1, 2], 2)
    assert job["status"] == "queued"
    after = api.get(f"/schedules/{name}").json()
    assert after["last_job_id"] == job["id"]
    assert after["last_run_at"] == job["created_at"]
    assert after["next_run_at"] is None  # the fire times are left alone


def test_a_job_a_producer_enqueued_has_no_schedule(api: httpx.Client, q: str) -> None:
    assert enqueue(api, q)["schedule"] is None


def test_an_every_schedule_fires_one_interval_after_creation(api: httpx.Client, q: str) -> None:
    name = unique_queue("s")
    schedule = made(api, name, queue=q, every=1, params={"tick": True})
    job = take(api, q, block_for=10)
    assert job is not None
    assert (job["schedule"], job["params"]) == (name, {"tick": True})
    assert job["due_at"] == schedule["next_run_at"]  # the fire time it was made for
    after = api.get(f"/schedules/{name}").json()
    assert timestamp(after["next_run_at"]) >= timestamp(schedule["next_run_at"]) + 1
    api.delete(f"/schedules/{name}")


def test_a_rewrite_with_the_same_cadence_keeps_the_next_fire(api: httpx.Client, q: str) -> None:
    name = unique_queue("s")
    first = made(api, name, queue=q, every=600)
    second = made(api, name, queue=q, every=600, params={"v": 2})
    assert second["next_run_at"] == first["next_run_at"]
    assert second["created_at"] == first["created_at"] and second["params"] == {"v": 2}
    paused = made(api, name, queue=q, every=600, paused=True)
    assert (paused["paused"], paused["next_run_at"]) == (True, None)


@pytest.mark.documents("schedule-put-400")
@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"queue": "q"}, ("cron", "every")),
        ({"queue": "q", "cron": "* * * * *", "every": 60}, ("cron", "every")),
        ({"queue": "q", "cron": "61 * * * *"}, ("cron", "61 * * * *")),
        ({"queue": "q", "cron": "* * *"}, ("cron", "5 fields")),
        ({"queue": "q", "cron": "0 0 31 2 *"}, ("cron",)),
        ({"queue": "q", "every": 60, "timezone": "Mars/Olympus_Mons"}, ("Mars/Olympus_Mons",)),
        ({"queue": "q", "every": 60, "timezone": ""}, ("timezone",)),
        ({"queue": "q", "every": 0.5}, ("every",)),
        ({"queue": "q", "every": "60"}, ("every",)),
        ({"queue": "q", "every": 60, "priority": 9}, ("priority",)),
        ({"queue": "q", "every": 60, "callback_url": "ftp://x"}, ("callback_url",)),
        ({"queue": "q", "every": 60, "evry": 60}, ("evry",)),
        ({"queue": "", "every": 60}, ("queue",)),
        ({"every": 60}, ("queue",)),
    ],
)
def test_bad_definitions_are_clear_400s(
    api: httpx.Client, body: dict[str, Any], words: tuple[str, ...]
) -> None:
    name = unique_queue("bad")
    error = assert_error(put(api, name, **body), 400, *words)
    assert error["code"] == "invalid_field"
    assert api.get(f"/schedules/{name}").status_code == 404


def test_malformed_json_and_a_bad_name(api: httpx.Client) -> None:
    answer = api.put("/schedules/x", content=b"{nope")
    assert assert_error(answer, 400)["code"] == "malformed_json"
    long = "n" * 256
    assert_error(api.put(f"/schedules/{long}", json={"queue": "q", "every": 60}), 400, "255")
    assert_error(api.get(f"/schedules/{long}"), 400, "255")
