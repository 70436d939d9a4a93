"""The baseline: a raw ASGI app that reads the request body and answers a
constant, served by uvicorn with its own httptools protocol, configured as
accepted's server is (`accepted.http.server.serve`). Enqueue throughput is
judged as a fraction of this one's, measured in the same run. Since issue 11
accepted answers through its own protocol class in that server
(http/protocol.py), which is leaner than uvicorn's; bench/thin.py is the
floor of that path, for comparison.

The constant is shaped and sized like an enqueue answer (202, JSON, a job),
so both servers write the same bytes per request.

    python -m bench.constant --port 8001            # uvicorn, as accepted runs
    python -m bench.constant --workers 2            # N processes on one port
    granian --interface asgi bench.constant:app     # the same app under granian

`--workers N` runs N processes on one port the way `accepted serve --workers N`
does (`accepted/supervisor.py`): the parent binds and listens, then forks N
children that each serve the inherited socket. Until all N serve, every
answer is 503 (the harness waits for another status), so a load generator's
keep-alive connections are not all taken by the first child up.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
from typing import Any

BODY = (
    b'{"id":"7c0d6f0e-2a55-4a51-9b1e-1f3f0c8a2d41","queue":"bench","status":"queued",'
    b'"priority":1,"params":{"n":1},"result":null,"attempts":0,"max_attempts":5,'
    b'"created_at":"2026-01-01T00:00:00.000000Z","updated_at":"2026-01-01T00:00:00.000000Z",'
    b'"due_at":"2026-01-01T00:00:00.000000Z","lease_expires_at":null,"timeout":null,'
    b'"deadline_at":null,"result_ttl":null,"expires_at":null,"finished_at":null,'
    b'"error":null,"callback":null}'
)
_START = {
    "type": "http.response.start",
    "status": 202,
    "headers": [
        (b"content-type", b"application/json"),
        (b"location", b"/jobs/7c0d6f0e-2a55-4a51-9b1e-1f3f0c8a2d41"),
        (b"content-length", str(len(BODY)).encode()),
    ],
}
_BODY = {"type": "http.response.body", "body": BODY}
_NOT_YET = {"type": "http.response.start", "status": 503, "headers": [(b"content-length", b"0")]}
_EMPTY = {"type": "http.response.body", "body": b""}
_open = True  # False in a child until every process serves (`--workers` above 1)
_started_fd: int | None = None  # a child's end of the pipe it says "I serve" on


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
                if _started_fd is not None:
                    os.write(_started_fd, b".")
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:  # read the body, as accepted does
        message = await receive()
        more = message.get("more_body", False) and message["type"] == "http.request"
    if not _open:
        await send(_NOT_YET)
        await send(_EMPTY)
        return
    await send(_START)
    await send(_BODY)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1, help="processes on the port [1]")
    args = parser.parse_args()
    if args.workers <= 1:
        _serve(args.host, args.port, None)
    else:
        raise SystemExit(_supervise(args.host, args.port, args.workers))


def _serve(host: str, port: int, sock: socket.socket | None) -> None:
    import uvicorn

    # Keep in step with accepted.http.server.serve (but for its protocol class, see above).
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
        backlog=4096,
    )
    uvicorn.Server(config).run(sockets=None if sock is None else [sock])


def _supervise(host: str, port: int, workers: int) -> int:
    """Bind once, fork `workers` children on the socket, open them when all serve."""
    global _open, _started_fd
    import uvicorn  # noqa: F401  (imported once, before the forks)

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(4096)
    started, told = os.pipe()
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    signal.signal(signal.SIGINT, lambda *_: stop.__setitem__(0, True))
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a child's end wakes the pause below
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # a child: serve until told to stop, then leave at once
            os.close(started)
            _open, _started_fd = False, told
            signal.signal(signal.SIGUSR1, _opened)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _serve(host, port, sock)
            os._exit(0)
        children.append(pid)
    os.close(told)
    heard = b""
    while len(heard) < workers and not stop[0]:
        try:
            chunk = os.read(started, workers)
        except InterruptedError:
            continue
        if not chunk:
            break  # every child gone before it served
        heard += chunk
    for pid in children:
        os.kill(pid, signal.SIGUSR1 if len(heard) == workers and not stop[0] else signal.SIGTERM)
    while not stop[0] and all(_alive(pid) for pid in children):
        signal.pause()  # until SIGTERM or SIGINT (or a child's end, SIGCHLD)
    for pid in children:
        if _alive(pid):
            os.kill(pid, signal.SIGTERM)
    for pid in children:
        with contextlib.suppress(ChildProcessError):  # reaped already by `_alive`
            os.waitpid(pid, 0)
    return 0


def _opened(*_: object) -> None:
    global _open
    _open = True


def _alive(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return False


if __name__ == "__main__":
    main()
