"""The embedded backend: one SQLite file, WAL, every commit synced before it is acknowledged.

All SQL runs on the `SqliteWriter` thread, so the functions here that take a
connection are plain synchronous code executed inside one transaction.

One server per file, but that server may be several processes
(`accepted serve --workers N`): then the store is `shared` like a PostgreSQL
one. Its processes take turns on the node's write lock, and each tells the
others over the node's `LocalLink` what its commits changed (jobs takeable or
settled, pauses, tokens, schedules, live events), as PostgreSQL nodes do with
NOTIFY.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING, Any

import msgspec

from accepted.errors import AcceptedError, JobNotFound, StoreUnavailable, UniqueKeyHeld
from accepted.store import idempotency_rows, sql_rules, sqlite_idempotency
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
from accepted.store.limits_rows import LIMITED, Candidate, handed_off_queues, hold_back
from accepted.store.notices import newly_settled, newly_takeable
from accepted.store.rows import (
    ATTEMPT_COLUMNS,
    COLUMN_LIST,
    COLUMNS,
    attempt_from_columns,
    ended_attempt,
    job_columns,
    job_from_row,
    stored,
)
from accepted.store.sqlite_batch import (
    INSERT_ATTEMPT,
    RowWrites,
    changed_columns,
    insert_statements,
    update_one_sql,
)
from accepted.store.sqlite_checkpoints import SqliteCheckpointer
from accepted.store.sqlite_claims import PICK_CANDIDATE, claim_candidates, no_window, plain_claim
from accepted.store.sqlite_fair import rank_groups
from accepted.store.sqlite_file import (
    cannot_write,
    check_room,
    check_writable,
    hold_file,
)
from accepted.store.sqlite_flow import SqliteFlow, settles
from accepted.store.sqlite_limits import SqliteLimits
from accepted.store.sqlite_listing import SqliteListing
from accepted.store.sqlite_migrations import migrate
from accepted.store.sqlite_queues import SqliteQueues
from accepted.store.sqlite_reader import SqliteReader
from accepted.store.sqlite_schedules import SqliteSchedules
from accepted.store.sqlite_text import SqliteText
from accepted.store.sqlite_tokens import SqliteTokens
from accepted.store.sqlite_walsync import WalSync
from accepted.store.sqlite_writer import SqliteWriter, savepoint
from accepted.types import Attempt, Due, Job

if TYPE_CHECKING:
    from accepted.store.local_link import LocalLink

_INSERT = f"INSERT INTO jobs ({COLUMN_LIST}) VALUES ({', '.join('?' * len(COLUMNS))})"
_SELECT = f"SELECT {COLUMN_LIST} FROM jobs"
# The queues of a direct hand-off that must not start jobs on insert (limits_rows).
_HELD_BACK = (
    f"SELECT name FROM queues WHERE (paused OR {LIMITED}) "
    "AND name IN (SELECT value FROM json_each(?))"
)
# The job and its ended hand-outs in one statement (one snapshot).
_SELECT_ATTEMPTS = (
    f"SELECT {', '.join('a.' + c for c in ATTEMPT_COLUMNS)}, "
    f"{', '.join('j.' + c for c in COLUMNS)} "
    "FROM jobs AS j LEFT JOIN job_attempts AS a ON a.job_id = j.id "
    "WHERE j.id = ? ORDER BY a.attempt"
)

# Which rows each sweep looks at (store/sql_rules.py); `IS NOT` is SQLite's null-safe `<>`.
_DUE_WHERE = sql_rules.due_where("IS NOT")


class SqliteStore(SqliteQueues, SqliteListing, SqliteSchedules, SqliteText, SqliteLimits):
    """`JobStore` on a SQLite file; see `store.base` for each method's contract."""

    def __init__(self, path: str, *, exclusive: bool = True, link: LocalLink | None = None) -> None:
        self.path = path
        # Not exclusive: a short-lived helper (`accepted token create --db`) that
        # may run beside the server; it only touches tokens, which the server
        # re-reads by itself, so it needs none of the server's wake-ups. A
        # process of a several-process server is not exclusive either: its
        # parent holds the lock file for the whole node.
        self.exclusive = exclusive and link is None
        self._link = link
        self.shared = link is not None
        self._lock_file: IO[bytes] | None = None
        turns = None if link is None else link.siblings.write_lock
        # The WAL is synced after the write turn, not inside the COMMIT
        # (store/sqlite_walsync.py); None: the COMMIT syncs (synchronous = FULL).
        shared = None if link is None else link.siblings.wal_synced
        self._durable: WalSync | None = WalSync(path, shared=shared)
        self._writer = SqliteWriter(self._connect, turns=turns, durable=self._durable)
        self._reader = SqliteReader(path, durable=self._durable)
        # The node's one checkpointer: this process alone, or process 0 of several.
        # A helper beside a server (not exclusive, no link) leaves it to the server.
        checkpoints = self.exclusive or (link is not None and link.siblings.index == 0)
        self.checkpoints = SqliteCheckpointer(path, self._writer.turn) if checkpoints else None
        self.tokens = SqliteTokens(self._writer, self._announce_tokens)
        self._flow = SqliteFlow(_get_many, _write_changes, _insert_one)

    @property
    def commits(self) -> int:
        return self._writer.commits

    def clock(self) -> float:
        return time.time()

    def attach(self, wakeups: Wakeups) -> None:
        """The sibling processes' changes, if any (one process signals its own)."""
        if self._link is not None:
            self._link.wakeups = wakeups

    def announce_change(self, job_id: str, status: str) -> None:
        if self._link is not None:
            self._link.announce_change(job_id, status)

    def announce_job(self, job: Job) -> None:
        """A status change, the job itself, to the sibling processes' live events."""
        if self._link is not None:
            self._link.announce_job(job)

    def announce_listening(self, listening: bool) -> None:
        """The siblings send whole jobs only while some process listens (a datagram now)."""
        if self._link is not None:
            self._link.set_listening(listening)

    async def listening_announced(self) -> None:
        """Sent already by `announce_listening`: a datagram is queued at its peer at once."""

    def _announce(self, changes: Sequence[tuple[Job | None, Job]]) -> None:
        """Tell the sibling processes what committed changes made takeable or final."""
        if self._link is not None and changes:
            self._link.announce(newly_takeable(changes), newly_settled(changes))

    def _deleted(self, jobs: Sequence[Job]) -> None:
        """Deleted jobs that were not final: waiters in sibling processes stop waiting."""
        if self._link is not None:
            for job in jobs:
                if not job.is_final:
                    self._link.announce_deleted(job)

    def _announce_tokens(self) -> None:
        if self._link is not None:
            self._link.announce_tokens()

    def announce_capacity(self, queue: str, count: int) -> None:
        if self._link is not None:
            self._link.announce_capacity(queue, count)

    async def open(self) -> None:
        self._check_path()
        if self.exclusive:
            self._take_file_lock()
        self._writer.start()
        if self._durable is not None:
            try:
                self._durable.open()  # before any write of ours can fail to reach the disk
            except OSError as exc:
                self._writer.stop()
                raise StoreUnavailable(self._cannot(f"its WAL: {exc}")) from exc
        self._reader.start()

    async def checkpoint(self, now: float) -> float | None:
        if self.checkpoints is None:
            return None
        return await self.checkpoints.run_once(now)

    async def close(self) -> None:
        if self.checkpoints is not None:
            self.checkpoints.close()
        self._reader.stop()
        self._writer.stop()
        if self._durable is not None:
            self._durable.close()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    async def check_writes(self) -> None:
        check_room(self.path)
        await self._writer.run(_probe_write, savepoint=False)

    def _check_path(self) -> None:
        check_writable(self.path)

    def _cannot(self, why: str) -> str:
        return cannot_write(self.path, why)

    def _take_file_lock(self) -> None:
        self._lock_file = hold_file(self.path)

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL: the COMMIT writes the WAL without syncing it; the writer
            # syncs it after the write turn and only then settles the callers,
            # so an acknowledged write survives power loss (sqlite_walsync.py).
            # FULL if nothing syncs after the COMMIT: then the COMMIT must.
            sync = "FULL" if self._durable is None else "NORMAL"
            conn.execute(f"PRAGMA synchronous = {sync}")
            # No checkpoint inside a commit: `checkpoints` runs them beside the writer.
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            conn.execute("PRAGMA busy_timeout = 5000")
            _migrate(conn)
            # Each call runs in a SAVEPOINT, so SQLite keeps the first image of
            # every page the call changes in a sub-journal, which spills to a
            # temporary file past 64 KiB: a 100-job batch insert or report made
            # thousands of small writes to /var/tmp (a quarter of the insert's
            # time). In memory it is freed at each RELEASE, so it holds one
            # call's pages at most (bulk actions change 25 jobs a call).
            conn.execute("PRAGMA temp_store = MEMORY")
            conn.execute("BEGIN IMMEDIATE")
            _probe_write(conn)  # a file that opens but refuses writes must not start
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreUnavailable(self._cannot(str(exc))) from exc
        return conn

    async def insert_jobs(
        self, jobs: Sequence[Job], queued: Sequence[Job] | None = None
    ) -> list[Job]:
        handed = handed_off_queues(jobs, queued)
        if handed or has_groups(jobs):  # settings read / ranked in the inserting transaction

            def checked(conn: sqlite3.Connection) -> list[Job]:
                stored = list(jobs)
                if handed and queued is not None:
                    held = conn.execute(_HELD_BACK, (msgspec.json.encode(handed),))
                    stored = hold_back(jobs, queued, [row[0] for row in held])
                _insert(conn, rank_groups(conn, stored) if has_groups(stored) else stored)
                return stored

            # One job, no group: its one INSERT is the only write, and a statement
            # that fails is undone whole by SQLite (its triggers' writes too), so
            # the call needs no savepoint of its own.
            alone = len(jobs) == 1 and not has_groups(jobs)
            stored = await self._writer.run(checked, savepoint=not alone)
        else:
            statements = insert_statements([_to_row(job) for job in jobs])

            def work(conn: sqlite3.Connection) -> None:
                for statement, args in statements:
                    conn.execute(statement, args)

            # One statement (any batch of 1, 2, 4 ... 64 jobs) needs no savepoint, as above.
            await self._writer.run(work, savepoint=len(statements) > 1)
            stored = list(jobs)
        self._announce([(None, job) for job in stored])
        return stored

    def _plain_candidates(
        self,
        conn: sqlite3.Connection,
        queues: Sequence[str] | None,
        limit: int,
        now: float,
        prefixes: Sequence[str],
    ) -> list[Candidate]:
        """What a plain claim would pick from (queues without limits), as candidates."""
        query, args = claim_candidates(queues, now, limit, prefixes, PICK_CANDIDATE)
        return [Candidate(*row) for row in conn.execute(query, args)]

    async def get_job(self, job_id: str) -> Job | None:
        return await self._writer.run(lambda conn: _get(conn, job_id), savepoint=False)

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
        work = plain_claim(queues, count, now, leases, lease_expires_at, prefixes)
        return [] if work is None else await self._writer.run(work, savepoint=False)

    async def update_job(self, job_id: str, decide: Decide) -> Job:
        written: list[tuple[Job | None, Job]] = []

        def work(conn: sqlite3.Connection) -> tuple[Job, list[Job]]:
            job, new = _decided(conn, job_id, decide)
            if new is None:
                return job, []
            if not settles(job, new):  # one UPDATE, after every check: nothing to undo
                stored = _write_changes(conn, job, new)
                written.append((job, stored))
                return stored, []
            # Several writes (the job, its waiting jobs): a failure in settle
            # must not leave the first ones to commit with the rest of the batch.
            with savepoint(conn, "settle"):
                stored = _write_changes(conn, job, new)
                cascaded = self._flow.settle(conn, ((job, new),))
            written.append((job, stored))
            return stored, cascaded

        job, cascaded = await self._writer.run(work, savepoint=False)
        self._announce(written)
        self._cascaded(cascaded)
        return job

    async def update_jobs(self, changes: Sequence[tuple[str, Decide]]) -> list[Job | Exception]:
        written: list[tuple[Job, Job]] = []
        results, cascaded = await self._writer.run(self._updating(changes, written))
        self._announce(written)
        self._cascaded(cascaded)
        return results

    async def update_and_claim(
        self, changes: Sequence[tuple[str, Decide]], claim: ClaimRequest
    ) -> tuple[list[Job | Exception], list[Job], float | None]:
        written: list[tuple[Job, Job]] = []
        if len(changes) == 1:  # a worker's one report: read and write that row alone
            update = self._updating_one(*changes[0], written)
        else:
            update = self._updating(changes, written)
        c = claim
        if c.limited:
            claiming = self._claiming_limited(
                c.queues, c.count, c.now, c.leases, c.lease_expires_at, c.prefixes
            )
        else:
            plain = plain_claim(c.queues, c.count, c.now, c.leases, c.lease_expires_at, c.prefixes)
            claiming = None if plain is None else no_window(plain)

        def work(
            conn: sqlite3.Connection,
        ) -> tuple[list[Job | Exception], list[Job], list[Job], float | None]:
            results, cascaded = update(conn)
            if claiming is None or any(isinstance(r, Exception) for r in results):
                return results, cascaded, [], None
            return results, cascaded, *claiming(conn)

        results, cascaded, jobs, opens_at = await self._writer.run(work)
        self._announce(written)
        self._cascaded(cascaded)
        return results, jobs, opens_at

    def _updating_one(
        self, job_id: str, decide: Decide, written: list[tuple[Job, Job]]
    ) -> Callable[[sqlite3.Connection], tuple[list[Job | Exception], list[Job]]]:
        """`_updating` of one change, as `update_job` writes it: one read, one UPDATE
        (the batch's bulk read and deferred writes cost more for a single row)."""

        def work(conn: sqlite3.Connection) -> tuple[list[Job | Exception], list[Job]]:
            written.clear()
            try:
                job, new = _decided(conn, job_id, decide)
                if new is None:
                    return [job], []
                stored = _write_changes(conn, job, new)
            except AcceptedError as exc:  # refused, or its one statement failed: nothing written
                return [exc], []
            written.append((job, new))
            return [stored], self._flow.settle(conn, written) if settles(job, new) else []

        return work

    def _updating(
        self, changes: Sequence[tuple[str, Decide]], written: list[tuple[Job, Job]]
    ) -> Callable[[sqlite3.Connection], tuple[list[Job | Exception], list[Job]]]:
        """`update_jobs`' work on the writer thread; `written` then holds what changed."""
        ids = list({job_id for job_id, _ in changes})

        def work(conn: sqlite3.Connection) -> tuple[list[Job | Exception], list[Job]]:
            # One read for the batch; each decide runs before any write of its
            # own, so a refused change has written nothing. The changes are
            # written together (store/sqlite_batch.py), except one the unique
            # key may refuse: its own UPDATE, refused alone.
            current = _get_many(conn, ids)
            written.clear()
            later = RowWrites()
            results: list[Job | Exception] = []
            for job_id, decide in changes:
                job = current.get(job_id)
                try:
                    if job is None:
                        raise JobNotFound(f"no job {job_id}")
                    new = decide(job)
                except AcceptedError as exc:
                    results.append(exc)
                    continue
                if new is not None:
                    if job_id in later.ids:  # its earlier change goes first
                        later.flush(conn)
                    try:
                        if later.defers(job, new):
                            stored = later.add(job, new)
                        else:
                            stored = _write_changes(conn, job, new)
                    except UniqueKeyHeld as exc:  # its one statement failed: nothing written
                        results.append(exc)
                        continue
                    written.append((job, new))
                    current[job_id] = job = stored
                results.append(job)
            later.flush(conn)
            return results, self._flow.settle(conn, written)

        return work

    async def get_attempts(self, job_id: str) -> tuple[Job, list[Attempt]]:
        def work(conn: sqlite3.Connection) -> tuple[Job, list[Attempt]]:
            rows = conn.execute(_SELECT_ATTEMPTS, (job_id,)).fetchall()
            if not rows:
                raise JobNotFound(f"no job {job_id}")
            width = len(ATTEMPT_COLUMNS)
            ended = [
                attempt_from_columns(dict(zip(ATTEMPT_COLUMNS, row[:width], strict=True)))
                for row in rows
                if row[0] is not None
            ]
            return job_from_row(rows[0][width:]), ended

        # On the reader: a history read never waits for, nor holds up, a commit.
        return await self._reader.run(work)

    async def delete_job(self, job_id: str) -> Job:
        now = self.clock()

        def work(conn: sqlite3.Connection) -> tuple[Job, list[Job]]:
            row = conn.execute(
                f"DELETE FROM jobs WHERE id = ? RETURNING {COLUMN_LIST}", (job_id,)
            ).fetchone()
            if row is None:
                raise JobNotFound(f"no job {job_id}")
            job = job_from_row(row)
            return job, self._flow.settle_deleted(conn, (job,), now)

        job, cascaded = await self._writer.run(work)
        self._deleted([job])
        self._cascaded(cascaded)
        return job

    async def sweep(self, due: Due, now: float, decide: Decide, limit: int) -> list[Job]:
        where, column = _DUE_WHERE[due]
        query = f"{_SELECT} WHERE {where} AND {column} <= ? ORDER BY {column} LIMIT ?"

        written: list[tuple[Job, Job]] = []

        def work(conn: sqlite3.Connection) -> tuple[list[Job], list[Job]]:
            changed = []
            written.clear()
            for row in conn.execute(query, (now, limit)).fetchall():
                job = job_from_row(row)
                new = decide(job)
                if new is not None:
                    written.append((job, new))
                    changed.append(_write_changes(conn, job, new))
            return changed, self._flow.settle(conn, written)

        changed, cascaded = await self._writer.run(work)
        self._announce(written)
        self._cascaded(cascaded)
        return changed

    async def purge_expired(self, now: float, limit: int) -> list[str]:
        where, column = _DUE_WHERE[Due.EXPIRED]
        query = (
            f"DELETE FROM jobs WHERE seq IN (SELECT seq FROM jobs WHERE {where} "
            f"AND {column} <= ? LIMIT ?) RETURNING id"
        )
        return await self._writer.run(
            lambda conn: [row[0] for row in conn.execute(query, (now, limit))]
        )

    async def next_due(self, due: Due) -> float | None:
        where, column = _DUE_WHERE[due]
        query = f"SELECT min({column}) FROM jobs WHERE {where}"
        return await self._writer.run(
            lambda conn: conn.execute(query).fetchone()[0], savepoint=False
        )

    # -- idempotency keys (store/sqlite_idempotency.py) --------------------------------

    async def insert_jobs_once(
        self, jobs: Sequence[Job], keys: Sequence[IdempotencyKey | None], now: float
    ) -> list[Job | None]:
        def work(conn: sqlite3.Connection) -> list[Job | None]:
            replays = sqlite_idempotency.claim_keys(conn, jobs, keys, now)
            new = [job for i, job in enumerate(jobs) if i not in replays]
            _insert(conn, rank_groups(conn, new) if has_groups(new) else new)
            return _replayed(conn, keys, replays, len(jobs))

        answer = await self._writer.run(work)
        inserted = zip(jobs, answer, strict=True)
        self._announce([(None, job) for job, replay in inserted if replay is None])
        return answer

    # -- unique jobs and dependencies (store/sqlite_flow.py) ------------------------------

    def attach_dependencies(self, rules: DependencyRules) -> None:
        self._flow.rules = rules

    def _cascaded(self, jobs: list[Job]) -> None:
        """Tell the service, once committed, of jobs a settled dependency changed."""
        self._announce([(None, job) for job in jobs])  # they were waiting: none was takeable
        if jobs and self._flow.rules is not None:
            self._flow.rules.changed(jobs)

    async def insert_jobs_checked(
        self, jobs: Sequence[Job], keys: Sequence[IdempotencyKey | None], now: float
    ) -> list[Placed]:
        def work(conn: sqlite3.Connection) -> list[Placed]:
            replays = sqlite_idempotency.claim_keys(conn, jobs, keys, now)
            ranked = rank_groups(conn, jobs) if has_groups(jobs) else jobs
            return self._flow.insert(conn, ranked, keys, replays, now)

        placed = await self._writer.run(work)
        self._announce([(None, p.job) for p in placed if p.outcome is Outcome.NEW])
        return placed

    async def purge_idempotency_keys(self, now: float, limit: int) -> int:
        return await self._writer.run(
            lambda conn: sqlite_idempotency.purge(conn, now, limit), savepoint=False
        )

    async def next_idempotency_expiry(self) -> float | None:
        return await self._writer.run(sqlite_idempotency.next_expiry, savepoint=False)


