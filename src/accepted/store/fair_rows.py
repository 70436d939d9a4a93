"""Fairness groups as the stores rank them, the same for every backend.

Within a queue and priority, the claim hands out the lowest rank first, where
a job without a group is ranked by its due time and a grouped job by its
place in a rotation between the groups (virtual time, as in fair queueing):
a group's next job is ranked one step after the group's last job, but never
before the queue's current head. So 100,000 jobs of group A enqueued at once
take ranks head, head+step, head+2·step, ...; 10 jobs of group B enqueued
afterwards take head, head+step, ... again, and the two alternate. A group
that was idle starts at the head, not at its old place: it cannot catch up on
turns it did not use, nor jump ahead of groups that have been waiting.

Ranks are on the due_at scale (seconds), so the head of an empty queue is
simply "now", and jobs with and without a group share one index.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from accepted.types import Job

# One step of the rotation, in seconds: above float8's resolution at today's
# epoch (about 0.24 us) and small enough that a million jobs of one group
# spread over one second.
STEP = 1e-6

GroupKey = tuple[str, int, str]  # queue, priority, group


def group_counts(jobs: Sequence[Job]) -> dict[GroupKey, int]:
    """How many jobs of each (queue, priority, group) the batch holds, in first-seen order."""
    counts: dict[GroupKey, int] = {}
    for job in jobs:
        if job.fair_group is not None:
            key = (job.queue, job.priority, job.fair_group)
            counts[key] = counts.get(key, 0) + 1
    return counts


def first_rank(head: float, last: float | None) -> float:
    """The rank of a group's next job: one step after its last, never before the head."""
    return head if last is None else max(head, last + STEP)


def ranked(jobs: Sequence[Job], firsts: dict[GroupKey, float]) -> list[Job]:
    """The jobs with their ranks: each group's jobs one step apart from its first rank."""
    following = dict(firsts)
    out = []
    for job in jobs:
        if job.fair_group is None:
            out.append(job)
            continue
        key = (job.queue, job.priority, job.fair_group)
        rank = following[key]
        following[key] = rank + STEP
        out.append(msgspec.structs.replace(job, fair_rank=rank))
    return out


def has_groups(jobs: Sequence[Job]) -> bool:
    return any(job.fair_group is not None for job in jobs)
