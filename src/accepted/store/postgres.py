"""The shared backend: any number of nodes on one PostgreSQL database act as one queue.

- Taking a job is one statement (`FOR UPDATE SKIP LOCKED`): concurrent takers
  on any node never get the same job and never wait on each other.
- A rule on one job (`update_job`) reads the row, applies the service's
  `decide`, and writes only if the row is still the version it read (a
  compare-and-set on `xmin`); after a few lost races it locks the row
  (`SELECT ... FOR UPDATE`) instead. Batches lock their rows in id order, and
  sweeps lock their batch with `SKIP LOCKED`, so nodes sweeping at once split
  the work.
- Writes that make a job takeable, final or gone are announced to the other
  nodes (NOTIFY) just after they commit; each node's `Link` turns the others'
  notices into wake-ups and keeps the node on the database's clock.
- Driver errors never escape: an unreachable database is `StoreUnavailable`
  (HTTP 503). Getting a connection is retried with backoff; the pool replaces
  broken connections, so the node recovers by itself when the database returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg

from accepted.errors import (
    AcceptedError,
    InvalidRequest,
    JobNotFound,
    StoreUnavailable,
    UniqueKeyHeld,
)
from accepted.store import idempotency_rows, rows
from accepted.store import postgres_flow as flow
from accepted.store import postgres_idempotency as pg_keys
from accepted.store import postgres_sql as sql
from accepted.store.base import (
    ClaimRequest,
    Decide,
    DependencyRules,
    IdempotencyKey,
    Outcome,
    Placed,
    Wakeups,
)
from accepted.store.fair_rows import has_groups
from accepted.store.idempotency_rows import Replay
from accepted.store.limits_rows import handed_off_queues, hold_back
from accepted.store.migrations import load_migrations
from accepted.store.notices import newly_settled, newly_takeable
from accepted.store.postgres_fair import INSERT_ONE_RANKED, insert_one_args, rank_groups
from accepted.store.postgres_known import KnownRows
from accepted.store.postgres_limits import PostgresLimits, limited_claim
from accepted.store.postgres_link import DbClock, Link
from accepted.store.postgres_listing import PostgresListing
from accepted.store.postgres_queues import HELD_BACK, PostgresQueues
from accepted.store.postgres_riding import claim_args, riding
from accepted.store.postgres_schedules import PostgresSchedules
from accepted.store.postgres_tokens import PostgresTokens
from accepted.types import Attempt, Due, Job

log = logging.getLogger("accepted.store.postgres")

T = TypeVar("T")

CONNECT_TIMEOUT = 5.0  # seconds to open one connection
ACQUIRE_TIMEOUT = 10.0  # seconds to wait for a free pooled connection
COMMAND_TIMEOUT = 30.0  # no statement of ours runs this long unless the link is dead
CONNECT_RETRIES = (0.05, 0.2, 0.5)  # backoff before each retry of getting a connection
CONFLICT_RETRIES = 5  # serialization failures and deadlocks are retried this often
OPTIMISTIC_TRIES = 3  # compare-and-set attempts before update_job locks the row
IDLE_IN_TRANSACTION_MS = "60000"
MIGRATION_LOCK = 0x61636365707465  # pg_advisory_xact_lock key: "accepte"

# Errors that mean "the database is not there (right now)", not "our SQL is wrong".
_UNAVAILABLE = (
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.InsufficientResourcesError,
    asyncpg.ObjectNotInPrerequisiteStateError,
    asyncpg.InvalidCatalogNameError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
)
_DRIVER = (asyncpg.PostgresError, asyncpg.InternalClientError, *_UNAVAILABLE)


class PostgresStore(PostgresQueues, PostgresListing, PostgresSchedules, PostgresLimits):
    """`JobStore` on PostgreSQL; see `store.base` for each method's contract."""

    def __init__(
        self, url: str, *, pool_size: int = 10, local_clock: Callable[[], float] = time.time
    ) -> None:
        self.url = url
        self.pool_size = pool_size
        self.node = secrets.token_hex(6)
        self._clock = DbClock(local_clock)
        self._pool: Any = None
        self._link = Link(self._connect_one, self.node, self._clock)
        self.tokens = PostgresTokens(self._run, self._link.announce_tokens)
        self._turns = weakref.WeakValueDictionary()  # limited takes' turns (postgres_limits)
        self._rules: DependencyRules | None = None
        self._known = KnownRows()  # rows handed out here, for their reports (postgres_known)

    shared = True

    def clock(self) -> float:
        return self._clock.now()

    def attach(self, wakeups: Wakeups) -> None:
        self._link.wakeups = wakeups

    def announce_change(self, job_id: str, status: str) -> None:
        self._link.announce_change(job_id, status)

    def announce_listening(self, listening: bool) -> None:
        self._link.set_listening(listening)

    async def listening_announced(self) -> None:
        await self._link.advertised()

    # -- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=1,
                max_size=self.pool_size,
                timeout=CONNECT_TIMEOUT,
                command_timeout=COMMAND_TIMEOUT,
                reset=_keep_session,
                server_settings=self._session_settings(""),
            )
            async with self._pool.acquire() as conn:
                await _migrate(conn)
                await _probe_write(conn)  # a read-only database must not start
            await self._link.start()
        except _DRIVER as exc:
            await self.close()
            raise StoreUnavailable(
                f"cannot open the PostgreSQL database {_named(self.url)} for writing: {exc}"
            ) from exc

    async def check_writes(self) -> None:
        await self._run(_probe_write, transaction=False)

    async def checkpoint(self, now: float) -> float | None:
        return None  # PostgreSQL's own checkpointer does it, off every commit's path

    async def close(self) -> None:
        await self._link.stop()
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), timeout=5.0)
            except (TimeoutError, *_DRIVER):
                pool.terminate()

    def _connect_one(self) -> Awaitable[Any]:
        connecting: Awaitable[Any] = asyncpg.connect(
            self.url,
            timeout=CONNECT_TIMEOUT,
            server_settings={
                **self._session_settings("/link"),
                # Only notices are written here, and they need not be durable.
                "synchronous_commit": "off",
            },
        )
        return connecting

    def _session_settings(self, role: str) -> dict[str, str]:
        return {
            "application_name": f"accepted/{self.node}{role}",
            # Our transactions never pause; one that does belongs to a node cut
            # off mid-transaction, whose row locks must not outlive it for long.
            "idle_in_transaction_session_timeout": IDLE_IN_TRANSACTION_MS,
        }

    # -- running statements ------------------------------------------------------------

    async def _run(self, work: Callable[[Any], Awaitable[T]], *, transaction: bool = True) -> T:
        """Run `work` on a pooled connection (in a transaction), mapping driver errors."""
        if self._pool is None:
            raise StoreUnavailable("the PostgreSQL store is not open")
        for attempt in range(CONFLICT_RETRIES + 1):
            conn = await self._acquire()
            try:
                if not transaction:
                    return await work(conn)
                async with conn.transaction():
                    return await work(conn)
            except (asyncpg.SerializationError, asyncpg.DeadlockDetectedError) as exc:
                if attempt == CONFLICT_RETRIES:
                    raise StoreUnavailable(f"database conflict, retries exhausted: {exc}") from exc
            except AcceptedError:
                raise
            except _UNAVAILABLE as exc:
                raise StoreUnavailable(f"database unreachable: {exc}") from exc
            except asyncpg.DataError as exc:
                # A value the database cannot hold (e.g. a NUL byte in text) got past the
                # HTTP checks: the client's input, not an outage.
                raise InvalidRequest(f"a value cannot be stored: {exc}") from exc
            except _DRIVER as exc:
                _unique_key_held(exc)
                if conn.is_closed():
                    # The server went away mid-statement; asyncpg may say so as an
                    # internal state error ("another operation is in progress").
                    raise StoreUnavailable("database unreachable: connection lost") from exc
                log.exception("database error")
                raise StoreUnavailable(f"database error: {exc}") from exc
            finally:
                await self._release(conn)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _acquire(self) -> Any:
        """A pooled connection. Failing to get one is retried with backoff: nothing ran yet.

        The wait is bounded by `asyncio.timeout`, not by acquire's own `timeout=`,
        which runs every acquire in a task of its own (`wait_for`): one task per
        statement saved.
        """
        for delay in (*CONNECT_RETRIES, None):
            try:
                async with asyncio.timeout(ACQUIRE_TIMEOUT):
                    return await self._pool.acquire()
            except _DRIVER as exc:
                if delay is None:
                    raise StoreUnavailable(f"database unreachable: {exc}") from exc
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _release(self, conn: Any) -> None:
        # A broken connection is discarded by the pool, which opens a new one when needed.
        with contextlib.suppress(*_DRIVER):
            await self._pool.release(conn)

    # -- the JobStore protocol ---------------------------------------------------------

    async def insert_jobs(
        self, jobs: Sequence[Job], queued: Sequence[Job] | None = None
    ) -> list[Job]:
        if not jobs:
            return []
        handed = handed_off_queues(jobs, queued)
        if handed and queued is not None and len(jobs) == 1 and jobs[0].fair_group is None:
            job, was = jobs[0], queued[0]
            stored = await self._run(
                lambda conn: self._insert_handed(conn, job, was), transaction=False
            )
            self._link.announce(newly_takeable((None, job) for job in stored), ())
            return stored
        if handed and queued is not None:  # the settings are read in the inserting transaction

            async def checked(conn: Any) -> list[Job]:
                held = [r["name"] for r in await conn.fetch(HELD_BACK, handed)]
                stored = hold_back(jobs, queued, held)
                await _insert_ranked(conn, stored)
                return stored

            stored = await self._run(checked)
            self._link.announce(newly_takeable((None, job) for job in stored), ())
            return stored
        if len(jobs) == 1 and jobs[0].fair_group is not None:  # ranked as it is inserted
            args = insert_one_args(jobs[0])
            await self._run(lambda conn: conn.execute(INSERT_ONE_RANKED, *args), transaction=False)
        elif has_groups(jobs):  # ranked in the inserting transaction
            await self._run(lambda conn: _insert_ranked(conn, jobs))
        else:
            if len(jobs) == 1:
                query, args = sql.INSERT_ONE, sql.column_values(jobs[0])
            else:
                query, args = sql.INSERT, sql.column_arrays(jobs, rows.COLUMNS)
            # One statement: atomic without an explicit transaction.
            await self._run(lambda conn: conn.execute(query, *args), transaction=False)
        self._link.announce(newly_takeable((None, job) for job in jobs), ())
        return list(jobs)

    async def _insert_handed(self, conn: Any, job: Job, was: Job) -> list[Job]:
        """One job handed out as it is inserted, or `was` (queued) if its queue holds it back."""
        version = await conn.fetchval(sql.INSERT_ONE_HANDED, *sql.column_values(job))
        if version is None:  # paused or limited (each statement commits on its own)
            await conn.execute(sql.INSERT_ONE, *sql.column_values(was))
            return [was]
        self._known.keep(rows.stored(job), version)
        return [job]

    async def get_job(self, job_id: str) -> Job | None:
        async def work(conn: Any) -> Job | None:
            record = await conn.fetchrow(sql.SELECT_ONE, job_id)
            return None if record is None else sql.from_record(record)

        if not _is_uuid(job_id):
            return None
        return await self._run(work, transaction=False)

    async def claim_jobs(
        self,
        queues: Sequence[str] | None,
        count: int,
        now: float,
        leases: Sequence[str],
        lease_expires_at: float,
        *,
        prefixes: Sequence[str] = (),
    ) -> list[Job]:
        work = _claiming(queues, count, now, leases, lease_expires_at, prefixes, self._known)
        return [] if work is None else await self._run(work, transaction=False)

    async def update_job(self, job_id: str, decide: Decide) -> Job:
        """Read, decide, and write only if the row is still the version read.

        A compare-and-set on the row version (`xmin`) in two round trips,
        where lock-then-write takes four (BEGIN, SELECT FOR UPDATE, UPDATE,
        COMMIT): the rule is still applied to exactly the row it replaces. If
        the row changed in between, decide runs again on the new one; a row
        changing under us that often is locked instead, so the call always ends.
        A job this node handed out (or heartbeat) last is decided on the row it
        kept, with its version (`postgres_known`): one round trip, the write.
        """
        changes: list[tuple[Job, Job]] = []
        cascaded: list[tuple[Job, Job]] = []

        async def optimistic(conn: Any) -> Job | None:
            known = self._known.decide(job_id, decide)
            if known is not None and not flow.settles(known[0], known[1]):
                written = await self._write_if_version(conn, *known)
                if written is not None:
                    changes.append((known[0], written))
                    return written
            for _ in range(OPTIMISTIC_TRIES):
                record, job, new = await _read_and_decide(conn, sql.SELECT_VERSION, job_id, decide)
                if new is None:
                    return job
                if flow.settles(job, new):  # its waiting jobs settle in its transaction
                    done = (changes, cascaded)
                    return await self._settle_if_version(conn, job, new, record["version"], done)
                written = await self._write_if_version(conn, job, new, record["version"])
                if written is not None:
                    changes.append((job, written))
                    return written
            return None

        async def locked(conn: Any) -> Job:
            changes.clear()  # a retried transaction starts over
            _, job, new = await _read_and_decide(conn, sql.LOCK_ONE, job_id, decide)
            if new is None:
                return job
            changes.append((job, new))
            await _write(conn, changes)
            cascaded[:] = await self._settle(conn, changes)
            return changes[0][1]

        if not _is_uuid(job_id):
            raise JobNotFound(f"no job {job_id}")
        result = await self._run(optimistic, transaction=False)
        if result is None:
            result = await self._run(locked)
        self._announce(changes)
        self._cascaded(cascaded)
        return result

    async def _write_if_version(self, conn: Any, job: Job, new: Job, version: Any) -> Job | None:
        """Write `new` (and the history row of the hand-out it ends) if the row is
        still `version`: the job as stored, or None if the row moved on."""
        args = [*sql.column_values(new, ("id", *rows.MUTABLE)), version]
        attempt = rows.ended_attempt(job, new)
        now_version = None
        if attempt is None:
            now_version = await conn.fetchval(sql.UPDATE_IF_VERSION, *args)
            if now_version is None:
                return None
        else:  # a hand-out ended short of done: never kept, so its version is not needed
            args += sql.attempt_values(attempt)
            if await conn.execute(sql.UPDATE_IF_VERSION_ENDING, *args) != "INSERT 0 1":
                return None
        stored = rows.stored(new)
        self._known.wrote(stored, now_version)
        return stored

    async def _settle_if_version(
        self, conn: Any, job: Job, new: Job, version: Any, done: tuple[Changes, Changes]
    ) -> Job | None:
        """Make a dependency final if its row is still `version`, and settle what waits
        on it: BEGIN, the compare-and-set, its edges taken with the waiting jobs
        locked, their write, COMMIT. The job as stored (`done` then holds its
        change and what settled), or None for update_job to lock the row instead:
        the row moved on since the read (nothing was written), or the change also
        writes a history row.

        The edges are read by a statement after the compare-and-set, not in it:
        an enqueue adding an edge holds the row's lock until it commits, so only
        a snapshot taken once the compare-and-set has the row sees that edge.
        """
        if rows.ended_attempt(job, new) is not None:
            return None
        args = [*sql.column_values(new, ("id", *rows.MUTABLE)), version]
        async with conn.transaction():
            if await conn.execute(sql.UPDATE_IF_VERSION, *args) != "UPDATE 1":
                return None
            stored = rows.stored(new)
            ended = [(stored, stored.status.value, stored.updated_at)]
            settled = await flow.settle(conn, ended, self._require_rules(), _write)
        changes, cascaded = done  # filled once committed: a retried transaction starts over
        changes[:], cascaded[:] = [(job, stored)], settled
        return stored

    async def update_jobs(self, changes: Sequence[tuple[str, Decide]]) -> list[Job | Exception]:
        if len(changes) == 1:  # one report on a row kept here: one statement, as update_job's
            known = self._known.decide(*changes[0])
            if known is not None and not flow.settles(known[0], known[1]):
                kept = known
                stored = await self._run(
                    lambda conn: self._write_if_version(conn, *kept), transaction=False
                )
                if stored is not None:
                    self._announce([(kept[0], stored)])
                    return [stored]
        written: Changes = []
        cascaded: Changes = []
        results = await self._run(self._updating(changes, written, cascaded))
        self._announce(written)
        self._cascaded(cascaded)
        return results

    async def update_and_claim(
        self, changes: Sequence[tuple[str, Decide]], claim: ClaimRequest
    ) -> tuple[list[Job | Exception], list[Job], float | None]:
        written: Changes = []
        cascaded: Changes = []
        update = self._updating(changes, written, cascaded)
        c = claim
        plain = _claiming(
            c.queues, c.count, c.now, c.leases, c.lease_expires_at, c.prefixes, self._known
        )

        known = self._known.decide(*changes[0]) if len(changes) == 1 else None
        if known is not None and flow.settles(known[0], known[1]):
            known = None  # its waiting jobs settle in the transaction: the full update
        one_statement = riding(known, claim, self._known)
        if one_statement is not None:
            done = await self._run(one_statement, transaction=False)
            if done is not None:
                stored, jobs = done
                self._announce([(known[0], stored)] if known is not None else [])
                return [stored], jobs, None
            known = None  # the row moved on: read it, in the transaction

        async def work(conn: Any) -> tuple[list[Job | Exception], list[Job], float | None]:
            # One report on a row this node handed out: decided on the kept row and
            # written by compare-and-set, no read (as `update_job`); else read and lock.
            stored = None if known is None else await self._write_if_version(conn, *known)
            if stored is not None and known is not None:
                written[:], cascaded[:] = [(known[0], stored)], []
                results: list[Job | Exception] = [stored]
            else:
                results = await update(conn)
            if plain is None or any(isinstance(r, Exception) for r in results):
                return results, [], None
            if c.limited:
                # In this transaction, not through the node's turn (`claim_limited`):
                # the report's row locks are held already, and commit with the claim.
                jobs, opens = await limited_claim(conn, c)
                return results, jobs, opens
            return results, await plain(conn), None

        results, jobs, opens = await self._run(work)
        self._announce(written)
        self._cascaded(cascaded)
        return results, jobs, opens

    def _updating(
        self, changes: Sequence[tuple[str, Decide]], written: Changes, cascaded: Changes
    ) -> Callable[[Any], Awaitable[list[Job | Exception]]]:
        """`update_jobs`' work in the caller's transaction; `written` and `cascaded`
        then hold what it changed and what settled."""

        async def work(conn: Any) -> list[Job | Exception]:
            ids = sorted({job_id for job_id, _ in changes if _is_uuid(job_id)})
            records = await conn.fetch(sql.LOCK_MANY, ids)
            before = {job.id: job for job in map(sql.from_record, records)}
            current = dict(before)
            results = [_apply(current, job_id, decide) for job_id, decide in changes]
            written[:] = [(before[i], job) for i, job in current.items() if job is not before[i]]
            first = {job_id: -i for i, (job_id, _) in enumerate(reversed(changes))}
            written.sort(key=lambda change: first.get(change[1].id, 0))  # the first asked wins
            refused = await flow.refused_revivals(conn, written)
            if refused:  # a retry whose unique key another job holds: that job's 409 alone
                written[:] = [(old, new) for old, new in written if new.id not in refused]
                results = [flow.held(r) if _refused(r, refused) else r for r in results]
            await _write(conn, written)
            cascaded[:] = await self._settle(conn, written)
            return [_stored(result) for result in results]

        return work

    async def get_attempts(self, job_id: str) -> tuple[Job, list[Attempt]]:
        async def work(conn: Any) -> tuple[Job, list[Attempt]]:
            records = await conn.fetch(sql.SELECT_ATTEMPTS, job_id)
            if not records:
                raise JobNotFound(f"no job {job_id}")
            ended = [sql.attempt_from_record(r) for r in records if r["a_attempt"] is not None]
            return sql.from_record(records[0]), ended

        if not _is_uuid(job_id):
            raise JobNotFound(f"no job {job_id}")
        return await self._run(work, transaction=False)

    async def delete_job(self, job_id: str) -> Job:
        cascaded: list[tuple[Job, Job]] = []
        now = self.clock()

        async def work(conn: Any) -> Job:
            record = await conn.fetchrow(sql.DELETE, job_id)
            if record is None:
                raise JobNotFound(f"no job {job_id}")
            job = sql.from_record(record)
            cascaded[:] = await self.settle_deleted(conn, [job], now)
            return job

        async def alone(conn: Any) -> Job | None:
            record = await conn.fetchrow(flow.DELETE_UNLESS_WAITED_ON, job_id)
            return None if record is None else sql.from_record(record)

        if not _is_uuid(job_id):
            raise JobNotFound(f"no job {job_id}")
        # One statement when no job waits on this one (the common case); else, or
        # when there is no such job, a transaction that settles what waits on it.
        found = await self._run(alone, transaction=False)
        job = found if found is not None else await self._run(work)
        if not job.is_final:  # waiters elsewhere stop waiting; for a final job none are left
            self._link.announce((), (job.id,))
        self._cascaded(cascaded)
        return job

    async def sweep(self, due: Due, now: float, decide: Decide, limit: int) -> list[Job]:
        query = sql.sweep_query(due)

        changes: list[tuple[Job, Job]] = []
        cascaded: list[tuple[Job, Job]] = []

        async def work(conn: Any) -> list[Job]:
            changes.clear()  # a retried transaction starts over
            for record in await conn.fetch(query, now, limit):
                job = sql.from_record(record)
                new = decide(job)
                if new is not None:
                    changes.append((job, new))
            await _write(conn, changes)
            cascaded[:] = await self._settle(conn, changes)
            return [new for _, new in changes]

        changed = await self._run(work)
        self._announce(changes)
        self._cascaded(cascaded)
        return changed

    async def purge_expired(self, now: float, limit: int) -> list[str]:
        async def work(conn: Any) -> list[str]:
            return [str(r["id"]) for r in await conn.fetch(sql.PURGE, now, limit)]

        return await self._run(work, transaction=False)

    async def next_due(self, due: Due) -> float | None:
        query = sql.next_due_query(due)

        async def work(conn: Any) -> float | None:
            value = await conn.fetchval(query)
            return None if value is None else float(value)

        return await self._run(work, transaction=False)

    # -- idempotency keys (store/postgres_idempotency.py) -------------------------------

    async def insert_jobs_once(
        self, jobs: Sequence[Job], keys: Sequence[IdempotencyKey | None], now: float
    ) -> list[Job | None]:
        async def work(conn: Any) -> list[Job | None]:
            replays = await pg_keys.claim_keys(conn, jobs, keys, now)
            new = [job for i, job in enumerate(jobs) if i not in replays]
            if new:
                await _insert_ranked(conn, new)
            return await _replayed(conn, keys, replays, len(jobs))

        answer = await self._run(work)
        inserted = [job for job, replay in zip(jobs, answer, strict=True) if replay is None]
        self._link.announce(newly_takeable((None, job) for job in inserted), ())
        return answer

    # -- unique jobs and dependencies (store/postgres_flow.py) ----------------------------

    def attach_dependencies(self, rules: DependencyRules) -> None:
        self._rules = rules

    def _require_rules(self) -> DependencyRules:
        if self._rules is None:  # pragma: no cover - a wiring error
            raise RuntimeError("attach_dependencies was not called")
        return self._rules

    async def _settle(self, conn: Any, changes: Sequence[tuple[Job, Job]]) -> list[tuple[Job, Job]]:
        """Release or cancel, in the caller's transaction, what waits on jobs made final."""
        ended = [
            (new, new.status.value, new.updated_at)
            for old, new in changes
            if flow.settles(old, new)
        ]
        if not ended:
            return []
        return await flow.settle(conn, ended, self._require_rules(), _write)

    async def settle_deleted(
        self, conn: Any, gone: Sequence[Job], now: float
    ) -> list[tuple[Job, Job]]:
        """Cancel, in the caller's transaction, what waits on jobs deleted while not final."""
        ended = [(job, "deleted", now) for job in gone if job.has_dependents and not job.is_final]
        if not ended:
            return []
        return await flow.settle(conn, ended, self._require_rules(), _write)

    def _cascaded(self, changes: list[tuple[Job, Job]]) -> None:
        """Once committed: tell the other nodes, and this node's service, what settled."""
        if changes:
            self._announce(changes)
            self._require_rules().changed([new for _, new in changes])

    async def insert_jobs_checked(
        self, jobs: Sequence[Job], keys: Sequence[IdempotencyKey | None], now: float
    ) -> list[Placed]:
        rules = self._require_rules()
        if flow.waits_alone(jobs, keys):
            job = await self._run(
                lambda conn: flow.insert_waiting(conn, jobs[0], now, rules), transaction=False
            )
            self._link.announce(newly_takeable([(None, job)]), ())
            return [Placed(job, Outcome.NEW)]

        async def work(conn: Any) -> list[Placed]:
            replays = await pg_keys.claim_keys(conn, jobs, keys, now)
            ranked = await rank_groups(conn, jobs) if has_groups(jobs) else jobs
            return await flow.insert(conn, ranked, keys, replays, now, rules)

        placed = await self._run(work)
        self._link.announce(
            newly_takeable((None, p.job) for p in placed if p.outcome is Outcome.NEW), ()
        )
        return placed

    async def purge_idempotency_keys(self, now: float, limit: int) -> int:
        count = await self._run(lambda conn: conn.fetchval(pg_keys.PURGE, now, limit))
        return int(count)

    async def next_idempotency_expiry(self) -> float | None:
        value = await self._run(lambda conn: conn.fetchval(pg_keys.NEXT_EXPIRY), transaction=False)
        return None if value is None else float(value)

    def _announce(self, changes: Sequence[tuple[Job, Job]]) -> None:
        """Tell the other nodes what committed changes made takeable or final."""
        if changes:
            self._link.announce(newly_takeable(changes), newly_settled(changes))