def _replayed(
    conn: sqlite3.Connection,
    keys: Sequence[IdempotencyKey | None],
    replays: dict[int, Replay],
    count: int,
) -> list[Job | None]:
    """Per job: None if inserted, else the replayed job as it is now."""
    found = _get_many(conn, list({r.job_id for r in replays.values()}))
    answer: list[Job | None] = [None] * count
    for i, (job_id, _) in replays.items():
        key = keys[i]
        assert key is not None
        if job_id not in found:
            raise idempotency_rows.gone(key, job_id)
        answer[i] = found[job_id]
    return answer


def _insert(conn: sqlite3.Connection, jobs: Sequence[Job]) -> None:
    for statement, args in insert_statements([_to_row(job) for job in jobs]):
        conn.execute(statement, args)


def _get(conn: sqlite3.Connection, job_id: str) -> Job | None:
    row = conn.execute(f"{_SELECT} WHERE id = ?", (job_id,)).fetchone()
    return None if row is None else job_from_row(row)


def _get_many(conn: sqlite3.Connection, ids: list[str]) -> dict[str, Job]:
    found: dict[str, Job] = {}
    for start in range(0, len(ids), 500):  # well under SQLite's bound-parameter limit
        chunk = ids[start : start + 500]
        query = f"{_SELECT} WHERE id IN ({', '.join('?' * len(chunk))})"
        for row in conn.execute(query, chunk):
            job = job_from_row(row)
            found[job.id] = job
    return found


