"""insert_jobs_checked and the settling of dependencies: unique keys decided by the
store (concurrent inserts make one job), and waiting jobs released or cancelled in
the transaction that settles their dependency, down a chain."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from accepted.errors import IdempotencyKeyReused, UniqueKeyHeld, UnknownDependency
from accepted.service import rules
from accepted.store import JobStore
from accepted.store.base import Decide, IdempotencyKey, Outcome
from accepted.types import Due, Job, JobStatus
from tests.contract.builders import NOW, make_job, replace
from tests.contract.conftest import OpenStore


class Recorder:
    """The service's rules, recording what `changed` hears after each commit."""

    def __init__(self) -> None:
        self.heard: list[Job] = []

    def wait_for(self, job: Job, count: int, now: float) -> Job:
        return rules.wait_for_dependencies(job, count, now)

    def released(self, job: Job, now: float) -> Job:
        return rules.dependencies_done(job, now)

    def dependency_ended(self, job: Job, dependency: str, how: str, now: float) -> Job:
        return rules.dependency_ended(job, dependency, how, now)

    def changed(self, jobs: Sequence[Job]) -> None:
        self.heard.extend(jobs)


@pytest.fixture
def heard(store: JobStore) -> Recorder:
    recorder = Recorder()
    store.attach_dependencies(recorder)
    return recorder


async def _insert(store: JobStore, *jobs: Job) -> list[Job]:
    placed = await store.insert_jobs_checked(jobs, [None] * len(jobs), NOW)
    return [p.job for p in placed]


def _done(now: float) -> Decide:
    return lambda job: replace(job, status=JobStatus.DONE, finished_at=now, updated_at=now)


async def _status(store: JobStore, job: Job) -> JobStatus | None:
    found = await store.get_job(job.id)
    return None if found is None else found.status


# -- unique keys -------------------------------------------------------------------


async def test_a_held_key_answers_its_holder(store: JobStore, heard: Recorder) -> None:
    (first,) = await _insert(store, make_job(unique_key="k"))
    placed = await store.insert_jobs_checked([make_job(unique_key="k")], [None], NOW)
    assert [(p.job.id, p.outcome) for p in placed] == [(first.id, Outcome.DUPLICATE)]
    await store.update_job(first.id, _done(NOW))
    (fresh,) = await store.insert_jobs_checked([make_job(unique_key="k")], [None], NOW)
    assert fresh.outcome is Outcome.NEW


async def test_a_key_first_answered_by_a_holder_replays_as_a_duplicate(
    store: JobStore, heard: Recorder
) -> None:
    (holder,) = await _insert(store, make_job(unique_key="k"))
    key = IdempotencyKey("", "i", "fp", NOW + 100)
    (first,) = await store.insert_jobs_checked([make_job(unique_key="k")], [key], NOW)
    assert (first.job.id, first.outcome) == (holder.id, Outcome.DUPLICATE)
    await store.update_job(holder.id, _done(NOW))  # the key stands for the holder even so
    (again,) = await store.insert_jobs_checked([make_job(unique_key="k")], [key], NOW + 1)
    assert (again.job.id, again.outcome) == (holder.id, Outcome.REPLAYED_DUPLICATE)
    assert again.job.status is JobStatus.DONE
    with pytest.raises(IdempotencyKeyReused):  # another request is still refused
        other = IdempotencyKey("", "i", "other", NOW + 100)
        await store.insert_jobs_checked([make_job(unique_key="k")], [other], NOW + 1)


async def test_a_second_job_not_final_with_the_key_is_refused(
    store: JobStore, heard: Recorder
) -> None:
    (first,) = await _insert(store, make_job(unique_key="k", status=JobStatus.CANCELLED))
    await _insert(store, make_job(unique_key="k"))
    with pytest.raises(UniqueKeyHeld):
        await store.update_job(first.id, lambda job: rules.retry(job, NOW))


async def test_simultaneous_inserts_of_one_key_make_one_job(
    open_new_store: OpenStore, is_shared: bool
) -> None:
    stores = [await open_new_store()]
    if is_shared:
        stores.append(await open_new_store())
    for one in stores:
        one.attach_dependencies(Recorder())
    jobs = [make_job(unique_key="race") for _ in range(20)]
    outcomes = await asyncio.gather(
        *(stores[i % len(stores)].insert_jobs_checked([j], [None], NOW) for i, j in enumerate(jobs))
    )
    new = [p.job.id for (p,) in outcomes if p.outcome is Outcome.NEW]
    assert len(new) == 1
    assert {p.job.id for (p,) in outcomes} == set(new)
    found = [await stores[0].get_job(j.id) for j in jobs]
    assert [j.id for j in found if j is not None] == new


# -- dependencies ------------------------------------------------------------------


