"""Seconds in answers: one field, one rendering, whichever answer carries it.

The rule (docs/http-api.md#seconds): a number of seconds is rounded to the
millisecond, then a JSON integer when it is whole (`600`), and keeps its
fraction otherwise (`0.5`). The same
job read by its enqueue, a GET, the listing and a take shows the same bytes.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.http.helpers import enqueue, take

JOB_SECONDS = ("timeout", "result_ttl", "retry_backoff")


def _seconds_of(job: dict[str, Any]) -> list[Any]:
    return [job[field] for field in JOB_SECONDS]


@pytest.mark.documents("seconds")
def test_a_jobs_seconds_render_alike_in_every_answer(api: httpx.Client, q: str) -> None:
    whole = enqueue(api, q, job_timeout=600, result_ttl=600, retry_backoff=2)
    half = enqueue(api, q, job_timeout=0.5, result_ttl=600.0, retry_backoff=1.25)
    plain = enqueue(api, q)  # the server's default backoff
    answers = {
        "enqueue": [whole, half, plain],
        "get": [api.get(f"/jobs/{job['id']}").json() for job in (whole, half, plain)],
        "listing": api.get("/jobs", params={"queue": q}).json()["jobs"][::-1],
        "take": [take(api, q) for _ in range(3)],
    }
    for where, jobs in answers.items():
        shown = [_seconds_of(job) for job in jobs if job is not None]
        assert shown == [[600, 600, 2], [0.5, 600, 1.25], [None, None, 1]], where
        types = [[type(value) for value in values] for values in shown]
        assert types == [[int, int, int], [float, int, float], [type(None), type(None), int]], (
            where
        )


@pytest.mark.documents("seconds")
def test_schedule_and_limit_seconds_render_as_given(api: httpx.Client, q: str) -> None:
    body = {"queue": q, "every": 600, "job_timeout": 600.0, "result_ttl": 1.5}
    put = api.put(f"/schedules/{q}", json=body)
    assert put.status_code == 200, put.text
    try:
        listed = [s for s in api.get("/schedules").json()["schedules"] if s["name"] == q]
        for schedule in (put.json(), api.get(f"/schedules/{q}").json(), *listed):
            shown = [schedule[field] for field in ("every", "job_timeout", "result_ttl")]
            assert shown == [600, 600, 1.5]
            assert [type(value) for value in shown] == [int, int, float]
        job = api.post(f"/schedules/{q}/run").json()
        assert (job["timeout"], job["result_ttl"]) == (600, 1.5)
        assert type(job["timeout"]) is int
    finally:
        api.delete(f"/schedules/{q}")
    enqueue(api, q)
    limits = api.put(f"/queues/{q}/limits", json={"rate": {"jobs": 10, "per": 60.0}})
    assert limits.status_code == 200, limits.text
    for answer in (limits.json()["limits"], api.get(f"/queues/{q}").json()["limits"]):
        assert answer["rate"]["per"] == 60 and type(answer["rate"]["per"]) is int


@pytest.mark.documents("seconds")
def test_a_measured_age_is_rounded_to_the_millisecond(api: httpx.Client, q: str) -> None:
    enqueue(api, q)
    age = api.get(f"/queues/{q}").json()["oldest_queued_age"]
    listed = [queue for queue in api.get("/queues").json()["queues"] if queue["name"] == q]
    for shown in (age, listed[0]["oldest_queued_age"]):
        assert isinstance(shown, int | float) and shown >= 0
        assert round(shown, 3) == shown, shown  # no digits below a millisecond
