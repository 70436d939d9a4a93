"""Per-queue limits as the stores keep and apply them, the same for every backend.

A limited queue is claimed in one transaction that first reads (on
PostgreSQL: locks) its settings row, then counts what the limits count, then
hands out at most what they allow, and writes the rate window back. The
arithmetic of that (what room is left, which candidates fit, when a full
rate window lets the next one through) is plain Python here, so both
dialects share one meaning.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from accepted.queries import QueueLimits, Rate
from accepted.store import sql_rules
from accepted.types import Job

# A settings row "has a limit" when this holds of it.
LIMITED = "(rate_jobs IS NOT NULL OR concurrency IS NOT NULL OR group_concurrency IS NOT NULL)"
LIMITS_COLUMNS = "rate_jobs, rate_per, concurrency, group_concurrency"


def limits_from(
    rate_jobs: int | None, rate_per: float | None, concurrency: int | None, groups: int | None
) -> QueueLimits:
    """QueueLimits from the settings row's four columns."""
    rate = None if rate_jobs is None or rate_per is None else Rate(rate_jobs, rate_per)
    return QueueLimits(rate, concurrency, groups)


@dataclass(slots=True)
class Room:
    """What one limited queue may still hand out in this claim."""

    queue: str
    limits: QueueLimits
    left: int  # jobs it may hand out now (concurrency and rate together)
    log: list[float]  # hand-out times inside the rate window, oldest first
    full_groups: list[str] = field(default_factory=list)  # groups at group_concurrency
    group_running: dict[str, int] = field(default_factory=dict)
    opens_at: float | None = None  # when a full rate window lets the next one through

    def takes(self, group: str | None) -> bool:
        """Whether one more job of `group` fits; counts it in if so."""
        if self.left <= 0:
            return False
        cap = self.limits.group_concurrency
        if cap is not None and group is not None:
            if self.group_running.get(group, 0) >= cap:
                return False
            self.group_running[group] = self.group_running.get(group, 0) + 1
        self.left -= 1
        return True


NO_CAP = 1 << 30
# Extra candidates fetched when group limits may turn some down (a batch take).
GROUP_SLACK = 50


def room_for(
    queue: str,
    limits: QueueLimits,
    log: Sequence[float],
    running: int,
    group_running: dict[str, int],
    now: float,
) -> Room:
    """The room a queue's limits leave at `now`, from its rate log and running counts.

    The rate log keeps only hand-outs inside the window (`now - per`, `now`];
    one more fits while it holds fewer than `rate.jobs`. When it is full, the
    window next lets one through `per` seconds after the hand-out that would
    drop out of it first.
    """
    left = NO_CAP
    if limits.concurrency is not None:
        left = min(left, limits.concurrency - running)
    kept: list[float] = []
    opens_at = None
    rate = limits.rate
    if rate is not None:
        kept = list(log[bisect.bisect_right(log, now - rate.per) :])
        left = min(left, rate.jobs - len(kept))
        if len(kept) >= rate.jobs:
            opens_at = kept[len(kept) - rate.jobs] + rate.per
    cap = limits.group_concurrency
    full = [] if cap is None else [g for g, n in group_running.items() if n >= cap]
    return Room(queue, limits, max(0, left), kept, full, dict(group_running), opens_at)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A queued job a claim may take: its row key, queue, order and group."""

    seq: int
    queue: str
    priority: int
    rank: float
    group: str | None


def pick(candidates: Iterable[Candidate], count: int, rooms: dict[str, Room]) -> list[Candidate]:
    """The best `count` candidates that the queues' limits let through, in claim order.

    A candidate of a queue without a `Room` (not limited) always fits.
    """
    chosen: list[Candidate] = []
    for c in sorted(candidates, key=sql_rules.hand_out_key):
        if len(chosen) >= count:
            break
        room = rooms.get(c.queue)
        if room is None or room.takes(c.group):
            chosen.append(c)
    return chosen


def logged(room: Room, taken: int, now: float) -> list[float] | None:
    """The rate log to write back after `taken` hand-outs, or None when it has no rate.

    Stamped no earlier than the log's last hand-out: PostgreSQL nodes share
    the log with their own clocks, and `room_for` trims it by bisection, so
    it must stay in order. A node behind the others thus counts its
    hand-outs a little longer (the rate errs strict, never loose).
    """
    if room.limits.rate is None:
        return None
    stamp = max(now, room.log[-1]) if room.log else now
    return [*room.log, *([stamp] * taken)]


def opens_at(rooms: Iterable[Room]) -> float | None:
    """The earliest time a full rate window among `rooms` lets a job through."""
    times = [r.opens_at for r in rooms if r.opens_at is not None]
    return min(times) if times else None


# -- the direct hand-off (an enqueue inserting a job already running) --------------
#
# Only the limited claim counts what limits count, so a job handed out as it is
# inserted must not land running in a queue that is paused or has limits. The
# service's own sets of such queues may be stale (another process or node set
# them a moment ago), so the inserting transaction reads the settings and has
# the last word: such a job is inserted as it was before the hand-off, queued.


def handed_off_queues(jobs: Sequence[Job], queued: Sequence[Job] | None) -> list[str]:
    """The queues of the jobs that an enqueue planned to insert already handed out."""
    if queued is None:
        return []
    return sorted({job.queue for job, was in zip(jobs, queued, strict=True) if job is not was})


def hold_back(jobs: Sequence[Job], queued: Sequence[Job], blocked: Iterable[str]) -> list[Job]:
    """`jobs`, with each hand-off into a `blocked` (paused or limited) queue queued again."""
    held = set(blocked)
    if not held:
        return list(jobs)
    return [was if job.queue in held else job for job, was in zip(jobs, queued, strict=True)]
