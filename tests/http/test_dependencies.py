"""POST /jobs with X-Accepted-After (and `after` in a batch): jobs that wait on others."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.http.helpers import Background, assert_error, get, report, take
from tests.http.sse import SseStream
from tests.support.servers import ServerProcess

# Releases, cancellations and duplicates cross processes too (SQLite under --workers 2).
pytestmark = pytest.mark.processes

AFTER = "X-Accepted-After"


def _enqueue(api: httpx.Client, q: str, *after: str, **headers: str) -> dict[str, object]:
    extra = {AFTER: ",".join(after)} if after else {}
    response = api.post("/jobs", json={"queue": q}, headers={**extra, **headers})
    assert response.status_code == 202, response.text
    job: dict[str, object] = response.json()
    return job


def _finish(api: httpx.Client, q: str, job_id: object, status: str = "done") -> None:
    job = take(api, q)
    assert job is not None and job["id"] == job_id, job
    assert report(api, str(job_id), status, {"ok": status}).status_code == 200


@pytest.mark.documents("after-wait")
def test_a_job_waits_until_every_dependency_is_done(api: httpx.Client, q: str) -> None:
    first, second = _enqueue(api, q), _enqueue(api, q)
    waiting = _enqueue(api, q, str(first["id"]), str(second["id"]))
    assert waiting["status"] == "delayed"
    assert waiting["after"] == [first["id"], second["id"]]
    assert first["after"] == []
    _finish(api, q, first["id"])
    assert get(api, str(waiting["id"]))["status"] == "delayed"
    _finish(api, q, second["id"])
    assert get(api, str(waiting["id"]))["status"] == "queued"  # in the report's transaction
    _finish(api, q, waiting["id"])


@pytest.mark.documents("after-wait")
def test_a_released_job_wakes_a_blocked_taker(
    api: httpx.Client, q: str, api_runner: Background
) -> None:
    first = _enqueue(api, q)
    job = take(api, q)
    assert job is not None and job["id"] == first["id"]
    waiting = _enqueue(api, q, str(first["id"]))
    blocked = api_runner.request(
        "POST", "/want_job", params={"queue": q}, headers={"X-Accepted-Block-For": "30"}
    )
    assert report(api, str(first["id"]), "done").status_code == 200
    answer = blocked.result(timeout=10).response
    assert answer.status_code == 200 and answer.json()["id"] == waiting["id"]


@pytest.mark.documents("after-own-delay")
def test_its_own_delay_still_counts(api: httpx.Client, q: str) -> None:
    first = _enqueue(api, q)
    waiting = _enqueue(api, q, str(first["id"]), **{"X-Accepted-Delay": "3600"})
    _finish(api, q, first["id"])
    assert get(api, str(waiting["id"]))["status"] == "delayed"
    assert take(api, q) is None


@pytest.mark.parametrize("how", ["failed", "cancelled", "deleted"])
@pytest.mark.documents("after-cancelled")
def test_a_dependency_that_ends_otherwise_cancels_the_chain(
    api: httpx.Client, q: str, how: str
) -> None:
    first = _enqueue(api, q)
    second = _enqueue(api, q, str(first["id"]))
    third = _enqueue(api, q, str(second["id"]))
    if how == "failed":
        _finish(api, q, first["id"], "failed")
    elif how == "cancelled":
        assert api.post(f"/jobs/{first['id']}/cancel").status_code == 200
    else:
        assert api.delete(f"/jobs/{first['id']}").status_code == 200
    middle, last = get(api, str(second["id"])), get(api, str(third["id"]))
    assert middle["status"] == last["status"] == "cancelled"
    assert str(first["id"]) in str(middle["error"]) and how in str(middle["error"])
    assert str(second["id"]) in str(last["error"])
    assert take(api, q) is None


@pytest.mark.parametrize("how", ["failed", "cancelled"])
@pytest.mark.documents("after-already-ended")
def test_a_dependency_already_ended_cancels_the_job_at_once(
    api: httpx.Client, q: str, how: str
) -> None:
    first = _enqueue(api, q)
    if how == "failed":
        _finish(api, q, first["id"], "failed")
    else:
        assert api.post(f"/jobs/{first['id']}/cancel").status_code == 200
    job = _enqueue(api, q, str(first["id"]))
    assert job["status"] == "cancelled"
    assert str(first["id"]) in str(job["error"])


@pytest.mark.documents("after-already-ended", "unique-duplicate")
def test_a_held_unique_key_answers_before_an_ended_dependency(api: httpx.Client, q: str) -> None:
    ended = _enqueue(api, q)
    assert api.post(f"/jobs/{ended['id']}/cancel").status_code == 200
    holder = _enqueue(api, q, **{"X-Accepted-Unique-Key": "k"})
    headers = {AFTER: str(ended["id"]), "X-Accepted-Unique-Key": "k"}
    again = api.post("/jobs", json={"queue": q}, headers=headers)
    assert again.status_code == 200, again.text
    assert again.headers["x-accepted-duplicate"] == "true"
    assert again.json()["id"] == holder["id"] and again.json()["status"] == "queued"
    assert len(api.get("/jobs", params={"queue": q}).json()["jobs"]) == 2  # nothing enqueued


@pytest.mark.documents("after-already-done")
def test_a_dependency_already_done_is_not_waited_for(api: httpx.Client, q: str) -> None:
    first = _enqueue(api, q)
    _finish(api, q, first["id"])
    job = _enqueue(api, q, str(first["id"]))
    assert job["status"] == "queued"
    assert job["after"] == [first["id"]]


@pytest.mark.documents("after-batch")
def test_a_batch_builds_a_graph_with_dollar_references(api: httpx.Client, q: str) -> None:
    items = [
        {"queue": q, "params": "fetch"},
        {"queue": q, "params": "resize", "after": ["$0"]},
        {"queue": q, "params": "thumb", "after": ["$0"]},
        {"queue": q, "params": "publish", "after": ["$1", "$2"]},
    ]
    response = api.post("/jobs", json=items)
    assert response.status_code == 202, response.text
    jobs = response.json()
    ids = [job["id"] for job in jobs]
    assert [job["status"] for job in jobs] == ["queued", "delayed", "delayed", "delayed"]
    assert jobs[1]["after"] == [ids[0]] and jobs[3]["after"] == [ids[1], ids[2]]
    _finish(api, q, ids[0])
    done = set()
    for _ in range(2):
        job = take(api, q)
        assert job is not None and job["id"] in ids[1:3]
        assert get(api, ids[3])["status"] == "delayed"
        assert report(api, str(job["id"]), "done").status_code == 200
        done.add(job["id"])
    assert done == set(ids[1:3])
    _finish(api, q, ids[3])


@pytest.mark.documents("after-400")
def test_an_unknown_id_is_a_400_and_enqueues_nothing(api: httpx.Client, q: str) -> None:
    ghost = str(uuid.uuid4())
    error = assert_error(
        api.post("/jobs", json={"queue": q}, headers={AFTER: ghost}), 400, AFTER, ghost
    )
    assert error["code"] == "unknown_dependency"
    batch = [{"queue": q}, {"queue": q, "after": ["$0", ghost]}]
    assert_error(api.post("/jobs", json=batch), 400, "[1].after", ghost)
    assert api.get("/jobs", params={"queue": q}).json()["jobs"] == []


@pytest.mark.parametrize(
    ("after", "words"),
    [
        ("not-an-id", [AFTER, "not-an-id"]),
        (",".join(str(uuid.uuid4()) for _ in range(101)), [AFTER, "100"]),
    ],
)
@pytest.mark.documents("after-400")
def test_a_bad_header_is_a_400(api: httpx.Client, q: str, after: str, words: list[str]) -> None:
    assert_error(api.post("/jobs", json={"queue": q}, headers={AFTER: after}), 400, *words)


@pytest.mark.parametrize(
    ("items", "words"),
    [
        ([{"after": ["$0"]}], ["[0].after"]),
        ([{}, {"after": ["$1"]}], ["[1].after", "$1"]),
        ([{}, {"after": ["$x"]}], ["[1].after"]),
        ([{"after": [str(uuid.uuid4()) for _ in range(101)]}], ["after"]),
    ],
)
@pytest.mark.documents("after-400")
def test_bad_batch_references_are_a_400(
    api: httpx.Client, q: str, items: list[dict[str, object]], words: list[str]
) -> None:
    body = [{"queue": q, **item} for item in items]
    assert_error(api.post("/jobs", json=body), 400, *words)
    assert_error(api.post("/jobs", json=[{"queue": q}], headers={AFTER: str(uuid.uuid4())}), 400)


@pytest.mark.documents("after-purged")
def test_a_done_dependency_removed_by_its_ttl_releases_before_it_goes(
    api: httpx.Client, q: str
) -> None:
    first = _enqueue(api, q, **{"X-Accepted-Result-TTL": "0"})
    waiting = _enqueue(api, q, str(first["id"]))
    _finish(api, q, first["id"])
    assert get(api, str(waiting["id"]))["status"] == "queued"


def test_a_hundred_dependencies_are_accepted(api: httpx.Client, q: str) -> None:
    response = api.post("/jobs", json=[{"queue": q} for _ in range(100)])
    ids = [job["id"] for job in response.json()]
    job = _enqueue(api, q, *ids)
    assert job["status"] == "delayed" and job["after"] == ids


@pytest.mark.documents("after-events")
def test_the_job_stream_sees_the_release_and_the_cancel(
    api: httpx.Client, shared_server: ServerProcess, q: str
) -> None:
    first, other = _enqueue(api, q), _enqueue(api, q)
    released = _enqueue(api, q, str(first["id"]))
    cancelled = _enqueue(api, q, str(other["id"]))
    with (
        SseStream(shared_server.url, f"/jobs/{released['id']}/events") as one,
        SseStream(shared_server.url, f"/jobs/{cancelled['id']}/events") as two,
    ):
        for stream in (one, two):
            created = stream.next_event()
            assert created is not None and created.event == "delayed"
        _finish(api, q, first["id"])
        queued = one.next_event()
        assert queued is not None and queued.event == "queued"
        assert api.delete(f"/jobs/{other['id']}").status_code == 200
        ended = two.next_event()
        assert ended is not None and ended.event == "cancelled"
        assert str(other["id"]) in ended.job["error"]


@pytest.mark.documents("after-wait")
def test_a_job_timeout_counts_while_it_waits(api: httpx.Client, q: str) -> None:
    first = _enqueue(api, q)
    waiting = _enqueue(api, q, str(first["id"]), **{"X-Accepted-Job-Timeout": "0.3"})
    answer = api.get(f"/jobs/{waiting['id']}", headers={"X-Accepted-Wait-Result": "10"})
    assert answer.json()["status"] == "failed"
    assert "timeout" in answer.json()["error"]
    assert get(api, str(first["id"]))["status"] == "queued"  # the dependency is untouched
