"""GET /jobs and POST /jobs/bulk under a token limited to some queues: the
filter is forced to the token's queues (exact names and `prefix*` patterns),
and naming another queue is 403. Real servers with auth on, every backend."""

from __future__ import annotations

import httpx
import pytest

from tests.http.helpers import assert_error, enqueue, get, unique_queue
from tests.http.test_auth import MakeToken, admin, as_token, auth_server

__all__ = ["admin", "as_token", "auth_server"]  # the fixtures, used by name


class Queues:
    """Three queues: `mine` (named exactly), `pre.x` (under a pattern), `other`."""

    def __init__(self, admin: httpx.Client) -> None:
        self.mine, self.prefix, self.other = (unique_queue(n) for n in ("mine", "pre", "other"))
        self.jobs = {
            name: enqueue(admin, name)["id"]
            for name in (self.mine, f"{self.prefix}.x", self.other)
        }

    @property
    def patterns(self) -> list[str]:
        return [self.mine, f"{self.prefix}.*"]

    def job(self, queue: str) -> str:
        return self.jobs[queue]


def _ids(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {job["id"] for job in response.json()["jobs"]}


@pytest.mark.documents("auth-limited-list")
def test_a_limited_reader_lists_and_searches_only_its_queues(
    admin: httpx.Client, as_token: MakeToken
) -> None:
    queues = Queues(admin)
    reader = as_token("reader", queues=queues.patterns)
    mine, under, other = queues.jobs.values()

    assert _ids(reader.get("/jobs")) == {mine, under}  # no queue named: all of its own
    assert _ids(reader.get("/jobs", params={"status": "queued", "limit": 1})) <= {mine, under}
    assert _ids(reader.get("/jobs", params={"queue": queues.mine})) == {mine}
    assert _ids(reader.get("/jobs", params={"q": other})) == set()  # as if absent
    assert _ids(reader.get("/jobs", params={"q": under})) == {under}
    refused = reader.get("/jobs", params={"queue": [queues.mine, queues.other]})
    assert assert_error(refused, 403, queues.other)["code"] == "forbidden"


@pytest.mark.documents("auth-limited-list")
def test_a_limited_token_whose_patterns_match_no_queue_lists_nothing(
    admin: httpx.Client, as_token: MakeToken
) -> None:
    Queues(admin)  # jobs exist, none of them its
    reader = as_token("reader", queues=[f"{unique_queue('none')}.*"])
    assert _ids(reader.get("/jobs")) == set()
    worker = as_token("admin", queues=[f"{unique_queue('none')}.*"])
    answer = worker.post("/jobs/bulk", json={"action": "cancel", "filter": {"all": True}})
    assert answer.json() == {"matched": 0, "changed": 0}


@pytest.mark.documents("auth-limited-list")
def test_a_limited_admin_bulk_acts_only_on_its_queues(
    admin: httpx.Client, as_token: MakeToken
) -> None:
    queues = Queues(admin)
    limited = as_token("admin", queues=queues.patterns)
    mine, under, other = queues.jobs.values()

    def bulk(**filter_: object) -> httpx.Response:
        return limited.post("/jobs/bulk", json={"action": "cancel", "filter": filter_})

    assert assert_error(bulk(queue=[queues.other]), 403, queues.other)["code"] == "forbidden"
    assert bulk(ids=[other]).json() == {"matched": 0, "changed": 0}  # not its job: unseen
    assert get(admin, other)["status"] == "queued"

    assert bulk(all=True).json() == {"matched": 2, "changed": 2}
    assert [get(admin, i)["status"] for i in (mine, under, other)] == [
        "cancelled", "cancelled", "queued"
    ]