def _claiming(
    queues: Sequence[str] | None,
    count: int,
    now: float,
    leases: Sequence[str],
    lease_expires_at: float,
    prefixes: Sequence[str],
    known: KnownRows,
) -> Callable[[Any], Awaitable[list[Job]]] | None:
    """`claim_jobs`' one statement, to run on a connection; None when nothing can be claimed.

    The claimed rows are kept with their versions in `known`, for their reports. In a
    transaction that then rolls back, no later version of a row has that version: the
    reports' compare-and-set finds them out of date, and reads the row.
    """
    args = claim_args(ClaimRequest(queues, count, now, leases, lease_expires_at, prefixes))
    if args is None:
        return None
    query = sql.claim_query(queues, prefixes)

    async def work(conn: Any) -> list[Job]:
        records = sorted(await conn.fetch(query, *args), key=lambda r: r["n"])
        jobs = [sql.from_record(r) for r in records]
        known.keep_records(jobs, records)
        return jobs

    return work


async def _insert_ranked(conn: Any, jobs: Sequence[Job]) -> None:
    """Insert jobs in the caller's transaction, ranking the grouped ones first."""
    ranked = await rank_groups(conn, jobs) if has_groups(jobs) else jobs
    await conn.execute(sql.INSERT, *sql.column_arrays(ranked, rows.COLUMNS))


