"""The result wait's and the event stream's state machines (docs/state-machine.md):
each transition, the illegal ones, and who leaves when a token lapses."""

from __future__ import annotations

import asyncio

import pytest

from accepted.service.auth import REFRESH_INTERVAL, AuthService
from accepted.service.events import (
    Dropped,
    EventFeed,
    IllegalStreamTransition,
    Missed,
    Refused,
    StreamState,
)
from accepted.service.jobs import JobService, NewJob, Report
from accepted.service.results import (
    IllegalWaitTransition,
    ResultWait,
    ResultWaiters,
    WaitState,
)
from accepted.service.signals import Signals, TakerState
from accepted.tasks.tokens import TokenRefresher
from accepted.tokens import Role, hash_secret
from accepted.tokens import Token as AToken
from accepted.types import JSON_EMPTY_OBJECT, Job, JobStatus
from tests.unit.conftest import T0


def _job(job_id: str = "j1", status: JobStatus = JobStatus.DONE) -> Job:
    return Job(id=job_id, queue="q", status=status, priority=1, params=JSON_EMPTY_OBJECT,
               max_attempts=3, created_at=0.0, updated_at=0.0, due_at=0.0)


class Token:
    """A caller's standing, as the HTTP layer's `standing` gives it: revocable."""

    def __init__(self) -> None:
        self.holds = True

    def __call__(self) -> bool:
        return self.holds


# -- a result wait ----------------------------------------------------------------


async def _blocked(waits: ResultWaiters, job_id: str = "j1", token: Token | None = None
                   ) -> tuple[ResultWait, asyncio.Task[WaitState]]:
    wait = waits.add(job_id, token)
    blocked = asyncio.create_task(wait.wait(60.0))
    await asyncio.sleep(0)
    assert wait.state is WaitState.WAITING
    return wait, blocked


async def test_a_final_job_answers_every_wait_on_it_and_only_those() -> None:
    waits = ResultWaiters()
    (one, first), (two, second) = await _blocked(waits), await _blocked(waits)
    other, _ = await _blocked(waits, "j2")
    waits.job_final(_job())
    assert await first is WaitState.ANSWERED and await second is WaitState.ANSWERED
    assert one.job == _job() and two.job == _job()
    assert other.state is WaitState.WAITING and waits.waiting() == ["j2"]


async def test_a_job_deleted_elsewhere_makes_its_waits_re_read() -> None:
    waits = ResultWaiters()
    wait, blocked = await _blocked(waits)
    waits.job_gone("j1")
    assert await blocked is WaitState.DELETED and wait.job is None
    assert not waits.wants("j1")


async def test_a_wait_that_runs_out_times_out() -> None:
    wait = ResultWaiters().add("j1")
    assert await wait.wait(0.001) is WaitState.TIMED_OUT


async def test_shutdown_settles_every_wait_and_new_ones_at_once() -> None:
    waits = ResultWaiters()
    _, blocked = await _blocked(waits)
    waits.close()
    assert await blocked is WaitState.SHUT_DOWN and len(waits) == 0
    assert waits.add("j2").state is WaitState.SHUT_DOWN


async def test_a_lapsed_token_refuses_its_waits_and_no_other() -> None:
    waits = ResultWaiters()
    revoked, kept = Token(), Token()
    mine, blocked = await _blocked(waits, token=revoked)
    theirs, _ = await _blocked(waits, token=kept)
    waits.wake_refused()  # tokens re-read, nothing changed for them
    assert mine.state is WaitState.WAITING
    revoked.holds = False
    waits.wake_refused()
    assert await blocked is WaitState.REFUSED and theirs.state is WaitState.WAITING
    waits.job_final(_job())  # the answer comes too late for the refused one
    assert mine.job is None and theirs.state is WaitState.ANSWERED


async def test_a_wait_removed_while_waiting_left_and_a_settled_one_stays_settled() -> None:
    waits = ResultWaiters()
    left = waits.add("j1")
    waits.remove(left)
    assert left.state is WaitState.LEFT and not waits.wants("j1")
    answered = waits.add("j1")
    waits.job_final(_job())
    waits.remove(answered)
    assert answered.state is WaitState.ANSWERED


async def test_a_settled_wait_cannot_settle_again() -> None:
    wait = ResultWait("j1")
    wait.answer(_job())
    for again in (wait.refuse, wait.delete, wait.shut_down, wait.leave):
        with pytest.raises(IllegalWaitTransition):
            again()


