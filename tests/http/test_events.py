"""Live events over Server-Sent Events, read off a real socket: GET /jobs/{id}/events
and GET /events, on every store."""

from __future__ import annotations

import socket
from urllib.parse import quote

import httpx
import pytest

from tests.http.conftest import StartServer
from tests.http.helpers import NO_TLS, Background, enqueue, report, take, unique_queue
from tests.http.sse import Event, SseStream
from tests.support.servers import ServerProcess

# Also against a several-process server (tests/http/conftest.py).
pytestmark = pytest.mark.processes


def _events(stream: SseStream, count: int) -> list[Event]:
    found = [stream.next_event() for _ in range(count)]
    assert all(e is not None for e in found), found
    return [e for e in found if e is not None]


def _summary(events: list[Event]) -> list[tuple[str | None, str]]:
    """(event name, job id) of each event, checking that the name is the job's status."""
    for event in events:
        assert event.event == event.job["status"], event
    return [(e.event, e.job["id"]) for e in events]


@pytest.mark.documents("events-job-200", "events-job-end", "events-format")
def test_a_job_stream_sends_the_job_then_each_change_and_ends_when_final(
    api: httpx.Client, shared_server: ServerProcess, q: str
) -> None:
    job = enqueue(api, q, {"n": 1})
    with SseStream(shared_server.url, f"/jobs/{job['id']}/events") as stream:
        assert stream.status == 200
        assert stream.headers["content-type"] == "text/event-stream"
        first = stream.next_event()
        assert first is not None and first.event == "queued" and first.job == job
        taken = take(api, q)
        assert taken is not None and taken["id"] == job["id"]
        running = stream.next_event()
        assert running is not None and running.event == "running"
        assert running.job["attempts"] == 1 and "lease" not in running.job
        assert report(api, job["id"], "done", {"ok": True}, lease=taken["lease"]).status_code == 200
        done = stream.next_event()
        assert done is not None and done.event == "done" and done.job["result"] == {"ok": True}
        assert stream.next() is None  # the stream ended after the final status


@pytest.mark.documents("events-job-final")
def test_a_final_job_streams_once_and_ends(
    api: httpx.Client, shared_server: ServerProcess, q: str
) -> None:
    job = enqueue(api, q)
    assert api.delete(f"/jobs/{job['id']}").status_code == 200
    other = enqueue(api, q)
    taken = take(api, q)
    assert taken is not None
    assert report(api, other["id"], "failed", "boom", lease=taken["lease"]).status_code == 200
    with SseStream(shared_server.url, f"/jobs/{other['id']}/events") as stream:
        final = stream.next_event()
        assert final is not None and final.event == "failed" and final.job["result"] == "boom"
        assert stream.next() is None


@pytest.mark.documents("events-job-404")
def test_a_stream_of_no_job_is_404(shared_server: ServerProcess) -> None:
    missing = "0190a000-0000-7000-8000-000000000000"
    for job_id in (missing, "not-a-uuid"):
        with SseStream(shared_server.url, f"/jobs/{job_id}/events") as stream:
            assert stream.status == 404 and b"job_not_found" in stream.body


@pytest.mark.documents("events-job-deleted")
def test_deleting_a_watched_job_ends_its_stream_with_cancelled(
    api: httpx.Client, shared_server: ServerProcess, q: str
) -> None:
    job = enqueue(api, q)
    with SseStream(shared_server.url, f"/jobs/{job['id']}/events") as stream:
        assert _events(stream, 1)[0].event == "queued"
        assert api.delete(f"/jobs/{job['id']}").status_code == 200
        cancelled = stream.next_event()
        assert cancelled is not None and cancelled.event == "cancelled"
        assert stream.next() is None


@pytest.mark.documents("events-queue-200", "events-creation")
def test_a_queue_stream_has_every_change_in_its_queues_creation_included(
    api: httpx.Client, shared_server: ServerProcess, q: str
) -> None:
    other = unique_queue()
    with SseStream(shared_server.url, f"/events?queue={quote(q)}") as stream:
        assert stream.status == 200
        assert stream.headers["content-type"] == "text/event-stream"
        enqueue(api, other)  # not watched
        first = enqueue(api, q)
        later = enqueue(api, q, delay="60")
        taken = take(api, q)
        assert taken is not None and taken["id"] == first["id"]
        assert report(api, first["id"], "queued", lease=taken["lease"]).status_code == 200
        assert api.delete(f"/jobs/{later['id']}").status_code == 200
        seen = _summary(_events(stream, 5))
    assert seen == [
        ("queued", first["id"]),
        ("delayed", later["id"]),
        ("running", first["id"]),
        ("queued", first["id"]),  # given back
        ("cancelled", later["id"]),  # deleted while delayed
    ]


