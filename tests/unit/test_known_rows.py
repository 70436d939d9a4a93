"""The rows a PostgreSQL node keeps for its reports (store/postgres_known.py).

The kept row is only a guess that saves a read: each is used once, the
memory is bounded, and anything but a change decided on it sends the report
to read the row.
"""

from __future__ import annotations

from accepted.errors import LeaseMismatch
from accepted.store.postgres_known import KnownRows
from accepted.types import Job, JobStatus
from tests.contract.builders import make_job, replace


def running(lease: str = "L") -> Job:
    return make_job(status=JobStatus.RUNNING, lease=lease, lease_expires_at=1.0)


def test_a_kept_row_is_decided_on_once() -> None:
    known, job = KnownRows(), running()
    known.keep(job, 41)
    decided = known.decide(job.id, lambda j: replace(j, error="x"))
    assert decided == (job, replace(job, error="x"), 41)
    assert known.decide(job.id, lambda j: replace(j, error="x")) is None  # used up


def test_a_refusal_or_no_change_on_a_kept_row_means_read_the_row() -> None:
    known, job = KnownRows(), running()

    def refuse(current: Job) -> Job:
        raise LeaseMismatch("not the job's lease")

    known.keep(job, 1)
    assert known.decide(job.id, refuse) is None
    known.keep(job, 1)
    assert known.decide(job.id, lambda j: None) is None
    assert len(known) == 0


def test_the_oldest_rows_go_first_beyond_the_limit() -> None:
    known = KnownRows(limit=2)
    first, second, third = running("a"), running("b"), running("c")
    for version, job in enumerate((first, second, third)):
        known.keep(job, version)
    assert len(known) == 2
    assert known.decide(first.id, lambda j: replace(j, error="x")) is None
    assert known.decide(third.id, lambda j: replace(j, error="x")) is not None


def test_only_a_row_still_handed_out_is_kept_after_a_write() -> None:
    known, job = KnownRows(), running()
    known.wrote(replace(job, status=JobStatus.DONE, lease=None), 7)
    known.wrote(job, None)  # a write whose version was not returned
    assert len(known) == 0
    known.wrote(job, 8)
    assert known.decide(job.id, lambda j: replace(j, error="x")) == (
        job,
        replace(job, error="x"),
        8,
    )
