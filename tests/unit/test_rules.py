"""The state machine's rules, called directly: no clock, no storage."""

from __future__ import annotations

import random

import msgspec
import pytest

from accepted.errors import Conflict, JobTimedOut, LeaseMismatch
from accepted.service import rules
from accepted.types import JSON_EMPTY_OBJECT, CallbackState, Job, JobStatus

T0 = 1_000_000.0


def job(**changes: object) -> Job:
    base = Job(
        id="j1",
        queue="q",
        status=JobStatus.RUNNING,
        priority=1,
        params=JSON_EMPTY_OBJECT,
        attempts=1,
        max_attempts=3,
        created_at=T0,
        updated_at=T0,
        due_at=T0,
        lease="L1",
        lease_expires_at=T0 + 30,
    )
    return msgspec.structs.replace(base, **changes)


RESULT = msgspec.Raw(b'{"ok":true}')


def test_complete_makes_the_job_final_with_its_result() -> None:
    done = rules.complete(job(), JobStatus.DONE, RESULT, "L1", T0 + 1)
    assert done.status is JobStatus.DONE
    assert bytes(done.result) == b'{"ok":true}'
    assert done.finished_at == T0 + 1
    assert done.lease is None and done.lease_expires_at is None


def test_complete_without_a_lease_is_accepted() -> None:
    assert rules.complete(job(), JobStatus.FAILED, RESULT, None, T0).status is JobStatus.FAILED


def test_a_stale_lease_is_refused() -> None:
    with pytest.raises(LeaseMismatch):
        rules.complete(job(), JobStatus.DONE, RESULT, "old", T0)


@pytest.mark.parametrize(
    "status", [JobStatus.QUEUED, JobStatus.DELAYED, JobStatus.DONE, JobStatus.FAILED]
)
def test_only_a_running_job_can_be_reported_on(status: JobStatus) -> None:
    with pytest.raises(Conflict):
        rules.complete(job(status=status), JobStatus.DONE, RESULT, None, T0)


def test_a_report_after_the_job_timeout_is_refused() -> None:
    with pytest.raises(JobTimedOut):
        rules.complete(job(deadline_at=T0 + 5), JobStatus.DONE, RESULT, None, T0 + 5)


def test_result_ttl_sets_the_removal_time() -> None:
    done = rules.complete(job(result_ttl=60.0), JobStatus.DONE, RESULT, None, T0)
    assert done.expires_at == T0 + 60


def test_a_final_job_with_a_callback_has_it_pending_at_once() -> None:
    done = rules.complete(
        job(callback_url="http://x/", callback_state=CallbackState.WAITING),
        JobStatus.DONE,
        RESULT,
        None,
        T0,
    )
    assert done.callback_state is CallbackState.PENDING
    assert done.callback_next_at == T0


def test_heartbeat_starts_the_lease_afresh() -> None:
    beat = rules.heartbeat(job(), "L1", 10.0, T0 + 20)
    assert beat.status is JobStatus.RUNNING
    assert beat.lease_expires_at == T0 + 30


def test_heartbeat_without_a_length_keeps_the_lease_length() -> None:
    beat = rules.heartbeat(job(), "L1", None, T0 + 20)  # the lease was 30 s
    assert beat.lease_expires_at == T0 + 50
    again = rules.heartbeat(beat, None, None, T0 + 45)
    assert again.lease_expires_at == T0 + 75


def test_give_back_requeues_keeping_the_due_time() -> None:
    back = rules.give_back(job(), "L1", T0 + 5)
    assert back.status is JobStatus.QUEUED
    assert back.due_at == T0 and back.lease is None


def test_give_back_on_the_last_attempt_fails_the_job() -> None:
    failed = rules.give_back(job(attempts=3), None, T0)
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None and "last allowed attempt" in failed.error