async def test_a_timed_out_wait_is_forgotten_at_once_and_no_broadcast_trips_on_it() -> None:
    """A timed-out wait re-reads its job after it settled; its job may end meanwhile.
    Every broadcast then settles the others and passes it by."""
    for broadcast in ("job_final", "job_gone", "wake_refused", "close"):
        waits = ResultWaiters()
        token = Token()
        timed_out = waits.add("j1", token)
        _, blocked = await _blocked(waits, token=token)
        assert await timed_out.wait(0.001) is WaitState.TIMED_OUT
        assert len(waits) == 1  # forgotten in the step that settled it
        left = waits.add("j1", token)
        waits.remove(left)
        assert left.state is WaitState.LEFT and len(waits) == 1
        token.holds = False
        if broadcast == "job_final":
            waits.job_final(_job())
        elif broadcast == "job_gone":
            waits.job_gone("j1")
        else:
            getattr(waits, broadcast)()
        assert await blocked is not WaitState.WAITING, broadcast
        assert timed_out.state is WaitState.TIMED_OUT and left.state is WaitState.LEFT
        assert len(waits) == 0 and not waits.wants("j1")


async def test_every_settlement_forgets_the_wait_whichever_side_drove_it() -> None:
    waits = ResultWaiters()
    token = Token()
    settled = [waits.add(f"j{n}", token) for n in range(3)]
    settled[0].refuse()
    settled[1].leave()
    settled[2].answer(_job("j2"))
    assert len(waits) == 0 and waits.waiting() == []


async def test_a_caller_whose_token_lapsed_before_the_wait_began_is_refused_at_once() -> None:
    """No `wake_refused` can find a wait that was not there when the token lapsed."""
    waits = ResultWaiters()
    lapsed = Token()
    lapsed.holds = False
    wait = waits.add("j1", lapsed)
    assert wait.state is WaitState.REFUSED and not waits.wants("j1")
    waits.job_final(_job())  # its job ends: nothing reaches the refused wait
    assert await wait.wait(60.0) is WaitState.REFUSED and wait.job is None


async def test_a_wait_refuses_itself_when_its_token_lapsed_before_it_began_waiting() -> None:
    waits = ResultWaiters()
    token = Token()
    wait = waits.add("j1", token)
    token.holds = False  # lapsed, and nobody told the waiters yet
    assert await asyncio.wait_for(wait.wait(60.0), 5) is WaitState.REFUSED
    assert not waits.wants("j1")


async def test_a_job_ending_while_a_timed_out_wait_re_reads_it_is_reported_and_answered(
    service: JobService,
) -> None:
    """The report commits and answers 200; the timed-out wait answers what it re-read,
    and another wait on the same job gets the final job."""
    job = await service.enqueue(NewJob("q"), T0)
    [taken] = await service.take(["q"], T0)
    read, rereading, go_on = service.get, asyncio.Event(), asyncio.Event()
    reads = 0

    async def slow_reread(job_id: str) -> Job:
        nonlocal reads
        reads += 1
        if reads == 2:  # its wait timed out and it re-reads: the job ends now
            rereading.set()
            await go_on.wait()
        return await read(job_id)

    service.get = slow_reread  # type: ignore[method-assign]
    short = asyncio.create_task(service.wait_result(job.id, 0.01))
    await asyncio.wait_for(rereading.wait(), 5)
    service.get = read  # type: ignore[method-assign]
    results = service.signals.results
    assert len(results) == 0  # the timed-out wait is no longer registered
    long = asyncio.create_task(service.wait_result(job.id, 60.0))
    await asyncio.sleep(0)
    assert results.wants(job.id)
    done = await service.report(job.id, Report(JobStatus.DONE, lease=taken.lease), T0 + 1)
    assert done.status is JobStatus.DONE
    assert (await asyncio.wait_for(long, 5)).status is JobStatus.DONE
    go_on.set()
    assert (await asyncio.wait_for(short, 5)).status is JobStatus.DONE
    assert len(results) == 0
    results.close()  # shutdown, too, passes a settled wait by


async def test_the_service_does_not_wait_for_a_caller_whose_token_lapsed_before_it_began(
    service: JobService,
) -> None:
    job = await service.enqueue(NewJob("q"), T0)
    lapsed = Token()
    lapsed.holds = False
    answered = await asyncio.wait_for(service.wait_result(job.id, 60.0, lapsed), 5)
    assert answered.status is JobStatus.QUEUED and len(service.signals.results) == 0


