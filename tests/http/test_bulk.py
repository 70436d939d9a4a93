"""POST /jobs/bulk: retry, cancel or delete every job a filter selects."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.http.helpers import Background, assert_error, enqueue, get, report, settle, take


def bulk(api: httpx.Client, action: str, **where: Any) -> dict[str, int]:
    response = api.post("/jobs/bulk", json={"action": action, "filter": where})
    assert response.status_code == 200, response.text
    body: dict[str, int] = response.json()
    assert set(body) == {"matched", "changed"}
    return body


def finish(api: httpx.Client, q: str, status: str) -> dict[str, Any]:
    job = enqueue(api, q)
    taken = take(api, q)
    assert taken is not None and taken["id"] == job["id"]
    assert report(api, job["id"], status, "r").status_code == 200
    return job


@pytest.mark.documents("bulk-200", "bulk-changed")
def test_cancel_changes_jobs_not_final_and_counts_the_final_as_matched(
    api: httpx.Client, q: str, api_runner: Background
) -> None:
    done = finish(api, q, "done")
    queued = enqueue(api, q)
    delayed = enqueue(api, q, delay=60)
    waiting = api_runner.request("GET", f"/jobs/{queued['id']}",
                                 headers={"X-Accepted-Wait-Result": "30"})
    settle()
    assert bulk(api, "cancel", queue=[q]) == {"matched": 3, "changed": 2}
    assert get(api, queued["id"])["status"] == "cancelled"
    assert get(api, delayed["id"])["status"] == "cancelled"
    assert get(api, done["id"])["status"] == "done"
    assert waiting.result(timeout=10).response.json()["status"] == "cancelled"
    assert take(api, q) is None


@pytest.mark.documents("bulk-200", "bulk-changed")
def test_retry_queues_failed_and_cancelled_jobs_again(api: httpx.Client, q: str) -> None:
    failed = finish(api, q, "failed")
    finish(api, q, "done")
    cancelled = enqueue(api, q)
    assert api.post(f"/jobs/{cancelled['id']}/cancel").status_code == 200
    assert bulk(api, "retry", queue=[q]) == {"matched": 3, "changed": 2}
    for job in (failed, cancelled):
        again = get(api, job["id"])
        assert again["status"] == "queued" and again["attempts"] == 0
    assert bulk(api, "retry", queue=[q], status=["failed"]) == {"matched": 0, "changed": 0}


@pytest.mark.documents("bulk-200")
def test_delete_removes_what_the_filter_selects(api: httpx.Client, q: str) -> None:
    keep = enqueue(api, q, params={"keep": True})
    gone = [enqueue(api, q, params={"drop": i}) for i in range(3)]
    outcome = bulk(api, "delete", queue=[q], q='"drop"')
    assert outcome == {"matched": 3, "changed": 3}
    for job in gone:
        assert api.get(f"/jobs/{job['id']}").status_code == 404
    assert get(api, keep["id"])["status"] == "queued"
    ids = [gone[0]["id"], keep["id"]]
    assert bulk(api, "delete", ids=ids) == {"matched": 1, "changed": 1}


@pytest.mark.documents("bulk-200")
def test_all_means_every_job_and_other_conditions_still_apply(
    api: httpx.Client, q: str
) -> None:
    job = enqueue(api, q)
    outcome = bulk(api, "cancel", all=True, queue=[q])
    assert outcome == {"matched": 1, "changed": 1}
    assert get(api, job["id"])["status"] == "cancelled"


@pytest.mark.documents("bulk-400")
@pytest.mark.parametrize(
    "body",
    [
        {"action": "cancel", "filter": {}},
        {"action": "cancel", "filter": {"all": False}},
        {"action": "cancel"},
        {"action": "explode", "filter": {"all": True}},
        {"action": "cancel", "filter": {"queues": ["x"]}},
        {"action": "cancel", "filter": {"status": ["sleeping"]}},
        {"action": "cancel", "filter": {"queue": [""]}},
        {"action": "cancel", "filter": {"queue": "x"}},
        [],
    ],
    ids=["empty", "all-false", "no-filter", "bad-action", "unknown-field", "bad-status",
         "empty-queue", "queue-not-list", "not-object"],
)
def test_bad_bodies_and_empty_filters_are_refused(api: httpx.Client, body: Any) -> None:
    assert_error(api.post("/jobs/bulk", json=body), 400)


@pytest.mark.documents("bulk-400")
def test_an_empty_filter_says_how_to_mean_every_job(api: httpx.Client) -> None:
    response = api.post("/jobs/bulk", json={"action": "delete", "filter": {}})
    assert_error(response, 400, '"all": true')