def test_lease_expiry_requeues_and_then_fails_on_the_last_attempt() -> None:
    assert rules.expire_lease(job(), T0 + 29) is None
    back = rules.expire_lease(job(), T0 + 30)
    assert back is not None and back.status is JobStatus.QUEUED
    last = rules.expire_lease(job(attempts=3), T0 + 30)
    assert last is not None and last.status is JobStatus.FAILED
    assert last.error is not None and "lease expired" in last.error


def test_lease_expiry_ignores_jobs_no_longer_running() -> None:
    assert rules.expire_lease(job(status=JobStatus.DONE), T0 + 99) is None


def test_promote_queues_a_delayed_job_once_due() -> None:
    delayed = job(status=JobStatus.DELAYED, due_at=T0 + 10, lease=None, lease_expires_at=None)
    assert rules.promote(delayed, T0 + 9.9) is None
    promoted = rules.promote(delayed, T0 + 10)
    assert promoted is not None and promoted.status is JobStatus.QUEUED


def test_time_out_fails_an_unfinished_job_at_its_deadline() -> None:
    late = job(status=JobStatus.QUEUED, timeout=5.0, deadline_at=T0 + 5)
    assert rules.time_out(late, T0 + 4) is None
    failed = rules.time_out(late, T0 + 5)
    assert failed is not None and failed.status is JobStatus.FAILED
    assert failed.error is not None and "timeout" in failed.error


def test_time_out_leaves_final_jobs_alone() -> None:
    assert rules.time_out(job(status=JobStatus.DONE, deadline_at=T0), T0 + 1) is None


def test_release_undoes_a_hand_out_without_counting_it() -> None:
    released = rules.release(job(attempts=2), "L1", T0)
    assert released is not None
    assert released.status is JobStatus.QUEUED and released.attempts == 1
    assert rules.release(job(), "other", T0) is None


def pending(**changes: object) -> Job:
    return job(
        status=JobStatus.DONE,
        callback_url="http://x/",
        callback_state=CallbackState.PENDING,
        callback_next_at=T0,
        **changes,
    )


def test_hold_callback_hides_it_for_the_hold() -> None:
    held = rules.hold_callback(pending(), T0, hold=25.0)
    assert held is not None and held.callback_next_at == T0 + 25
    assert rules.hold_callback(held, T0 + 1, hold=25.0) is None


def test_callback_failures_back_off_exponentially_then_give_up() -> None:
    rng = random.Random(1)
    current = pending()
    delays = []
    for _ in range(3):
        nxt = rules.callback_failed(current, T0, "HTTP 500", retries=4, rng=rng)
        assert nxt is not None and nxt.callback_state is CallbackState.PENDING
        assert nxt.callback_next_at is not None
        delays.append(nxt.callback_next_at - T0)
        current = nxt
    assert 1.0 <= delays[0] <= 1.25 and 2.0 <= delays[1] <= 2.5 and 4.0 <= delays[2] <= 5.0
    gave_up = rules.callback_failed(current, T0, "HTTP 500", retries=4, rng=rng)
    assert gave_up is not None and gave_up.callback_state is CallbackState.GAVE_UP
    assert gave_up.callback_attempts == 4 and gave_up.callback_last_error == "HTTP 500"


def test_callback_delivered_is_recorded() -> None:
    done = rules.callback_delivered(pending(callback_last_error="HTTP 500"), T0)
    assert done is not None and done.callback_state is CallbackState.DELIVERED
    assert done.callback_attempts == 1 and done.callback_last_error is None


# -- cancel and retry (POST /jobs/{id}/cancel, /retry) ---------------------------


@pytest.mark.parametrize("status", [JobStatus.DELAYED, JobStatus.QUEUED, JobStatus.RUNNING])
def test_cancel_stops_a_job_that_is_not_final(status: JobStatus) -> None:
    cancelled = rules.cancel(job(status=status, result_ttl=60.0), T0 + 5)
    assert cancelled.status is JobStatus.CANCELLED and cancelled.is_final
    assert (cancelled.finished_at, cancelled.updated_at, cancelled.expires_at) == (
        T0 + 5,
        T0 + 5,
        T0 + 65,
    )
    assert cancelled.lease is None and cancelled.lease_expires_at is None


