"""The rows this PostgreSQL node wrote last, each with its version, so a report needs no read.

A job's report usually reaches the node that handed the job out, and nothing
has changed the row since: the claim that handed it out (or the heartbeat
that wrote it last) returned the row's version (`xmin`) with it. A report on
such a job decides on the row kept here and writes with the compare-and-set
on that version: one round trip instead of read-then-write. The rule is
still applied to exactly the row it replaces; if anything changed the row
meanwhile (a reaper, a cancel, another node), the compare-and-set writes
nothing and the report reads the row as it is now and decides again.

The memo is only a guess: it is bounded (the oldest entries go first), an
entry is used once, and a job whose report goes to another node just leaves
its entry behind until it is pushed out.
"""

from __future__ import annotations

from typing import Any

from accepted.errors import AcceptedError
from accepted.store.base import Decide
from accepted.types import Job, JobStatus

LIMIT = 10_000  # rows kept: enough for every job a busy node has out at once


class KnownRows:
    """Job rows by id, each with the version it had when this node wrote or read it."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._rows: dict[str, tuple[Job, Any]] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def keep(self, job: Job, version: Any) -> None:
        """Remember a running job's row; the next report on it starts from here."""
        rows = self._rows
        rows.pop(job.id, None)  # re-inserted: the newest go last
        rows[job.id] = (job, version)
        if len(rows) > self.limit:
            del rows[next(iter(rows))]

    def keep_records(self, jobs: list[Job], records: list[Any]) -> None:
        for job, record in zip(jobs, records, strict=True):
            self.keep(job, record["version"])

    def decide(self, job_id: str, decide: Decide) -> tuple[Job, Job, Any] | None:
        """(kept row, decide's new row, version), or None when the row must be read.

        Read instead when nothing is kept, or when `decide` refuses or changes
        nothing: the kept row may be out of date, and only the row as it is
        now may answer with an error or with itself.
        """
        kept = self._rows.pop(job_id, None)
        if kept is None:
            return None
        job, version = kept
        try:
            new = decide(job)
        except AcceptedError:
            return None
        return None if new is None else (job, new, version)

    def wrote(self, new: Job, version: Any) -> None:
        """After a write: keep the row if it is still handed out (a heartbeat's)."""
        if version is not None and new.status is JobStatus.RUNNING:
            self.keep(new, version)
