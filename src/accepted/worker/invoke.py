"""Calling a job function: its arguments, where it runs, and what a failure reports.

Params that are a JSON object become keyword arguments; any other value is
the one positional argument. Coroutine functions run on the worker's event
loop; plain functions each on a thread of their own.

Those threads are daemon threads rather than an executor's: a function stuck
in a job must not keep the process alive once its job has been given back
and the worker has exited.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import os
import threading
import traceback
from collections.abc import Callable
from contextlib import suppress
from types import TracebackType
from typing import Any

__all__ = ["FailForGood", "call", "describe_failure", "is_async"]


class FailForGood(Exception):
    """Raise it in a job function to fail the job for good: no retry, whatever is left.

    Any other exception fails the job the server's usual way, so a job enqueued
    with retries (`X-Accepted-Retries`) is tried again after its backoff. Use
    this one for failures a retry cannot fix, such as bad params:

        raise FailForGood(f"no such user {user_id}")

    Raised `from` another exception, the report's traceback shows both.
    """


def is_async(function: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        getattr(function, "__call__", None)  # noqa: B004 - an object with an async __call__
    )


async def call(function: Callable[..., Any], params: Any, *, name: str = "job") -> Any:
    """Run `function` on `params` and return what it returns (or raise what it raises)."""
    args, kwargs = _arguments(params)
    if is_async(function):
        return await function(*args, **kwargs)
    return await _in_thread(function, args, kwargs, name)


def _arguments(params: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if isinstance(params, dict):
        return (), params
    return (params,), {}


async def _in_thread(
    function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], name: str
) -> Any:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()  # current_job() works in the thread too

    def settle(value: Any, error: BaseException | None) -> None:
        if future.done():  # cancelled meanwhile: the job was given back
            return
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)

    def target() -> None:
        value: Any = None
        error: BaseException | None = None
        try:
            value = context.run(function, *args, **kwargs)
        except Exception as exc:
            error = exc
        except BaseException as exc:  # SystemExit and the like end the job, not the worker
            error = RuntimeError(f"the job function raised {exc!r}")
        with suppress(RuntimeError):  # the loop is closed: the worker has already exited
            loop.call_soon_threadsafe(settle, value, error)

    threading.Thread(target=target, name=name, daemon=True).start()
    return await future


def describe_failure(error: BaseException) -> dict[str, Any]:
    """The result reported for a job whose function raised `error`."""
    kind = type(error).__qualname__
    return {
        "error": f"{kind}: {error}" if str(error) else kind,
        "type": kind,
        "message": str(error),
        "traceback": "".join(traceback.format_exception(type(error), error, _user_frames(error))),
    }


_HERE = os.path.dirname(os.path.abspath(__file__))


def _user_frames(error: BaseException) -> TracebackType | None:
    """The traceback from the job function's first frame: the runner's own frames
    before it tell the function's author nothing."""
    tb = error.__traceback__
    while tb is not None and os.path.dirname(tb.tb_frame.f_code.co_filename) == _HERE:
        tb = tb.tb_next
    return tb