Changes = list[tuple[Job, Job]]  # (old, new) pairs of jobs a write changed


async def _write(conn: Any, changes: list[tuple[Job, Job]]) -> None:
    """Write the new rows of (old, new) pairs, in the caller's transaction, and the
    history rows of the hand-outs they end; `changes` then holds the jobs as stored."""
    await _write_rows(conn, changes)
    ended = [(new.id, a) for old, new in changes if (a := rows.ended_attempt(old, new))]
    if ended:
        columns = list(zip(*(sql.attempt_values(a) for _, a in ended), strict=True))
        await conn.execute(sql.INSERT_ATTEMPTS, [i for i, _ in ended], *map(list, columns))
    changes[:] = [(old, rows.stored(new)) for old, new in changes]


async def _write_rows(conn: Any, changes: Sequence[tuple[Job, Job]]) -> None:
    if len(changes) == 1:
        await conn.execute(sql.UPDATE_ONE, *sql.column_values(changes[0][1], ("id", *rows.MUTABLE)))
    elif changes:
        new_rows = [new for _, new in changes]
        await conn.execute(sql.UPDATE, *sql.column_arrays(new_rows, ("id", *rows.MUTABLE)))


async def _keep_session(conn: Any) -> None:
    """Releasing a connection skips asyncpg's reset query (a round trip per call).

    Nothing here changes session state: no SET, LISTEN, cursors or session
    advisory locks on pooled connections (the pool still rolls back an open
    transaction).
    """


