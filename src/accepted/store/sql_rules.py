"""The hand-out order, the status sets and each sweep's due condition, written once.

These are rules, not dialect: SQLite and PostgreSQL read these fragments alike,
and both backends' named statements (`sqlite*.py`, `postgres_sql.py` and the
limits and fairness modules beside them) are built from them. A change to the
order, or to which rows a sweep selects, is one edit here. The partial indexes
of the migrations are on these same expressions and predicates: a change here
wants a migration there (in both dialects), or the planner stops using them.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

from accepted.types import FINAL_STATUSES, CallbackState, Due, JobStatus


def claim_size(
    count: int, leases: Sequence[str], queues: Sequence[str] | None, prefixes: Sequence[str]
) -> int:
    """How many jobs a claim may pick: one per lease token, at most `count`; 0 when
    it can pick none (no tokens, or a queue list that names nothing and no prefix
    that could), so the caller skips the statement."""
    if queues is not None and not queues and not prefixes:
        return 0
    return max(0, min(count, len(leases)))


def rank(alias: str = "") -> str:
    """A job's rank within its priority: its due time, or its place in its
    fairness group's rotation (store/fair_rows.py). `alias`: a table alias."""
    a = f"{alias}." if alias else ""
    return f"coalesce({a}fair_rank, {a}due_at)"


RANK = rank()

# The hand-out order, best first: the lower priority, then the lower rank, then
# the earlier insert. Each key's name (a picked row's column, a `Candidate`'s
# field) and its expression over the jobs table.
ORDER_KEYS: tuple[tuple[str, str], ...] = (("priority", "priority"), ("rank", RANK), ("seq", "seq"))


def order_by(alias: str = "") -> str:
    """The hand-out order over the jobs table, for an ORDER BY."""
    a = f"{alias}." if alias else ""
    return f"{a}priority, {rank(alias)}, {a}seq"


def head_order(alias: str = "") -> str:
    """The hand-out order within one queue and priority (the head of a queue's priority)."""
    a = f"{alias}." if alias else ""
    return f"{rank(alias)}, {a}seq"


# Over rows picked with `PICK` (their rank a column of its own).
PICKED_ORDER = ", ".join(name for name, _ in ORDER_KEYS)
# A picked row: its key, and the order's keys.
PICK = f"seq, priority, {RANK} AS rank"
# A row as a `limits_rows.Candidate`, in the order of its fields.
CANDIDATE = f"seq, queue, priority, {RANK} AS rank, fair_group"
# The hand-out order in Python, over `Candidate`s (or anything with these attributes).
hand_out_key = operator.attrgetter(*(name for name, _ in ORDER_KEYS))

# -- which statuses count -------------------------------------------------------------


def status_is(status: JobStatus, alias: str = "") -> str:
    a = f"{alias}." if alias else ""
    return f"{a}status = '{status}'"


QUEUED = status_is(JobStatus.QUEUED)  # takeable, unless paused, limited or past its deadline
RUNNING = status_is(JobStatus.RUNNING)
# The statuses a job is in until it is final, as an SQL list: ('delayed', 'queued', 'running').
NOT_FINAL = "(" + ", ".join(f"'{s}'" for s in JobStatus if s not in FINAL_STATUSES) + ")"


def takeable(now: str) -> str:
    """The rows a claim may take at `now` (a parameter): queued, before their deadline.

    Whether the queue is paused or limited is the caller's to add.
    """
    return f"{QUEUED} AND (deadline_at IS NULL OR deadline_at > {now})"


# -- what each sweep selects ------------------------------------------------------------

_PENDING = CallbackState.PENDING


def due_where(is_not: str) -> dict[Due, tuple[str, str]]:
    """Which rows each sweep looks at, and the column holding their time.

    `is_not`: the dialect's null-safe "differs from" (SQLite `IS NOT`,
    PostgreSQL `IS DISTINCT FROM`). Each condition implies the predicate of
    a partial index in the migrations.
    """
    return {
        # A job waiting on dependencies is not due by its time alone (store/*_flow.py).
        Due.DELAYED: (f"{status_is(JobStatus.DELAYED)} AND waiting = 0", "due_at"),
        Due.LEASE: (RUNNING, "lease_expires_at"),
        Due.DEADLINE: (f"deadline_at IS NOT NULL AND status IN {NOT_FINAL}", "deadline_at"),
        Due.CALLBACK: (f"callback_state = '{_PENDING}'", "callback_next_at"),
        Due.EXPIRED: (
            f"expires_at IS NOT NULL AND callback_state {is_not} '{_PENDING}'",
            "expires_at",
        ),
    }
