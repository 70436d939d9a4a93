"""Per-queue limits: the bounds a limit must keep (PUT /queues/{name}/limits).

The limits themselves are enforced by the store's limited claim (see
`store.base.JobStore.claim_limited`); the service keeps the set of limited
queues in `Takers.limited`, so a take that cannot reach a limited queue
stays the one-statement plain claim, and a job of a limited queue that stops
running wakes a taker (`JobService._capacity_back`).
"""

from __future__ import annotations

from accepted.errors import InvalidField
from accepted.queries import QueueLimits

# A rate window remembers each hand-out inside it, so its size is bounded.
MAX_RATE_JOBS = 10_000
MAX_RATE_PER = 86_400.0  # seconds: one day
MAX_CONCURRENCY = 1_000_000


def check_limits(limits: QueueLimits) -> QueueLimits:
    """`limits` if each is within its bounds; else InvalidField naming it.

    0 is refused: a queue that should hand out nothing is paused instead.
    """
    if limits.rate is not None:
        _bounded("rate.jobs", limits.rate.jobs, 1, MAX_RATE_JOBS)
        if not 0 < limits.rate.per <= MAX_RATE_PER:
            raise InvalidField(f"rate.per must be > 0 and <= {MAX_RATE_PER:g} seconds")
    for name, value in (
        ("concurrency", limits.concurrency),
        ("group_concurrency", limits.group_concurrency),
    ):
        if value is not None:
            _bounded(name, value, 1, MAX_CONCURRENCY)
    return limits


def _bounded(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise InvalidField(f"{name} must be from {low} to {high} (pause the queue for 0)")