@pytest.mark.documents("events-queue-handoff")
def test_a_job_handed_to_a_waiting_worker_is_queued_then_running(
    api: httpx.Client, shared_server: ServerProcess, api_runner: Background, q: str
) -> None:
    with SseStream(shared_server.url, f"/events?queue={quote(q)}") as stream:
        waiting = api_runner.request(
            "POST", "/want_job", params={"queue": q}, headers={"X-Accepted-Block-For": "10"}
        )
        # The taker is blocked once a stream of the same server has seen nothing
        # for it; an enqueue now is handed to it directly.
        job = enqueue(api, q)
        assert waiting.result(timeout=10).response.status_code == 200
        seen = _summary(_events(stream, 2))
    assert seen == [("queued", job["id"]), ("running", job["id"])]


@pytest.mark.documents("events-all-queues", "events-queue-repeat")
def test_events_without_a_queue_cover_every_queue_and_queue_repeats(
    api: httpx.Client, shared_server: ServerProcess
) -> None:
    one, two, three = unique_queue(), unique_queue(), unique_queue()
    with (
        SseStream(shared_server.url, "/events") as everything,
        SseStream(shared_server.url, f"/events?queue={one}&queue={two}") as some,
    ):
        jobs = [enqueue(api, queue) for queue in (one, two, three)]
        ids = {job["id"] for job in jobs}
        seen_all: set[str] = set()
        while not ids <= seen_all:  # other tests' jobs may come too
            event = everything.next_event()
            assert event is not None
            seen_all.add(event.job["id"])
        assert _summary(_events(some, 2)) == [
            ("queued", jobs[0]["id"]),
            ("queued", jobs[1]["id"]),
        ]


@pytest.mark.documents("events-400")
def test_an_empty_queue_name_is_400(shared_server: ServerProcess) -> None:
    with SseStream(shared_server.url, "/events?queue=") as stream:
        assert stream.status == 400 and b"invalid_field" in stream.body


@pytest.mark.documents("events-keepalive")
def test_an_idle_stream_gets_comment_lines(start_server: StartServer) -> None:
    server = start_server(ACCEPTED_EVENT_KEEPALIVE="0.2")
    with SseStream(server.url, f"/events?queue={unique_queue()}") as stream:
        first = stream.next()
        second = stream.next()
    assert first == second == Event(None, None, comment="keep-alive")


@pytest.mark.documents("events-slow-reader")
def test_a_reader_that_falls_behind_is_disconnected_and_others_go_on(
    start_server: StartServer,
) -> None:
    server = start_server(ACCEPTED_EVENT_BUFFER="600", ACCEPTED_BODY_LIMIT="33554432")
    queue = unique_queue()
    params = {"pad": "x" * 16_000}
    slow = SseStream(server.url, f"/events?queue={queue}", rcvbuf=4096)
    try:
        with (
            SseStream(server.url, f"/events?queue={queue}") as keeping_up,
            httpx.Client(base_url=server.url, verify=NO_TLS, timeout=30) as http,
        ):
            sent = 0
            for _ in range(6):  # ~ 48 MB of events: more than any socket buffers
                batch = [{"queue": queue, "params": params}] * 500
                assert http.post("/jobs", json=batch).status_code == 202
                sent += 500
                for _ in range(500):  # the reader that keeps up gets every one
                    assert keeping_up.next_event() is not None
            # The slow reader's connection is closed: reading it now ends in EOF
            # long before all it was sent, not in a clean end or a full stream.
            received = 0
            with pytest.raises(EOFError):
                while True:
                    event = slow.next_event()
                    assert event is not None
                    received += 1
            assert received < sent
            assert http.get("/healthz").status_code == 200
    finally:
        slow.close()


def test_a_closed_client_leaves_no_subscription_behind(
    api: httpx.Client, shared_server: ServerProcess, q: str
) -> None:
    """A hung-up stream stops at once: the server goes on answering the rest."""
    for _ in range(20):
        with SseStream(shared_server.url, f"/events?queue={quote(q)}") as stream:
            stream.sock.shutdown(socket.SHUT_RDWR)
    with SseStream(shared_server.url, f"/events?queue={quote(q)}") as stream:
        job = enqueue(api, q)
        event = stream.next_event()
        assert event is not None and event.job["id"] == job["id"]


@pytest.mark.documents("events-shutdown")
def test_streams_end_cleanly_when_the_server_stops(start_server: StartServer) -> None:
    server = start_server()
    with (
        SseStream(server.url, f"/events?queue={unique_queue()}") as stream,
        httpx.Client(base_url=server.url, verify=NO_TLS) as http,
    ):
        job = enqueue(http, unique_queue())
        with SseStream(server.url, f"/jobs/{job['id']}/events") as one:
            assert one.next_event() is not None
            assert server.stop() == 0  # SIGTERM
            assert one.next() is None
        assert stream.next() is None
