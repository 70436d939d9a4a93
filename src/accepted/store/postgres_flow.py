"""Unique jobs and dependencies on PostgreSQL, across any number of nodes.

- Unique: a job with a unique key is inserted with `ON CONFLICT DO NOTHING`
  against the partial unique index on (queue, unique_key) of jobs not final.
  Two nodes inserting the same key at once: the second waits on the first's
  index entry, then inserts nothing and reads the holder. A holder that became
  final in between leaves nothing to read: the insert is tried again. A job
  born cancelled (an ended dependency) is outside that index, so its holder is
  read first: a held key answers as a duplicate before the dependency cancels.
- Dependencies: the new job locks its dependencies' rows (`FOR UPDATE`) and
  marks those not final `has_dependents`, so a report racing with it either
  committed first (seen here as final) or finds the mark (its compare-and-set
  on the row version fails and it re-reads). A write that makes a marked job
  final settles its waiting jobs in its own transaction (`settle`).

Everything here runs inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from accepted.errors import UniqueKeyHeld
from accepted.store import dependencies, idempotency_rows, sql_rules
from accepted.store import postgres_sql as sql
from accepted.store.base import DependencyRules, IdempotencyKey, Outcome, Placed
from accepted.store.idempotency_rows import Replay
from accepted.store.rows import COLUMN_LIST, COLUMNS
from accepted.types import Job, JobStatus

DEPENDENCIES = "accepted_job_dependencies"
NOT_FINAL = sql_rules.NOT_FINAL

INSERT_UNIQUE = sql.INSERT_ONE + " ON CONFLICT DO NOTHING RETURNING id"
HOLDER = (
    f"SELECT id::text FROM {sql.TABLE} WHERE queue = $1 AND unique_key = $2 "
    f"AND status IN {NOT_FINAL}"
)
LOCK_DEPENDENCIES = (
    f"SELECT id::text, status FROM {sql.TABLE} WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE"
)


def _mark_and_link(dependencies: str, waiting: str, first: str = "") -> str:
    """Mark the dependencies (uuid[] `dependencies`) and record their edges to `waiting`,
    after the common table expression `first`, if any."""
    return (
        f"WITH {first}marked AS (UPDATE {sql.TABLE} SET has_dependents = true "
        f"WHERE id = ANY({dependencies}::uuid[]) AND NOT has_dependents) "
        f"INSERT INTO {DEPENDENCIES} (dependency, job_id) "
        f"SELECT d, {waiting}::uuid FROM unnest({dependencies}::uuid[]) AS d ON CONFLICT DO NOTHING"
    )


# $1 the dependencies, $2 the job waiting on them (already inserted).
MARK_AND_LINK = _mark_and_link("$1", "$2")
# The job (INSERT_ONE's parameters, its id first) inserted, its dependencies
# marked and its edges recorded, in one statement: one round trip, not three.
_N = len(sql.COLUMN_TYPES)
INSERT_WAITING = _mark_and_link(f"${_N + 1}", "$1", f"inserted AS ({sql.INSERT_ONE}), ")
# A dependency's edges taken, and the jobs waiting on it locked, in one statement.
TAKE_WAITING = (
    f"WITH gone AS (DELETE FROM {DEPENDENCIES} WHERE dependency = $1 RETURNING job_id) "
    f"SELECT {', '.join(sql.COLUMN_TYPES)} FROM {sql.TABLE} "
    f"WHERE id IN (SELECT job_id FROM gone) ORDER BY id FOR UPDATE OF {sql.TABLE}"
)
# A lone waiting job in two round trips instead of four (BEGIN, the lock,
# the insert, COMMIT): its dependencies' statuses read without a lock
# (STATUSES), the job shaped from them by the service's rules, then one
# statement that locks them, and inserts the job, marks them and records its
# edges only if each is still in the class it was read in (waiting, or the
# same final status). The locks live as long as that statement's own
# transaction, so a report racing with it either committed first (the class
# changed: nothing is written, and the job is shaped again) or finds the mark.
# $1..$N the job (INSERT_ONE's parameters), $N+1 its dependencies, $N+2 the
# class each was read in, $N+3 those it waits for.
STATUSES = f"SELECT id::text, status FROM {sql.TABLE} WHERE id = ANY($1::uuid[])"
PENDING = "pending"  # the class of every status not final
_CLASS = f"CASE WHEN status IN {NOT_FINAL} THEN '{PENDING}' ELSE status END"
_DEPS, _READ, _WAITS = f"${_N + 1}::uuid[]", f"${_N + 2}::text[]", f"${_N + 3}::uuid[]"
_TYPED = ", ".join(f"${i + 1}::{sql.COLUMN_TYPES[c]}" for i, c in enumerate(COLUMNS))
INSERT_IF_AS_READ = (
    f"WITH locked AS (SELECT id, {_CLASS} AS class FROM {sql.TABLE} "
    f"WHERE id = ANY({_DEPS}) ORDER BY id FOR UPDATE), "
    f"as_read AS (SELECT count(*) = cardinality({_DEPS}) AS ok FROM locked "
    f"JOIN unnest({_DEPS}, {_READ}) AS r(id, class) USING (id, class)), "
    f"inserted AS (INSERT INTO {sql.TABLE} ({COLUMN_LIST}) SELECT {_TYPED} "
    "WHERE (SELECT ok FROM as_read) RETURNING id), "
    f"marked AS (UPDATE {sql.TABLE} SET has_dependents = true WHERE id = ANY({_WAITS}) "
    "AND NOT has_dependents AND EXISTS (SELECT 1 FROM inserted)), "
    f"linked AS (INSERT INTO {DEPENDENCIES} (dependency, job_id) "
    f"SELECT d, $1::uuid FROM unnest({_WAITS}) AS d WHERE EXISTS (SELECT 1 FROM inserted) "
    "ON CONFLICT DO NOTHING) "
    "SELECT EXISTS (SELECT 1 FROM inserted)"
)
REPOINT_KEY = (
    "UPDATE accepted_idempotency_keys SET job_id = $1, fingerprint = $2 "
    "WHERE scope = $3 AND key = $4"
)

HELD_KEYS = (
    f"SELECT queue, unique_key FROM {sql.TABLE} WHERE status IN {NOT_FINAL} "
    "AND (queue, unique_key) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
)

# A delete that needs no settling: of a job nothing waits on (or a final one).
DELETE_UNLESS_WAITED_ON = (
    f"DELETE FROM {sql.TABLE} WHERE id = $1 "
    f"AND NOT (has_dependents AND status IN {NOT_FINAL}) RETURNING {', '.join(sql.COLUMN_TYPES)}"
)

Write = Callable[[Any, list[tuple[Job, Job]]], Any]

settles = dependencies.settles


async def insert(
    conn: Any,
    jobs: Sequence[Job],
    keys: Sequence[IdempotencyKey | None],
    replays: dict[int, Replay],
    now: float,
    rules: DependencyRules,
) -> list[Placed]:
    """Insert each job not replayed, unless a holder of its unique key answers for it."""
    renamed: dict[str, str] = {}  # a job not inserted -> the job that answered for it
    answered: dict[int, str] = {}
    outcomes: dict[int, Outcome] = {}
    found: dict[str, Job] = {}  # the jobs inserted, as written
    for i, job in enumerate(jobs):
        if i in replays:
            renamed[job.id] = answered[i] = replays[i].job_id
            outcomes[i] = replays[i].outcome
            continue
        if renamed and job.after:
            job = msgspec.structs.replace(job, after=tuple(renamed.get(a, a) for a in job.after))
        pending: list[str] = []
        if job.after:
            job, pending = await _depend(conn, i, job, now, rules)
        holder = await _insert_unless_held(conn, job, pending)
        if holder is None:
            found[job.id] = job
            answered[i], outcomes[i] = job.id, Outcome.NEW
            continue
        renamed[job.id] = answered[i] = holder
        outcomes[i] = Outcome.DUPLICATE
        key = keys[i]
        if key is not None:  # the key stands for the job that answered, as a duplicate
            fingerprint = idempotency_rows.answered_by_holder(key)
            await conn.execute(REPOINT_KEY, holder, fingerprint, key.scope, key.key)
    others = list({job_id for job_id in answered.values() if job_id not in found})
    if others:  # replays and duplicates: the jobs that answered, as they are now
        records = await conn.fetch(sql.SELECT_MANY, others)
        found.update((job.id, job) for job in map(sql.from_record, records))
    for i, job_id in answered.items():
        key = keys[i]
        if job_id not in found and key is not None:
            raise idempotency_rows.gone(key, job_id)
    return [Placed(found[answered[i]], outcomes[i]) for i in range(len(jobs))]


def waits_alone(jobs: Sequence[Job], keys: Sequence[IdempotencyKey | None]) -> bool:
    """One job with dependencies and nothing else to check: `insert_waiting` takes it."""
    if len(jobs) != 1 or keys[0] is not None:
        return False
    job = jobs[0]
    return bool(job.after) and job.unique_key is None and job.fair_group is None


async def insert_waiting(conn: Any, job: Job, now: float, rules: DependencyRules) -> Job:
    """A lone job with dependencies, no keys and no group, outside a transaction
    (see INSERT_IF_AS_READ); the job as inserted. Raises `UnknownDependency`."""
    ids = list(dict.fromkeys(job.after))
    while True:
        statuses = {r["id"]: JobStatus(r["status"]) for r in await conn.fetch(STATUSES, ids)}
        shaped, pending = dependencies.shape(job, 0, statuses, now, rules)
        read = [PENDING if not statuses[i].is_final else statuses[i].value for i in ids]
        values = sql.column_values(shaped)
        if await conn.fetchval(INSERT_IF_AS_READ, *values, ids, read, pending):
            return shaped
        # A dependency ended, came back or went between the read and the lock: again.


async def _insert_unless_held(conn: Any, job: Job, pending: list[str]) -> str | None:
    """Insert the job, waiting on `pending`; or, when a job not final holds its
    unique key, that job's id (and nothing is written)."""
    values = sql.column_values(job)
    if job.unique_key is None:
        if pending:
            await conn.execute(INSERT_WAITING, *values, pending)
        else:
            await conn.execute(sql.INSERT_ONE, *values)
        return None
    if job.is_final:  # cancelled by an ended dependency: the index would not refuse it
        answering: str | None = await conn.fetchval(HOLDER, job.queue, job.unique_key)
        if answering is None:
            await conn.execute(sql.INSERT_ONE, *values)
        return answering
    while True:
        if await conn.fetchval(INSERT_UNIQUE, *values) is not None:
            if pending:
                await conn.execute(MARK_AND_LINK, pending, job.id)
            return None
        holder: str | None = await conn.fetchval(HOLDER, job.queue, job.unique_key)
        if holder is not None:
            return holder
        # The holder became final between the two statements: the key is free again.


