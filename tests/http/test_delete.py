"""DELETE /jobs/<id>: the job is gone, whatever state it was in."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.http.helpers import assert_error, enqueue, get, report, take


@pytest.mark.documents("delete-200")
def test_deleting_a_queued_job_cancels_it(api: httpx.Client, q: str) -> None:
    job = enqueue(api, q, {"p": 1})
    response = api.delete(f"/jobs/{job['id']}")
    assert response.status_code == 200
    gone = response.json()
    assert (gone["id"], gone["status"], gone["params"]) == (job["id"], "cancelled", {"p": 1})
    assert_error(api.get(f"/jobs/{job['id']}"), 404)
    assert take(api, q) is None


@pytest.mark.documents("delete-200", "report-404")
def test_deleting_a_running_job_cancels_it_and_its_worker_is_refused(
    api: httpx.Client, q: str
) -> None:
    enqueue(api, q)
    job = take(api, q, timeout=0.3)
    assert job is not None
    gone = api.delete(f"/jobs/{job['id']}").json()
    assert (gone["status"], gone["attempts"]) == ("cancelled", 1)
    for status in ("running", "done"):
        late = report(api, job["id"], status, "late", lease=job["lease"])
        assert assert_error(late, 404)["code"] == "job_not_found"
    # Its lease runs out meanwhile; no worker is handed it again.
    assert take(api, q, block_for=0.8) is None
    assert_error(api.get(f"/jobs/{job['id']}"), 404)


@pytest.mark.documents("delete-200")
def test_deleting_a_delayed_job_means_it_never_comes_due(api: httpx.Client, q: str) -> None:
    job = enqueue(api, q, delay=0.3)
    assert api.delete(f"/jobs/{job['id']}").json()["status"] == "cancelled"
    assert take(api, q, block_for=0.8) is None


@pytest.mark.parametrize("final", ["done", "failed"])
@pytest.mark.documents("delete-final-200", "decision-delete-final")
def test_deleting_a_final_job_answers_it_as_it_was(
    api: httpx.Client, q: str, final: str
) -> None:
    enqueue(api, q)
    job = take(api, q)
    assert job is not None
    finished = report(api, job["id"], final, {"r": 1}).json()
    response = api.delete(f"/jobs/{job['id']}/")  # trailing slash too
    assert response.status_code == 200
    assert response.json() == finished
    assert_error(api.get(f"/jobs/{job['id']}"), 404)


@pytest.mark.documents("delete-404")
def test_deleting_twice_or_an_unknown_job_is_404(api: httpx.Client, q: str) -> None:
    job = enqueue(api, q)
    assert api.delete(f"/jobs/{job['id']}").status_code == 200
    assert assert_error(api.delete(f"/jobs/{job['id']}"), 404, job["id"])["code"] == (
        "job_not_found")
    assert_error(api.delete(f"/jobs/{uuid.uuid4()}"), 404)
    assert_error(api.delete("/jobs/not-a-uuid"), 404, "not-a-uuid")


def test_deleting_one_job_leaves_the_others(api: httpx.Client, q: str) -> None:
    keep, drop = enqueue(api, q), enqueue(api, q)
    api.delete(f"/jobs/{drop['id']}")
    assert get(api, keep["id"]) == keep
    assert take(api, q)["id"] == keep["id"]  # type: ignore[index]