def test_a_cancelled_job_gets_no_callback_and_refuses_its_worker() -> None:
    running = job(callback_url="http://hook", callback_state=CallbackState.WAITING)
    cancelled = rules.cancel(running, T0 + 1)
    assert cancelled.callback_state is CallbackState.WAITING
    with pytest.raises(Conflict):
        rules.complete(cancelled, JobStatus.DONE, RESULT, "L1", T0 + 2)


@pytest.mark.parametrize("status", [JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED])
def test_a_final_job_cannot_be_cancelled(status: JobStatus) -> None:
    with pytest.raises(Conflict, match=str(status)):
        rules.cancel(job(status=status), T0)


@pytest.mark.parametrize("status", [JobStatus.FAILED, JobStatus.CANCELLED])
def test_retry_starts_a_failed_or_cancelled_job_over(status: JobStatus) -> None:
    final = job(
        status=status,
        result=RESULT,
        error="why",
        attempts=3,
        retries=4,
        retries_left=0,
        timeout=10.0,
        deadline_at=T0 + 10,
        finished_at=T0 + 1,
        result_ttl=5.0,
        expires_at=T0 + 6,
        lease=None,
        lease_expires_at=None,
        callback_url="http://hook",
        callback_state=CallbackState.DELIVERED,
        callback_attempts=2,
    )
    again = rules.retry(final, T0 + 100)
    assert again.status is JobStatus.QUEUED
    assert (again.attempts, bytes(again.result), again.error) == (0, b"null", None)
    assert again.retries_left == 4
    assert (again.due_at, again.deadline_at, again.updated_at) == (T0 + 100, T0 + 110, T0 + 100)
    assert (again.finished_at, again.expires_at) == (None, None)
    assert again.callback_state is CallbackState.WAITING and again.callback_attempts == 0


@pytest.mark.parametrize(
    "status", [JobStatus.DELAYED, JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.DONE]
)
def test_only_a_failed_or_cancelled_job_can_be_retried(status: JobStatus) -> None:
    with pytest.raises(Conflict, match=str(status)):
        rules.retry(job(status=status), T0)


# -- retries of failed jobs ----------------------------------------------------------


def retrying(**changes: object) -> Job:
    defaults: dict[str, object] = {
        "retries": 3,
        "retries_left": 3,
        "retry_backoff": 2.0,
        "max_attempts": 10,
    }
    return job(**{**defaults, **changes})


def test_a_failure_with_retries_left_waits_out_its_backoff() -> None:
    delayed = rules.complete(retrying(), JobStatus.FAILED, RESULT, "L1", T0 + 1, jitter=0.5)
    assert delayed.status is JobStatus.DELAYED
    assert delayed.due_at == T0 + 1 + 2.0  # jitter 0.5: exactly the backoff
    assert delayed.retries_left == 2
    assert bytes(delayed.result) == b'{"ok":true}'
    assert delayed.lease is None and delayed.lease_expires_at is None
    assert delayed.finished_at is None and delayed.error is None
    assert rules.promote(delayed, T0 + 2.9) is None
    promoted = rules.promote(delayed, T0 + 3)
    assert promoted is not None and promoted.status is JobStatus.QUEUED


@pytest.mark.parametrize(("left", "expected"), [(3, 2.0), (2, 4.0), (1, 8.0)])
def test_the_backoff_doubles_with_each_retry_used(left: int, expected: float) -> None:
    assert rules.backoff(retrying(retries_left=left), 3600.0, 0.5) == expected


@pytest.mark.parametrize(("jitter", "factor"), [(0.0, 0.5), (0.25, 0.75), (0.999, 1.499)])
def test_jitter_spreads_the_backoff_from_half_to_one_and_a_half(
    jitter: float, factor: float
) -> None:
    assert rules.backoff(retrying(), 3600.0, jitter) == pytest.approx(2.0 * factor)