async def _depend(
    conn: Any, index: int, job: Job, now: float, rules: DependencyRules
) -> tuple[Job, list[str]]:
    """The new job as its dependencies (locked) make it, and those it must wait for."""
    records = await conn.fetch(LOCK_DEPENDENCIES, list(set(job.after)))
    statuses = {r["id"]: JobStatus(r["status"]) for r in records}
    return dependencies.shape(job, index, statuses, now, rules)


async def settle(
    conn: Any, ended: list[tuple[Job, str, float]], rules: DependencyRules, write: Write
) -> list[tuple[Job, Job]]:
    """Work down the chains: each dependency's waiting jobs, then theirs if cancelled.

    Returns the (old, new) pairs of the jobs released or cancelled.
    """
    changed: list[tuple[Job, Job]] = []
    while ended:
        dependency, how, now = ended.pop(0)
        records = await conn.fetch(TAKE_WAITING, dependency.id)
        if not records:
            continue
        pairs = []
        for job in map(sql.from_record, records):
            new = dependencies.after_ending(job, dependency.id, how, now, rules)
            if new is not None:
                pairs.append((job, new))
        await write(conn, pairs)
        for old, new in pairs:
            if new.status is not JobStatus.DELAYED or new.waiting == 0:
                changed.append((old, new))
            if new.is_final and new.has_dependents:
                ended.append((new, new.status.value, now))
    return changed


async def refused_revivals(conn: Any, changes: Sequence[tuple[Job, Job]]) -> set[str]:
    """Ids of the jobs of `changes` that a change would bring back from final (a
    retry) while another job not final holds their unique key (or an earlier job
    of `changes` takes it back first): their writes must be left out, so that one
    job's conflict does not refuse the whole batch."""
    reviving = [
        new
        for old, new in changes
        if new.unique_key is not None and old.is_final and not new.is_final
    ]
    if not reviving:
        return set()
    records = await conn.fetch(
        HELD_KEYS, [j.queue for j in reviving], [j.unique_key for j in reviving]
    )
    taken = {(r["queue"], r["unique_key"]) for r in records}
    refused = set()
    for job in reviving:
        key = (job.queue, job.unique_key)
        if key in taken:
            refused.add(job.id)
        taken.add(key)
    return refused


def held(job: Job | Exception) -> UniqueKeyHeld:
    """The refusal of one job of a batch whose unique key another job holds."""
    assert isinstance(job, Job)
    return UniqueKeyHeld(
        f"another job of queue {job.queue} not yet final holds unique key {job.unique_key!r}"
    )