async def test_a_take_whose_riding_reports_raise_after_the_commit_gives_its_jobs_back(
    service: JobService,
) -> None:
    """Whatever goes wrong after the claim committed, the claimed jobs go back at once
    (uncounted), not when their lease runs out."""
    reported = await service.enqueue(NewJob("q"), T0)
    [taken] = await service.take(["q"], T0)
    waiting = await service.enqueue(NewJob("q"), T0)

    def broken(job: Job) -> None:
        raise RuntimeError("a bug in what follows a change")

    service.after_change = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await service.report_and_take(
            [(reported.id, Report(JobStatus.DONE, lease=taken.lease))], ["q"], T0 + 1
        )
    del service.after_change  # the release's own wake-ups go through again
    await service.drain()
    back = await service.get(waiting.id)
    assert back.status is JobStatus.QUEUED and back.attempts == 0
    assert (await service.get(reported.id)).status is JobStatus.DONE


async def test_a_plain_take_that_raises_after_its_claim_committed_gives_its_job_back(
    service: JobService,
) -> None:
    job = await service.enqueue(NewJob("q"), T0)
    publish = service.signals.events.publish

    def broken(job: Job) -> None:
        raise RuntimeError("a bug in what follows a claim")

    service.signals.events.publish = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await service.take(["q"], T0)
    service.signals.events.publish = publish  # type: ignore[method-assign]
    await service.drain()
    back = await service.get(job.id)
    assert back.status is JobStatus.QUEUED and back.attempts == 0


async def test_the_service_answers_a_refused_wait_with_the_job_as_first_read(
    service: JobService,
) -> None:
    job = await service.enqueue(NewJob("q"), T0)
    token = Token()
    waiting = asyncio.create_task(service.wait_result(job.id, 60.0, token))
    await asyncio.sleep(0)  # registered before its first read
    assert service.signals.results.wants(job.id)
    token.holds = False
    service.signals.standing_changed()
    answered = await asyncio.wait_for(waiting, 5)
    assert answered == job and not service.signals.results.wants(job.id)


# -- an event stream ------------------------------------------------------------------


async def test_a_stream_streams_until_closed_then_drains_and_ends() -> None:
    feed = EventFeed()
    sub = feed.subscribe()
    assert sub.state is StreamState.STREAMING
    feed.publish(_job())
    feed.close()
    assert sub.state is StreamState.CLOSED and not sub.ended
    assert await sub.next(60.0) == _job()
    assert sub.ended and await sub.next(60.0) is None


async def test_lost_events_put_it_behind_until_the_reader_resyncs() -> None:
    feed = EventFeed()
    sub = feed.subscribe()
    feed.publish(_job("j1"))
    feed.lost()
    feed.lost()  # one gap marks the place once
    feed.publish(_job("j2"))
    assert sub.state is StreamState.BEHIND
    assert await sub.next(1.0) == _job("j1")
    with pytest.raises(Missed):
        await sub.next(1.0)
    assert sub.state is StreamState.STREAMING
    assert await sub.next(1.0) == _job("j2")


async def test_a_reader_too_far_behind_is_dropped_for_good() -> None:
    feed = EventFeed(limit=1)
    sub = feed.subscribe()
    feed.publish(_job("j1"))
    feed.publish(_job("j2"))
    assert sub.state is StreamState.DROPPED and not sub.buffer
    feed.lost()
    feed.close()  # nothing moves a dropped stream
    assert sub.state is StreamState.DROPPED
    with pytest.raises(Dropped):
        await sub.next(1.0)


async def test_a_lapsed_token_refuses_its_stream_at_once_and_frees_its_buffer() -> None:
    feed = EventFeed()
    token = Token()
    sub, other = feed.subscribe(may_read=token), feed.subscribe()
    feed.publish(_job())
    reading = asyncio.create_task(other.next(60.0))
    token.holds = False
    feed.wake_refused()
    assert sub.state is StreamState.REFUSED and not sub.buffer
    with pytest.raises(Refused):
        await sub.next(60.0)
    assert await reading == _job() and other.state is StreamState.STREAMING


async def test_the_reader_refuses_itself_before_an_event_once_its_token_lapsed() -> None:
    """Between the lapse and the feed hearing of it, nothing gets through."""
    feed = EventFeed()
    token = Token()
    sub = feed.subscribe(may_read=token)
    feed.publish(_job())
    token.holds = False
    with pytest.raises(Refused):
        await sub.next(60.0)
    assert sub.state is StreamState.REFUSED


