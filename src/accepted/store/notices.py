"""What one node tells the others about its changes, in one format for every transport.

A shared store's nodes (PostgreSQL nodes over NOTIFY, or the processes of one
`accepted serve --workers N` over their local link) tell each other what
their committed writes changed, so the others' waiters need not wait for a
re-check. This module is the part both transports share: what to announce
(`newly_takeable`, `newly_settled`), the `Outbox` that merges announcements
until they are sent, its payloads, and `deliver`, which turns a received
payload into calls on the node's `Wakeups`. It imports no driver.

Payloads are "<kind> <node> <rest>": kind q (rest "<count> <queue>": jobs
became takeable), s (rest "<id>,<id>...": jobs became final or were
deleted), p (rest "<1|0> <queue>": the queue was paused or resumed), e
(rest "<id>:<status>,...": jobs changed status, for the live events), t
(no rest: tokens changed), c (no rest: schedules changed), f (rest "<count>
<queue>": jobs of a limited queue stopped running) or l (rest "<queue>": its
limits changed). The node id lets each node skip its own notices.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from accepted.store.base import Wakeups
from accepted.types import Job, JobStatus

log = logging.getLogger("accepted.store.notices")

MAX_HELD_IDS = 100_000  # settled ids kept while the link is down; beyond, resync covers


def newly_takeable(changes: Iterable[tuple[Job | None, Job]]) -> list[str]:
    """Queues of (old, new) pairs that became queued, once per job (old None: inserted)."""
    return [
        new.queue
        for old, new in changes
        if new.status is JobStatus.QUEUED and (old is None or old.status is not JobStatus.QUEUED)
    ]


def newly_settled(changes: Iterable[tuple[Job | None, Job]]) -> list[str]:
    """Ids of (old, new) pairs that became final (old None: inserted)."""
    return [new.id for old, new in changes if new.is_final and (old is None or not old.is_final)]


class Outbox:
    """What this node's writes changed and the others have not been told yet, merged."""

    MAX_PAYLOAD = 7900  # PostgreSQL refuses payloads of 8000 bytes or more
    IDS_PER_NOTICE = 200
    CHANGES_PER_NOTICE = 150  # "<uuid>:<status>" is at most 46 bytes

    def __init__(self, node: str) -> None:
        self.node = node
        self.available: dict[str, int] = {}
        self.settled: list[str] = []
        self.paused: dict[str, bool] = {}  # the latest of each queue wins
        self.changed: list[str] = []
        self.tokens = False
        self.schedules = False
        # -- flow-limits --
        self.freed: dict[str, int] = {}  # limited queues' jobs that stopped running
        self.limits: set[str] = set()  # queues whose limits changed

    def __bool__(self) -> bool:
        return bool(
            self.available
            or self.settled
            or self.paused
            or self.changed
            or self.tokens
            or self.schedules
            or self.freed
            or self.limits
        )

    def add(self, takeable: Iterable[str], settled: Iterable[str]) -> None:
        for queue in takeable:
            self.available[queue] = self.available.get(queue, 0) + 1
        self.settled.extend(settled)
        del self.settled[:-MAX_HELD_IDS]

    def change(self, job_id: str, status: str) -> None:
        changed = self.changed
        changed.append(f"{job_id}:{status}")
        if len(changed) > MAX_HELD_IDS:
            del changed[:-MAX_HELD_IDS]  # the link is down: the oldest events are lost

    def take(self) -> Outbox:
        """Everything held, as its own outbox; this one is left empty."""
        batch = Outbox(self.node)
        batch.available, self.available = self.available, {}
        batch.settled, self.settled = self.settled, []
        batch.paused, self.paused = self.paused, {}
        batch.changed, self.changed = self.changed, []
        batch.tokens, self.tokens = self.tokens, False
        batch.schedules, self.schedules = self.schedules, False
        batch.freed, self.freed = self.freed, {}
        batch.limits, self.limits = self.limits, set()
        return batch

    def put_back(self, batch: Outbox) -> None:
        for queue, count in batch.available.items():
            self.available[queue] = self.available.get(queue, 0) + count
        self.settled[:0] = batch.settled
        self.paused = {**batch.paused, **self.paused}
        self.changed[:0] = batch.changed
        del self.changed[:-MAX_HELD_IDS]
        self.tokens = self.tokens or batch.tokens
        self.schedules = self.schedules or batch.schedules
        for queue, count in batch.freed.items():
            self.freed[queue] = self.freed.get(queue, 0) + count
        self.limits |= batch.limits

    def payloads(self) -> list[str]:
        found = []
        for queue, count in self.available.items():
            payload = f"q {self.node} {count} {queue}"
            # A name too long to announce is not: its takers find the job at their re-check.
            if len(payload.encode()) < self.MAX_PAYLOAD:
                found.append(payload)
        for queue, paused in self.paused.items():
            payload = f"p {self.node} {int(paused)} {queue}"
            if len(payload.encode()) < self.MAX_PAYLOAD:  # else: the others' resync finds it
                found.append(payload)
        step = self.IDS_PER_NOTICE
        for i in range(0, len(self.settled), step):
            found.append(f"s {self.node} " + ",".join(self.settled[i : i + step]))
        step = self.CHANGES_PER_NOTICE
        for i in range(0, len(self.changed), step):
            found.append(f"e {self.node} " + ",".join(self.changed[i : i + step]))
        if self.tokens:
            found.append(f"t {self.node} ")
        if self.schedules:
            found.append(f"c {self.node} ")
        limited = [f"f {self.node} {n} {queue}" for queue, n in self.freed.items()]
        limited += [f"l {self.node} {queue}" for queue in self.limits]
        # A name too long to announce is not: the others' re-checks find it.
        return found + [p for p in limited if len(p.encode()) < self.MAX_PAYLOAD]


def deliver(wakeups: Wakeups, payload: str, own_node: str) -> None:
    """Hand one received payload to `wakeups`; our own notices and bad ones are dropped."""
    kind, node, rest = [*payload.split(" ", 2), "", ""][:3]
    if node == own_node:
        return  # our own change: the service has signalled it already
    try:
        if kind == "q":
            count, queue = rest.split(" ", 1)
            wakeups.jobs_available(queue, int(count))
        elif kind == "s":
            wakeups.jobs_settled(rest.split(","))
        elif kind == "p":
            paused, queue = rest.split(" ", 1)
            wakeups.queue_paused(queue, paused == "1")
        elif kind == "e":
            changes = [item.split(":", 1) for item in rest.split(",")]
            wakeups.jobs_changed([(job_id, status) for job_id, status in changes])
        elif kind == "t":
            wakeups.tokens_changed()
        elif kind == "c":
            wakeups.schedules_changed()
        elif kind == "f":
            count, queue = rest.split(" ", 1)
            wakeups.capacity_freed(queue, int(count))
        elif kind == "l":
            wakeups.limits_changed(rest)
    except Exception:
        log.exception("bad notice %r", payload)
