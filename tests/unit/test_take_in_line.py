"""A new take does not jump the line of blocked takers (first come, first served).

A job that arrives while takers block wakes the one that has waited longest.
A take that arrives meanwhile, with or without reports riding on it, must not
claim that job first: the woken taker would look in vain and wait again, and
under a steady trickle of jobs it could lose this way until its block ran out.

The enqueues here are `enqueue_once`, which hands nothing straight to a blocked
taker: as an enqueue does whose hand-off plan found no idle taker (it began
while the taker was still looking), so the job is announced once it commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from accepted.errors import StoreUnavailable
from accepted.queries import QueueLimits
from accepted.service.jobs import JobService, NewJob, Report
from accepted.service.queues import QueueService
from accepted.tokens import QueueScope
from accepted.types import Job, JobStatus
from tests.unit.conftest import T0


async def test_a_take_carrying_a_report_waits_behind_an_older_blocked_take(
    service: JobService,
) -> None:
    await service.enqueue(NewJob("q"), T0)
    [held] = await service.take(["q"], T0)
    older = asyncio.create_task(service.take(["q"], T0, block=30))
    await _until(lambda: service.signals.takers.waiting() == 1)
    enqueue = asyncio.create_task(service.enqueue_once([NewJob("q")], [None], T0 + 1))
    report = [(held.id, Report(JobStatus.DONE, lease=held.lease))]
    newer = asyncio.create_task(service.report_and_take(report, ["q"], T0 + 1, block=30))
    [placed] = await enqueue

    first = await _first_done(older, newer)
    assert first is older, "the newer take claimed the job the older one was woken for"
    assert [job.id for job in older.result()] == [placed.job.id]
    assert (await service.get(held.id)).status is JobStatus.DONE  # applied, though it waits
    await _until(lambda: service.signals.takers.waiting() == 1)  # the newer, next in line
    nxt = await service.enqueue(NewJob("q"), T0 + 2)
    outcomes, jobs = await asyncio.wait_for(newer, 5)
    assert [o.status for o in outcomes if isinstance(o, Job)] == [JobStatus.DONE]
    assert [job.id for job in jobs] == [nxt.id]


async def test_a_new_take_waits_behind_an_older_blocked_take(service: JobService) -> None:
    older = asyncio.create_task(service.take(["q"], T0, block=30))
    await _until(lambda: service.signals.takers.waiting() == 1)
    enqueue = asyncio.create_task(service.enqueue_once([NewJob("q")], [None], T0 + 1))
    newer = asyncio.create_task(service.take(["q"], T0 + 1, block=30))
    [placed] = await enqueue

    first = await _first_done(older, newer)
    assert first is older, "the newer take claimed the job the older one was woken for"
    assert [job.id for job in older.result()] == [placed.job.id]
    service.signals.close()
    assert await asyncio.wait_for(newer, 5) == []


async def test_a_new_take_claims_at_once_what_no_blocked_take_was_woken_for(
    service: JobService,
) -> None:
    older = asyncio.create_task(service.take(["q"], T0, block=30))
    await _until(lambda: service.signals.takers.waiting() == 1)
    placed = await service.enqueue_once([NewJob("q") for _ in range(3)], [None] * 3, T0 + 1)
    newer = await asyncio.wait_for(service.take(["q"], T0 + 1, block=30), 5)
    riding = await asyncio.wait_for(
        service.report_and_take(
            [(newer[0].id, Report(JobStatus.DONE, lease=newer[0].lease))], ["q"], T0, block=30
        ),
        5,
    )
    taken = [*await asyncio.wait_for(older, 5), *newer, *riding[1]]
    assert sorted(job.id for job in taken) == sorted(p.job.id for p in placed)


async def test_a_take_of_another_queue_is_not_held_back(service: JobService) -> None:
    older = asyncio.create_task(service.take(["q"], T0, block=30))
    await _until(lambda: service.signals.takers.waiting() == 1)
    job = await service.enqueue(NewJob("other"), T0)
    [taken] = await asyncio.wait_for(service.take(["q", "other"], T0, block=30), 5)
    assert taken.id == job.id and not older.done()
    service.signals.close()
    assert await asyncio.wait_for(older, 5) == []


async def _first_done(*tasks: asyncio.Task[object]) -> asyncio.Task[object]:
    done, _ = await asyncio.wait(tasks, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    assert done, "neither take was answered"
    return done.pop()


async def _until(condition: Callable[[], bool], limit: float = 30.0) -> None:
    """Yield to the loop until `condition()` holds (checked after every turn)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + limit
    while not condition():
        if loop.time() > give_up:
            raise AssertionError("condition never held")
        await asyncio.sleep(0)