async def test_a_blocked_reader_wakes_when_refused() -> None:
    feed = EventFeed()
    token = Token()
    sub = feed.subscribe(queues=["q"], may_read=token)
    reading = asyncio.create_task(sub.next(60.0))
    await asyncio.sleep(0)
    token.holds = False
    feed.wake_refused()
    with pytest.raises(Refused):
        await asyncio.wait_for(reading, 5)


async def test_illegal_stream_transitions_are_refused() -> None:
    sub = EventFeed().subscribe()
    with pytest.raises(IllegalStreamTransition):
        sub._move("resync", StreamState.STREAMING)  # not behind
    sub.close()
    with pytest.raises(IllegalStreamTransition):
        sub._move("miss", StreamState.BEHIND)


# -- one call reaches every kind of waiter -----------------------------------------------


async def test_standing_changed_reaches_takers_result_waits_and_streams() -> None:
    signals = Signals()
    token = Token()
    taker = signals.takers.add(["q"], may_take=token)
    blocked = asyncio.create_task(taker.wait())
    wait = signals.results.add("j1", token)
    sub = signals.events.subscribe(may_read=token)
    await asyncio.sleep(0)
    token.holds = False
    signals.standing_changed()
    await asyncio.wait_for(blocked, 5)
    assert taker.state is TakerState.WOKEN and taker.queue_token is None
    assert wait.state is WaitState.REFUSED and sub.state is StreamState.REFUSED


# -- a token's expiry is timed, not found at the next wake-up ---------------------------


class _Tokens:
    """A token store holding fixed tokens."""

    def __init__(self, *tokens: AToken) -> None:
        self.tokens = list(tokens)

    async def load_tokens(self) -> tuple[int, list[AToken]]:
        return 1, self.tokens

    async def token_version(self) -> int:
        return 1


def _token(name: str, expires_at: float | None) -> AToken:
    return AToken(name, Role.WORKER, None, T0, expires_at, hash_secret(name))


async def test_the_refresher_sleeps_until_the_next_expiry_and_announces_it() -> None:
    auth = AuthService(_Tokens(_token("a", T0 + 0.2), _token("b", T0 + 0.3), _token("c", None)))
    lapses: list[str] = []
    refresher = TokenRefresher(auth, lambda: lapses.append("lapse"))
    auth.on_standing_changed = refresher.standing_changed
    await auth.reload()
    assert lapses == ["lapse"] and auth.next_expiry() == T0 + 0.2
    assert await refresher.run_once(T0) == T0 + 0.2  # sooner than the half-second check
    assert lapses == ["lapse"]  # nothing expired yet
    assert await refresher.run_once(T0 + 0.2) == T0 + 0.3
    assert lapses == ["lapse"] * 2  # "a" expired: its waiters are told, at its expiry
    assert await refresher.run_once(T0 + 0.25) == T0 + 0.3
    assert lapses == ["lapse"] * 2  # nothing expired between
    assert await refresher.run_once(T0 + 0.3) == T0 + 0.3 + REFRESH_INTERVAL
    assert lapses == ["lapse"] * 3 and auth.next_expiry() is None


async def test_an_expiry_refuses_the_expired_tokens_waiters_through_the_cache() -> None:
    auth = AuthService(_Tokens(_token("a", T0 + 1)))
    signals = Signals()
    auth.on_standing_changed = signals.standing_changed
    await auth.reload()
    now = T0
    caller = await auth.authenticate("Bearer a", now)
    wait = signals.results.add("j1", lambda: auth.is_current(caller, now))
    auth.expire(T0)
    assert wait.state is WaitState.WAITING
    now = T0 + 1
    auth.expire(now)
    assert wait.state is WaitState.REFUSED


# -- a revocation racing a claim (docs/security.md) ---------------------------------------


async def test_a_claim_under_way_when_the_token_is_revoked_still_answers_its_job(
    service: JobService,
) -> None:
    """The decided race: the take checked its token before it looked; the claim it
    started completes, and its job is handed out under a lease, not lost."""
    job = await service.enqueue(NewJob("q"), T0)
    token = Token()
    taking = asyncio.create_task(service.take(["q"], T0, block=30, may_take=token))
    await asyncio.sleep(0)  # it checked its token; its claim is with the store
    token.holds = False
    service.signals.standing_changed()
    [taken] = await asyncio.wait_for(taking, 5)
    assert taken.id == job.id and taken.status is JobStatus.RUNNING and taken.lease

