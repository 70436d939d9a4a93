"""The limited claim on PostgreSQL: hand-outs from queues with limits (see limits_rows).

One transaction locks the settings rows of the limited queues the take names
(`FOR UPDATE`, in name order, so two takes never deadlock). A second node
claiming from the same queue waits there until the first commits, and then
reads the row as the first left it, and counts the running jobs afresh (each
statement of a READ COMMITTED transaction sees what committed before it), so
the two never both take the last free place. Queues without limits are never
locked: their takes stay one statement.

Within a node, takes of the same queues are combined: while one is at the
database, the others wait in-process, and the next one to go claims for all
that waited meanwhile, in one transaction, each getting its share in arrival
order. So thirty blocked workers of a limited queue cost one transaction per
round, not thirty waiting on the row lock, each holding a pooled connection
the node's enqueues and reports need.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from accepted.store import postgres_sql as sql
from accepted.store import sql_rules
from accepted.store.base import ClaimRequest
from accepted.store.fair_rows import STEP
from accepted.store.limits_rows import (
    GROUP_SLACK,
    LIMITED,
    LIMITS_COLUMNS,
    Candidate,
    Room,
    limits_from,
    logged,
    opens_at,
    pick,
    room_for,
)
from accepted.store.postgres_fair import PURGE
from accepted.store.postgres_link import Link
from accepted.store.rows import COLUMNS
from accepted.types import Job

T = TypeVar("T")

_MATCH = (
    "($1::text[] IS NULL OR name = ANY($1::text[]) "
    "OR EXISTS (SELECT 1 FROM unnest($2::text[]) AS p WHERE starts_with(name, p)))"
)
ROOMS = (
    f"SELECT name, {LIMITS_COLUMNS}, rate_log FROM accepted_queues "
    f"WHERE {LIMITED} AND NOT paused AND {_MATCH} ORDER BY name FOR UPDATE"
)
RUNNING = f"SELECT count(*) FROM {sql.TABLE} WHERE queue = $1 AND {sql_rules.RUNNING}"
GROUPS_RUNNING = (
    f"SELECT fair_group, count(*) AS n FROM {sql.TABLE} WHERE queue = $1 "
    f"AND {sql_rules.RUNNING} AND fair_group IS NOT NULL GROUP BY fair_group"
)
_PICK = sql_rules.CANDIDATE
# The best queued rows of limited queue $1 at $2 outside the full groups $3, $4 of them.
_OF_ONE_QUEUE = (
    f"FROM {sql.TABLE} WHERE {sql_rules.takeable('$2')} AND queue = $1 "
    "AND (fair_group IS NULL OR fair_group <> ALL($3::text[])) "
    f"ORDER BY {sql_rules.order_by()} LIMIT $4 FOR UPDATE SKIP LOCKED"
)
CANDIDATES = f"SELECT {_PICK} {_OF_ONE_QUEUE}"
MARK = (
    f"UPDATE {sql.TABLE} AS j SET status = 'running', attempts = j.attempts + 1, "
    "lease = u.lease, lease_expires_at = u.expires, "
    "updated_at = greatest($4, j.updated_at), started_at = greatest($4, j.updated_at) "
    "FROM unnest($1::int8[], $2::text[], $3::float8[]) "
    "WITH ORDINALITY AS u(seq, lease, expires, n) "
    f"WHERE j.seq = u.seq RETURNING u.n, {', '.join('j.' + c for c in COLUMNS)}"
)
WRITE_LOG = "UPDATE accepted_queues SET rate_log = $2 WHERE name = $1"
# The common take of one limited queue alone: pick and mark in one statement
# (the row lock is held for one round trip less). $1 queue, $2 now, $3 full
# groups, $4 how many, $5 lease tokens, $6 lease expiry.
CLAIM_ONE_QUEUE = (
    f"WITH picked AS (SELECT {sql_rules.PICK} {_OF_ONE_QUEUE}), "
    f"numbered AS (SELECT seq, row_number() OVER (ORDER BY {sql_rules.PICKED_ORDER}) AS n "
    "FROM picked) "
    f"UPDATE {sql.TABLE} AS j SET status = 'running', attempts = j.attempts + 1, "
    "lease = ($5::text[])[numbered.n], lease_expires_at = ($6::float8[])[numbered.n], "
    "updated_at = greatest($2, j.updated_at), "
    "started_at = greatest($2, j.updated_at) "
    f"FROM numbered WHERE j.seq = numbered.seq RETURNING numbered.n, "
    f"{', '.join('j.' + c for c in COLUMNS)}"
)


def plain_candidates(queues: Sequence[str] | None, prefixes: Sequence[str]) -> str:
    """The best rows of the take's unlimited queues: $1 now, $2 how many, $3 names, $4 prefixes."""
    where = sql.claim_where(queues, prefixes, now="$1", names="$3", starts="$4")
    return (
        f"SELECT {_PICK} FROM {sql.TABLE} WHERE {where} "
        f"ORDER BY {sql_rules.order_by()} LIMIT $2 FOR UPDATE SKIP LOCKED"
    )