def _decided(conn: sqlite3.Connection, job_id: str, decide: Decide) -> tuple[Job, Job | None]:
    """The row read and decide's answer, before any write: a refusal has written nothing."""
    job = _get(conn, job_id)
    if job is None:
        raise JobNotFound(f"no job {job_id}")
    return job, decide(job)


def _insert_one(conn: sqlite3.Connection, job: Job) -> None:
    conn.execute(_INSERT, _to_row(job))


def _to_row(job: Job) -> list[Any]:
    return job_columns(job)


def _write_changes(conn: sqlite3.Connection, old: Job, new: Job) -> Job:
    """UPDATE only the columns that changed, and record the hand-out it ended, if any.

    Returns the job as stored.

    SQLite maintains an index whenever its column is assigned, even to the
    same value; assigning all columns made every report rewrite all seven
    indexes (40 us a row, against a few us for the two or three it touches).
    """
    changed, values = changed_columns(old, new)
    if changed:
        try:
            conn.execute(update_one_sql(changed), (*values, new.id))
        except sqlite3.IntegrityError as exc:  # only the unique key's index can refuse it
            raise UniqueKeyHeld(
                f"another job of queue {new.queue} not yet final holds unique key "
                f"{new.unique_key!r}"
            ) from exc
    attempt = ended_attempt(old, new)
    if attempt is None:
        return stored(new)
    conn.execute(INSERT_ATTEMPT, (new.id, *attempt))
    return stored(new)


def _probe_write(conn: sqlite3.Connection) -> None:
    """The smallest durable write: the schema version, rewritten with its own value."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.execute(f"PRAGMA user_version = {version:d}")


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema up to date (store/sqlite_migrations.py); bench variants wrap it."""
    migrate(conn)
