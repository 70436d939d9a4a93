"""What both backends do alike for jobs that wait on others: which writes settle a
dependency, and how a new job's dependencies (by status) shape it. The rules
themselves are the service's (`DependencyRules`)."""

from __future__ import annotations

import msgspec

from accepted.errors import UnknownDependency
from accepted.store.base import DependencyRules
from accepted.types import Job, JobStatus

ENDED = frozenset({JobStatus.FAILED, JobStatus.CANCELLED})


def settles(old: Job, new: Job) -> bool:
    """Whether the change old -> new settles a dependency (it has waiting jobs)."""
    return new.has_dependents and new.is_final and not old.is_final


def shape(
    job: Job, index: int, statuses: dict[str, JobStatus], now: float, rules: DependencyRules
) -> tuple[Job, list[str]]:
    """The new job as its dependencies' statuses make it, and those it must wait for.

    An id of no job raises `UnknownDependency`; one failed or cancelled cancels
    the job at once; those not final are waited for; done ones are not.
    """
    for dependency in job.after:
        if dependency not in statuses:
            raise UnknownDependency(f"no job {dependency}", index=index, dependency=dependency)
    ended = next((d for d in job.after if statuses[d] in ENDED), None)
    if ended is not None:
        return rules.dependency_ended(job, ended, statuses[ended].value, now), []
    pending = [d for d in dict.fromkeys(job.after) if not statuses[d].is_final]
    if not pending:
        return job, []
    return rules.wait_for(job, len(pending), now), pending


def after_ending(
    job: Job, dependency: str, how: str, now: float, rules: DependencyRules
) -> Job | None:
    """What `job`, waiting on `dependency`, becomes now that it ended `how` (a
    final status's value); None when it no longer waits (cancelled, deleted or
    timed out meanwhile)."""
    if job.status is not JobStatus.DELAYED or job.waiting <= 0:
        return None
    if how != JobStatus.DONE.value:
        return rules.dependency_ended(job, dependency, how, now)
    if job.waiting > 1:
        return msgspec.structs.replace(job, waiting=job.waiting - 1)
    return rules.released(job, now)
