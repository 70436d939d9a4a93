"""Running the app under uvicorn's server (uvloop, our httptools protocol), with a graceful stop.

uvicorn's `Server` owns the listening sockets, the lifespan, the signals and
the graceful shutdown; each connection is our `http/protocol.py`, which
answers through `App.answer` without ASGI messages.

On SIGTERM or SIGINT uvicorn stops accepting and waits for in-flight requests;
we first tell the app, so pending long-polls answer at once (204, or the job as
it is) instead of holding the shutdown for their full wait.

After its graceful shutdown uvicorn restores the signal handlers it found and
raises the signal again, so that the program's own handler decides what the
signal means. Ours (installed for the run) makes a stop by signal a clean exit,
status 0, rather than a death by the signal (-15).

`serve` runs one process's server. How many processes serve, and the parent
that runs several of them (`--workers N`), is `accepted/supervisor.py`'s
concern, one floor up: each of its children calls `serve` on the parent's
socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable, Iterator
from types import FrameType

import uvicorn

from accepted.config import Settings
from accepted.http.app import App, create_app
from accepted.http.protocol import protocol_class
from accepted.siblings import Siblings

# How long in-flight requests get to finish after a stop signal.
GRACEFUL_SECONDS = 5
BACKLOG = 4096  # connections the kernel queues before they are accepted
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: App) -> None:
        super().__init__(config)
        self.app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig in STOP_SIGNALS:
            with contextlib.suppress(RuntimeError):  # no loop yet: nothing is waiting
                asyncio.get_running_loop().call_soon_threadsafe(self.app.begin_shutdown)
        super().handle_exit(sig, frame)


class Stopped(Exception):
    """A stop signal reached our own handler: before start-up, or re-raised after shutdown."""


def _stop(sig: int, frame: FrameType | None) -> None:
    raise Stopped(signal.Signals(sig).name)


@contextlib.contextmanager
def stop_signals_end_the_run() -> Iterator[None]:
    previous = {sig: signal.signal(sig, _stop) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve(
    settings: Settings,
    *,
    sock: socket.socket | None = None,
    siblings: Siblings | None = None,
    started: Callable[[], None] | None = None,
) -> int:
    """Run one process's server; exit status 0 after a stop signal, 1 if it never served.

    `sock`, `siblings`: a child of `supervisor.Supervisor`, serving the parent's socket as
    one of the node's processes. `started` runs once the app has started.
    """
    app = create_app(settings, siblings=siblings)
    if started is not None:
        app.started_hooks.append(started)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        # Our own request cycle (http/protocol.py) in uvicorn's server.
        http=protocol_class(
            app, head_timeout=settings.head_timeout, idle_timeout=settings.idle_timeout
        ),
        ws="none",
        lifespan="on",
        log_config=None,  # uvicorn's loggers go through ours: one format (logs.py)
        log_level=settings.log_level,
        access_log=False,
        proxy_headers=False,  # we never read client addresses
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        backlog=BACKLOG,
        ssl_certfile=settings.tls_cert or None,
        ssl_keyfile=settings.tls_key or None,
    )
    server = Server(config, app)
    with stop_signals_end_the_run(), contextlib.suppress(Stopped):
        server.run(sockets=None if sock is None else [sock])
    return 0 if server.started else 1
