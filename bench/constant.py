"""The baseline: a raw ASGI app that reads the request body and answers a
constant, served with the same uvicorn configuration as accepted
(`accepted.http.server.run`). Enqueue throughput is judged as a fraction of
this one's, measured in the same run.

The constant is shaped and sized like an enqueue answer (202, JSON, a job),
so both servers write the same bytes per request.

    python -m bench.constant --port 8001            # uvicorn, as accepted runs
    granian --interface asgi bench.constant:app     # the same app under granian
"""

from __future__ import annotations

import argparse
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


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:  # read the body, as accepted does
        message = await receive()
        more = message.get("more_body", False) and message["type"] == "http.request"
    await send(_START)
    await send(_BODY)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    # Keep in step with accepted.http.server.run: the point is the same stack.
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
        backlog=4096,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
