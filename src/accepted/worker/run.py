"""Running a worker as a program: an event loop, and SIGTERM / SIGINT wired to `stop()`."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from typing import Any

from accepted.worker.runner import Worker

__all__ = ["run_worker"]

log = logging.getLogger("accepted.worker")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def run_worker(
    function: Callable[..., Any],
    *,
    url: str,
    queues: Sequence[str] | None = None,
    concurrency: int = 1,
    lease: float = 30.0,
    grace: float = 30.0,
    poll: float = 30.0,
    token: str | None = None,
) -> None:
    """Run a worker in this (main) thread until SIGTERM or SIGINT.

    The first signal stops taking jobs and gives running ones `grace` seconds
    to finish; the unfinished are given back to their queue. A second signal
    gives them back at once.
    """
    worker = Worker(
        function,
        url=url,
        queues=queues,
        concurrency=concurrency,
        lease=lease,
        grace=grace,
        poll=poll,
        token=token,
    )
    asyncio.run(_serve(worker))


async def _serve(worker: Worker) -> None:
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if worker.stopping:
            log.info("worker: %s again: giving running jobs back now", sig.name)
        else:
            log.info("worker: %s: stopping (signal again to give running jobs back now)", sig.name)
        worker.stop()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await worker.run()
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
