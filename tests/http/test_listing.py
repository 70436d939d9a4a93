"""GET /jobs: listing and search, newest first, with keyset paging, on a real server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.http.helpers import assert_error, enqueue, report, take, unique_queue


def listed(api: httpx.Client, **query: Any) -> dict[str, Any]:
    response = api.get("/jobs", params=query)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"jobs", "next"}
    return body


def ids(page: dict[str, Any]) -> list[str]:
    return [job["id"] for job in page["jobs"]]


def read_all(api: httpx.Client, **query: Any) -> list[str]:
    """Every page from the query's cursor (or the first page) on."""
    found: list[str] = []
    while True:
        page = listed(api, **query)
        found += ids(page)
        if page["next"] is None:
            return found
        query["cursor"] = page["next"]


@pytest.mark.documents("list-200")
def test_jobs_of_a_queue_newest_first_as_whole_jobs(api: httpx.Client, q: str) -> None:
    jobs = [enqueue(api, q, params={"n": i}) for i in range(3)]
    page = listed(api, queue=q)
    assert ids(page) == [job["id"] for job in reversed(jobs)]
    assert page["next"] is None
    assert page["jobs"][0] == api.get(f"/jobs/{jobs[-1]['id']}").json()
    assert "lease" not in page["jobs"][0]


@pytest.mark.documents("list-200")
def test_queues_repeat_and_statuses_repeat_or_split_on_commas(api: httpx.Client) -> None:
    a, b, c = unique_queue(), unique_queue(), unique_queue()
    queued_a = enqueue(api, a)
    done_b = enqueue(api, b)
    taken = take(api, b)
    assert taken is not None and report(api, taken["id"], "done").status_code == 200
    failed_b = enqueue(api, b)
    taken = take(api, b)
    assert taken is not None and report(api, taken["id"], "failed").status_code == 200
    enqueue(api, c)
    assert set(ids(listed(api, queue=[a, b]))) == {queued_a["id"], done_b["id"], failed_b["id"]}
    assert ids(listed(api, queue=[a, b], status="done,failed")) == [failed_b["id"], done_b["id"]]
    assert ids(listed(api, queue=[a, b], status=["queued", "done"])) == [
        done_b["id"], queued_a["id"]
    ]
    assert ids(listed(api, queue=b, status="running")) == []


@pytest.mark.documents("list-search")
def test_q_finds_text_in_params_or_result_case_insensitively_or_an_id(
    api: httpx.Client, q: str
) -> None:
    word = unique_queue("Word")  # text no other test's job holds
    in_result = enqueue(api, q)
    taken = take(api, q)
    assert taken is not None and taken["id"] == in_result["id"]
    assert report(api, taken["id"], "done", {"said": word.upper()}).status_code == 200
    in_params = enqueue(api, q, params={"note": f"about {word} here"})
    enqueue(api, q, params={"note": "nothing"})
    assert ids(listed(api, q=word.lower())) == [in_params["id"], in_result["id"]]
    assert ids(listed(api, q=in_params["id"].upper())) == [in_params["id"]]
    assert ids(listed(api, q=word, status="queued")) == [in_params["id"]]
    assert ids(listed(api, q=f"{word}%_")) == []  # % and _ are plain characters


@pytest.mark.documents("list-paging")
def test_paging_never_repeats_nor_skips_while_jobs_arrive(api: httpx.Client, q: str) -> None:
    old = [enqueue(api, q)["id"] for _ in range(7)]
    first = listed(api, queue=q, limit=3)
    assert ids(first) == old[::-1][:3] and first["next"]
    enqueue(api, q)  # newer than the first page: on no later page
    rest = read_all(api, queue=q, limit=3, cursor=first["next"])
    assert ids(first) + rest == old[::-1]
    assert listed(api, queue=q, limit=8)["next"] is None  # 7 old and 1 new: one page


@pytest.mark.documents("list-400")
@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"}, {"limit": "501"}, {"limit": "x"}, {"status": "sleeping"},
        {"status": "done,nope"}, {"cursor": "not-a-cursor"}, {"queue": ""},
        {"queue": "x" * 256}, {"q": "x" * 1001},
    ],
    ids=lambda query: "-".join(f"{k}={str(v)[:10]}" for k, v in query.items()),
)
def test_bad_values_are_refused(api: httpx.Client, query: dict[str, str]) -> None:
    assert_error(api.get("/jobs", params=query), 400, next(iter(query)))


@pytest.mark.documents("list-400")
def test_more_than_100_queues_are_refused(api: httpx.Client) -> None:
    assert_error(api.get("/jobs", params={"queue": [f"q{i}" for i in range(101)]}), 400, "100")


@pytest.mark.documents("list-200")
def test_a_hundred_queues_list_and_page_like_one(api: httpx.Client) -> None:
    """100 queues of 6 statuses are past SQLite's 500 terms of one compound SELECT."""
    queues = [unique_queue() for _ in range(100)]
    made = [enqueue(api, queues[n])["id"] for n in (0, 50, 99, 50)]
    found = read_all(api, queue=queues, limit=3)
    assert found == made[::-1]
    failed = listed(api, queue=queues, status="queued,failed")
    assert ids(failed) == made[::-1]
    bulk = api.post("/jobs/bulk", json={"action": "cancel", "filter": {"queue": queues}})
    assert bulk.status_code == 200 and bulk.json() == {"matched": 4, "changed": 4}