async def test_a_job_waits_and_is_released_with_its_last_dependency(
    store: JobStore, heard: Recorder
) -> None:
    a, b = await _insert(store, make_job(), make_job())
    (waiting,) = await _insert(store, make_job(after=(a.id, b.id)))
    assert (waiting.status, waiting.waiting, waiting.after) == (JobStatus.DELAYED, 2, (a.id, b.id))
    assert (await store.get_job(a.id)).has_dependents  # type: ignore[union-attr]
    await store.update_job(a.id, _done(NOW + 1))
    assert heard.heard == []
    await store.update_job(b.id, _done(NOW + 2))
    assert [(j.id, j.status, j.due_at) for j in heard.heard] == [
        (waiting.id, JobStatus.QUEUED, NOW + 2)
    ]
    claimed = await store.claim_jobs(None, 1, NOW + 3, ["l"], NOW + 30)
    assert [j.id for j in claimed] == [waiting.id]


async def test_a_dependency_whose_waiting_job_is_gone_finishes_alone(
    store: JobStore, heard: Recorder
) -> None:
    (dependency,) = await _insert(store, make_job())
    (waiting,) = await _insert(store, make_job(after=(dependency.id,)))
    await store.delete_job(waiting.id)
    done = await store.update_job(dependency.id, _done(NOW))
    assert done.status is JobStatus.DONE
    assert await store.get_job(dependency.id) == done
    assert heard.heard == []


async def test_a_waiting_job_is_never_promoted_by_its_time(
    store: JobStore, heard: Recorder
) -> None:
    (a,) = await _insert(store, make_job())
    (waiting,) = await _insert(store, make_job(after=(a.id,)))
    assert await store.next_due(Due.DELAYED) is None
    swept = await store.sweep(Due.DELAYED, NOW + 3600, lambda j: rules.promote(j, NOW), 10)
    assert swept == []
    assert await _status(store, waiting) is JobStatus.DELAYED


@pytest.mark.parametrize("how", ["failed", "cancelled", "deleted", "timed out"])
async def test_a_dependency_that_ends_otherwise_cancels_a_chain(
    store: JobStore, heard: Recorder, how: str
) -> None:
    a = make_job(timeout=5.0, deadline_at=NOW + 5) if how == "timed out" else make_job()
    (a,) = await _insert(store, a)
    (b,) = await _insert(store, make_job(after=(a.id,)))
    (c,) = await _insert(store, make_job(after=(b.id,)))
    (d,) = await _insert(store, make_job(after=(b.id, c.id)))
    if how == "failed":
        failed = JobStatus.FAILED
        await store.update_job(a.id, lambda j: rules.finish(j, failed, j.result, NOW, None))
    elif how == "cancelled":
        await store.update_job(a.id, lambda j: rules.cancel(j, NOW))
    elif how == "deleted":
        await store.delete_job(a.id)
    else:
        await store.sweep(Due.DEADLINE, NOW + 10, lambda j: rules.time_out(j, NOW + 10), 10)
    assert {j.id for j in heard.heard} == {b.id, c.id, d.id}
    for job in (b, c, d):
        found = await store.get_job(job.id)
        assert found is not None and found.status is JobStatus.CANCELLED
    found_b = await store.get_job(b.id)
    assert found_b is not None and a.id in (found_b.error or "")


async def test_a_bulk_delete_cancels_what_waits(store: JobStore, heard: Recorder) -> None:
    (a,) = await _insert(store, make_job())
    (b,) = await _insert(store, make_job(after=(a.id,)))
    await store.delete_jobs([a.id])
    assert await _status(store, b) is JobStatus.CANCELLED
    assert [j.id for j in heard.heard] == [b.id]


class Faulty(Recorder):
    """Rules that fail on their second release: a settle broken half-way."""

    def __init__(self) -> None:
        super().__init__()
        self.releases = 0

    def released(self, job: Job, now: float) -> Job:
        self.releases += 1
        if self.releases == 2:
            raise RuntimeError("a release failed half-way")
        return super().released(job, now)


async def test_a_settle_failing_half_way_writes_nothing(store: JobStore) -> None:
    faulty = Faulty()
    store.attach_dependencies(faulty)
    (a,) = await _insert(store, make_job())
    b, c = await _insert(store, make_job(after=(a.id,)), make_job(after=(a.id,)))
    with pytest.raises(RuntimeError):
        await store.update_job(a.id, _done(NOW))
    # Neither the dependency's own write nor the first release is kept...
    assert [await _status(store, job) for job in (a, b, c)] == [
        JobStatus.QUEUED, JobStatus.DELAYED, JobStatus.DELAYED
    ]
    # ...nor the edges it took: a second report releases both.
    await store.update_job(a.id, _done(NOW))
    assert [await _status(store, job) for job in (b, c)] == [JobStatus.QUEUED] * 2


async def test_a_batch_report_releases_in_its_transaction(store: JobStore, heard: Recorder) -> None:
    a, b = await _insert(store, make_job(), make_job())
    (c,) = await _insert(store, make_job(after=(a.id, b.id)))
    await store.update_jobs([(a.id, _done(NOW)), (b.id, _done(NOW))])
    assert await _status(store, c) is JobStatus.QUEUED


