"""Job functions the worker tests run (`accepted worker tests.e2e.worker_jobs:<name>`)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from accepted.worker import FailForGood, current_job


def add(a: int, b: int) -> int:
    return a + b


def echo(value: Any) -> Any:
    """Params that are not an object arrive as the one positional argument."""
    return {"echo": value}


async def async_add(a: int, b: int) -> dict[str, Any]:
    await asyncio.sleep(0)
    return {"sum": a + b, "attempt": current_job().attempts}


def explode(message: str) -> None:
    raise ValueError(message)


def sleep(seconds: float) -> str:
    time.sleep(seconds)
    return f"slept {seconds}"


async def async_sleep(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


def hang_on_first_attempt() -> dict[str, int]:
    """Hangs the first time (its worker gets killed); any later attempt succeeds."""
    attempt = current_job().attempts
    if attempt == 1:
        time.sleep(120)
    return {"attempt": attempt}


def not_json() -> object:
    return object()


def dispatch(**params: Any) -> Any:
    """One function for several queues: the job's queue picks what to do."""
    job = current_job()
    return {"queue": job.queue, "params": params}


def fail_first_attempts(times: int) -> dict[str, int]:
    """Raises on the first `times` attempts; then succeeds (retries do the rest)."""
    attempt = current_job().attempts
    if attempt <= times:
        raise RuntimeError(f"flaky, attempt {attempt}")
    return {"attempt": attempt}


def reject(reason: str) -> None:
    """A failure no retry can fix."""
    raise FailForGood(reason)
