"""POST /want_job: which job is handed out, long-polls, leases, and one worker per job."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest

from tests.http.conftest import StartServer
from tests.http.helpers import (
    PROMPT,
    Background,
    enqueue,
    get,
    note_latency,
    report,
    settle,
    take,
    timestamp,
    unique_queue,
    until,
)
from tests.support.servers import ServerProcess

# Also against a several-process server (tests/http/conftest.py).
pytestmark = pytest.mark.processes


@pytest.mark.documents("want-204")
def test_an_empty_queue_answers_204(http: httpx.Client) -> None:
    response = http.post("/want_job")
    assert response.status_code == 204
    assert response.content == b""


@pytest.mark.documents("want-200", "decision-lease-token", "decision-attempts")
def test_the_answer_is_the_running_job_with_a_lease(api: httpx.Client, q: str) -> None:
    job = enqueue(api, q, {"n": 1})
    response = api.post("/want_job", params={"queue": q})
    assert response.status_code == 200
    taken = response.json()
    assert taken["id"] == job["id"]
    assert (taken["status"], taken["attempts"], taken["params"]) == ("running", 1, {"n": 1})
    assert isinstance(taken["lease"], str) and taken["lease"]
    assert timestamp(taken["lease_expires_at"]) > timestamp(taken["updated_at"])


def test_no_queue_named_means_any_queue(http: httpx.Client) -> None:
    a, b = enqueue(http, "a"), enqueue(http, "b")
    first, second = take(http), take(http)
    assert {first["id"], second["id"]} == {a["id"], b["id"]}  # type: ignore[index]
    assert take(http) is None


def test_queues_named_in_the_query_string(api: httpx.Client) -> None:
    a, b, c = unique_queue(), unique_queue(), unique_queue()
    jobs = {enqueue(api, name)["id"] for name in (a, b)}
    other = enqueue(api, c)
    response = api.post(f"/want_job?queue={a}&queue={b}")
    got = {response.json()["id"], take(api, a, b)["id"]}  # type: ignore[index]
    assert got == jobs
    assert take(api, a, b) is None
    assert get(api, other["id"])["status"] == "queued"


def test_queues_named_in_a_json_body(api: httpx.Client) -> None:
    a, b, c = unique_queue(), unique_queue(), unique_queue()
    jobs = {enqueue(api, name)["id"] for name in (a, b)}
    other = enqueue(api, c)
    got = {api.post("/want_job", json={"queues": [a, b]}).json()["id"] for _ in range(2)}
    assert got == jobs
    assert api.post("/want_job", json={"queues": [a, b]}).status_code == 204
    assert get(api, other["id"])["status"] == "queued"


def test_want_job_trailing_slash(api: httpx.Client, q: str) -> None:
    job = enqueue(api, q)
    assert api.post("/want_job/", params={"queue": q}).json()["id"] == job["id"]


def test_lowest_priority_number_first_then_earliest_due(api: httpx.Client, q: str) -> None:
    low = enqueue(api, q, priority=3)
    normal_1 = enqueue(api, q)
    normal_2 = enqueue(api, q, priority=1)
    urgent = enqueue(api, q, priority=0)
    high = enqueue(api, q, priority=2)
    order = [take(api, q)["id"] for _ in range(5)]  # type: ignore[index]
    assert order == [j["id"] for j in (urgent, normal_1, normal_2, high, low)]


def test_due_time_orders_jobs_not_insertion(api: httpx.Client, q: str) -> None:
    late = enqueue(api, q, delay=0.3)  # inserted first, due last
    early = enqueue(api, q)
    until(lambda: get(api, late["id"])["status"] == "queued")
    assert [take(api, q)["id"], take(api, q)["id"]] == [early["id"], late["id"]]  # type: ignore[index]


def test_a_lease_expired_job_keeps_its_due_time_and_goes_first(
    api: httpx.Client, q: str
) -> None:
    old = enqueue(api, q)
    assert take(api, q, timeout=0.3)["id"] == old["id"]  # type: ignore[index]
    newer = enqueue(api, q)
    until(lambda: get(api, old["id"])["status"] == "queued")
    again = take(api, q)
    assert again is not None
    assert (again["id"], again["attempts"], again["due_at"]) == (old["id"], 2, old["due_at"])
    assert take(api, q)["id"] == newer["id"]  # type: ignore[index]


def test_a_given_back_job_goes_before_newer_work(api: httpx.Client, q: str) -> None:
    old = enqueue(api, q)
    take(api, q)
    newer = enqueue(api, q)
    assert report(api, old["id"], "queued").status_code == 200
    assert take(api, q)["id"] == old["id"]  # type: ignore[index]
    assert take(api, q)["id"] == newer["id"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("headers", "query"),
    [({"X-Accepted-Block-For": "30"}, {}), ({"X-ACCEPTED-BLOCK-FOR": "30"}, {}),
     ({}, {"block": "30"})],
    ids=["header", "header-upper-case", "query-alias"],
)
@pytest.mark.documents("want-block")
def test_a_blocked_taker_gets_a_job_the_moment_it_arrives(
    api: httpx.Client,
    q: str,
    api_runner: Background,
    headers: dict[str, str],
    query: dict[str, str],
) -> None:
    waiting = api_runner.request("POST", "/want_job", params={"queue": q, **query},
                                 headers=headers)
    settle()
    assert not waiting.done()
    enqueued_at = time.monotonic()
    job = enqueue(api, q)
    answer = waiting.result(timeout=10)
    assert answer.response.status_code == 200
    assert answer.response.json()["id"] == job["id"]
    assert answer.done_at - enqueued_at < PROMPT
    note_latency("blocked want_job wake after enqueue", answer.done_at - enqueued_at)


@pytest.mark.documents("want-204")
def test_a_block_with_nothing_arriving_answers_204_after_the_wait(
    api: httpx.Client, q: str
) -> None:
    started = time.monotonic()
    response = api.post("/want_job", params={"queue": q}, headers={"X-Accepted-Block-For": "0.5"})
    elapsed = time.monotonic() - started
    assert response.status_code == 204
    assert 0.45 <= elapsed < 0.5 + PROMPT


@pytest.mark.documents("want-block")
def test_a_blocked_taker_is_woken_by_a_lease_expiring(
    api: httpx.Client, q: str, api_runner: Background
) -> None:
    job = enqueue(api, q)
    first = take(api, q, timeout=0.5)
    assert first is not None
    waiting = api_runner.request("POST", "/want_job", params={"queue": q, "block": "30"})
    answer = waiting.result(timeout=10)
    second = answer.response.json()
    assert (second["id"], second["attempts"]) == (job["id"], 2)
    assert second["lease"] != first["lease"]
    expired_at = timestamp(first["lease_expires_at"])
    assert time.time() - expired_at < PROMPT
    note_latency("blocked want_job wake after lease expiry", time.time() - expired_at)


@pytest.mark.documents("want-block", "report-queued-200")
def test_a_blocked_taker_is_woken_by_a_give_back(
    api: httpx.Client, q: str, api_runner: Background
) -> None:
    job = enqueue(api, q)
    take(api, q)
    waiting = api_runner.request("POST", "/want_job", params={"queue": q, "block": "30"})
    settle()
    given_back_at = time.monotonic()
    report(api, job["id"], "queued")
    answer = waiting.result(timeout=10)
    assert answer.response.json()["id"] == job["id"]
    assert answer.done_at - given_back_at < PROMPT
    note_latency("blocked want_job wake after give-back", answer.done_at - given_back_at)


@pytest.mark.parametrize(
    ("headers", "query"),
    [({"X-Accepted-Timeout": "0.4"}, {}), ({}, {"timeout": "0.4"})],
    ids=["header", "query-alias"],
)
def test_the_lease_timeout_re_enqueues_an_unfinished_job(
    api: httpx.Client, q: str, headers: dict[str, str], query: dict[str, str]
) -> None:
    job = enqueue(api, q)
    response = api.post("/want_job", params={"queue": q, **query}, headers=headers)
    taken = response.json()
    assert timestamp(taken["lease_expires_at"]) == pytest.approx(
        timestamp(taken["updated_at"]) + 0.4, abs=0.01)
    queued = until(lambda: (j := get(api, job["id"]))["status"] == "queued" and j)
    assert queued["attempts"] == 1 and queued["lease_expires_at"] is None
    again = take(api, q)
    assert again is not None and again["attempts"] == 2
    assert again["lease"] != taken["lease"]  # a new token at each hand-out


def test_the_server_default_lease_applies_without_a_timeout(
    start_server: StartServer,
) -> None:
    server = start_server(ACCEPTED_DEFAULT_LEASE="0.4")
    with httpx.Client(base_url=server.url) as client:
        job = enqueue(client, "q")
        taken = take(client)
        assert taken is not None
        assert timestamp(taken["lease_expires_at"]) == pytest.approx(
            timestamp(taken["updated_at"]) + 0.4, abs=0.01)
        again = take(client, block_for=10)
        assert again is not None and (again["id"], again["attempts"]) == (job["id"], 2)


@pytest.mark.documents("want-block")
@pytest.mark.one_process  # the order holds among the takers of one process (http-api: workers)
def test_blocked_takers_are_served_first_come_first_served(
    api: httpx.Client, q: str, api_runner: Background
) -> None:
    takers = []
    for _ in range(3):
        takers.append(api_runner.request("POST", "/want_job", params={"queue": q, "block": "30"}))
        settle()
    jobs = [enqueue(api, q) for _ in range(3)]
    for taker, job in zip(takers, jobs, strict=True):
        assert taker.result(timeout=10).response.json()["id"] == job["id"]


@pytest.mark.documents("want-200")
async def test_each_job_goes_to_exactly_one_of_many_blocked_takers(
    server: ServerProcess,
) -> None:
    takers, jobs = 24, 16  # more takers than jobs: the rest time out with 204
    async with httpx.AsyncClient(base_url=server.url, timeout=30.0) as client:

        async def want() -> str | None:
            response = await client.post("/want_job", headers={"X-Accepted-Block-For": "2"})
            return response.json()["id"] if response.status_code == 200 else None

        waiting = [asyncio.create_task(want()) for _ in range(takers)]
        await asyncio.sleep(0.3)  # let the takers line up (the result holds either way)

        async def produce(n: int) -> str:
            response = await client.post("/jobs", json={"queue": f"q{n % 3}"})
            assert response.status_code == 202
            return str(response.json()["id"])

        enqueued = await asyncio.gather(*(produce(n) for n in range(jobs)))
        got = [job_id for job_id in await asyncio.gather(*waiting) if job_id is not None]
    assert sorted(got) == sorted(enqueued)  # every job once, none twice


@pytest.mark.documents("want-200")
def test_concurrent_takers_without_blocking_never_share_a_job(
    api: httpx.Client, q: str, api_runner: Background
) -> None:
    enqueued = {enqueue(api, q)["id"] for _ in range(30)}
    calls = [api_runner.request("POST", "/want_job", params={"queue": q}) for _ in range(40)]
    got = [c.result(timeout=20).response for c in calls]
    ids = [r.json()["id"] for r in got if r.status_code == 200]
    assert len(ids) == len(set(ids)) == 30
    assert set(ids) == enqueued


@pytest.mark.documents("decision-caps")
def test_the_server_caps_long_waits_at_its_max_wait(start_server: StartServer) -> None:
    server = start_server(ACCEPTED_MAX_WAIT="0.5")
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        job = enqueue(client, "capped")
        started = time.monotonic()
        assert take(client, "empty", block_for=30) is None
        waited = client.get(f"/jobs/{job['id']}", headers={"X-Accepted-Wait-Result": "30"})
        elapsed = time.monotonic() - started
    assert waited.status_code == 200 and waited.json()["status"] == "queued"
    assert 0.9 <= elapsed < 1.0 + 2 * PROMPT


# -- counts, and takers that hang up -------------------------------------------------


@pytest.mark.documents("want-count-200", "decision-count")
@pytest.mark.parametrize(
    ("headers", "query"), [({"X-Accepted-Count": "3"}, {}), ({}, {"count": "3"})],
    ids=["header", "query-alias"],
)
def test_a_count_answers_an_array_of_up_to_that_many_jobs(
    api: httpx.Client, q: str, headers: dict[str, str], query: dict[str, str]
) -> None:
    jobs = [enqueue(api, q, {"n": n}) for n in range(4)]
    response = api.post("/want_job", params={"queue": q, **query}, headers=headers)
    assert response.status_code == 200
    taken = response.json()
    assert [t["id"] for t in taken] == [j["id"] for j in jobs[:3]]
    for job in taken:
        assert (job["status"], job["attempts"]) == ("running", 1)
        assert job["lease_expires_at"] is not None
    assert len({job["lease"] for job in taken}) == 3  # a lease each
    rest = api.post("/want_job", params={"queue": q, **query}, headers=headers).json()
    assert [t["id"] for t in rest] == [jobs[3]["id"]]
    empty = api.post("/want_job", params={"queue": q, **query}, headers=headers)
    assert (empty.status_code, empty.json()) == (200, [])  # not 204


@pytest.mark.documents("want-count-200", "want-block")
def test_a_blocked_count_takes_what_is_there_once_something_arrives(
    api: httpx.Client, q: str, api_runner: Background
) -> None:
    waiting = api_runner.request(
        "POST", "/want_job", params={"queue": q, "count": "5", "block": "30"}
    )
    settle()
    assert not waiting.done()
    jobs = api.post("/jobs", json=[{"queue": q}, {"queue": q}]).json()
    answer = waiting.result(timeout=10).response
    assert answer.status_code == 200
    assert sorted(t["id"] for t in answer.json()) == sorted(j["id"] for j in jobs)


@pytest.mark.documents("decision-hangup", "want-block")
def test_a_blocked_taker_that_hangs_up_gets_nothing_and_costs_no_attempt(
    api: httpx.Client, q: str, shared_server: ServerProcess
) -> None:
    with socket.create_connection(("127.0.0.1", shared_server.port), timeout=10) as sock:
        sock.sendall(
            f"POST /want_job?queue={q}&block=30 HTTP/1.1\r\nHost: x\r\n"
            "Content-Length: 0\r\n\r\n".encode()
        )
        settle()
    # Whether the server heard the hang-up before this enqueue or in the same
    # instant, the job ends up queued, untaken, with no attempt counted.
    job = enqueue(api, q)
    until(lambda: (j := get(api, job["id"]))["status"] == "queued" and j["attempts"] == 0)
    taken = take(api, q)
    assert taken is not None and (taken["id"], taken["attempts"]) == (job["id"], 1)
