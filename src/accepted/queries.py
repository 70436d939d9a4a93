"""Value objects for looking at the queue: what a queue holds, and which jobs a
filter selects. No I/O: the store reads them, the service and HTTP pass them on.

`JobFilter` is the one meaning of "these jobs" that `GET /jobs`, `POST
/jobs/bulk` and the dashboard share, so a bulk action acts on exactly what
the same filter lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from accepted.types import Job, JobStatus

# Priorities a job can have (0 is taken first): a queue's oldest queued job is
# found by one index look-up per priority instead of a scan of its backlog.
PRIORITIES = range(4)


@dataclass(frozen=True, slots=True)
class Rate:
    """At most `jobs` hand-outs in any window of `per` seconds."""

    jobs: int
    per: float


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """A queue's limits (PUT /queues/{name}/limits); None: no such limit.

    - `rate`: hand-outs in any window of `rate.per` seconds;
    - `concurrency`: jobs of the queue `running` at once;
    - `group_concurrency`: jobs of one fairness group `running` at once.
    """

    rate: Rate | None = None
    concurrency: int | None = None
    group_concurrency: int | None = None

    @property
    def any(self) -> bool:
        return not (
            self.rate is None and self.concurrency is None and self.group_concurrency is None
        )


NO_LIMITS = QueueLimits()


@dataclass(frozen=True, slots=True)
class QueueState:
    """A queue as the store has it: its setting, and its jobs by status."""

    name: str
    paused: bool
    counts: Mapping[JobStatus, int]
    # The due time of its longest-waiting queued job; None when none is queued.
    oldest_due_at: float | None = None
    limits: QueueLimits = NO_LIMITS


@dataclass(frozen=True, slots=True)
class Queue:
    """A queue as the API shows it at one moment (`now`)."""

    name: str
    paused: bool
    counts: Mapping[JobStatus, int]
    oldest_queued_age: float | None
    limits: QueueLimits = NO_LIMITS

    @classmethod
    def at(cls, state: QueueState, now: float) -> Queue:
        age = None if state.oldest_due_at is None else max(0.0, now - state.oldest_due_at)
        counts = {status: state.counts.get(status, 0) for status in JobStatus}
        return cls(state.name, state.paused, counts, age, state.limits)


@dataclass(frozen=True, slots=True)
class JobFilter:
    """Which jobs: every given condition holds (None: no condition of that kind).

    - `queues`: the job is in one of these queues;
    - `statuses`: its status is one of these;
    - `text`: its id is this text, or its params or result contain it
      (case-insensitive);
    - `ids`: its id is one of these;
    - `everything`: set to select every job on purpose (an otherwise empty
      filter is refused by bulk actions, so nobody acts on all jobs by mistake).
    """

    queues: tuple[str, ...] | None = None
    statuses: tuple[JobStatus, ...] | None = None
    text: str | None = None
    ids: tuple[str, ...] | None = None
    everything: bool = False

    @property
    def is_empty(self) -> bool:
        """No condition given, and not `everything` either."""
        conditions = (self.queues, self.statuses, self.text, self.ids)
        return not self.everything and all(c is None for c in conditions)


@dataclass(frozen=True, slots=True)
class JobPage:
    """One page of a listing, newest first.

    `next` is the store's position after the page's last job (None: it was
    the last page); passed back as `before`, it starts the next page there.
    """

    jobs: list[Job] = field(default_factory=list)
    next: int | None = None