def test_the_backoff_is_capped() -> None:
    assert rules.backoff(retrying(retries=100, retries_left=1), 30.0, 0.999) == 30.0
    assert rules.backoff(retrying(retries=100, retries_left=1, retry_backoff=1e9), 5.0, 0) == 5.0


def test_a_failure_without_retries_left_is_final() -> None:
    failed = rules.complete(retrying(retries_left=0), JobStatus.FAILED, RESULT, None, T0)
    assert failed.status is JobStatus.FAILED and failed.retries_left == 0


def test_retry_false_is_final_and_spends_no_retry() -> None:
    failed = rules.complete(retrying(), JobStatus.FAILED, RESULT, None, T0, retry=False)
    assert failed.status is JobStatus.FAILED and failed.retries_left == 3
    assert failed.error is None


def test_done_spends_no_retry() -> None:
    done = rules.complete(retrying(), JobStatus.DONE, RESULT, None, T0)
    assert done.status is JobStatus.DONE and done.retries_left == 3


def test_a_failure_on_the_last_allowed_attempt_is_final_whatever_retries_are_left() -> None:
    last = retrying(attempts=10)
    failed = rules.complete(last, JobStatus.FAILED, RESULT, None, T0)
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None and "10 of 10" in failed.error and "3 of 3" in failed.error


def test_lease_expiry_spends_no_retry() -> None:
    requeued = rules.expire_lease(retrying(lease_expires_at=T0), T0 + 1)
    assert requeued is not None and requeued.status is JobStatus.QUEUED
    assert requeued.retries_left == 3


def test_a_retry_past_the_job_timeout_times_out_while_delayed() -> None:
    delayed = rules.complete(
        retrying(timeout=5.0, deadline_at=T0 + 5), JobStatus.FAILED, RESULT, None, T0 + 1
    )
    assert delayed.status is JobStatus.DELAYED and delayed.deadline_at == T0 + 5
    timed_out = rules.time_out(delayed, T0 + 5)
    assert timed_out is not None and timed_out.status is JobStatus.FAILED


# -- dependencies ----------------------------------------------------------------------


def test_a_job_with_dependencies_waits_delayed() -> None:
    waiting = rules.wait_for_dependencies(job(status=JobStatus.QUEUED, lease=None), 2, T0)
    assert (waiting.status, waiting.waiting) == (JobStatus.DELAYED, 2)
    assert rules.promote(waiting, T0 + 3600) is None  # its time alone never queues it


def test_released_it_is_queued_at_once_or_at_its_own_due_time() -> None:
    waiting = job(status=JobStatus.DELAYED, lease=None, waiting=1, due_at=T0)
    now = rules.dependencies_done(waiting, T0 + 5)
    assert (now.status, now.waiting, now.due_at) == (JobStatus.QUEUED, 0, T0 + 5)
    later = rules.dependencies_done(msgspec.structs.replace(waiting, due_at=T0 + 60), T0 + 5)
    assert (later.status, later.waiting, later.due_at) == (JobStatus.DELAYED, 0, T0 + 60)
    assert rules.promote(later, T0 + 60) is not None


@pytest.mark.parametrize(
    ("how", "error"),
    [("failed", "dependency d1 failed"), ("deleted", "dependency d1 was deleted")],
)
def test_a_dependency_that_ends_otherwise_cancels_it_naming_the_dependency(
    how: str, error: str
) -> None:
    waiting = job(status=JobStatus.DELAYED, lease=None, waiting=1, result_ttl=10.0)
    cancelled = rules.dependency_ended(waiting, "d1", how, T0 + 1)
    assert (cancelled.status, cancelled.error, cancelled.waiting) == (JobStatus.CANCELLED, error, 0)
    assert cancelled.expires_at == T0 + 11
    retried = rules.retry(cancelled, T0 + 2)
    assert (retried.status, retried.waiting) == (JobStatus.QUEUED, 0)
