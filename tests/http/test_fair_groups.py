"""X-Accepted-Group on a real server: the job's `group`, and hand-outs rotating between
groups. (The 100,000-job case runs at the store tier, tests/contract/test_fair_groups.py,
where it takes seconds; over HTTP it would take a minute.)"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.http.helpers import assert_error, enqueue, take


def batch(api: httpx.Client, items: list[dict[str, Any]], **headers: str) -> list[Any]:
    response = api.post("/jobs", json=items, headers=headers)
    assert response.status_code == 202, response.text
    jobs: list[Any] = response.json()
    return jobs


@pytest.mark.documents("enqueue-202")
def test_the_job_carries_its_group_or_null(api: httpx.Client, q: str) -> None:
    grouped = enqueue(api, q, group="tenant-1")
    plain = enqueue(api, q)
    assert grouped["group"] == "tenant-1"
    assert plain["group"] is None
    assert api.get(f"/jobs/{grouped['id']}").json()["group"] == "tenant-1"
    taken = take(api, q)
    assert taken is not None and taken["group"] == "tenant-1"


@pytest.mark.documents("enqueue-batch-202")
def test_batch_items_have_a_group_and_the_header_is_their_default(
    api: httpx.Client, q: str
) -> None:
    jobs = batch(
        api,
        [{"queue": q, "group": "x"}, {"queue": q}],
        **{"X-Accepted-Group": "default"},
    )
    assert [job["group"] for job in jobs] == ["x", "default"]


@pytest.mark.parametrize("value", ["", "g" * 256])
def test_a_bad_group_is_a_400(api: httpx.Client, q: str, value: str) -> None:
    response = api.post("/jobs", json={"queue": q}, headers={"X-Accepted-Group": value})
    assert_error(response, 400, "X-Accepted-Group")
    response = api.post("/jobs", json=[{"queue": q, "group": value}])
    assert_error(response, 400, "group")


def test_a_small_group_is_not_held_back_by_a_big_backlog(api: httpx.Client, q: str) -> None:
    """2,000 jobs of A enqueued first, then 10 of B: all of B in the first 20 hand-outs."""
    for _ in range(2):
        batch(
            api,
            [{"queue": q, "params": {"n": i}} for i in range(1000)],
            **{"X-Accepted-Group": "A"},
        )
    small = batch(api, [{"queue": q, "group": "B"} for _ in range(10)])
    first = [take(api, q) for _ in range(20)]
    taken = {job["id"] for job in first if job}
    assert {job["id"] for job in small} <= taken
