"""insert_jobs_once and the key purge: an idempotency key is stored with its job,
in one transaction, and holds until it expires; on every backend."""

from __future__ import annotations

import asyncio

import pytest

from accepted.errors import IdempotencyKeyInUse, IdempotencyKeyReused, JobNotFound
from accepted.store import JobStore
from accepted.store.base import IdempotencyKey
from tests.contract.builders import NOW, make_job, mark
from tests.contract.conftest import OpenStore

WINDOW = 100.0


def key(name: str = "k", fingerprint: str = "fp", scope: str = "") -> IdempotencyKey:
    return IdempotencyKey(scope, name, fingerprint, NOW + WINDOW)


async def test_a_new_key_inserts_its_job(store: JobStore) -> None:
    job = make_job()
    assert await store.insert_jobs_once([job], [key()], NOW) == [None]
    assert await store.get_job(job.id) == job


async def test_a_held_key_replays_its_job_as_it_is_now(store: JobStore) -> None:
    first = make_job()
    await store.insert_jobs_once([first], [key()], NOW)
    changed = await store.update_job(first.id, lambda j: mark(j))
    second = make_job()
    assert await store.insert_jobs_once([second], [key()], NOW + 1) == [changed]
    assert await store.get_job(second.id) is None


async def test_another_fingerprint_is_refused_and_nothing_is_written(store: JobStore) -> None:
    await store.insert_jobs_once([make_job()], [key()], NOW)
    fresh, clash = make_job(), make_job()
    with pytest.raises(IdempotencyKeyReused):
        await store.insert_jobs_once([fresh, clash], [key("new"), key(fingerprint="other")], NOW)
    assert await store.get_job(fresh.id) is None
    assert await store.get_job(clash.id) is None
    other = make_job()  # "new" was not kept either: it inserts now
    assert await store.insert_jobs_once([other], [key("new")], NOW) == [None]


async def test_keys_are_per_scope_and_jobs_without_keys_just_insert(store: JobStore) -> None:
    a, b, plain = make_job(), make_job(), make_job()
    answer = await store.insert_jobs_once(
        [a, b, plain], [key(scope="alice"), key(scope="bob"), None], NOW
    )
    assert answer == [None, None, None]
    assert all([await store.get_job(j.id) for j in (a, b, plain)])


async def test_an_expired_key_is_a_new_key(store: JobStore) -> None:
    first = make_job()
    await store.insert_jobs_once([first], [key()], NOW)
    later = NOW + WINDOW
    again = make_job()
    fresh_key = IdempotencyKey("", "k", "fp", later + WINDOW)
    assert await store.insert_jobs_once([again], [fresh_key], later) == [None]
    assert await store.get_job(again.id) == again


async def test_a_key_whose_job_is_gone_says_so(store: JobStore) -> None:
    job = make_job()
    await store.insert_jobs_once([job], [key()], NOW)
    await store.delete_job(job.id)
    with pytest.raises(JobNotFound, match=job.id):
        await store.insert_jobs_once([make_job()], [key()], NOW)


async def test_expired_keys_are_purged_in_batches(store: JobStore) -> None:
    jobs = [make_job() for _ in range(5)]
    keys = [IdempotencyKey("", f"k{i}", "fp", NOW + i) for i in range(5)]
    await store.insert_jobs_once(jobs, keys, NOW)
    assert await store.next_idempotency_expiry() == NOW
    assert await store.purge_idempotency_keys(NOW + 2, 2) == 2
    assert await store.purge_idempotency_keys(NOW + 2, 10) == 1
    assert await store.next_idempotency_expiry() == NOW + 3
    # a purged key is free again, and the jobs themselves are untouched
    assert await store.insert_jobs_once([make_job()], [keys[0]], NOW + 2) == [None]
    assert all([await store.get_job(j.id) for j in jobs])


async def test_simultaneous_uses_of_one_key_make_one_job(
    open_new_store: OpenStore, is_shared: bool
) -> None:
    """Two stores (two nodes, where the backend allows it) and many tries at once."""
    stores = [await open_new_store()]
    if is_shared:
        stores.append(await open_new_store())
    jobs = [make_job() for _ in range(20)]

    async def attempt(i: int) -> object:
        try:
            return await stores[i % len(stores)].insert_jobs_once([jobs[i]], [key()], NOW)
        except IdempotencyKeyInUse as exc:
            return exc

    outcomes = await asyncio.gather(*(attempt(i) for i in range(len(jobs))))
    inserted = [i for i, o in enumerate(outcomes) if o == [None]]
    assert len(inserted) == 1
    winner = jobs[inserted[0]]
    for outcome in outcomes:
        assert outcome == [None] or outcome == [winner] or isinstance(outcome, IdempotencyKeyInUse)
    found = [await stores[0].get_job(j.id) for j in jobs]
    assert [j for j in found if j is not None] == [winner]
