"""list_jobs: the jobs a filter selects, newest first, in pages that never
repeat or skip a job."""

from __future__ import annotations

import msgspec

from accepted.queries import JobFilter
from accepted.store import JobStore
from accepted.types import Job, JobStatus
from tests.contract.builders import make_job


async def everything(store: JobStore, where: JobFilter, page: int = 2) -> list[str]:
    """Every id the filter selects, read page by page."""
    ids: list[str] = []
    before = None
    while True:
        found = await store.list_jobs(where, page, before)
        assert len(found.jobs) <= page
        ids += [job.id for job in found.jobs]
        if found.next is None:
            return ids
        before = found.next


def newest_first(jobs: list[Job]) -> list[str]:
    return [job.id for job in reversed(jobs)]


async def test_without_a_filter_every_job_newest_first(store: JobStore) -> None:
    jobs = [make_job(f"q{i % 3}", JobStatus.QUEUED if i % 2 else JobStatus.DONE)
            for i in range(7)]
    for job in jobs:
        await store.insert_jobs([job])
    assert await everything(store, JobFilter(everything=True)) == newest_first(jobs)
    assert await everything(store, JobFilter(), page=500) == newest_first(jobs)
    first = await store.list_jobs(JobFilter(), 3)
    assert [j.id for j in first.jobs] == newest_first(jobs)[:3] and first.next is not None
    assert first.jobs[0] == jobs[-1]  # whole jobs, as stored


async def test_queues_and_statuses_combine(store: JobStore) -> None:
    jobs = []
    for i in range(12):
        status = [JobStatus.QUEUED, JobStatus.DONE, JobStatus.FAILED][i % 3]
        jobs.append(make_job(["a", "b"][i % 2], status))
    await store.insert_jobs(jobs)

    def expect(queues: set[str] | None, statuses: set[JobStatus] | None) -> list[str]:
        return newest_first([j for j in jobs if (queues is None or j.queue in queues)
                             and (statuses is None or j.status in statuses)])

    cases: list[tuple[set[str] | None, set[JobStatus] | None]] = [
        ({"a"}, None), (None, {JobStatus.DONE}), ({"a", "b"}, {JobStatus.QUEUED, JobStatus.FAILED}),
        ({"b"}, {JobStatus.DONE}), ({"nope"}, None), (None, {JobStatus.RUNNING}),
    ]
    for queues, statuses in cases:
        where = JobFilter(
            queues=None if queues is None else tuple(sorted(queues)),
            statuses=None if statuses is None else tuple(sorted(statuses)),
        )
        assert await everything(store, where) == expect(queues, statuses), where


async def test_text_matches_params_or_result_case_insensitively_or_an_id(
    store: JobStore,
) -> None:
    raw = msgspec.Raw
    user = make_job(params=raw(b'{"email": "Ada@Example.com"}'))
    result = make_job("q", JobStatus.DONE, result=raw(b'{"sent_to": "ada@example.COM"}'))
    other = make_job(params=raw(b'{"email": "bob@example.com", "pct": "50%_off"}'))
    await store.insert_jobs([user, result, other])
    found = await everything(store, JobFilter(text="ADA@example"))
    assert found == [result.id, user.id]
    assert await everything(store, JobFilter(text="%_")) == [other.id]  # no wildcards
    assert await everything(store, JobFilter(text="50%_off")) == [other.id]
    assert await everything(store, JobFilter(text="zzz")) == []
    assert await everything(store, JobFilter(text=user.id.upper())) == [user.id]
    assert await everything(store, JobFilter(text="ada", statuses=(JobStatus.DONE,))) == [
        result.id
    ]


async def test_ids_select_those_jobs(store: JobStore) -> None:
    jobs = [make_job() for _ in range(4)]
    await store.insert_jobs(jobs)
    where = JobFilter(ids=(jobs[0].id, jobs[2].id, "not-a-uuid"))
    assert await everything(store, where) == [jobs[2].id, jobs[0].id]
    assert await everything(store, JobFilter(ids=("not-a-uuid",))) == []
    only_done = JobFilter(ids=(jobs[0].id,), statuses=(JobStatus.DONE,))
    assert await everything(store, only_done) == []


async def test_paging_neither_repeats_nor_skips_while_jobs_come_and_change(
    store: JobStore,
) -> None:
    old = [make_job("p") for _ in range(6)]
    await store.insert_jobs(old)
    where = JobFilter(queues=("p",))
    first = await store.list_jobs(where, 2)
    await store.insert_jobs([make_job("p") for _ in range(3)])  # newer: on no later page
    await store.claim_jobs(["p"], 6, 0.0, [f"t{i}" for i in range(6)], 30.0)  # status changes
    seen = [job.id for job in first.jobs]
    before = first.next
    while before is not None:
        page = await store.list_jobs(where, 2, before)
        seen += [job.id for job in page.jobs]
        before = page.next
    assert seen == newest_first(old)