def _apply(current: dict[str, Job], job_id: str, decide: Decide) -> Job | Exception:
    """One change of a batch, on the batch's view of the row so far."""
    job = current.get(job_id) if _is_uuid(job_id) else None
    if job is None:
        return JobNotFound(f"no job {job_id}")
    try:
        new = decide(job)
    except AcceptedError as exc:
        return exc
    if new is None:
        return job
    current[job_id] = new
    return new


async def _read_and_decide(
    conn: Any, query: str, job_id: str, decide: Decide
) -> tuple[Any, Job, Job | None]:
    """The job's row (read by `query`), the job, and decide's answer; JobNotFound if none."""
    record = await conn.fetchrow(query, job_id)
    if record is None:
        raise JobNotFound(f"no job {job_id}")
    job = sql.from_record(record)
    return record, job, decide(job)


def _refused(result: Job | Exception, refused: set[str]) -> bool:
    return isinstance(result, Job) and result.id in refused


def _unique_key_held(exc: Exception) -> None:
    """A write refused by the unique-key index (a retry of a job whose key another
    job not final holds) is the client's conflict, not a database error."""
    if (
        isinstance(exc, asyncpg.UniqueViolationError)
        and exc.constraint_name == "accepted_jobs_unique_key"
    ):
        raise UniqueKeyHeld(
            "another job of the queue not yet final holds this job's unique key"
        ) from exc


