"""A report riding on a take, in one statement, when nothing forces a transaction.

Report-and-take (`update_and_claim`) is otherwise a transaction: BEGIN, the
report's write, the claim, COMMIT, four round trips to the database on one
pooled connection. In the common case, a worker's `done` on a job this node
handed out, the report is one compare-and-set on the row kept with its
version (`postgres_known`) and the claim is the plain one; the two then go
as one statement (`postgres_sql.riding_query`): one round trip, one commit,
as atomic as the transaction.

The statement claims only if the report was written. A report that finds
its row moved on writes nothing and claims nothing, and the caller runs the
transaction instead, which reads the row as it is now.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from accepted.store import postgres_sql as sql
from accepted.store import rows, sql_rules
from accepted.store.base import ClaimRequest
from accepted.store.postgres_known import KnownRows
from accepted.types import Job, JobStatus

Riding = Callable[[Any], Awaitable[tuple[Job, list[Job]] | None]]


def claim_args(claim: ClaimRequest) -> list[Any] | None:
    """`claim_query`'s parameters for `claim`; None when it can claim nothing."""
    c = claim
    limit = sql_rules.claim_size(c.count, c.leases, c.queues, c.prefixes)
    if limit == 0:
        return None
    args: list[Any] = [c.now, limit, list(c.leases), c.lease_expires_at]
    if c.prefixes:
        args += [list(c.queues or ()), list(c.prefixes)]
    elif c.queues is not None:
        args.append(c.queues[0] if len(c.queues) == 1 else list(c.queues))
    return args


def riding(
    known: tuple[Job, Job, Any] | None, claim: ClaimRequest, kept: KnownRows
) -> Riding | None:
    """The one-statement report and claim, to run on a connection; None when the
    report or the claim needs the transaction.

    `known` is the report decided on a kept row: (kept row, new row, version).
    It rides when it writes no history row (a hand-out ended short of done
    does), settles nothing (the caller's check: what waits on it settles in a
    transaction), and makes nothing takeable (the claim, on the statement's
    snapshot, would not see it); and the claim is the plain one.
    """
    if known is None or claim.limited:
        return None
    job, new, version = known
    if rows.ended_attempt(job, new) is not None or new.status is JobStatus.QUEUED:
        return None
    args = claim_args(claim)
    if args is None:
        return None
    query = sql.riding_query(claim.queues, claim.prefixes)
    report_args = [*sql.column_values(new, ("id", *rows.MUTABLE)), version]

    async def work(conn: Any) -> tuple[Job, list[Job]] | None:
        records = await conn.fetch(query, *report_args, *args)
        written = records[0]["reported"]
        if written is None:
            return None  # the row moved on: nothing was written or claimed
        stored = rows.stored(new)
        kept.wrote(stored, written)
        taken = sorted((r for r in records if r["n"] is not None), key=lambda r: r["n"])
        jobs = [sql.from_record(r) for r in taken]
        kept.keep_records(jobs, taken)
        return stored, jobs

    return work