async def test_a_take_in_line_looks_if_a_job_came_that_nobody_was_woken_for(
    service: JobService,
) -> None:
    """Jobs another node (or process) made, announced while the riding reports
    of a take in line were at the store: the older taker is woken for one, and
    the other is nobody's, so the take looks before it waits."""
    await service.enqueue(NewJob("q"), T0)
    [held] = await service.take(["q"], T0)
    older = asyncio.create_task(service.take(["q"], T0, block=30))
    await _until(lambda: service.signals.takers.waiting() == 1)
    elsewhere = [service.new_job(NewJob("q"), T0 + 1) for _ in range(2)]
    await service.store.insert_jobs(elsewhere)  # not announced here yet
    report = [(held.id, Report(JobStatus.DONE, lease=held.lease))]
    with service.store._writer.turn():  # type: ignore[attr-defined]  # the reports wait
        newer = asyncio.create_task(service.report_and_take(report, ["q"], T0 + 1, block=30))
        await asyncio.sleep(0)  # its first step: in line, its reports queued to the store
        service.signals.takers.job_available("q", 2)  # as the other node's notice does
    _, jobs = await asyncio.wait_for(newer, 5)
    taken = [*jobs, *await asyncio.wait_for(older, 5)]
    assert sorted(job.id for job in taken) == sorted(job.id for job in elsewhere)


async def test_new_takes_find_at_once_what_a_resumed_queue_holds(service: JobService) -> None:
    """A resume wakes every blocked taker of the queue, but how many jobs wait
    there is not known: new takes claim rather than queue up behind them."""
    queues = QueueService(service.store, service.signals)
    await queues.pause("q", T0)
    older = asyncio.create_task(service.take(["q"], T0, block=30))
    await _until(lambda: service.signals.takers.waiting() == 1)
    held = [await service.enqueue(NewJob("q"), T0) for _ in range(3)]
    await queues.resume("q", T0)
    newer = [await asyncio.wait_for(service.take(["q"], T0, block=30), 5) for _ in range(2)]
    taken = [*await asyncio.wait_for(older, 5), *newer[0], *newer[1]]
    assert sorted(job.id for job in taken) == sorted(job.id for job in held)


async def test_a_take_whose_report_is_refused_leaves_the_unpromised_job_to_the_next(
    service: JobService,
) -> None:
    """A refused riding report means no claim: the job nobody was woken for is
    still there, and the next take finds it at once (a worker whose result
    came too late sends a plain want_job next)."""
    older = asyncio.create_task(service.take(["q"], T0, block=30))
    await _until(lambda: service.signals.takers.waiting() == 1)
    held = await service.enqueue(NewJob("q"), T0)  # handed to the blocked take
    await asyncio.wait_for(older, 5)
    left = await service.enqueue(NewJob("q"), T0)  # nobody waits: nobody's
    stale = [(held.id, Report(JobStatus.DONE, lease="not-its-lease"))]
    outcomes, jobs = await service.report_and_take(stale, ["q"], T0, block=30)
    assert isinstance(outcomes[0], Exception) and jobs == []
    [taken] = await asyncio.wait_for(service.take(["q"], T0, block=30), 5)
    assert taken.id == left.id


async def test_a_taker_woken_for_one_queue_that_took_anothers_job_passes_the_wake_up_on(
    service: JobService,
) -> None:
    """A take of several queues claims the best job of any: woken for b's job, it
    may take a's. b's job is then nobody's, and a new take of b finds it at once
    rather than waiting in line behind it for its whole block."""
    older = asyncio.create_task(service.take(["a", "b"], T0, block=30))
    await _until(lambda: service.signals.takers.waiting() == 1)
    urgent = service.new_job(NewJob("a", priority=0), T0)
    await service.store.insert_jobs([urgent])  # not announced: another node's, say
    [placed] = await service.enqueue_once([NewJob("b")], [None], T0 + 1)  # wakes `older`
    assert [job.id for job in await asyncio.wait_for(older, 5)] == [urgent.id]

    [taken] = await asyncio.wait_for(service.take(["b"], T0 + 2, block=30), 5)
    assert taken.id == placed.job.id


