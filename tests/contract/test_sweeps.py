"""sweep, purge_expired and next_due: each kind of deadline, and only its rows."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from accepted.store import JobStore
from accepted.types import CallbackState, Due, Job, JobStatus
from tests.contract.builders import NOW, make_job, mark, replace, with_callback

Maker = Callable[[float], Job]  # a row of the kind, coming due at the given time


@dataclass(frozen=True)
class Kind:
    due: Due
    make: Maker
    # Rows that never come due for this kind, whatever their times say.
    others: tuple[Callable[[], Job], ...]


def _delayed(at: float) -> Job:
    return make_job(status=JobStatus.DELAYED, due_at=at)


def _leased(at: float) -> Job:
    return make_job(status=JobStatus.RUNNING, lease_expires_at=at)


def _deadline(at: float) -> Job:
    return make_job(status=JobStatus.QUEUED, deadline_at=at)


def _callback(at: float) -> Job:
    return with_callback(make_job(status=JobStatus.DONE), CallbackState.PENDING, at)


def _expired(at: float) -> Job:
    return make_job(status=JobStatus.DONE, result_ttl=10.0, expires_at=at)


KINDS = [
    Kind(
        Due.DELAYED,
        _delayed,
        (
            lambda: make_job(status=JobStatus.QUEUED, due_at=NOW - 100),
            lambda: make_job(status=JobStatus.RUNNING, due_at=NOW - 100),
        ),
    ),
    Kind(
        Due.LEASE,
        _leased,
        (
            lambda: make_job(status=JobStatus.DONE, lease_expires_at=NOW - 100),
            lambda: make_job(status=JobStatus.QUEUED, lease_expires_at=NOW - 100),
        ),
    ),
    Kind(
        Due.DEADLINE,
        _deadline,
        (
            lambda: make_job(status=JobStatus.DONE, deadline_at=NOW - 100),
            lambda: make_job(status=JobStatus.CANCELLED, deadline_at=NOW - 100),
            lambda: make_job(status=JobStatus.QUEUED),
        ),
    ),
    Kind(
        Due.CALLBACK,
        _callback,
        (
            lambda: with_callback(make_job(status=JobStatus.DONE), CallbackState.DELIVERED, None),
            lambda: with_callback(make_job(status=JobStatus.RUNNING), CallbackState.WAITING, None),
            lambda: with_callback(
                make_job(status=JobStatus.DONE), CallbackState.GAVE_UP, NOW - 100
            ),
        ),
    ),
    Kind(
        Due.EXPIRED,
        _expired,
        (
            lambda: make_job(status=JobStatus.DONE),
            lambda: with_callback(
                make_job(status=JobStatus.DONE, expires_at=NOW - 100),
                CallbackState.PENDING,
                NOW + 100,
            ),
        ),
    ),
]


@pytest.fixture(params=KINDS, ids=[k.due.value for k in KINDS])
def kind(request: pytest.FixtureRequest) -> Kind:
    result: Kind = request.param
    return result


async def test_sweep_offers_only_due_rows_of_its_kind(store: JobStore, kind: Kind) -> None:
    due = [kind.make(NOW - 3), kind.make(NOW - 1), kind.make(NOW)]
    not_yet = kind.make(NOW + 0.5)
    others = [make() for make in kind.others]
    await store.insert_jobs([*others, not_yet, *due])
    offered: list[Job] = []

    def decide(job: Job) -> Job:
        offered.append(job)
        return mark(job)

    changed = await store.sweep(kind.due, NOW, decide, 100)
    assert sorted(j.id for j in offered) == sorted(j.id for j in due)
    assert sorted(j.id for j in changed) == sorted(j.id for j in due)
    for job in due:
        assert await store.get_job(job.id) == mark(job)
    for job in [not_yet, *others]:
        assert await store.get_job(job.id) == job


async def test_sweep_takes_at_most_limit_rows_earliest_first(store: JobStore, kind: Kind) -> None:
    rows = [kind.make(NOW - i) for i in range(6)]
    await store.insert_jobs(rows)
    changed = await store.sweep(kind.due, NOW, mark, 2)
    assert sorted(j.id for j in changed) == sorted(j.id for j in rows[-2:])


async def test_sweep_returns_only_rows_decide_changed(store: JobStore, kind: Kind) -> None:
    keep, change = kind.make(NOW - 2), kind.make(NOW - 1)
    await store.insert_jobs([keep, change])
    changed = await store.sweep(
        kind.due, NOW, lambda job: None if job.id == keep.id else mark(job), 10
    )
    assert changed == [mark(change)]
    assert await store.get_job(keep.id) == keep


async def test_next_due_is_the_earliest_time_of_its_kind(store: JobStore, kind: Kind) -> None:
    assert await store.next_due(kind.due) is None
    await store.insert_jobs([make() for make in kind.others])
    assert await store.next_due(kind.due) is None
    await store.insert_jobs([kind.make(NOW + 7), kind.make(NOW + 3.25), kind.make(NOW + 9)])
    assert await store.next_due(kind.due) == NOW + 3.25


async def test_concurrent_sweeps_change_each_row_once(store: JobStore) -> None:
    rows = [_delayed(NOW - i) for i in range(30)]
    await store.insert_jobs(rows)
    seen: list[str] = []

    def promote(job: Job) -> Job | None:
        # Re-checks its condition, as every sweep rule must.
        if job.status is not JobStatus.DELAYED:
            return None
        seen.append(job.id)
        return replace(job, status=JobStatus.QUEUED, updated_at=NOW)

    results = await asyncio.gather(*(store.sweep(Due.DELAYED, NOW, promote, 7) for _ in range(8)))
    changed = [job.id for batch in results for job in batch]
    assert len(changed) == len(set(changed)) == len(seen)
    while more := await store.sweep(Due.DELAYED, NOW, promote, 7):
        changed.extend(job.id for job in more)
    assert sorted(changed) == sorted(job.id for job in rows)


async def test_sweep_decide_raising_writes_nothing(store: JobStore) -> None:
    from accepted.errors import Conflict

    rows = [_delayed(NOW - 1), _delayed(NOW - 2)]
    await store.insert_jobs(rows)

    def explode(job: Job) -> Job:
        raise Conflict("no")

    with pytest.raises(Conflict):
        await store.sweep(Due.DELAYED, NOW, explode, 10)
    for job in rows:
        assert await store.get_job(job.id) == job


async def test_purge_removes_only_expired_final_jobs(store: JobStore) -> None:
    expired = [_expired(NOW - 2), _expired(NOW)]
    keep = [
        _expired(NOW + 1),
        make_job(status=JobStatus.DONE),
        with_callback(
            make_job(status=JobStatus.FAILED, expires_at=NOW - 5), CallbackState.PENDING, NOW
        ),
    ]
    delivered = with_callback(
        make_job(status=JobStatus.DONE, expires_at=NOW - 1), CallbackState.DELIVERED, None
    )
    await store.insert_jobs([*expired, *keep, delivered])
    purged = await store.purge_expired(NOW, 100)
    assert sorted(purged) == sorted(j.id for j in [*expired, delivered])
    for job in [*expired, delivered]:
        assert await store.get_job(job.id) is None
    for job in keep:
        assert await store.get_job(job.id) == job
    assert await store.purge_expired(NOW, 100) == []


async def test_purge_takes_at_most_limit(store: JobStore) -> None:
    await store.insert_jobs([_expired(NOW - i) for i in range(5)])
    assert len(await store.purge_expired(NOW, 2)) == 2
    assert len(await store.purge_expired(NOW, 10)) == 3
    assert await store.next_due(Due.EXPIRED) is None
