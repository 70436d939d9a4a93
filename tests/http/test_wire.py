"""HTTP/1.1 as our own protocol speaks it (http/protocol.py): keep-alive,
pipelining, `Expect: 100-continue`, chunked request bodies, HEAD,
`Connection: close`, HTTP/1.0, a client that hangs up on a long-poll, and an
event stream to a reader that does not read. Raw sockets: what a client
library hides is the point.
"""

from __future__ import annotations

import asyncio
import json
import socket
from urllib.parse import urlsplit

import httpx

from tests.http.helpers import unique_queue
from tests.http.wire import await_metric, connect, metric, read_answer, request, until_closed
from tests.support.servers import ServerProcess


def _enqueue(queue: str, n: int, *headers: str) -> bytes:
    body = json.dumps({"queue": queue, "params": {"n": n}}).encode()
    return request("POST", "/jobs", "Content-Type: application/json", *headers, body=body)


async def test_pipelined_requests_are_answered_in_order_on_one_connection(
    shared_server: ServerProcess,
) -> None:
    q = unique_queue()
    reader, writer = await connect(shared_server.url)
    # All sent at once: each is answered only after the one before it.
    enqueues = b"".join(_enqueue(q, n) for n in range(3))
    writer.write(enqueues + request("POST", f"/want_job?queue={q}") + request("GET", "/healthz"))
    answers = [await asyncio.wait_for(read_answer(reader), 30) for _ in range(5)]
    writer.close()
    assert [a.status for a in answers] == [202, 202, 202, 200, 200]
    assert [json.loads(a.body)["params"]["n"] for a in answers[:3]] == [0, 1, 2]
    assert json.loads(answers[3].body)["id"] == json.loads(answers[0].body)["id"]
    assert json.loads(answers[4].body) == {"status": "ok"}


async def test_expect_100_continue_is_answered_before_the_body_is_sent(
    shared_server: ServerProcess,
) -> None:
    q = unique_queue()
    body = json.dumps({"queue": q, "params": {}}).encode()
    head = request("POST", "/jobs", "Expect: 100-continue", f"Content-Length: {len(body)}")
    reader, writer = await connect(shared_server.url)
    writer.write(head)
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(body)
    answer = await asyncio.wait_for(read_answer(reader), 30)
    writer.close()
    assert answer.status == 202 and json.loads(answer.body)["queue"] == q


async def test_a_chunked_request_body_is_read_whole(shared_server: ServerProcess) -> None:
    q = unique_queue()
    body = json.dumps({"queue": q, "params": {"x": "y" * 100}}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:]))
    head = request("POST", "/jobs", "Transfer-Encoding: chunked")
    reader, writer = await connect(shared_server.url)
    writer.write(head + chunks[:20])
    await writer.drain()
    await asyncio.sleep(0.05)  # the rest in a later read: the handler waits for it
    writer.write(chunks[20:] + b"0\r\n\r\n")
    answer = await asyncio.wait_for(read_answer(reader), 30)
    writer.close()
    assert answer.status == 202, answer
    assert json.loads(answer.body)["params"] == {"x": "y" * 100}


async def test_head_gets_the_head_without_a_body_and_the_connection_goes_on(
    shared_server: ServerProcess,
) -> None:
    reader, writer = await connect(shared_server.url)
    writer.write(request("HEAD", "/healthz") + request("GET", "/healthz"))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    assert head.startswith(b"HTTP/1.1 405 ") and b"content-length: " in head
    answer = await asyncio.wait_for(read_answer(reader), 30)  # no body came between
    writer.close()
    assert answer.status == 200 and json.loads(answer.body) == {"status": "ok"}


async def test_connection_close_and_http_1_0_close_after_their_answer(
    shared_server: ServerProcess,
) -> None:
    for data in (
        request("GET", "/healthz", "Connection: close"),
        b"GET /healthz HTTP/1.0\r\n\r\n",
    ):
        reader, writer = await connect(shared_server.url)
        writer.write(data)
        rest, _ = await asyncio.wait_for(until_closed(reader), 30)
        writer.close()
        assert rest.startswith(b"HTTP/1.1 200 "), rest
        assert b"\r\nconnection: close\r\n" in rest
        assert rest.endswith(b'{"status":"ok"}')


async def test_a_long_poll_whose_client_hangs_up_takes_nothing(
    shared_server: ServerProcess,
) -> None:
    q, url = unique_queue(), shared_server.url
    route = 'accepted_http_requests_total{route="/want_job",method="POST",code="%s"}'
    unanswered, empty = await metric(url, route % 0), await metric(url, route % 204)
    reader, writer = await connect(url)
    writer.write(request("POST", f"/want_job?queue={q}", "X-Accepted-Block-For: 30"))
    await await_metric(url, "accepted_takers_waiting", 1)  # the long-poll is waiting
    writer.close()
    await writer.wait_closed()
    await await_metric(url, "accepted_takers_waiting", 0)  # and has heard the hang-up
    reader, writer = await connect(url)
    writer.write(_enqueue(q, 1) + request("POST", f"/want_job?queue={q}"))
    enqueued = await asyncio.wait_for(read_answer(reader), 30)
    taken = await asyncio.wait_for(read_answer(reader), 30)
    writer.close()
    assert enqueued.status == 202
    assert taken.status == 200, "the job went to the client that hung up"
    assert json.loads(taken.body)["id"] == json.loads(enqueued.body)["id"]
    # Counted (and logged) as status 0, "left before an answer began", not as a 204.
    assert await metric(url, route % 0) == unanswered + 1
    assert await metric(url, route % 204) == empty


