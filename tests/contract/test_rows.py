"""insert_jobs, get_job, delete_job, and durability: what goes in comes out, exactly."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from accepted.errors import JobNotFound, StoreUnavailable
from accepted.store import JobStore
from accepted.types import CallbackState, Job, JobStatus
from tests.contract.builders import NOW, make_job, new_id, replace
from tests.contract.conftest import OpenStore


def every_field_set() -> Job:
    """A job whose every optional field holds a value, with JSON kept byte for byte."""
    return make_job(
        queue="émoji 🚀 queue",
        status=JobStatus.RUNNING,
        priority=3,
        params=msgspec.Raw(b'{ "a" : [1, 2.50, "\\u00e9"],\n "b": null }'),
        result=msgspec.Raw(b"[ true ]"),
        attempts=2,
        max_attempts=7,
        created_at=NOW - 0.123456789,
        updated_at=NOW + 0.000001,
        due_at=NOW + 1e-6,
        lease="tok",
        lease_expires_at=NOW + 30.5,
        timeout=12.25,
        deadline_at=NOW + 12.25,
        result_ttl=3600.0,
        expires_at=NOW + 3600,
        finished_at=NOW + 1,
        error="boom",
        callback_url="https://example.invalid/hook?x=1",
        callback_state=CallbackState.WAITING,
        callback_attempts=4,
        callback_next_at=NOW + 2,
        callback_last_error="HTTP 500",
    )


async def test_a_job_reads_back_exactly_as_inserted(store: JobStore) -> None:
    full, bare = every_field_set(), make_job()
    await store.insert_jobs([full, bare])
    assert await store.get_job(full.id) == full
    assert await store.get_job(bare.id) == bare
    got = await store.get_job(full.id)
    assert got is not None
    assert bytes(got.params) == bytes(full.params)
    assert isinstance(got.status, JobStatus)
    assert isinstance(got.callback_state, CallbackState)


async def test_get_of_a_missing_job_is_none(store: JobStore) -> None:
    await store.insert_jobs([make_job()])
    assert await store.get_job(new_id()) is None
    assert await store.get_job("not-a-uuid") is None


async def test_insert_of_nothing_is_a_no_op(store: JobStore) -> None:
    await store.insert_jobs([])


async def test_insert_is_all_or_none(store: JobStore) -> None:
    existing = make_job()
    await store.insert_jobs([existing])
    fresh_before, fresh_after = make_job(), make_job()
    clash = replace(make_job(queue="other"), id=existing.id)
    with pytest.raises(StoreUnavailable):
        await store.insert_jobs([fresh_before, clash, fresh_after])
    assert await store.get_job(fresh_before.id) is None
    assert await store.get_job(fresh_after.id) is None
    assert await store.get_job(existing.id) == existing


async def test_a_refused_insert_leaves_no_trace_beside_the_inserts_that_stand(
    store: JobStore,
) -> None:
    """Single-job inserts sent together (one commit on SQLite): the one refused
    leaves neither its row nor its count; the others are stored."""
    existing = make_job("lone")
    await store.insert_jobs([existing])
    before, after = make_job("lone"), make_job("lone")
    clash = replace(make_job("lone", JobStatus.DELAYED), id=existing.id)
    outcomes = await asyncio.gather(
        store.insert_jobs([before]),
        store.insert_jobs([clash]),
        store.insert_jobs([after]),
        return_exceptions=True,
    )
    assert outcomes[0] == [before] and outcomes[2] == [after]
    assert isinstance(outcomes[1], StoreUnavailable)
    assert await store.get_job(existing.id) == existing
    [state] = await store.queue_states(["lone"])
    assert dict(state.counts) == {JobStatus.QUEUED: 3}


async def test_delete_returns_the_last_row_and_the_job_is_gone(store: JobStore) -> None:
    job, other = make_job(status=JobStatus.RUNNING), make_job()
    await store.insert_jobs([job, other])
    assert await store.delete_job(job.id) == job
    assert await store.get_job(job.id) is None
    assert await store.get_job(other.id) == other
    with pytest.raises(JobNotFound):
        await store.delete_job(job.id)
    with pytest.raises(JobNotFound):
        await store.delete_job("not-a-uuid")


async def test_deleted_jobs_are_never_claimed(store: JobStore) -> None:
    job = make_job()
    await store.insert_jobs([job])
    await store.delete_job(job.id)
    assert await store.claim_jobs(None, 5, NOW, ["a"] * 5, NOW + 30) == []


async def test_everything_written_survives_close_and_reopen(
    store: JobStore, open_new_store: OpenStore
) -> None:
    kept, changed, claimed, deleted = make_job(), make_job(), make_job(priority=0), make_job()
    await store.insert_jobs([kept, changed, claimed, deleted])
    await store.update_job(changed.id, lambda job: replace(job, error="written"))
    [taken] = await store.claim_jobs(None, 1, NOW, ["tok"], NOW + 30)
    assert taken.id == claimed.id
    await store.delete_job(deleted.id)
    await store.close()

    reopened = await open_new_store()
    assert await reopened.get_job(kept.id) == kept
    assert await reopened.get_job(changed.id) == replace(changed, error="written")
    assert await reopened.get_job(claimed.id) == taken
    assert await reopened.get_job(deleted.id) is None


async def test_close_is_idempotent(store: JobStore) -> None:
    await store.close()
    await store.close()


async def test_the_clock_is_seconds_since_the_epoch(store: JobStore) -> None:
    import time

    assert abs(store.clock() - time.time()) < 5.0
