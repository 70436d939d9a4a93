"""unique_key= and after= on enqueue and enqueue_many, through both client twins."""

from __future__ import annotations

from accepted.client import JobStatus, NewJob
from tests.client.conftest import Api


async def test_a_held_unique_key_answers_the_holder_marked_duplicate(api: Api, q: str) -> None:
    first = await api.enqueue(q, {"n": 1}, unique_key="k")
    assert (first.unique_key, first.duplicate) == ("k", False)
    again = await api.enqueue(q, {"n": 1}, unique_key="k")
    assert (again.id, again.duplicate) == (first.id, True)
    assert "duplicate" not in again.to_dict()


async def test_after_takes_jobs_or_ids_and_the_job_waits(api: Api, q: str) -> None:
    first, second = await api.enqueue(q), await api.enqueue(q)
    waiting = await api.enqueue(q, after=[first, second.id])
    assert waiting.status is JobStatus.DELAYED
    assert waiting.after == [first.id, second.id]
    for _ in range(2):
        job = await api.take(q)
        assert job is not None and job.id != waiting.id
        await api.complete(job, "ok")
    assert (await api.get(waiting.id)).status is JobStatus.QUEUED


async def test_enqueue_many_builds_a_graph_and_marks_duplicates(api: Api, q: str) -> None:
    held = await api.enqueue(q, unique_key="u")
    jobs = await api.enqueue_many(
        [
            NewJob(q, unique_key="u"),
            NewJob(q, "fetch"),
            NewJob(q, "resize", after=["$1"]),
        ]
    )
    assert [j.duplicate for j in jobs] == [True, False, False]
    assert jobs[0].id == held.id
    assert jobs[2].after == [jobs[1].id] and jobs[2].status is JobStatus.DELAYED
