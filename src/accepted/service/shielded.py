"""A store call that outlives its caller, with what must follow it.

An enqueue's insert must run to its end, and the takers and alarms it feeds
must hear of it, even if the request awaiting it is cancelled (its client
gone, the server stopping). `asyncio.shield` plus a done-callback does this
with a second future and two callbacks; `shielded` does it with one of each,
about 2 us less per enqueue (docs/performance.md, "enq").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def shielded(
    call: Coroutine[Any, Any, T], after: Callable[[asyncio.Future[T]], None]
) -> asyncio.Future[T]:
    """Run `call` as a task of its own; once it is done, call `after` with it, then
    settle the answer. Cancelling the answer (its awaiter's cancellation does)
    leaves `call` and `after` running."""
    loop = asyncio.get_running_loop()
    task = loop.create_task(call)
    answer: asyncio.Future[T] = loop.create_future()

    def done(task: asyncio.Future[T]) -> None:
        try:
            after(task)
        finally:  # `after` raising is logged by the loop; the awaiter still hears
            if answer.cancelled():
                pass
            elif task.cancelled():
                answer.cancel()
            elif (error := task.exception()) is not None:
                answer.set_exception(error)
            else:
                answer.set_result(task.result())

    task.add_done_callback(done)
    return answer
