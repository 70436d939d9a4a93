"""X-Accepted-Callback-URL: the job JSON is POSTed to a real receiver once the job is
final, outside the request that finished it, retried until a 2xx answer or the limit.
"""

from __future__ import annotations

import httpx
import pytest

from tests.http.conftest import StartServer
from tests.http.helpers import (
    PROMPT,
    CallbackReceiver,
    JobJSON,
    enqueue,
    get,
    note_latency,
    report,
    take,
    timestamp,
    until,
)
from tests.support.servers import free_port


def _finish(api: httpx.Client, q: str, url: str, status: str, result: object) -> JobJSON:
    """Enqueue a job with a callback to `url`, take it and report it final."""
    job = enqueue(api, q, callback_url=url)
    assert take(api, q) is not None
    response = report(api, job["id"], status, result)
    assert response.status_code == 200
    finished: JobJSON = response.json()
    return finished


def test_a_callback_is_pending_until_the_job_is_final(
    api: httpx.Client, q: str, receiver: CallbackReceiver
) -> None:
    job = enqueue(api, q, callback_url=receiver.url)
    callback = get(api, job["id"])["callback"]
    assert callback["url"] == receiver.url
    assert callback["state"] != "delivered" and callback["attempts"] == 0
    assert receiver.deliveries == []


@pytest.mark.parametrize("status", ["done", "failed"])
@pytest.mark.documents("decision-lease-token")
def test_the_final_job_is_posted_within_a_second(
    api: httpx.Client, q: str, receiver: CallbackReceiver, status: str
) -> None:
    finished = _finish(api, q, receiver.url, status, {"out": [1, 2]})
    (delivery,) = receiver.wait_for(1)
    finished_at = timestamp(finished["finished_at"])  # the server's clock is ours
    note_latency(f"callback POST after PUT {status}", delivery.at - finished_at)
    assert delivery.at - finished_at < 1.0 + PROMPT / 2
    assert delivery.path == "/hook"
    assert delivery.headers["x-accepted-job-id"] == finished["id"]
    assert delivery.headers["content-type"].startswith("application/json")
    body = delivery.body
    assert (body["id"], body["status"], body["result"]) == (finished["id"], status, {"out": [1, 2]})
    assert "lease" not in body
    delivered = until(lambda: (j := get(api, finished["id"]))["callback"]["state"] == "delivered"
                      and j)
    assert delivered["callback"]["attempts"] == 1
    assert delivered["callback"]["last_error"] is None


def test_a_non_2xx_answer_is_retried_and_recorded(
    api: httpx.Client, q: str, receiver: CallbackReceiver
) -> None:
    receiver.answers = [503]
    finished = _finish(api, q, receiver.url, "done", "r")
    first, = receiver.wait_for(1)
    pending = until(lambda: (j := get(api, finished["id"]))["callback"]["attempts"] == 1 and j)
    assert pending["callback"]["state"] == "pending"
    assert "503" in pending["callback"]["last_error"]
    assert pending["callback"]["next_attempt_at"] is not None
    second = receiver.wait_for(2)[1]
    assert second.at > first.at  # a backoff, then again
    assert second.headers["x-accepted-job-id"] == finished["id"]
    delivered = until(lambda: (j := get(api, finished["id"]))["callback"]["state"] == "delivered"
                      and j)
    assert delivered["callback"]["attempts"] == 2


def test_callbacks_are_posted_outside_the_finishing_request(
    api: httpx.Client, q: str, receiver: CallbackReceiver
) -> None:
    receiver.hold = True  # the receiver sits on the POST until released
    finished = _finish(api, q, receiver.url, "done", 1)  # answered meanwhile
    assert receiver.holding.wait(10)
    assert get(api, finished["id"])["status"] == "done"
    receiver.release.set()
    receiver.wait_for(1)


def test_a_job_timeout_triggers_the_callback(
    api: httpx.Client, q: str, receiver: CallbackReceiver
) -> None:
    job = enqueue(api, q, callback_url=receiver.url, job_timeout=0.3)
    (delivery,) = receiver.wait_for(1)
    assert (delivery.body["id"], delivery.body["status"]) == (job["id"], "failed")
    assert "timeout" in delivery.body["error"].lower()


def test_an_exhausted_lease_triggers_the_callback(
    api: httpx.Client, q: str, receiver: CallbackReceiver
) -> None:
    job = enqueue(api, q, callback_url=receiver.url, max_attempts=1)
    take(api, q, timeout=0.3)
    (delivery,) = receiver.wait_for(1)
    assert (delivery.body["id"], delivery.body["status"]) == (job["id"], "failed")


def test_a_callback_is_given_up_after_the_retry_limit(
    start_server: StartServer, receiver: CallbackReceiver
) -> None:
    server = start_server(ACCEPTED_CALLBACK_RETRIES="2")
    receiver.answers = [500, 500, 500]
    with httpx.Client(base_url=server.url) as client:
        finished = _finish(client, "q", receiver.url, "done", None)
        receiver.wait_for(2)
        gave_up = until(
            lambda: (j := get(client, finished["id"]))["callback"]["state"] == "gave_up" and j
        )
    assert gave_up["callback"]["attempts"] == 2
    assert "500" in gave_up["callback"]["last_error"]


def test_an_unreachable_receiver_is_recorded_as_the_error(start_server: StartServer) -> None:
    server = start_server(ACCEPTED_CALLBACK_RETRIES="1")
    nobody = f"http://127.0.0.1:{free_port()}/hook"
    with httpx.Client(base_url=server.url) as client:
        finished = _finish(client, "q", nobody, "failed", "x")
        gave_up = until(
            lambda: (j := get(client, finished["id"]))["callback"]["state"] == "gave_up" and j
        )
    assert gave_up["callback"]["attempts"] == 1
    assert gave_up["callback"]["last_error"]
    assert gave_up["status"] == "failed"  # the job itself is untouched by the delivery


@pytest.mark.documents("decision-ttl-callback")
def test_a_job_past_its_result_ttl_is_kept_while_its_callback_is_pending(
    api: httpx.Client, q: str, receiver: CallbackReceiver
) -> None:
    receiver.hold = True  # the delivery stays in flight until released
    job = enqueue(api, q, callback_url=receiver.url, result_ttl=0)
    assert take(api, q) is not None
    assert report(api, job["id"], "done", "kept").status_code == 200
    assert receiver.holding.wait(10)
    kept = get(api, job["id"])  # its TTL of 0 has passed, but the callback is pending
    assert (kept["result"], kept["callback"]["state"]) == ("kept", "pending")
    receiver.release.set()
    receiver.wait_for(1)
    until(lambda: api.get(f"/jobs/{job['id']}").status_code == 404)  # removed once delivered


@pytest.mark.documents("delete-200")
def test_a_deleted_job_gets_no_callback(
    api: httpx.Client, q: str, receiver: CallbackReceiver
) -> None:
    cancelled = enqueue(api, q, callback_url=receiver.url)
    assert take(api, q) is not None
    assert api.delete(f"/jobs/{cancelled['id']}").json()["status"] == "cancelled"
    finished = _finish(api, q, receiver.url, "done", 1)
    (delivery,) = receiver.wait_for(1)
    assert delivery.body["id"] == finished["id"]
    until(lambda: get(api, finished["id"])["callback"]["state"] == "delivered")
    assert [d.body["id"] for d in receiver.deliveries] == [finished["id"]]
