"""The job service with a fake clock: `now` is passed in, nothing sleeps."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from accepted.errors import Conflict, JobNotFound, JobTimedOut, LeaseMismatch
from accepted.service.jobs import JobService, NewJob, Report
from accepted.service.maintenance import Maintenance
from accepted.types import CallbackState, JobStatus
from tests.unit.conftest import T0

DONE = Report(JobStatus.DONE, msgspec.Raw(b"42"))


async def test_enqueue_then_take_hands_out_a_running_job_with_a_lease(
    service: JobService,
) -> None:
    job = await service.enqueue(NewJob("q", msgspec.Raw(b'{"a":1}')), T0)
    assert job.status is JobStatus.QUEUED
    [taken] = await service.take(["q"], T0 + 1)
    assert taken.id == job.id and taken.status is JobStatus.RUNNING
    assert taken.attempts == 1 and taken.lease
    assert taken.lease_expires_at == T0 + 1 + 30
    assert await service.take(["q"], T0 + 1) == []


async def test_take_order_is_priority_then_due_time(service: JobService) -> None:
    low = await service.enqueue(NewJob("q", priority=2), T0)
    first = await service.enqueue(NewJob("q", priority=0), T0 + 1)
    second = await service.enqueue(NewJob("q", priority=0), T0 + 2)
    order = [(await service.take(None, T0 + 3))[0].id for _ in range(3)]
    assert order == [first.id, second.id, low.id]


async def test_take_only_from_the_named_queues(service: JobService) -> None:
    await service.enqueue(NewJob("a"), T0)
    b = await service.enqueue(NewJob("b"), T0)
    [taken] = await service.take(["b", "c"], T0)
    assert taken.id == b.id


async def test_delayed_job_is_not_handed_out_before_due(
    service: JobService, maintenance: Maintenance
) -> None:
    job = await service.enqueue(NewJob("q", delay=10), T0)
    assert job.status is JobStatus.DELAYED
    assert await maintenance.promote_delayed(T0 + 5) == T0 + 10  # sleeps exactly until due
    assert await service.take(None, T0 + 5) == []
    assert await maintenance.promote_delayed(T0 + 10) is None
    [taken] = await service.take(None, T0 + 10)
    assert taken.id == job.id


async def test_report_done_with_the_lease(service: JobService) -> None:
    await service.enqueue(NewJob("q"), T0)
    [taken] = await service.take(None, T0)
    done = await service.report(taken.id, Report(JobStatus.DONE, DONE.result, taken.lease), T0)
    assert done.status is JobStatus.DONE and bytes(done.result) == b"42"
    assert (await service.get(taken.id)).status is JobStatus.DONE
    with pytest.raises(Conflict):
        await service.report(taken.id, DONE, T0)


async def test_stale_lease_changes_nothing(service: JobService, maintenance: Maintenance) -> None:
    await service.enqueue(NewJob("q"), T0)
    [first] = await service.take(None, T0, lease_seconds=5)
    await maintenance.expire_leases(T0 + 5)
    [second] = await service.take(None, T0 + 6)
    assert second.id == first.id and second.lease != first.lease
    with pytest.raises(LeaseMismatch):
        await service.report(first.id, Report(JobStatus.DONE, lease=first.lease), T0 + 7)
    assert (await service.get(first.id)).status is JobStatus.RUNNING


async def test_expired_lease_requeues_keeping_due_time_then_fails_on_last_attempt(
    service: JobService, maintenance: Maintenance
) -> None:
    old = await service.enqueue(NewJob("q", max_attempts=2), T0)
    await service.take(None, T0, lease_seconds=5)
    newer = await service.enqueue(NewJob("q"), T0 + 1)
    assert await maintenance.expire_leases(T0 + 4) == T0 + 5
    await maintenance.expire_leases(T0 + 5)
    [again] = await service.take(None, T0 + 6, lease_seconds=5)
    assert again.id == old.id and again.attempts == 2  # abandoned work before newer work
    await maintenance.expire_leases(T0 + 11)
    failed = await service.get(old.id)
    assert failed.status is JobStatus.FAILED and "lease expired" in (failed.error or "")
    [taken] = await service.take(None, T0 + 12)
    assert taken.id == newer.id


async def test_heartbeat_keeps_the_job(service: JobService, maintenance: Maintenance) -> None:
    await service.enqueue(NewJob("q"), T0)
    [taken] = await service.take(None, T0, lease_seconds=5)
    beat = Report(JobStatus.RUNNING, lease=taken.lease, lease_seconds=20)
    await service.report(taken.id, beat, T0 + 4)
    await maintenance.expire_leases(T0 + 10)
    assert (await service.get(taken.id)).status is JobStatus.RUNNING


async def test_give_back_queues_at_once(service: JobService) -> None:
    await service.enqueue(NewJob("q"), T0)
    [taken] = await service.take(None, T0)
    back = await service.report(taken.id, Report(JobStatus.QUEUED, lease=taken.lease), T0 + 1)
    assert back.status is JobStatus.QUEUED
    [again] = await service.take(None, T0 + 1)
    assert again.id == taken.id and again.attempts == 2


async def test_job_timeout_fails_the_job_and_refuses_late_reports(
    service: JobService, maintenance: Maintenance
) -> None:
    job = await service.enqueue(NewJob("q", delay=2, job_timeout=3), T0)
    assert job.deadline_at == T0 + 5
    await maintenance.promote_delayed(T0 + 2)
    [taken] = await service.take(None, T0 + 2)
    with pytest.raises(JobTimedOut):
        await service.report(taken.id, DONE, T0 + 5)
    await maintenance.time_out_jobs(T0 + 5)
    failed = await service.get(job.id)
    assert failed.status is JobStatus.FAILED and "timeout" in (failed.error or "")


async def test_cancel_removes_the_job_and_reports_it_cancelled(service: JobService) -> None:
    job = await service.enqueue(NewJob("q"), T0)
    cancelled = await service.cancel(job.id, T0 + 1)
    assert cancelled.status is JobStatus.CANCELLED
    with pytest.raises(JobNotFound):
        await service.get(job.id)
    assert await service.take(None, T0 + 1) == []


async def test_result_ttl_purges_after_the_ttl(
    service: JobService, maintenance: Maintenance
) -> None:
    await service.enqueue(NewJob("q", result_ttl=60), T0)
    [taken] = await service.take(None, T0)
    await service.report(taken.id, DONE, T0 + 1)
    assert await maintenance.purge_expired(T0 + 60) == T0 + 61
    await maintenance.purge_expired(T0 + 61)
    with pytest.raises(JobNotFound):
        await service.get(taken.id)


async def test_callback_is_pending_until_delivered_and_delays_the_purge(
    service: JobService, maintenance: Maintenance
) -> None:
    await service.enqueue(NewJob("q", result_ttl=1, callback_url="http://127.0.0.1:9/"), T0)
    [taken] = await service.take(None, T0)
    done = await service.report(taken.id, DONE, T0)
    assert done.callback_state is CallbackState.PENDING
    held = await maintenance.hold_due_callbacks(T0, hold=30, limit=10)
    assert [j.id for j in held] == [taken.id]
    assert await maintenance.hold_due_callbacks(T0 + 1, hold=30, limit=10) == []  # held, not resent
    await maintenance.purge_expired(T0 + 5)
    assert (await service.get(taken.id)).callback_state is CallbackState.PENDING
    failed = await maintenance.callback_outcome(taken.id, "HTTP 503", T0 + 2)
    assert failed.callback_attempts == 1 and failed.callback_last_error == "HTTP 503"
    delivered = await maintenance.callback_outcome(taken.id, None, T0 + 4)
    assert delivered.callback_state is CallbackState.DELIVERED
    await maintenance.purge_expired(T0 + 5)
    with pytest.raises(JobNotFound):
        await service.get(taken.id)


async def test_each_callback_outcome_is_counted_once(
    service: JobService, maintenance: Maintenance
) -> None:
    """A delivery reported for a callback already delivered (another node's hold
    ran out and it delivered too) changes nothing, and is not counted again."""
    await service.enqueue(NewJob("q", callback_url="http://127.0.0.1:9/"), T0)
    [taken] = await service.take(None, T0)
    await service.report(taken.id, DONE, T0)
    await maintenance.callback_outcome(taken.id, "HTTP 503", T0 + 1)
    await maintenance.callback_outcome(taken.id, None, T0 + 2)
    await maintenance.callback_outcome(taken.id, None, T0 + 3)  # the second deliverer
    await maintenance.callback_refused(taken.id, "not allowed")  # too late: delivered
    assert service.metrics.callbacks.values == {("retried",): 1, ("delivered",): 1}


async def test_a_blocked_taker_is_woken_by_an_enqueue(service: JobService) -> None:
    waiting = asyncio.create_task(service.take(["q"], T0, block=30))
    await _until_waiting(service, 1)
    job = await service.enqueue(NewJob("q"), T0)
    taken = await asyncio.wait_for(waiting, 5)
    assert [j.id for j in taken] == [job.id]


async def test_blocked_takers_are_served_first_come_first_served(service: JobService) -> None:
    takers = []
    for _ in range(3):
        takers.append(asyncio.create_task(service.take(["q"], T0, block=30)))
        await _until_waiting(service, len(takers))
    jobs = [await service.enqueue(NewJob("q"), T0) for _ in range(3)]
    results = await asyncio.wait_for(asyncio.gather(*takers), 5)
    assert [r[0].id for r in results] == [j.id for j in jobs]


async def test_each_job_goes_to_exactly_one_of_many_takers(service: JobService) -> None:
    takers = [asyncio.create_task(service.take(None, T0, block=30)) for _ in range(20)]
    await _until_waiting(service, 20)
    jobs = await service.enqueue_many([NewJob(f"q{i % 3}") for i in range(20)], T0)
    results = await asyncio.wait_for(asyncio.gather(*takers), 5)
    assert sorted(r[0].id for r in results) == sorted(j.id for j in jobs)


async def test_a_taker_for_another_queue_is_not_woken(service: JobService) -> None:
    other = asyncio.create_task(service.take(["other"], T0, block=30))
    mine = asyncio.create_task(service.take(["q"], T0, block=30))
    await _until_waiting(service, 2)
    await service.enqueue(NewJob("q"), T0)
    assert len(await asyncio.wait_for(mine, 5)) == 1
    assert not other.done()
    service.signals.close()
    assert await asyncio.wait_for(other, 5) == []


async def test_a_result_waiter_is_answered_when_the_job_becomes_final(
    service: JobService,
) -> None:
    job = await service.enqueue(NewJob("q"), T0)
    waiting = asyncio.create_task(service.wait_result(job.id, 30))
    await _until(lambda: service.signals.results.wants(job.id))
    [taken] = await service.take(None, T0)
    await service.report(taken.id, DONE, T0)
    final = await asyncio.wait_for(waiting, 5)
    assert final.status is JobStatus.DONE


async def test_a_result_waiter_is_answered_when_the_job_is_deleted(service: JobService) -> None:
    job = await service.enqueue(NewJob("q"), T0)
    waiting = asyncio.create_task(service.wait_result(job.id, 30))
    await _until(lambda: service.signals.results.wants(job.id))
    await service.cancel(job.id, T0)
    assert (await asyncio.wait_for(waiting, 5)).status is JobStatus.CANCELLED


async def test_a_taker_that_goes_away_gives_back_what_it_claimed(service: JobService) -> None:
    job = await service.enqueue(NewJob("q"), T0)
    taking = asyncio.create_task(service.take(None, T0))
    await asyncio.sleep(0)  # let the claim start, then hang up
    taking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await taking
    for _ in range(100):  # each look is a store round trip, after which the release has run
        current = await service.get(job.id)
        if current.status is JobStatus.QUEUED and not service._background:
            break
    [again] = await service.take(None, T0)
    assert again.attempts == 1


async def _until_waiting(service: JobService, count: int) -> None:
    await _until(lambda: service.signals.takers.waiting() >= count)


async def _until(condition: object, limit: float = 30.0) -> None:
    """Yield to the loop until `condition()` holds.

    It checks after every turn of the loop (no fixed sleep to hope on); the
    limit is in seconds, not turns, because the store's thread may need a
    while for its answers on a loaded machine.
    """
    assert callable(condition)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + limit
    while not condition():
        if loop.time() > give_up:
            raise AssertionError("condition never held")
        await asyncio.sleep(0)


async def test_a_new_job_is_handed_straight_to_a_blocked_taker(service: JobService) -> None:
    waiting = asyncio.create_task(service.take(["q"], T0, block=30, lease_seconds=7))
    await _until_waiting(service, 1)
    job = await service.enqueue(NewJob("q"), T0 + 1)
    assert job.status is JobStatus.RUNNING and job.attempts == 1  # handed out in its insert
    [taken] = await asyncio.wait_for(waiting, 5)
    assert taken.id == job.id and taken.lease == job.lease
    assert taken.lease_expires_at == T0 + 1 + 7
    stored = await service.get(job.id)
    assert stored.status is JobStatus.RUNNING and stored.lease == taken.lease


async def test_an_enqueue_cancelled_in_flight_still_hands_its_job_to_the_taker(
    service: JobService,
) -> None:
    waiting = asyncio.create_task(service.take(["q"], T0, block=30))
    await _until_waiting(service, 1)
    enqueue = asyncio.create_task(service.enqueue(NewJob("q"), T0))
    await asyncio.sleep(0)  # the insert is on its way for the blocked taker ...
    enqueue.cancel()  # ... and the request that sent it is gone
    with pytest.raises(asyncio.CancelledError):
        await enqueue
    [taken] = await asyncio.wait_for(waiting, 5)
    stored = await service.get(taken.id)
    assert stored.status is JobStatus.RUNNING and stored.lease == taken.lease


async def test_a_taker_gone_before_its_hand_off_lands_gives_the_job_back(
    service: JobService,
) -> None:
    waiting = asyncio.create_task(service.take(["q"], T0, block=30))
    await _until_waiting(service, 1)
    enqueue = asyncio.create_task(service.enqueue(NewJob("q"), T0))
    await asyncio.sleep(0)  # the insert is on its way for the blocked taker ...
    waiting.cancel()  # ... which hangs up before it commits
    with pytest.raises(asyncio.CancelledError):
        await waiting
    job = await enqueue
    for _ in range(100):  # each look is a store round trip, after which the release has run
        current = await service.get(job.id)
        if current.status is JobStatus.QUEUED and not service._background:
            break
    [again] = await service.take(["q"], T0)
    assert again.id == job.id and again.attempts == 1


async def test_a_taker_that_may_no_longer_take_gives_back_a_job_handed_that_instant(
    service: JobService,
) -> None:
    allowed = [True]
    waiting = asyncio.create_task(service.take(["q"], T0, block=30, may_take=lambda: allowed[0]))
    await _until_waiting(service, 1)
    enqueue = asyncio.create_task(service.enqueue(NewJob("q"), T0))
    await asyncio.sleep(0)  # the insert is on its way for the blocked taker ...
    allowed[0] = False  # ... whose token is revoked before it commits
    job = await enqueue
    assert job.status is JobStatus.RUNNING  # it was handed over in its insert
    assert await asyncio.wait_for(waiting, 5) == []  # but the taker takes nothing
    for _ in range(100):  # each look is a store round trip, after which the release has run
        current = await service.get(job.id)
        if current.status is JobStatus.QUEUED and not service._background:
            break
    [again] = await service.take(["q"], T0)
    assert again.id == job.id and again.attempts == 1  # the hand-out did not count


async def test_a_batch_fills_a_counting_taker_before_the_next(service: JobService) -> None:
    first = asyncio.create_task(service.take(["q"], T0, block=30, count=2))
    await _until_waiting(service, 1)
    second = asyncio.create_task(service.take(["q"], T0, block=30, count=2))
    await _until_waiting(service, 2)
    jobs = await service.enqueue_many([NewJob("q") for _ in range(3)], T0)
    got_first, got_second = await asyncio.wait_for(asyncio.gather(first, second), 5)
    assert [j.id for j in got_first] == [jobs[0].id, jobs[1].id]
    assert [j.id for j in got_second] == [jobs[2].id]