async def test_dependencies_at_insert(store: JobStore, heard: Recorder) -> None:
    done = make_job(status=JobStatus.DONE)
    failed = make_job(status=JobStatus.FAILED)
    await _insert(store, done, failed)
    (ready,) = await _insert(store, make_job(after=(done.id,)))
    assert (ready.status, ready.waiting) == (JobStatus.QUEUED, 0)
    (gone,) = await _insert(store, make_job(after=(done.id, failed.id)))
    assert gone.status is JobStatus.CANCELLED and failed.id in (gone.error or "")
    ghost = make_job()
    with pytest.raises(UnknownDependency) as caught:
        await _insert(store, make_job(), make_job(after=(ghost.id,)))
    assert (caught.value.index, caught.value.dependency) == (1, ghost.id)
    assert await store.get_job(ghost.id) is None


async def test_an_unknown_dependency_is_refused_even_when_a_holder_would_answer(
    store: JobStore, heard: Recorder
) -> None:
    await _insert(store, make_job(unique_key="k"))
    ghost = make_job()
    with pytest.raises(UnknownDependency):  # the same answer as without the unique key
        await _insert(store, make_job(unique_key="k", after=(ghost.id,)))


@pytest.mark.parametrize("ended", [JobStatus.FAILED, JobStatus.CANCELLED])
async def test_a_held_key_answers_before_an_ended_dependency_cancels(
    store: JobStore, heard: Recorder, ended: JobStatus
) -> None:
    (holder,) = await _insert(store, make_job(unique_key="k"))
    (dependency,) = await _insert(store, make_job(status=ended))
    late = make_job(unique_key="k", after=(dependency.id,))
    (placed,) = await store.insert_jobs_checked([late], [None], NOW)
    assert (placed.job.id, placed.outcome) == (holder.id, Outcome.DUPLICATE)
    assert placed.job.status is JobStatus.QUEUED
    assert await store.get_job(late.id) is None  # nothing enqueued, not even cancelled
    await store.update_job(holder.id, _done(NOW))  # the key free: cancelled at once
    (fresh,) = await store.insert_jobs_checked([late], [None], NOW)
    assert (fresh.job.id, fresh.outcome, fresh.job.status) == (
        late.id,
        Outcome.NEW,
        JobStatus.CANCELLED,
    )


async def test_a_batch_names_its_own_items_and_duplicates_stand_for_their_holder(
    store: JobStore, heard: Recorder
) -> None:
    (holder,) = await _insert(store, make_job(unique_key="u"))
    first = make_job(unique_key="u")  # a duplicate: stands for `holder`
    second = make_job(after=(first.id,))
    placed = await store.insert_jobs_checked([first, second], [None, None], NOW)
    assert [p.outcome for p in placed] == [Outcome.DUPLICATE, Outcome.NEW]
    assert placed[1].job.after == (holder.id,)
    await store.update_job(holder.id, _done(NOW))
    assert await _status(store, second) is JobStatus.QUEUED


async def test_concurrent_reports_and_dependent_inserts_never_strand_a_job(
    open_new_store: OpenStore, is_shared: bool
) -> None:
    """A dependency finished on one node while a dependent is inserted on another:
    the dependent either sees it done or is released by it."""
    stores = [await open_new_store()]
    if is_shared:
        stores.append(await open_new_store())
    for one in stores:
        one.attach_dependencies(Recorder())
    deps = await _insert(stores[0], *(make_job() for _ in range(20)))
    waiting = [make_job(after=(d.id,)) for d in deps]
    await asyncio.gather(
        *(stores[0].update_job(d.id, _done(NOW)) for d in deps),
        *(stores[-1].insert_jobs_checked([w], [None], NOW) for w in waiting),
    )
    for job in waiting:
        assert await _status(stores[0], job) is JobStatus.QUEUED


async def test_a_batch_retry_refuses_only_the_jobs_whose_key_is_held(
    store: JobStore, heard: Recorder
) -> None:
    cancelled = JobStatus.CANCELLED
    held_one = make_job(unique_key="a", status=cancelled)
    twin_one, twin_two = (
        make_job(unique_key="b", status=cancelled),
        make_job(unique_key="b", status=cancelled),
    )
    free = make_job(status=cancelled)
    await _insert(store, held_one, twin_one, twin_two, free, make_job(unique_key="a"))
    retry = lambda job: rules.retry(job, NOW)  # noqa: E731
    outcomes = await store.update_jobs(
        [(j.id, retry) for j in (held_one, twin_one, twin_two, free)]
    )
    assert [type(o).__name__ for o in outcomes] == ["UniqueKeyHeld", "Job", "UniqueKeyHeld", "Job"]
    assert [await _status(store, j) for j in (held_one, twin_one, twin_two, free)] == [
        cancelled,
        JobStatus.QUEUED,
        cancelled,
        JobStatus.QUEUED,
    ]
