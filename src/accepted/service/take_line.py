"""First come, first served for new takes: which jobs a new take may claim.

A job that arrives while takers block wakes the one that has waited longest
(`Takers.job_available`), which then looks for it. A new take that claimed in
the meantime would take that job first: the woken taker would look in vain
and wait again, and under a trickle of jobs it could lose this way until its
block ran out. So a new take claims only jobs nobody was woken for, and
otherwise waits in line behind the blocked takers (`JobService._take`).

Telling the two apart needs a count per queue of the jobs nobody was promised,
kept here. It is a hint, never a promise: counted too high, a new take claims
in vain and then waits; counted too low, it would wait for nothing, so every
path that could leave a job nobody's either counts it or drops the queue's
count (then new takes claim).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from accepted.types import Job

ANY_QUEUE: str | None = None
# Queues whose unpromised jobs are counted at most (past it, counting starts over).
MAX_COUNTED_QUEUES = 10_000
# Prefixes counted at most: each unpromised job scans them.
MAX_COUNTED_PREFIXES = 100


class TakeLine:
    """The count of jobs no blocked taker was woken for, per queue."""

    __slots__ = ("_by_prefix", "_unclaimed", "unpromised")

    def __init__(self) -> None:
        # How many jobs were made takeable that woke no taker (none was
        # available), in any queue: a take in line that sees it grow while its
        # riding reports were at the store looks before it waits.
        self.unpromised = 0
        # Queues whose jobs are counted: a taker of the queue found it empty
        # and blocked (0), and since then, while it was registered, each job
        # of it woke a taker (promised) or, none being available, was counted
        # here (unpromised), less what new takes claimed of it. ANY_QUEUE:
        # every queue was found empty (by a taker of any queue), dropped at the
        # first unpromised job. A job made takeable unannounced here (another
        # node's, its notice lost) is found by the takers' re-checks.
        self._unclaimed: dict[str | None, int] = {}
        # The same count over every queue with a prefix: a `prefix*` taker found
        # them all empty and blocked (0); each unpromised job of one is counted
        # under every prefix it has. A limited token's take of any queue waits in
        # line when its exact queues and its prefixes have none.
        self._by_prefix: dict[str, int] = {}

    def in_line(self, queues: Sequence[str] | None, prefixes: Sequence[str] = ()) -> bool:
        """Whether a new take of `queues` (and `prefixes`) must wait behind blocked
        takers rather than claim: every job of its queues is promised to an older
        taker. False when the queues are not counted, or hold unpromised jobs."""
        unclaimed = self._unclaimed
        if unclaimed.get(ANY_QUEUE) == 0:
            return True
        by_prefix = self._by_prefix
        return (
            queues is not None
            and all(unclaimed.get(queue) == 0 for queue in queues)
            and all(by_prefix.get(prefix) == 0 for prefix in prefixes)
        )

    def nobodys(self, queue: str, count: int) -> None:
        """`count` jobs of `queue` became takeable and woke no taker."""
        self.unpromised += count
        unclaimed = self._unclaimed
        unclaimed.pop(ANY_QUEUE, None)
        if queue in unclaimed:
            unclaimed[queue] += count
        if self._by_prefix:
            for prefix in self._prefixes_of(queue):
                self._by_prefix[prefix] += count

    def claimed(self, jobs: Iterable[Job]) -> None:
        """A new take (not woken, not handed) claimed `jobs`: each counts against its
        own queue's unpromised jobs. Only what was claimed counts, so a count never
        falls below what is there; it may stay above, and then a new take claims in
        vain."""
        unclaimed = self._unclaimed
        by_prefix = self._by_prefix
        for job in jobs:
            left = unclaimed.get(job.queue)
            if left:
                unclaimed[job.queue] = left - 1
            if by_prefix:
                for prefix in self._prefixes_of(job.queue):
                    if by_prefix[prefix]:
                        by_prefix[prefix] -= 1

    def blocked(self, keys: Iterable[str | None], prefixes: tuple[str, ...]) -> None:
        """A taker of `keys` blocks: it found no job there, so none is unpromised."""
        unclaimed = self._unclaimed
        for key in keys:
            if key is not ANY_QUEUE or not prefixes:  # a prefix* taker: not every queue
                if key not in unclaimed and len(unclaimed) >= MAX_COUNTED_QUEUES:
                    unclaimed.clear()  # not counted is safe: a new take then claims
                unclaimed[key] = 0
        if ANY_QUEUE in keys:
            by_prefix = self._by_prefix
            for prefix in prefixes:
                if prefix not in by_prefix and len(by_prefix) >= MAX_COUNTED_PREFIXES:
                    by_prefix.clear()
                by_prefix[prefix] = 0

    def unknown(self, queue: str) -> None:
        """How many jobs `queue` holds is not known (a resume, a limit lifted): it is
        not counted until one of its takers blocks again."""
        self.unpromised += 1
        self._unclaimed.pop(queue, None)
        self._unclaimed.pop(ANY_QUEUE, None)
        for prefix in self._prefixes_of(queue):
            del self._by_prefix[prefix]

    def _prefixes_of(self, queue: str) -> list[str]:
        """The counted prefixes `queue` has (a scan: few tokens name prefixes)."""
        return [prefix for prefix in self._by_prefix if queue.startswith(prefix)]