async def rooms(
    conn: Any, queues: Sequence[str] | None, prefixes: Sequence[str], now: float
) -> dict[str, Room]:
    """Lock and measure each limited, unpaused queue the take names (None: any)."""
    names = None if queues is None and not prefixes else list(queues or ())
    found = {}
    for r in await conn.fetch(ROOMS, names, list(prefixes)):
        limits = limits_from(
            r["rate_jobs"], r["rate_per"], r["concurrency"], r["group_concurrency"]
        )
        running = await conn.fetchval(RUNNING, r["name"]) if limits.concurrency else 0
        groups: dict[str, int] = {}
        if limits.group_concurrency is not None:
            groups = {g["fair_group"]: g["n"] for g in await conn.fetch(GROUPS_RUNNING, r["name"])}
        found[r["name"]] = room_for(r["name"], limits, list(r["rate_log"]), running, groups, now)
    return found


async def candidates(conn: Any, room: Room, limit: int, now: float) -> list[Candidate]:
    take = min(limit, room.left)
    if take <= 0:
        return []
    if room.limits.group_concurrency is not None and limit > 1:
        take += GROUP_SLACK
    records = await conn.fetch(CANDIDATES, room.queue, now, room.full_groups, take)
    return [Candidate(*r) for r in records]


@dataclass(slots=True)
class _Take:
    """One take waiting for its turn: what it asks for, and where its jobs go."""

    count: int
    now: float
    leases: Sequence[str]
    expires: float
    answer: asyncio.Future[tuple[list[Job], float | None]]


@dataclass(slots=True, weakref_slot=True)
class _Turn:
    """The takes of one set of queues: a lock for the one at the database, and who waits."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: list[_Take] = field(default_factory=list)


class PostgresLimits:
    """Mixed into `PostgresStore`; see `store.base.JobStore.claim_limited`."""

    _link: Link
    # The combined takes of each set of queues (see the module docstring).
    _turns: weakref.WeakValueDictionary[object, _Turn]

    def _run(
        self, work: Callable[[Any], Awaitable[T]], *, transaction: bool = True
    ) -> Awaitable[T]:
        raise NotImplementedError  # pragma: no cover - PostgresStore's

    def announce_capacity(self, queue: str, count: int) -> None:
        self._link.announce_capacity(queue, count)

    async def purge_fair_groups(self, now: float, limit: int) -> int:
        async def work(conn: Any) -> int:
            status = await conn.execute(PURGE, STEP, now, limit)
            return int(status.split()[-1])

        return await self._run(work)

    async def claim_limited(
        self,
        queues: Sequence[str] | None,
        count: int,
        now: float,
        leases: Sequence[str],
        lease_expires_at: float,
        *,
        prefixes: Sequence[str] = (),
    ) -> tuple[list[Job], float | None]:
        limit = sql_rules.claim_size(count, leases, queues, prefixes)
        if limit == 0:
            return [], None
        key = (None if queues is None else tuple(sorted(set(queues))), tuple(prefixes))
        turn = self._turns.get(key)
        if turn is None:
            turn = self._turns[key] = _Turn()
        take = _Take(limit, now, leases[:limit], lease_expires_at, asyncio.Future())
        turn.waiting.append(take)
        async with turn.lock:
            if not take.answer.done():  # nobody claimed for it meanwhile: claim for all waiting
                batch, turn.waiting = turn.waiting, []
                await self._claim_for(batch, queues, prefixes)
        return take.answer.result()

    async def _claim_for(
        self, batch: list[_Take], queues: Sequence[str] | None, prefixes: Sequence[str]
    ) -> None:
        """One claim for every take of `batch`; each gets its share, in arrival order."""
        now = max(t.now for t in batch)
        total = sum(t.count for t in batch)
        leases = [lease for t in batch for lease in t.leases]
        expires = [t.expires for t in batch for _ in t.leases]
        try:
            jobs, opens = await self._run(
                lambda conn: _claim(conn, queues, prefixes, total, now, leases, expires)
            )
        except Exception as exc:  # each take raises it as its answer
            for t in batch:
                t.answer.set_exception(exc)
            return
        except BaseException:
            for t in batch:
                t.answer.cancel()
            raise
        # Job n got leases[n]: each take's share is its own slice of the order.
        start = 0
        for t in batch:
            t.answer.set_result((jobs[start : start + t.count], opens))
            start += t.count


async def limited_claim(conn: Any, claim: ClaimRequest) -> tuple[list[Job], float | None]:
    """`claim_limited` in the caller's transaction (which then holds the settings rows'
    locks until it commits), bypassing the node's turn."""
    limit = min(claim.count, len(claim.leases))
    leases = claim.leases[:limit]
    expires = [claim.lease_expires_at] * limit
    return await _claim(conn, claim.queues, claim.prefixes, limit, claim.now, leases, expires)


