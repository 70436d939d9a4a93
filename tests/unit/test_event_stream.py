"""The SSE stream of one job when events were lost before it got them: it says
so (`event: resync`), re-reads the job, and sends its state if it changed."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from accepted.http.events import RESYNC, _stream, frame
from accepted.service.jobs import JobService, NewJob
from accepted.service.rules import cancel
from tests.unit.conftest import T0


class _Caller:
    def sees(self, queue: str) -> bool:
        return True


class _Request:
    """A client that stays connected."""

    path = "/jobs/x/events"
    caller = _Caller()

    async def receive(self) -> dict[str, Any]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_job_stream_that_missed_events_says_so_and_sends_the_job_as_it_is(
    service: JobService,
) -> None:
    job = await service.enqueue(NewJob("q"), T0)
    sub = service.signals.events.subscribe(job_id=job.id)
    ctx: Any = SimpleNamespace(
        settings=SimpleNamespace(event_keepalive=60.0), service=service, auth=None, clock=None
    )
    stream = _stream(ctx, _Request(), sub, until_final=True, sent=job)
    # A change this stream never hears of (another node's notice let go), then the loss.
    cancelled = await service.store.update_job(job.id, lambda current: cancel(current, T0 + 1))
    service.signals.events.lost()
    assert await asyncio.wait_for(anext(stream), 10) == RESYNC
    assert await asyncio.wait_for(anext(stream), 10) == frame(cancelled)
    with pytest.raises(StopAsyncIteration):  # final: the job's stream ends
        await asyncio.wait_for(anext(stream), 10)
    service.signals.events.unsubscribe(sub)