async def test_a_woken_taker_whose_claim_fails_passes_the_wake_up_on(
    service: JobService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store refuses the woken taker's claim (a full disk, say): the job it
    was woken for is still there, and the next taker in line is woken for it."""
    first = asyncio.create_task(service.take(["q"], T0, block=30))
    await _until(lambda: service.signals.takers.waiting() == 1)
    second = asyncio.create_task(service.take(["q"], T0, block=30))
    await _until(lambda: service.signals.takers.waiting() == 2)
    claim_jobs = service.store.claim_jobs
    failed: list[bool] = []

    async def fails_once(*args: Any, **kwargs: Any) -> list[Job]:
        if not failed:
            failed.append(True)
            raise StoreUnavailable("database or disk is full")
        return await claim_jobs(*args, **kwargs)

    monkeypatch.setattr(service.store, "claim_jobs", fails_once)
    [placed] = await service.enqueue_once([NewJob("q")], [None], T0 + 1)  # wakes `first`
    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(first, 5)
    assert [job.id for job in await asyncio.wait_for(second, 5)] == [placed.job.id]


async def test_a_report_riding_on_a_take_in_line_is_announced_though_its_client_left(
    service: JobService,
) -> None:
    """A take in line writes its reports alone and then waits. Its client hanging
    up while the reports are at the store cancels the take, not what follows
    their commit: whoever waits for the reported job's result is answered."""
    await service.enqueue(NewJob("q"), T0)
    [held] = await service.take(["q"], T0)
    older = asyncio.create_task(service.take(["q"], T0, block=30))
    await _until(lambda: service.signals.takers.waiting() == 1)
    result = asyncio.create_task(service.wait_result(held.id, 30))
    await _until(lambda: len(service.signals.results) == 1)
    report = [(held.id, Report(JobStatus.DONE, lease=held.lease))]
    with service.store._writer.turn():  # type: ignore[attr-defined]  # the reports wait
        newer = asyncio.create_task(service.report_and_take(report, ["q"], T0 + 1, block=30))
        await asyncio.sleep(0)  # in line, its reports queued to the store
        newer.cancel()  # the client hung up
        await asyncio.wait([newer])
    done = await asyncio.wait_for(result, 5)
    assert done.status is JobStatus.DONE
    service.signals.close()
    assert await asyncio.wait_for(older, 5) == []


async def test_a_new_take_counts_what_it_claimed_against_the_queue_it_came_from(
    service: JobService,
) -> None:
    """One unpromised job waits in each of a and b; a new take of both claims b's
    (the better). a's job is still nobody's: a new take of a claims it at once."""
    gone = asyncio.create_task(service.take(["a", "b"], T0, block=30))
    await _until(lambda: service.signals.takers.waiting() == 1)  # a and b counted, empty
    gone.cancel()
    await asyncio.wait([gone])
    left = await service.enqueue(NewJob("a"), T0)  # nobody waits: nobody's
    best = await service.enqueue(NewJob("b", priority=0), T0)
    [taken] = await asyncio.wait_for(service.take(["a", "b"], T0, block=30), 5)
    assert taken.id == best.id

    [taken] = await asyncio.wait_for(service.take(["a"], T0, block=30), 5)
    assert taken.id == left.id


async def test_a_new_take_of_a_prefix_scope_waits_behind_an_older_blocked_take(
    service: JobService,
) -> None:
    """Workers whose token is limited to `job-*` take from any queue they may: a
    new take of theirs must not claim the job an older blocked take of the same
    scope was woken for (it would look in vain and wait again, as in
    performance.md's "takes jumping the line")."""
    scope = QueueScope(("job-*",))
    older = asyncio.create_task(service.take(None, T0, block=30, scope=scope))
    await _until(lambda: service.signals.takers.waiting() == 1)
    enqueue = asyncio.create_task(service.enqueue_once([NewJob("job-x")], [None], T0 + 1))
    newer = asyncio.create_task(service.take(None, T0 + 1, block=30, scope=scope))
    [placed] = await enqueue

    first = await _first_done(older, newer)
    assert first is older, "the newer take claimed the job the older one was woken for"
    assert [job.id for job in older.result()] == [placed.job.id]
    service.signals.close()
    assert await asyncio.wait_for(newer, 5) == []


async def test_a_job_given_back_in_a_limited_queue_wakes_one_taker(service: JobService) -> None:
    """The job is back in `queued` and its place is free: one taker can take it,
    so one is woken (two were: for the job, and for the room it left)."""
    queues = QueueService(service.store, service.signals)
    await queues.set_limits("q", QueueLimits(concurrency=1), T0)
    await service.enqueue(NewJob("q"), T0)
    [held] = await service.take(["q"], T0)
    takes = [asyncio.create_task(service.take(["q"], T0, block=30)) for _ in range(2)]
    await _until(lambda: service.signals.takers.waiting() == 2)
    await service.report(held.id, Report(JobStatus.QUEUED, lease=held.lease), T0 + 1)
    assert service.signals.takers.waiting() == 1  # before either woken take has run
    done, _ = await asyncio.wait(takes, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    assert [job.id for job in done.pop().result()] == [held.id]
    service.signals.close()
    await asyncio.wait(takes)