def _is_uuid(value: str) -> bool:
    """Job ids are UUIDs; anything else names no job (and must not reach a uuid column)."""
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


def _named(url: str) -> str:
    """host:port/database of a URL, for messages: never its password."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5432}{parts.path}"


async def _probe_write(conn: Any) -> None:
    """The smallest durable write: a transaction that takes an id commits a WAL record.

    A read-only server (a standby, `default_transaction_read_only`) refuses it.
    """
    async with conn.transaction():
        await conn.fetchval("SELECT txid_current()")


async def _migrate(conn: Any) -> None:
    """Apply the numbered migrations not yet applied, one node at a time."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS accepted_migrations ("
            "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = {r[0] for r in await conn.fetch("SELECT version FROM accepted_migrations")}
        for number, text in load_migrations("postgres"):
            if number not in applied:
                await conn.execute(text)
                await conn.execute("INSERT INTO accepted_migrations (version) VALUES ($1)", number)
                log.info("applied migration %04d", number)


async def _replayed(
    conn: Any, keys: Sequence[IdempotencyKey | None], replays: dict[int, Replay], count: int
) -> list[Job | None]:
    """Per job: None if inserted, else the replayed job as it is now."""
    answer: list[Job | None] = [None] * count
    if not replays:
        return answer
    records = await conn.fetch(sql.SELECT_MANY, list({r.job_id for r in replays.values()}))
    found = {job.id: job for job in map(sql.from_record, records)}
    for i, (job_id, _) in replays.items():
        key = keys[i]
        assert key is not None
        if job_id not in found:
            raise idempotency_rows.gone(key, job_id)
        answer[i] = found[job_id]
    return answer


def _stored(result: Job | Exception) -> Job | Exception:
    return rows.stored(result) if isinstance(result, Job) else result