async def test_an_event_stream_to_a_reader_that_does_not_read_leaves_the_server_serving(
    shared_server: ServerProcess,
) -> None:
    """Writes to a full socket wait (flow control) rather than buffer without end."""
    q = unique_queue()
    reader, writer = await connect(shared_server.url)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    writer.write(request("GET", f"/events?queue={q}"))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    assert head.startswith(b"HTTP/1.1 200 ") and b"transfer-encoding: chunked" in head
    r2, w2 = await connect(shared_server.url)
    for n in range(300):  # each enqueue is an event on the stream nobody reads
        w2.write(_enqueue(q, n, "X-Pad: " + "p" * 200))
        assert (await asyncio.wait_for(read_answer(r2), 30)).status == 202
    w2.write(request("GET", "/healthz"))
    assert (await asyncio.wait_for(read_answer(r2), 30)).status == 200
    w2.close()
    first = await asyncio.wait_for(reader.readuntil(b"\r\n"), 30)  # the stream is still there
    writer.close()
    assert int(first.strip(), 16) > 0


async def test_a_malformed_pipelined_request_is_refused_after_the_answers_before_it(
    shared_server: ServerProcess,
) -> None:
    q = unique_queue()
    reader, writer = await connect(shared_server.url)
    garbage = b"GARBAGE\x01 / HTTP/1.1\r\n\r\n"
    writer.write(_enqueue(q, 1) + request("GET", "/healthz") + garbage)
    enqueued = await asyncio.wait_for(read_answer(reader), 30)
    healthy = await asyncio.wait_for(read_answer(reader), 30)
    refused = await asyncio.wait_for(read_answer(reader), 30)
    rest, _ = await asyncio.wait_for(until_closed(reader), 30)
    writer.close()
    assert (enqueued.status, healthy.status, refused.status) == (202, 200, 400)
    assert json.loads(enqueued.body)["queue"] == q
    assert refused.error()["code"] == "malformed_request", refused
    assert rest == b""  # and then the connection closes
    async with httpx.AsyncClient(base_url=shared_server.url) as client:
        listed = (await client.get("/jobs", params={"queue": q})).json()["jobs"]
    assert [job["id"] for job in listed] == [json.loads(enqueued.body)["id"]]


async def test_a_malformed_request_after_an_event_stream_waits_for_the_stream_to_end(
    shared_server: ServerProcess,
) -> None:
    """The refusal is not spliced into the chunked body of the stream before it."""
    q = unique_queue()
    reader, writer = await connect(shared_server.url)
    writer.write(request("GET", f"/events?queue={q}") + b"GARBAGE\x01 / HTTP/1.1\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    assert head.startswith(b"HTTP/1.1 200 ") and b"transfer-encoding: chunked" in head
    async with httpx.AsyncClient(base_url=shared_server.url) as client:
        assert (await client.post("/jobs", json={"queue": q, "params": {}})).status_code == 202
    size = int(await asyncio.wait_for(reader.readuntil(b"\r\n"), 30), 16)
    chunk = await asyncio.wait_for(reader.readexactly(size + 2), 30)
    writer.close()
    assert b"HTTP/1.1" not in chunk and chunk.endswith(b"\r\n"), chunk


OPENAPI = 'accepted_http_requests_total{route="/openapi.json",method="GET",code="200"}'


async def test_pipelined_answers_to_a_client_that_does_not_read_wait_for_it(
    shared_server: ServerProcess,
) -> None:
    """Backpressure: the server stops taking requests while its answers go unread,
    rather than buffering them all, and goes on once the client reads."""
    url, many = shared_server.url, 400
    before = await metric(url, OPENAPI)
    parts = urlsplit(url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before the window is set
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (parts.hostname, parts.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(request("GET", "/openapi.json") * many)
    await writer.drain()
    # No event says "the server has stopped": wait until the count holds still.
    answered, last = await metric(url, OPENAPI), -1.0
    while answered != last:
        await asyncio.sleep(0.3)
        answered, last = await metric(url, OPENAPI), answered
    assert answered - before < many / 2, "the server answered on without the client reading"
    answers = [await asyncio.wait_for(read_answer(reader), 30) for _ in range(many)]
    writer.close()
    assert {a.status for a in answers} == {200}
    assert await metric(url, OPENAPI) == before + many
