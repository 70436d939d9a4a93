"""Running the app under uvicorn (uvloop + httptools), with a graceful stop.

On SIGTERM or SIGINT uvicorn stops accepting and waits for in-flight requests;
we first tell the app, so pending long-polls answer at once (204, or the job as
it is) instead of holding the shutdown for their full wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from types import FrameType

import uvicorn

from accepted import logs
from accepted.config import Settings
from accepted.http.app import App, create_app

# How long in-flight requests get to finish after a stop signal.
GRACEFUL_SECONDS = 5


class Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: App) -> None:
        super().__init__(config)
        self.app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(RuntimeError):  # no loop yet: nothing is waiting
                asyncio.get_running_loop().call_soon_threadsafe(self.app.begin_shutdown)
        super().handle_exit(sig, frame)
        # uvicorn re-raises a captured signal after its graceful shutdown, so the
        # process would die of it (exit -15); a clean stop on SIGTERM exits 0.
        self._captured_signals.clear()


def run(settings: Settings) -> int:
    logs.configure(settings.log_level, settings.log_format)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_config=None,  # uvicorn's loggers go through ours: one format (logs.py)
        log_level=settings.log_level,
        access_log=False,
        proxy_headers=False,  # we never read client addresses; saves work on every request
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        backlog=4096,
    )
    server = Server(config, app)
    server.run()
    return 0 if server.started else 1
