"""The client's set_limits and enqueue(group=), sync and async, against a real server."""

from __future__ import annotations

import pytest

from accepted.client import Limits, NewJob, Rate
from accepted.errors import InvalidRequest, QueueNotFound
from tests.client.conftest import Api


async def test_set_limits_sets_all_at_once_and_clears(api: Api, q: str) -> None:
    queue = await api.set_limits(q, rate=(10, 2.5), concurrency=3)
    assert queue.limits == Limits(rate=Rate(10, 2.5), concurrency=3)
    assert (await api.queue(q)).limits == queue.limits
    again = await api.set_limits(q, rate=Rate(1, 1.0), group_concurrency=2)
    assert again.limits == Limits(rate=Rate(1, 1.0), group_concurrency=2)
    assert (await api.set_limits(q)).limits == Limits()
    with pytest.raises(QueueNotFound):
        await api.set_limits(q)  # cleared and empty: gone
    with pytest.raises(InvalidRequest):
        await api.set_limits(q, concurrency=0)


async def test_a_limit_holds_for_the_client(api: Api, q: str) -> None:
    await api.set_limits(q, concurrency=1)
    await api.enqueue(q)
    await api.enqueue(q)
    assert await api.take(q) is not None
    assert await api.take(q) is None


async def test_enqueue_with_a_group(api: Api, q: str) -> None:
    job = await api.enqueue(q, {"n": 1}, group="tenant-7")
    assert job.group == "tenant-7"
    assert (await api.get(job.id)).group == "tenant-7"
    plain, grouped = await api.enqueue_many([NewJob(q), NewJob(q, group="b")])
    assert plain.group is None and grouped.group == "b"
