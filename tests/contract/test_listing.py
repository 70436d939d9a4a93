"""list_jobs: the jobs a filter selects, newest first, in pages that never
repeat or skip a job."""

from __future__ import annotations

import msgspec

from accepted.queries import JobFilter
from accepted.store import JobStore
from accepted.types import Job, JobStatus
from tests.contract.builders import make_job, replace


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


async def test_text_search_follows_new_results_deletes_and_other_filters(
    store: JobStore,
) -> None:
    """The text index is kept with the jobs: a new result is found and the old
    one no longer is, a deleted job is gone, and the search pages by the keyset
    and combines with queue and status. The same answers whether the index has
    caught up or not (SQLite writes it behind the jobs, `index_text`)."""
    raw = msgspec.Raw
    jobs = [
        make_job(f"q{i % 2}", params=raw(b'{"order": "ORD-%d", "tag": "needle"}' % i))
        for i in range(7)
    ]
    await store.insert_jobs(jobs[:4])
    await store.index_text(2)  # part of them indexed, the rest not yet
    await store.insert_jobs(jobs[4:])
    first = jobs[0]
    await store.update_job(
        first.id,
        lambda job: replace(job, status=JobStatus.DONE, result=raw(b'{"receipt": "R-77x"}')),
    )
    await store.update_job(jobs[1].id, lambda job: replace(job, result=raw(b'{"a": "R-88x"}')))
    await store.index_text(100)
    await store.update_job(jobs[1].id, lambda job: replace(job, result=raw(b'{"a": "R-99x"}')))
    await store.delete_job(jobs[6].id)
    for _ in range(2):
        assert await everything(store, JobFilter(text="r-77X")) == [first.id]
        assert await everything(store, JobFilter(text="R-88x")) == []
        assert await everything(store, JobFilter(text="R-99x")) == [jobs[1].id]
        assert await everything(store, JobFilter(text="ord-6")) == []
        assert await everything(store, JobFilter(text="needle")) == newest_first(jobs[:6])
        assert await everything(store, JobFilter(text="EEDL", queues=("q1",))) == [
            jobs[5].id, jobs[3].id, jobs[1].id
        ]
        assert await everything(
            store, JobFilter(text="needle", queues=("q0",), statuses=(JobStatus.QUEUED,))
        ) == [jobs[4].id, jobs[2].id]
        # A job found in both its params and its result is listed once.
        assert await everything(store, JobFilter(text='": "')) == newest_first(jobs[:6])
        assert await everything(store, JobFilter(text='x"}')) == [jobs[1].id, first.id]
        assert await everything(store, JobFilter(text="NULL")) == newest_first(jobs[2:6])
        await store.index_text(100)


async def test_a_reused_position_is_indexed_too(store: JobStore) -> None:
    """SQLite hands the newest job's position to the next one once it is
    deleted; a job there is found like any other."""
    raw = msgspec.Raw
    old, newest = make_job(), make_job(params=raw(b'{"n": "first-one"}'))
    await store.insert_jobs([old, newest])
    await store.index_text(100)
    await store.delete_job(newest.id)
    again = make_job(params=raw(b'{"n": "second-one"}'))
    await store.insert_jobs([again])
    await store.index_text(100)
    assert await everything(store, JobFilter(text="second-one")) == [again.id]
    assert await everything(store, JobFilter(text="first-one")) == []


async def test_a_search_finds_the_same_whether_its_text_is_common_or_rare(
    store: JobStore,
) -> None:
    """PostgreSQL first walks a few of the newest rows the other filters select
    (`text_window`, made small here), checking each one's text: a common text
    fills its page there, a rare one is looked up in the trigram index. Pages
    served either way, and pages that mix them, list the same jobs."""
    if hasattr(store, "text_window"):
        setattr(store, "text_window", 3)  # noqa: B010 - PostgreSQL's alone
    raw = msgspec.Raw
    # Odd jobs are in q1 and tagged common-b, even ones in q0 and common-a.
    jobs = [
        make_job(
            f"q{i % 2}", params=raw(b'{"tag": "common-%s", "n": %d}' % (b"b" if i % 2 else b"a", i))
        )
        for i in range(12)
    ]
    await store.insert_jobs(jobs)
    rare = jobs[1]
    await store.update_job(
        rare.id, lambda job: replace(job, status=JobStatus.DONE, result=raw(b'{"r": "Rare-1"}'))
    )
    await store.index_text(100)
    every = newest_first(jobs)
    for page in (1, 2, 5):
        assert await everything(store, JobFilter(text="COMMON"), page) == every
        assert await everything(store, JobFilter(text="rare-1"), page) == [rare.id]
        assert await everything(store, JobFilter(text="common-b"), page) == every[::2]
        assert await everything(store, JobFilter(text="common-a", queues=("q1",)), page) == []
        assert await everything(
            store, JobFilter(text="common", statuses=(JobStatus.DONE,)), page
        ) == [rare.id]
        assert await everything(store, JobFilter(text='"n": 1'), page) == [
            jobs[11].id,
            jobs[10].id,
            rare.id,
        ]
