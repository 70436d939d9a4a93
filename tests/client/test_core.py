"""The client's core without a socket: requests as built, answers as read, retry rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from accepted import errors
from accepted.client import core
from accepted.client.errors import (
    RequestTimeout,
    ServerError,
    TransportError,
    UnexpectedResponse,
)
from accepted.client.models import Job, NewJob
from accepted.types import JobStatus

JOB = {
    "id": "7f1c7b0e-3a43-4f7e-9a57-2d0b1e0b6f10",
    "queue": "q",
    "status": "running",
    "priority": 1,
    "params": {"a": 1},
    "result": None,
    "attempts": 1,
    "max_attempts": 5,
    "created_at": "2026-01-02T03:04:05.123456Z",
    "updated_at": "2026-01-02T03:04:06Z",
    "due_at": "2026-01-02T03:04:05.123456Z",
    "lease_expires_at": None,
    "timeout": None,
    "deadline_at": None,
    "result_ttl": None,
    "expires_at": None,
    "finished_at": None,
    "error": None,
    "callback": None,
    "lease": "abc",
    "some_future_field": 1,
}


def answer(status: int, body: object = None, **headers: str) -> core.Answer:
    content = b"" if body is None else json.dumps(body).encode()
    return core.Answer(status, headers, content)


def error_answer(status: int, code: str, message: str = "m", **headers: str) -> core.Answer:
    return answer(status, {"error": {"code": code, "message": message}}, **headers)


def taken_job() -> Job:
    return core.read_job(200)(answer(200, JOB))


def test_a_job_is_read_with_times_and_json_values_and_unknown_fields_ignored() -> None:
    job = taken_job()
    assert job.status is JobStatus.RUNNING
    assert job.params == {"a": 1}
    assert job.created_at == datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert job.lease == "abc"
    assert not job.is_final
    assert job.to_dict()["created_at"] == "2026-01-02T03:04:05.123456Z"


def test_enqueue_puts_options_in_headers_and_omits_what_is_not_given() -> None:
    call = core.enqueue("q", {"x": 1}, priority=0, delay=1.5, job_timeout=10, max_attempts=2)
    assert (call.method, call.path) == ("POST", "/jobs")
    assert call.headers["x-accepted-priority"] == "0"
    assert call.headers["x-accepted-delay"] == "1.5"
    assert call.headers["x-accepted-job-timeout"] == "10"
    assert call.headers["x-accepted-max-attempts"] == "2"
    assert "x-accepted-result-ttl" not in call.headers
    assert "x-accepted-callback-url" not in call.headers
    assert json.loads(call.body or b"") == {"queue": "q", "params": {"x": 1}}
    assert call.retry is core.Retry.UNSENT


def test_enqueue_without_params_leaves_them_to_the_server_but_sends_an_explicit_null() -> None:
    assert json.loads(core.enqueue("q").body or b"") == {"queue": "q"}
    assert json.loads(core.enqueue("q", None).body or b"") == {"queue": "q", "params": None}


def test_enqueue_many_sends_one_array_item_per_job() -> None:
    call = core.enqueue_many([NewJob("a", [1], priority=0), {"queue": "b"}, NewJob("c")])
    assert json.loads(call.body or b"") == [
        {"queue": "a", "params": [1], "priority": 0},
        {"queue": "b"},
        {"queue": "c"},
    ]
    with pytest.raises(ValueError):
        core.enqueue_many([])


def test_get_with_a_wait_holds_the_read_timeout_open_for_it() -> None:
    call = core.get("some id", wait=2.5)
    assert call.path == "/jobs/some%20id"
    assert call.headers == {"x-accepted-wait-result": "2.5"}
    assert call.hold == 2.5
    assert call.retry is core.Retry.ALWAYS
    assert core.get("x").headers == {}


def test_take_names_queues_in_the_query_and_is_never_retried() -> None:
    call = core.take(["a", "b"], block=30, lease=5)
    assert call.query == (("queue", "a"), ("queue", "b"))
    assert call.headers == {"x-accepted-block-for": "30", "x-accepted-timeout": "5"}
    assert call.retry is core.Retry.NEVER
    assert core.take("a").query == (("queue", "a"),)
    assert core.take().query == ()
    assert core.take(count=3).headers["x-accepted-count"] == "3"


def test_a_take_answered_204_is_no_job() -> None:
    assert core.take().read(answer(204)) is None
    assert core.take().read(answer(200, JOB)).id == JOB["id"]
    assert core.take(count=2).read(answer(200, [JOB, JOB]))[1].id == JOB["id"]


def test_reports_carry_the_lease_token_and_a_heartbeat_keeps_it() -> None:
    job = taken_job()
    done = core.report(job, JobStatus.DONE, {"r": 1})
    assert done.method == "PUT" and done.path == f"/jobs/{job.id}"
    assert done.headers["x-accepted-lease"] == "abc"
    assert json.loads(done.body or b"") == {"status": "done", "result": {"r": 1}}
    beat = core.report(job, JobStatus.RUNNING, lease=9)
    assert beat.headers["x-accepted-timeout"] == "9"
    without_lease = {**JOB, "lease": None}
    assert beat.read(answer(200, without_lease)).lease == "abc"


@pytest.mark.parametrize("cls", list(core.SERVER_ERRORS.values()))
def test_every_server_error_code_is_raised_as_the_servers_own_class(
    cls: type[errors.AcceptedError],
) -> None:
    error = core.error_from(error_answer(cls.status, cls.code, "why", allow="GET, PUT"))
    assert type(error) is cls
    assert (error.code, error.status, error.message) == (cls.code, cls.status, "why")
    if isinstance(error, errors.MethodNotAllowed):
        assert error.allow == ("GET", "PUT")


def test_an_unknown_code_maps_to_its_statuss_family_and_keeps_its_code() -> None:
    error = core.error_from(error_answer(409, "brand_new"))
    assert type(error) is errors.Conflict and error.code == "brand_new"
    other = core.error_from(error_answer(502, "gateway"))
    assert isinstance(other, ServerError) and (other.status, other.code) == (502, "gateway")


def test_an_error_answer_that_is_not_json_is_still_an_error() -> None:
    error = core.error_from(core.Answer(502, {}, b"<html>bad gateway</html>"))
    assert isinstance(error, ServerError) and error.status == 502
    assert "bad gateway" in error.message


def test_an_unreadable_success_answer_is_unexpected() -> None:
    with pytest.raises(UnexpectedResponse):
        core.get("x").read(core.Answer(200, {}, b"not json"))
    with pytest.raises(UnexpectedResponse):
        core.get("x").read(answer(201, JOB))


def test_retries_follow_each_calls_safety() -> None:
    policy = core.RetryPolicy(retries=2, backoff=0.1)
    refused = httpx.ConnectError("refused")
    broken = httpx.ReadError("reset")
    get, enqueue, take = core.get("x"), core.enqueue("q"), core.take()
    assert policy.delay(get, 0, error=broken) is not None
    assert policy.delay(enqueue, 0, error=refused) is not None
    assert policy.delay(enqueue, 0, error=broken) is None  # it may have been enqueued
    assert policy.delay(enqueue, 0, status=503) is not None
    assert policy.delay(enqueue, 0, status=500) is None
    assert policy.delay(take, 0, error=refused) is None
    assert policy.delay(take, 0, status=503) is None
    assert policy.delay(get, 2, status=503) is None  # out of retries


def test_backoff_doubles_with_jitter_up_to_its_cap() -> None:
    policy = core.RetryPolicy(retries=10, backoff=0.1, max_backoff=0.5)
    delays = [policy.delay(core.get("x"), n, status=503) for n in range(5)]
    assert 0.05 <= (delays[0] or 0) <= 0.1
    assert 0.1 <= (delays[1] or 0) <= 0.2
    assert all(0.25 <= (d or 0) <= 0.5 for d in delays[3:])


def test_transport_failures_become_client_errors() -> None:
    assert isinstance(core.transport_error(core.get("x"), httpx.ReadTimeout("t")), RequestTimeout)
    error = core.transport_error(core.get("x"), httpx.ConnectError("refused"))
    assert type(error) is TransportError and "GET /jobs/x" in error.message
    assert isinstance(RequestTimeout("t"), TimeoutError)


def test_a_wait_plan_asks_in_chunks_until_its_deadline() -> None:
    plan = core.WaitPlan(timeout=100.0, started=1000.0)
    assert plan.next_wait(1000.0) == core.WAIT_CHUNK
    assert plan.next_wait(1090.0) == pytest.approx(10.0)
    assert not plan.expired(1099.0) and plan.expired(1100.0)
    forever = core.WaitPlan(timeout=None, started=0.0)
    assert forever.next_wait(1e9) == core.WAIT_CHUNK and not forever.expired(1e9)
    assert core.WaitPlan.pause(asked=60, took=0.01) > 0
    assert core.WaitPlan.pause(asked=60, took=59) == 0


def test_an_enqueue_with_an_idempotency_key_sends_it_and_may_be_resent() -> None:
    call = core.enqueue("q", idempotency_key="order-17")
    assert call.headers["idempotency-key"] == "order-17"
    assert call.retry is core.Retry.ALWAYS  # a resend is answered with the first job
    keyed = core.enqueue_many(
        [NewJob("a", idempotency_key="a1"), {"queue": "b", "idempotency_key": "b1"}]
    )
    assert [item["idempotency_key"] for item in json.loads(keyed.body or b"")] == ["a1", "b1"]
    assert keyed.retry is core.Retry.ALWAYS
    assert (
        core.enqueue_many([NewJob("a", idempotency_key="a1"), NewJob("b")]).retry
        is core.Retry.UNSENT
    )
