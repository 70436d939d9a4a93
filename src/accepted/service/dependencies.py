"""Jobs that wait on others (X-Accepted-After): the rules the store applies for them.

The store settles a dependency's waiting jobs inside the transaction that
makes it final (store.base.JobStore.attach_dependencies); what the waiting
jobs become is decided here, and once committed they are announced like any
other change: events, woken takers, result waiters, alarms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from accepted.service import rules
from accepted.service.signals import Signals
from accepted.types import Due, Job, JobStatus


class DependentRules:
    """The `store.base.DependencyRules` of one JobService."""

    def __init__(self, signals: Signals, after_change: Callable[[Job], None]) -> None:
        self.signals = signals
        self.after_change = after_change

    def wait_for(self, job: Job, count: int, now: float) -> Job:
        return rules.wait_for_dependencies(job, count, now)

    def released(self, job: Job, now: float) -> Job:
        return rules.dependencies_done(job, now)

    def dependency_ended(self, job: Job, dependency: str, how: str, now: float) -> Job:
        return rules.dependency_ended(job, dependency, how, now)

    def changed(self, jobs: Sequence[Job]) -> None:
        for job in jobs:
            if job.status is JobStatus.DELAYED:
                # Released, its own delay still running: still delayed (no event); the
                # delayed sweep queues it when due.
                self.signals.deadline(Due.DELAYED, job.due_at)
            else:
                self.after_change(job)