async def _claim(
    conn: Any,
    queues: Sequence[str] | None,
    prefixes: Sequence[str],
    limit: int,
    now: float,
    leases: Sequence[str],
    expires: Sequence[float],
) -> tuple[list[Job], float | None]:
    """The limited claim, in the caller's transaction: job n gets leases[n], expires[n]."""
    found = await rooms(conn, queues, prefixes, now)
    # Every queue named is limited (and unpaused): no plain candidates to read.
    only_limited = queues is not None and not prefixes and set(queues) <= found.keys()
    if only_limited and len(found) == 1:
        [room] = found.values()
        if limit == 1 or room.limits.group_concurrency is None:
            jobs = await _claim_one_queue(conn, room, limit, leases, expires, now)
            return jobs, await _write_logs(conn, found, jobs, now)
    offered = [] if only_limited else await _plain(conn, queues, prefixes, limit, now)
    for room in found.values():
        offered += await candidates(conn, room, limit, now)
    chosen = pick(offered, limit, found)
    jobs = await _hand_out(conn, chosen, leases, expires, now)
    return jobs, await _write_logs(conn, found, jobs, now)


async def _plain(
    conn: Any, queues: Sequence[str] | None, prefixes: Sequence[str], limit: int, now: float
) -> list[Candidate]:
    """The best rows of the take's queues without limits, as candidates."""
    args: list[Any] = [now, limit]
    if prefixes:
        args += [list(queues or ()), list(prefixes)]
    elif queues is not None:
        args.append(queues[0] if len(queues) == 1 else list(queues))
    return [Candidate(*r) for r in await conn.fetch(plain_candidates(queues, prefixes), *args)]


async def _claim_one_queue(
    conn: Any,
    room: Room,
    limit: int,
    leases: Sequence[str],
    expires: Sequence[float],
    now: float,
) -> list[Job]:
    """Up to the room left of one limited queue, picked and marked in one statement."""
    take = min(limit, room.left)
    if take <= 0:
        return []
    records = await conn.fetch(
        CLAIM_ONE_QUEUE,
        room.queue,
        now,
        room.full_groups,
        take,
        list(leases[:take]),
        list(expires[:take]),
    )
    return [sql.from_record(r) for r in sorted(records, key=lambda r: r["n"])]


async def _hand_out(
    conn: Any,
    chosen: Sequence[Candidate],
    leases: Sequence[str],
    expires: Sequence[float],
    now: float,
) -> list[Job]:
    if not chosen:
        return []
    n = len(chosen)
    seqs = [c.seq for c in chosen]
    records = await conn.fetch(MARK, seqs, list(leases[:n]), list(expires[:n]), now)
    return [sql.from_record(r) for r in sorted(records, key=lambda r: r["n"])]


async def _write_logs(
    conn: Any, found: dict[str, Room], jobs: Sequence[Job], now: float
) -> float | None:
    """Write each rate window back; the earliest time a full one lets a job through."""
    taken: dict[str, int] = {}
    for job in jobs:
        taken[job.queue] = taken.get(job.queue, 0) + 1
    after = []
    for room in found.values():
        log = logged(room, taken.get(room.queue, 0), now)
        if log is not None and taken.get(room.queue):
            await conn.execute(WRITE_LOG, room.queue, log)
            room.log = log
        after.append(room_for(room.queue, room.limits, room.log, 0, {}, now))
    return opens_at(after)
