"""Every call of the client against a real server, through both twins (see conftest)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from accepted import errors
from accepted.client import AsyncClient, Client, Job, JobStatus, NewJob, WaitTimeout
from tests.client.conftest import Api
from tests.support.servers import ServerProcess

# A long-poll asked to block this long must return far sooner once woken.
BLOCK = 30.0
WOKEN_WITHIN = 2.0


async def taken(api: Api, queue: str, **options: float) -> Job:
    job = await api.take(queue, **options)
    assert job is not None and job.lease
    return job


async def test_enqueue_returns_the_new_job(api: Api, q: str) -> None:
    job = await api.enqueue(q, {"to": "ada"})
    assert job.queue == q and job.status is JobStatus.QUEUED
    assert job.params == {"to": "ada"} and job.result is None
    assert job.priority == 1 and job.attempts == 0
    assert abs(job.created_at - datetime.now(UTC)) < timedelta(seconds=10)
    assert job.lease is None


async def test_enqueue_defaults_and_any_json_params(api: Api, q: str) -> None:
    assert (await api.enqueue(q)).params == {}
    assert (await api.enqueue(q, [1, "two", None])).params == [1, "two", None]
    assert (await api.enqueue(q, "text")).params == "text"


async def test_enqueue_options_reach_the_job(api: Api, q: str) -> None:
    job = await api.enqueue(
        q,
        {},
        priority=0,
        delay=60,
        result_ttl=30.5,
        callback_url="http://127.0.0.1:9/hook",
        job_timeout=120,
        max_attempts=2,
    )
    assert job.status is JobStatus.DELAYED and job.priority == 0
    assert job.result_ttl == 30.5 and job.timeout == 120 and job.max_attempts == 2
    assert job.callback is not None and job.callback.url == "http://127.0.0.1:9/hook"
    assert job.due_at is not None and job.due_at - job.created_at == timedelta(seconds=60)


async def test_enqueue_many_is_one_batch(api: Api, q: str) -> None:
    jobs = await api.enqueue_many(
        [
            NewJob(q + "-a", {"n": 1}, priority=0),
            NewJob(q + "-b", delay=60),
            {"queue": q + "-c", "params": 3},
        ]
    )
    assert [j.queue for j in jobs] == [q + "-a", q + "-b", q + "-c"]
    assert jobs[0].priority == 0 and jobs[1].status is JobStatus.DELAYED
    assert jobs[2].params == 3
    fetched = await api.get(jobs[2].id)
    assert fetched.id == jobs[2].id


async def test_enqueue_many_is_all_or_nothing(api: Api, q: str) -> None:
    with pytest.raises(errors.InvalidRequest):
        await api.enqueue_many([NewJob(q + "-ok"), NewJob(q + "-bad", priority=9)])
    assert await api.take(q + "-ok") is None


async def test_enqueue_with_wait_answers_with_the_job_once_final(api: Api, q: str) -> None:
    waiting = asyncio.ensure_future(api.enqueue(q, {"n": 1}, wait=BLOCK))
    running = await api.take(q, block=BLOCK)
    assert running is not None and not waiting.done()
    await api.complete(running, {"n": 2})
    final = await waiting
    assert (final.id, final.status, final.result) == (running.id, JobStatus.DONE, {"n": 2})


async def test_enqueue_with_wait_gives_the_job_as_it_is_when_time_runs_out(
    api: Api, q: str
) -> None:
    job = await api.enqueue(q, wait=0.2)
    assert job.status is JobStatus.QUEUED
    assert (await api.get(job.id)).status is JobStatus.QUEUED


async def test_a_take_carries_the_report_on_the_last_job(api: Api, q: str) -> None:
    first, second = await api.enqueue(q, 1), await api.enqueue(q, 2)
    held = await taken(api, q)
    [following] = await api.take_many(q, count=1, reports=[(held, JobStatus.DONE, "ok")])
    assert (held.id, following.id) == (first.id, second.id)
    assert (await api.get(first.id)).result == "ok"
    nothing = await api.take(q, reports=[(following, JobStatus.FAILED, "no")])
    assert nothing is None and (await api.get(second.id)).status is JobStatus.FAILED


async def test_a_riding_failure_may_be_for_good(api: Api, q: str) -> None:
    job = await api.enqueue(q, retries=3)
    held = await taken(api, q)
    assert await api.take(q, reports=[(held, JobStatus.FAILED, "no", False)]) is None
    failed = await api.get(job.id)
    assert (failed.status, failed.retries_left) == (JobStatus.FAILED, 3)


async def test_a_refused_report_raises_and_nothing_is_taken(api: Api, q: str) -> None:
    await api.enqueue(q)
    waiting = await api.enqueue(q)
    held = await taken(api, q)
    await api.complete(held, "once")
    with pytest.raises(errors.Conflict):
        await api.take(q, reports=[(held, JobStatus.DONE, "twice")])
    assert (await api.get(waiting.id)).status is JobStatus.QUEUED


async def test_get_reads_a_job(api: Api, q: str) -> None:
    job = await api.enqueue(q, {"a": 1})
    assert await api.get(job.id) == job


async def test_get_with_wait_answers_as_soon_as_the_job_is_final(api: Api, q: str) -> None:
    job = await api.enqueue(q)
    running = await taken(api, q)
    started = time.monotonic()
    waiting = asyncio.ensure_future(api.get(job.id, wait=BLOCK))
    await asyncio.sleep(0)  # let the wait be sent; finishing first is fine too
    await api.complete(running, "ok")
    final = await waiting
    assert final.status is JobStatus.DONE and final.result == "ok"
    assert time.monotonic() - started < WOKEN_WITHIN


async def test_get_with_wait_gives_the_job_as_it_is_when_time_runs_out(api: Api, q: str) -> None:
    job = await api.enqueue(q)
    assert (await api.get(job.id, wait=0.2)).status is JobStatus.QUEUED


async def test_wait_returns_the_final_job(api: Api, q: str) -> None:
    job = await api.enqueue(q)
    running = await taken(api, q)
    waiting = asyncio.ensure_future(api.wait(job.id, timeout=BLOCK))
    await api.fail(running, {"why": "no"})
    final = await waiting
    assert final.status is JobStatus.FAILED and final.result == {"why": "no"}


async def test_wait_raises_when_its_timeout_passes(api: Api, q: str) -> None:
    job = await api.enqueue(q)
    with pytest.raises(WaitTimeout) as caught:
        await api.wait(job.id, timeout=0.3)
    assert caught.value.job.status is JobStatus.QUEUED
    assert isinstance(caught.value, TimeoutError)


async def test_take_hands_out_a_job_with_its_lease(api: Api, q: str) -> None:
    job = await api.enqueue(q, {"n": 1})
    got = await taken(api, q, lease=7)
    assert got.id == job.id and got.status is JobStatus.RUNNING and got.attempts == 1
    assert got.lease_expires_at is not None
    assert got.lease_expires_at - got.updated_at == timedelta(seconds=7)


async def test_take_returns_none_when_there_is_no_job(api: Api, q: str) -> None:
    assert await api.take(q) is None


async def test_take_only_from_the_named_queues(api: Api, q: str) -> None:
    other = await api.enqueue(q + "-other")
    wanted = await api.enqueue(q + "-mine")
    got = await api.take([q + "-mine", q + "-third"])
    assert got is not None and got.id == wanted.id
    assert await api.take([q + "-mine", q + "-third"]) is None
    got = await api.take([q + "-mine", q + "-other"])
    assert got is not None and got.id == other.id


async def test_a_blocked_take_gets_a_job_enqueued_meanwhile(api: Api, q: str) -> None:
    started = time.monotonic()
    waiting = asyncio.ensure_future(api.take(q, block=BLOCK))
    await asyncio.sleep(0.1)  # let the take reach the server; arriving later is fine too
    job = await api.enqueue(q)
    got = await waiting
    assert got is not None and got.id == job.id
    assert time.monotonic() - started < WOKEN_WITHIN + 0.1


async def test_take_many_takes_up_to_count(api: Api, q: str) -> None:
    await api.enqueue_many([NewJob(q, n) for n in range(3)])
    jobs = await api.take_many(q, count=2)
    assert [j.params for j in jobs] == [0, 1] and all(j.lease for j in jobs)
    assert len(await api.take_many(q, count=5)) == 1
    assert await api.take_many(q, count=5) == []


async def test_complete_makes_the_job_done(api: Api, q: str) -> None:
    job = await api.enqueue(q)
    done = await api.complete(await taken(api, q), {"answer": 42})
    assert done.id == job.id and done.status is JobStatus.DONE
    assert done.result == {"answer": 42} and done.finished_at is not None


async def test_fail_makes_the_job_failed(api: Api, q: str) -> None:
    await api.enqueue(q)
    failed = await api.fail(await taken(api, q), "broken")
    assert failed.status is JobStatus.FAILED and failed.result == "broken"


async def test_heartbeat_renews_the_lease_and_keeps_the_token(api: Api, q: str) -> None:
    await api.enqueue(q)
    job = await taken(api, q, lease=5)
    beat = await api.heartbeat(job, lease=100)
    assert beat.status is JobStatus.RUNNING and beat.lease == job.lease
    assert beat.lease_expires_at is not None and job.lease_expires_at is not None
    assert beat.lease_expires_at - job.lease_expires_at > timedelta(seconds=90)
    assert (await api.complete(beat, 1)).status is JobStatus.DONE


async def test_give_back_queues_the_job_again(api: Api, q: str) -> None:
    await api.enqueue(q)
    job = await taken(api, q)
    back = await api.give_back(job)
    assert back.status is JobStatus.QUEUED and back.attempts == 1
    again = await taken(api, q)
    assert again.id == job.id and again.attempts == 2 and again.lease != job.lease


async def test_a_report_with_a_stale_lease_is_refused(api: Api, q: str) -> None:
    await api.enqueue(q)
    first = await taken(api, q)
    await api.give_back(first)
    second = await taken(api, q)
    with pytest.raises(errors.LeaseMismatch) as caught:
        await api.complete(first, "late")
    assert caught.value.status == 409 and caught.value.code == "lease_mismatch"
    assert (await api.complete(second, "on time")).result == "on time"


async def test_reporting_on_a_final_job_is_a_conflict(api: Api, q: str) -> None:
    await api.enqueue(q)
    job = await taken(api, q)
    await api.complete(job, 1)
    with pytest.raises(errors.Conflict):
        await api.fail(job, 2)


async def test_a_job_past_its_timeout_refuses_reports(api: Api, q: str) -> None:
    job = await api.enqueue(q, job_timeout=0.3)
    running = await taken(api, q)
    final = await api.wait(job.id, timeout=BLOCK)  # the server fails it at its deadline
    assert final.status is JobStatus.FAILED
    with pytest.raises(errors.Conflict):
        await api.complete(running, "too late")


async def test_delete_cancels_and_removes(api: Api, q: str) -> None:
    job = await api.enqueue(q)
    gone = await api.delete(job.id)
    assert gone.id == job.id and gone.status is JobStatus.CANCELLED
    with pytest.raises(errors.JobNotFound):
        await api.get(job.id)
    with pytest.raises(errors.JobNotFound):
        await api.delete(job.id)


async def test_unknown_jobs_are_not_found(api: Api, q: str) -> None:
    with pytest.raises(errors.JobNotFound) as caught:
        await api.get("00000000-0000-0000-0000-000000000000")
    assert caught.value.status == 404 and "00000000" in caught.value.message
    with pytest.raises(errors.NotFound):
        await api.get("not-a-uuid")


async def test_bad_input_raises_the_servers_error(api: Api, q: str) -> None:
    with pytest.raises(errors.InvalidHeader) as header:
        await api.enqueue(q, priority=7)
    assert "Priority" in header.value.message
    with pytest.raises(errors.InvalidField):
        await api.enqueue("")
    with pytest.raises(errors.InvalidHeader):
        await api.take(q, lease=0)


async def test_a_body_over_the_limit_is_too_large(api: Api, q: str) -> None:
    with pytest.raises(errors.PayloadTooLarge) as caught:
        await api.enqueue(q, "x" * (1024 * 1024 + 1))
    assert caught.value.status == 413


async def test_a_result_that_is_not_json_is_refused_before_sending(api: Api, q: str) -> None:
    await api.enqueue(q)
    job = await taken(api, q)
    with pytest.raises(TypeError):
        await api.complete(job, object())
    assert (await api.get(job.id)).status is JobStatus.RUNNING


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_take_from_any_queue(server: ServerProcess, kind: str) -> None:
    """A take naming no queue takes from all of them (a server of its own: no strays)."""
    async with AsyncClient(server.url) as producer:
        job = await producer.enqueue("anywhere")
    if kind == "sync":
        with Client(server.url) as client:
            got = await asyncio.to_thread(client.take)
    else:
        async with AsyncClient(server.url) as aclient:
            got = await aclient.take()
    assert got is not None and got.id == job.id


async def test_report_many_reports_each_job_on_its_own(api: Api, q: str) -> None:
    for n in range(3):
        await api.enqueue(q, {"n": n})
    first, second, third = await api.take_many(q, count=3)
    await api.complete(third, "already")
    outcomes = await api.report_many(
        [
            (first, JobStatus.DONE, {"ok": 1}),
            (second, JobStatus.FAILED, "boom"),
            (third, JobStatus.DONE, "again"),
        ]
    )
    done, failed, refused = outcomes
    assert isinstance(done, Job) and done.status is JobStatus.DONE and done.result == {"ok": 1}
    assert isinstance(failed, Job) and failed.status is JobStatus.FAILED
    assert isinstance(refused, errors.Conflict)
    assert (await api.get(third.id)).result == "already"


async def test_enqueue_with_an_idempotency_key_makes_one_job(api: Api, q: str) -> None:
    first = await api.enqueue(q, {"n": 1}, idempotency_key=q)
    again = await api.enqueue(q, {"n": 1}, idempotency_key=q)
    assert again.id == first.id
    with pytest.raises(errors.AcceptedError) as raised:
        await api.enqueue(q, {"n": 2}, idempotency_key=q)
    assert raised.value.code == "idempotency_key_reused"
    (one, two) = await api.enqueue_many(
        [NewJob(q, {"n": 1}, idempotency_key=q), NewJob(q, idempotency_key=q + "-2")]
    )
    assert one.id == first.id and two.id != first.id
