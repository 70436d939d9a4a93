"""Idempotency-Key on POST /jobs: a retried enqueue gets the first answer, never
a second job; across restarts, and across nodes on PostgreSQL."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.http.conftest import StartServer
from tests.http.helpers import assert_error, take
from tests.http.sse import SseStream
from tests.support.databases import database, skip_without_postgres
from tests.support.servers import ServerProcess


def post(client: httpx.Client, body: Any, key: str | None = None, **headers: str) -> httpx.Response:
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post("/jobs", json=body, headers=headers)


def queued(client: httpx.Client, queue: str) -> list[dict[str, Any]]:
    """Every job of `queue` that a worker could take now (taking them)."""
    response = client.post(
        "/want_job", params={"queue": queue}, headers={"X-Accepted-Count": "1000"}
    )
    assert response.status_code == 200, response.text
    jobs: list[dict[str, Any]] = response.json()
    return jobs


@pytest.mark.documents("idempotency-replay")
def test_the_same_key_and_request_answer_as_the_first_did(api: httpx.Client, q: str) -> None:
    body = {"queue": q, "params": {"to": "a@example.com", "n": 1}}
    first = post(api, body, q + "-order-17", **{"X-Accepted-Priority": "2"})
    assert first.status_code == 202, first.text
    assert "idempotent-replayed" not in first.headers
    job = first.json()
    assert take(api, q) is not None  # the job moves on: a replay shows it as it is now
    same_json = {"queue": q, "params": {"n": 1, "to": "a@example.com"}}  # key order aside
    again = post(api, same_json, q + "-order-17", **{"X-Accepted-Priority": "2"})
    assert again.status_code == 202
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"] == f"/jobs/{job['id']}"
    replayed = again.json()
    assert replayed["id"] == job["id"]
    assert (replayed["status"], replayed["attempts"]) == ("running", 1)
    assert queued(api, q) == []  # and no second job


@pytest.mark.documents("idempotency-422")
@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ({"params": {"n": 2}}, {}),
        ({"queue_suffix": "-other"}, {}),
        ({}, {"X-Accepted-Priority": "0"}),
        ({}, {"X-Accepted-Delay": "5"}),
        ({}, {"X-Accepted-Callback-URL": "http://127.0.0.1:9/hook"}),
    ],
)
def test_the_same_key_with_another_request_is_a_422(
    api: httpx.Client, q: str, body: dict[str, Any], headers: dict[str, str]
) -> None:
    assert post(api, {"queue": q, "params": {"n": 1}}, q + "-k1").status_code == 202
    other = {"queue": q + body.get("queue_suffix", ""), "params": body.get("params", {"n": 1})}
    response = post(api, other, q + "-k1", **headers)
    error = assert_error(response, 422, "Idempotency-Key", "different")
    assert error["code"] == "idempotency_key_reused"
    assert len(queued(api, q)) == 1


@pytest.mark.documents("idempotency-scope")
def test_keys_are_per_key_and_a_request_without_one_is_never_a_replay(
    api: httpx.Client, q: str
) -> None:
    keys = (q + "-a", q + "-b", None, None)
    ids = {post(api, {"queue": q}, key).json()["id"] for key in keys}
    assert len(ids) == 4


@pytest.mark.documents("idempotency-400")
@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there"])
def test_a_key_outside_1_to_255_printable_characters_is_a_400(
    api: httpx.Client, q: str, key: str
) -> None:
    response = api.post("/jobs", json={"queue": q}, headers=[("Idempotency-Key", key)])
    assert_error(response, 400, "Idempotency-Key", "255")
    assert post(api, {"queue": q}, (q + "x" * 255)[:255]).status_code == 202


@pytest.mark.documents("idempotency-batch")
def test_a_batch_carries_one_key_per_item(api: httpx.Client, q: str) -> None:
    batch = [{"queue": q, "idempotency_key": q + "-i1"}, {"queue": q, "params": 2}]
    first = post(api, batch)
    assert first.status_code == 202 and "idempotent-replayed" not in first.headers
    one, two = first.json()
    again = post(api, batch)  # i1 replays; the keyless item is a new job
    assert again.status_code == 202 and "idempotent-replayed" not in again.headers
    assert again.json()[0]["id"] == one["id"] and again.json()[1]["id"] != two["id"]
    keyed = post(api, [{"queue": q, "idempotency_key": q + "-i1"}])
    assert keyed.headers["idempotent-replayed"] == "true"
    assert [j["id"] for j in keyed.json()] == [one["id"]]


@pytest.mark.documents("idempotency-batch")
def test_batch_key_errors(api: httpx.Client, q: str) -> None:
    assert_error(post(api, [{"queue": q}], q), 400, "Idempotency-Key", "batch")
    twice = [{"queue": q, "idempotency_key": q + "-d"}, {"queue": q, "idempotency_key": q + "-d"}]
    assert_error(post(api, twice), 400, "[1].idempotency_key", "[0]")
    assert_error(post(api, [{"queue": q, "idempotency_key": ""}]), 400, "[0].idempotency_key")
    assert post(api, [{"queue": q, "idempotency_key": q + "-b1"}]).status_code == 202
    clash = [
        {"queue": q, "idempotency_key": q + "-b2"},
        {"queue": q, "idempotency_key": q + "-b1", "priority": 0},
    ]
    assert_error(post(api, clash), 422, "b1")
    assert [j["params"] for j in queued(api, q)] == [{}]  # b2 was not enqueued either


@pytest.mark.documents("idempotency-gone")
def test_a_replay_of_a_deleted_job_is_a_404(api: httpx.Client, q: str) -> None:
    job = post(api, {"queue": q}, q + "-gone").json()
    assert api.delete(f"/jobs/{job['id']}").status_code == 200
    assert_error(post(api, {"queue": q}, q + "-gone"), 404, job["id"], "no longer exists")


@pytest.mark.documents("idempotency-409")
def test_simultaneous_requests_with_one_key_make_one_job(api: httpx.Client, q: str) -> None:
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: _fresh_post(api, {"queue": q}, q + "-burst"), range(32)))
    statuses = {r.status_code for r in answers}
    assert statuses <= {202, 409}, statuses
    for response in answers:
        if response.status_code == 409:
            assert response.json()["error"]["code"] == "idempotency_key_in_use"
    ids = {r.json()["id"] for r in answers if r.status_code == 202}
    assert len(ids) == 1
    assert [j["id"] for j in queued(api, q)] == list(ids)


def _fresh_post(api: httpx.Client, body: Any, key: str) -> httpx.Response:
    """From a client of its own, as separate producers would."""
    with httpx.Client(base_url=str(api.base_url), timeout=30) as client:
        return post(client, body, key)


@pytest.mark.documents("idempotency-replay")
def test_a_key_survives_a_restart(start_server: StartServer) -> None:
    server = start_server()
    with httpx.Client(base_url=server.url) as client:
        first = post(client, {"queue": "q"}, "durable").json()
    server.stop()
    server.restart()
    with httpx.Client(base_url=server.url) as client:
        again = post(client, {"queue": "q"}, "durable")
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json()["id"] == first["id"]


@pytest.mark.documents("idempotency-window")
def test_a_key_holds_for_the_window_only(start_server: StartServer) -> None:
    server = start_server(ACCEPTED_IDEMPOTENCY_WINDOW="0.5")
    with httpx.Client(base_url=server.url) as client:
        first = post(client, {"queue": "q"}, "short").json()
        time.sleep(0.6)  # the window is time itself passing: nothing to await
        later = post(client, {"queue": "q"}, "short", **{"X-Accepted-Priority": "0"})
        assert later.status_code == 202 and "idempotent-replayed" not in later.headers
        assert later.json()["id"] != first["id"]


@pytest.mark.postgres
@pytest.mark.documents("idempotency-409")
def test_one_key_across_two_nodes_makes_one_job(tmp_path: Path) -> None:
    skip_without_postgres()
    with database("postgres", tmp_path) as target:
        nodes = [
            ServerProcess(db=target, log_path=tmp_path / f"node{i}.log").start() for i in range(2)
        ]
        try:
            clients = [httpx.Client(base_url=n.url, timeout=30) for n in nodes]

            def one(i: int) -> httpx.Response:
                return post(clients[i % 2], {"queue": "q", "params": {"x": 1}}, "shared")

            with ThreadPoolExecutor(16) as pool:
                answers = list(pool.map(one, range(40)))
            assert {r.status_code for r in answers} <= {202, 409}
            ids = {r.json()["id"] for r in answers if r.status_code == 202}
            assert len(ids) == 1
            for client in clients:  # afterwards, both nodes replay it
                again = post(client, {"queue": "q", "params": {"x": 1}}, "shared")
                assert again.headers["idempotent-replayed"] == "true"
                assert {again.json()["id"]} == ids
            assert [j["id"] for j in queued(clients[1], "q")] == list(ids)
            for client in clients:
                client.close()
        finally:
            for node in nodes:
                node.stop()


@pytest.mark.documents("idempotency-replay")
def test_an_idempotent_enqueue_is_one_creation_event_and_a_replay_none(
    api: httpx.Client, shared_server: ServerProcess, q: str
) -> None:
    with SseStream(shared_server.url, f"/events?queue={quote(q)}") as stream:
        first = post(api, {"queue": q}, q + "-ev").json()
        assert post(api, {"queue": q}, q + "-ev").headers["idempotent-replayed"] == "true"
        marker = post(api, {"queue": q}).json()  # a keyless job after the replay
        seen = [stream.next_event(), stream.next_event()]
    assert [(e.event, e.job["id"]) for e in seen if e is not None] == [
        ("queued", first["id"]),
        ("queued", marker["id"]),
    ]
