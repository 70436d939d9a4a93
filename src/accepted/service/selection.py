"""Jobs a filter selects: pages of them (GET /jobs), and one action on all of
them (POST /jobs/bulk).

A bulk action walks the selection newest first in pages of `PAGE` jobs (one
read each) and changes each page in chunks of `CHUNK`, each its own short
transaction, resting after each chunk about as long as it took. So a
million-job action shares the database (on SQLite: its one writer) with
everyone else instead of holding it for a minute: a request that arrives
behind a chunk waits for at most one chunk's writes (about 100 us a job on
SQLite: the status change moves the job in several indexes and counters). What the filter matched is
fixed by the walk: jobs enqueued after it began are newer than where it
started, and are left alone. Each chunk is committed on its own: an action
cut short (shutdown) leaves what it did done, and running it again finishes
it, since every action skips the jobs it has already changed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from accepted.queries import JobFilter, JobPage
from accepted.service import rules
from accepted.service.jobs import JobService
from accepted.store.base import Decide
from accepted.types import FINAL_STATUSES, Job, JobStatus

PAGE = 500  # jobs read at a time by a bulk action
CHUNK = 25  # jobs per transaction of a bulk action: a few ms of the writer at a time
MIN_REST = 0.002  # seconds between chunks at the least, so the loop serves others


class BulkAction(StrEnum):
    RETRY = "retry"
    CANCEL = "cancel"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    matched: int  # jobs the filter selected
    changed: int  # of those, the jobs the action changed


class SelectionService:
    def __init__(self, jobs: JobService, *, chunk: int = CHUNK, page: int = PAGE) -> None:
        self.jobs = jobs
        self.store = jobs.store
        self.chunk = chunk
        self.page_size = page

    async def page(self, where: JobFilter, limit: int, before: int | None) -> JobPage:
        return await self.store.list_jobs(where, limit, before)

    async def bulk(
        self, action: BulkAction, where: JobFilter, clock: Callable[[], float]
    ) -> BulkOutcome:
        """Apply `action` to every job `where` selects.

        Takes a clock rather than one `now`: the walk may take a minute, and
        each chunk's changes carry the time they were made.
        """
        matched = changed = 0
        before: int | None = None
        while True:
            page = await self.store.list_jobs(where, self.page_size, before)
            matched += len(page.jobs)
            for start in range(0, len(page.jobs), self.chunk):
                started = time.monotonic()
                changed += await self._apply(action, page.jobs[start : start + self.chunk], clock())
                await asyncio.sleep(max(MIN_REST, time.monotonic() - started))
            if page.next is None:
                return BulkOutcome(matched, changed)
            before = page.next

    async def _apply(self, action: BulkAction, jobs: Sequence[Job], now: float) -> int:
        if action is BulkAction.DELETE:
            deleted = await self.store.delete_jobs([job.id for job in jobs])
            for job in deleted:
                self.jobs.after_delete(job, now)
            return len(deleted)
        decided: set[str] = set()
        if action is BulkAction.CANCEL:
            decide, target = _canceller(now, decided), JobStatus.CANCELLED
        else:
            decide, target = _retrier(now, decided), JobStatus.QUEUED
        outcomes = await self.store.update_jobs([(job.id, decide) for job in jobs])
        # A retried transaction runs decide again: only rows that now show the
        # change, made at `now`, count as changed by this action.
        changed = [
            job
            for job in outcomes
            if isinstance(job, Job)
            and job.id in decided
            and job.status is target
            and job.updated_at == now
        ]
        after = self.jobs.after_retry if action is BulkAction.RETRY else self.jobs.after_change
        for job in changed:
            after(job)
        return len(changed)


def _canceller(now: float, changed: set[str]) -> Decide:
    """Cancel a job not yet final; a final one is skipped (not an error)."""

    def decide(job: Job) -> Job | None:
        if job.status in FINAL_STATUSES:
            return None
        changed.add(job.id)
        return rules.cancel(job, now)

    return decide


def _retrier(now: float, changed: set[str]) -> Decide:
    """Retry a failed or cancelled job; any other is skipped (not an error)."""

    def decide(job: Job) -> Job | None:
        if job.status not in rules.RETRYABLE:
            return None
        changed.add(job.id)
        return rules.retry(job, now)

    return decide
