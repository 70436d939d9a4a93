"""POST /jobs with X-Accepted-Unique-Key: one job not final per (queue, key)."""

from __future__ import annotations

import threading
import uuid

import httpx
import pytest

from tests.http.helpers import assert_error, get, report, take

# Releases, cancellations and duplicates cross processes too (SQLite under --workers 2).
pytestmark = pytest.mark.processes

KEY = "X-Accepted-Unique-Key"


def _enqueue(api: httpx.Client, q: str, key: str, **headers: str) -> httpx.Response:
    return api.post("/jobs", json={"queue": q, "params": {"n": 1}}, headers={KEY: key, **headers})


@pytest.mark.documents("unique-duplicate")
def test_a_second_enqueue_with_the_key_answers_the_first_job(api: httpx.Client, q: str) -> None:
    first = _enqueue(api, q, "report-7")
    assert first.status_code == 202
    assert first.json()["unique_key"] == "report-7"
    assert "x-accepted-duplicate" not in first.headers
    again = _enqueue(api, q, "report-7")
    assert again.status_code == 200
    assert again.headers["x-accepted-duplicate"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["location"] == f"/jobs/{first.json()['id']}"
    assert api.get("/jobs", params={"queue": q}).json()["jobs"] == [get(api, first.json()["id"])]


@pytest.mark.documents("unique-duplicate")
def test_the_key_is_free_again_once_its_job_is_final(api: httpx.Client, q: str) -> None:
    first = _enqueue(api, q, "k").json()
    job = take(api, q)
    assert job is not None and job["id"] == first["id"]
    assert _enqueue(api, q, "k").status_code == 200  # running is not final
    assert report(api, first["id"], "done").status_code == 200
    second = _enqueue(api, q, "k")
    assert second.status_code == 202
    assert second.json()["id"] != first["id"]


@pytest.mark.documents("unique-duplicate")
def test_keys_are_per_queue(api: httpx.Client, q: str) -> None:
    assert _enqueue(api, q, "k").status_code == 202
    assert _enqueue(api, q + "-other", "k").status_code == 202


@pytest.mark.documents("unique-batch")
def test_a_batch_shows_each_duplicate_as_the_job_that_holds_its_key(
    api: httpx.Client, q: str
) -> None:
    held = _enqueue(api, q, "a").json()
    items = [
        {"queue": q, "unique_key": "a"},
        {"queue": q, "unique_key": "b"},
        {"queue": q, "unique_key": "b"},
        {"queue": q},
    ]
    response = api.post("/jobs", json=items)
    assert response.status_code == 202
    jobs = response.json()
    assert jobs[0]["id"] == held["id"]
    assert jobs[2]["id"] == jobs[1]["id"] != held["id"]
    assert jobs[3]["unique_key"] is None
    assert response.headers["x-accepted-duplicates"] == "0,2"
    assert len(api.get("/jobs", params={"queue": q}).json()["jobs"]) == 3


@pytest.mark.documents("unique-wait")
def test_a_duplicate_with_a_wait_waits_for_the_holder(api: httpx.Client, q: str) -> None:
    first = _enqueue(api, q, "w").json()
    job = take(api, q)
    assert job is not None
    assert report(api, job["id"], "done", {"ok": 1}).status_code == 200
    # Final now: the key is free, so this enqueues a new job and waits for it.
    fresh = _enqueue(api, q, "w", **{"X-Accepted-Wait-Result": "0.2"})
    assert fresh.status_code == 202 and fresh.json()["id"] != first["id"]
    held = _enqueue(api, q, "w", **{"X-Accepted-Wait-Result": "0.2"})
    assert held.status_code == 200
    assert held.headers["x-accepted-duplicate"] == "true"
    assert held.json()["id"] == fresh.json()["id"]


@pytest.mark.documents("unique-idempotency")
def test_an_idempotency_key_replays_before_the_unique_rule(api: httpx.Client, q: str) -> None:
    first = _enqueue(api, q, "u", **{"Idempotency-Key": f"i-{q}"})
    assert first.status_code == 202
    replay = _enqueue(api, q, "u", **{"Idempotency-Key": f"i-{q}"})
    assert replay.status_code == 202
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]
    other = _enqueue(api, q, "u", **{"Idempotency-Key": f"j-{q}"})
    assert other.status_code == 200
    assert other.headers["x-accepted-duplicate"] == "true"
    # That key now stands for the holder: its replay answers as the first did.
    replayed = _enqueue(api, q, "u", **{"Idempotency-Key": f"j-{q}"})
    assert replayed.status_code == 200
    assert replayed.headers["x-accepted-duplicate"] == "true"
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json()["id"] == first.json()["id"]


@pytest.mark.documents("unique-idempotency")
def test_a_batch_replay_lists_the_items_a_holder_answered(api: httpx.Client, q: str) -> None:
    held = _enqueue(api, q, "a").json()
    items = [
        {"queue": q, "unique_key": "a", "idempotency_key": f"x-{q}"},
        {"queue": q, "unique_key": "b", "idempotency_key": f"y-{q}"},
    ]
    first = api.post("/jobs", json=items)
    assert first.headers["x-accepted-duplicates"] == "0"
    replay = api.post("/jobs", json=items)
    assert replay.status_code == 202
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["x-accepted-duplicates"] == "0"
    assert [j["id"] for j in replay.json()] == [held["id"], first.json()[1]["id"]]


@pytest.mark.documents("unique-retry-409")
def test_retrying_a_job_whose_key_another_holds_is_a_409(api: httpx.Client, q: str) -> None:
    first = _enqueue(api, q, "r").json()
    assert api.post(f"/jobs/{first['id']}/cancel").status_code == 200
    assert _enqueue(api, q, "r").status_code == 202
    assert_error(api.post(f"/jobs/{first['id']}/retry"), 409, "unique key")


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ({KEY: ""}, [KEY]),
        ({KEY: "x" * 256}, [KEY, "255"]),
    ],
)
def test_a_bad_key_is_a_400(
    api: httpx.Client, q: str, headers: dict[str, str], words: list[str]
) -> None:
    assert_error(api.post("/jobs", json={"queue": q}, headers=headers), 400, *words)


def test_a_batch_refuses_the_header_and_bad_item_keys(api: httpx.Client, q: str) -> None:
    assert_error(api.post("/jobs", json=[{"queue": q}], headers={KEY: "k"}), 400, KEY)
    assert_error(api.post("/jobs", json=[{"queue": q, "unique_key": ""}]), 400, "[0].unique_key")


@pytest.mark.documents("unique-race")
def test_many_concurrent_enqueues_with_one_key_make_one_job(
    shared_server: object, api: httpx.Client, q: str
) -> None:
    """32 clients on their own connections send the same key at once: one job, 31 duplicates."""
    key = f"race-{uuid.uuid4()}"
    start = threading.Barrier(32)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def send() -> None:
        with httpx.Client(base_url=str(api.base_url), timeout=30.0) as own:
            start.wait()
            response = _enqueue(own, q, key)
            with lock:
                answers.append(response)

    threads = [threading.Thread(target=send) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in answers) == [200] * 31 + [202]
    assert len({r.json()["id"] for r in answers}) == 1
    assert len(api.get("/jobs", params={"queue": q}).json()["jobs"]) == 1
