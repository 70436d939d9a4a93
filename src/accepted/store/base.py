"""The storage contract: what every backend (SQLite, PostgreSQL) must do.

The service owns the rules (which transitions are legal, what a lease expiry
turns a job into); the store owns atomicity. Where a rule needs the current
state of a row, the service hands the store a `Decide` function and the store
applies it inside one transaction with the row locked, so a rule is never
checked against a state that changed before the write.

Every method is one transaction: it either happens whole or not at all. Driver
exceptions never escape: an unreachable or failing database raises
`StoreUnavailable`, and nothing of that call was written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple, Protocol

from accepted.queries import JobFilter, JobPage, QueueLimits, QueueState
from accepted.schedules import Schedule
from accepted.tokens import Token
from accepted.types import Attempt, Due, Job

Decide = Callable[[Job], Job | None]
ChangeSchedule = Callable[[Schedule | None], Schedule]
"""Given a schedule's current row (None: no such schedule), return its new row.

Like `Decide`: it may raise an `AcceptedError` (nothing is written), must be
pure and fast, and may be called again on retry.
"""
"""Given a job's current row, return its new row, or None to leave it alone.

It may raise an `AcceptedError`; the store then writes nothing and re-raises.
It must be pure and fast: the store may call it with a row lock held (or on
the SQLite writer thread), and may call it again on retry.
"""


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """A producer's Idempotency-Key as stored: unique per (scope, key) until `expires_at`."""

    scope: str  # whose key it is (the token; one scope while auth is off)
    key: str
    fingerprint: str  # a hash of the request the key was first used with
    expires_at: float


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """The arguments of a claim made by `update_and_claim` (see `claim_jobs`)."""

    queues: Sequence[str] | None
    count: int
    now: float
    leases: Sequence[str]
    lease_expires_at: float
    prefixes: Sequence[str] = ()
    limited: bool = False  # through the limited claim (`claim_limited`)


class Outcome(StrEnum):
    """What an enqueue with flow rules did with one job (`insert_jobs_checked`)."""

    NEW = "new"  # inserted
    REPLAY = "replay"  # its Idempotency-Key was held: the job that key made
    DUPLICATE = "duplicate"  # its unique key was held: the job not final that holds it
    # Its Idempotency-Key was held by a request that a unique key's holder
    # answered: that holder, as it is now (a replay answers what the first did).
    REPLAYED_DUPLICATE = "replayed_duplicate"

    @property
    def replayed(self) -> bool:
        """Answered by an earlier request's Idempotency-Key."""
        return self is Outcome.REPLAY or self is Outcome.REPLAYED_DUPLICATE

    @property
    def duplicate(self) -> bool:
        """Answered by the job holding its unique key, now or on the first request."""
        return self is Outcome.DUPLICATE or self is Outcome.REPLAYED_DUPLICATE


class Placed(NamedTuple):
    """One job of `insert_jobs_checked`: the job as stored now, and what was done."""

    job: Job
    outcome: Outcome


class DependencyRules(Protocol):
    """What the service decides about jobs waiting on others; the store applies it.

    The store calls the three rules inside the transaction that settles a
    dependency (or inserts the dependent), and `changed` after it commits.
    """

    def wait_for(self, job: Job, count: int, now: float) -> Job:
        """A new job that waits for `count` dependencies not done yet."""
        ...

    def released(self, job: Job, now: float) -> Job:
        """A waiting job whose dependencies are all done."""
        ...

    def dependency_ended(self, job: Job, dependency: str, how: str, now: float) -> Job:
        """A waiting (or new) job whose dependency ended other than done: `how` says how
        (failed, cancelled, deleted)."""
        ...

    def changed(self, jobs: Sequence[Job]) -> None:
        """After commit: these jobs were released or cancelled by a dependency."""


class Wakeups(Protocol):
    """What a store shared by several nodes reports about the other nodes' changes.

    A node's own changes are signalled in-process by the service; these calls
    carry the rest (PostgreSQL: from LISTEN). They only ever hurry a waiter
    along: a missed one delays it until its next re-check, and loses nothing.
    """

    def jobs_available(self, queue: str, count: int) -> None:
        """`count` jobs became takeable in `queue` on another node."""

    def jobs_settled(self, job_ids: Sequence[str]) -> None:
        """These jobs became final, or were deleted, on another node."""

    def resync(self) -> None:
        """Notices may have been missed (the listener reconnected): re-check what waits."""

    def queue_paused(self, queue: str, paused: bool) -> None:
        """`queue` was paused or resumed on another node."""

    def jobs_changed(self, changes: Sequence[tuple[str, str]]) -> None:
        """These jobs (id, new status) changed status on another node: the live events."""

    def tokens_changed(self) -> None:
        """Another node created or revoked a token: re-read them."""

    def job_states(self, jobs: Sequence[Job]) -> None:
        """Another process of this node changed these jobs' status; here as they are now.

        The live events, whole, where the transport can carry them (a local
        link): every status is delivered, none is skipped by a late read-back.
        """

    def jobs_deleted(self, jobs: Sequence[Job]) -> None:
        """Another process of this node deleted these jobs, here as they were.

        Only a local link carries whole jobs (a NOTIFY payload is too small):
        its waiters are answered with the last state, as they would be in the
        deleting process, rather than re-reading and finding nothing (404).
        """

    def schedules_changed(self) -> None:
        """Another node created, changed or deleted a schedule: look at the next fire again."""

    def events_lost(self) -> None:
        """Live-event notices from another process were lost on the way (its link let
        them go while this process was too far behind): tell the subscribers to re-read."""

    # -- per-queue limits (flow-limits) --

    def limits_changed(self, queue: str) -> None:
        """`queue`'s limits were set or cleared on another node: re-read them."""

    def capacity_freed(self, queue: str, count: int) -> None:
        """`count` jobs of the limited `queue` stopped running on another node."""


class TokenStore(Protocol):
    """API tokens, shared by every node. Each change bumps one version number in
    the same transaction, so a node knows whether its cached copy is current
    from one cheap read; on PostgreSQL the change is also announced to the
    other nodes (`Wakeups.tokens_changed`)."""

    async def insert_token(self, token: Token, *, replace: bool = False) -> None:
        """Store a new token. `TokenExists` if the name (or, unless `replace`, the
        hash) is taken; with `replace` a token of that name is overwritten."""

    async def delete_token(self, name: str) -> Token:
        """Remove the token; return it as it was. Raises `TokenNotFound`."""
        ...

    async def load_tokens(self) -> tuple[int, list[Token]]:
        """The version and every token, read in one transaction (expired ones too)."""
        ...

    async def token_version(self) -> int:
        """The version number: it changes whenever a token is added or removed."""
        ...


class JobStore(Protocol):
    """One typed interface over the job table; see the module docstring for atomicity."""

    @property
    def tokens(self) -> TokenStore:
        """The API tokens, in the same database."""
        ...

    shared: bool
    """Whether other nodes may use this database at once (PostgreSQL), so changes
    can happen that this node is not told of in-process: waiters and tasks must
    then re-check on their own now and then."""

    def clock(self) -> float:
        """Seconds since the epoch on the time line every node of this store shares.

        The composition root makes it the service's clock, so leases and
        deadlines written by nodes with skewed clocks still agree.
        """
        ...

    def attach(self, wakeups: Wakeups) -> None:
        """Report other nodes' changes to `wakeups`; call before `open`.

        A no-op for a store no other node can share (SQLite).
        """

    def announce_change(self, job_id: str, status: str) -> None:
        """Tell the other nodes, soon and without waiting, that a job now has `status`.

        Their `Wakeups.jobs_changed` hears it (the live event feed). A no-op
        for a store no other node can share (SQLite).
        """

    def announce_listening(self, listening: bool) -> None:
        """This node has live-event subscribers now (True), or none any more.

        A node sends its `announce_change` notices only while some other node
        listens, so a cluster nobody watches pays no NOTIFY per status change.
        A no-op where the notices are cheap or nobody else exists (SQLite).
        """

    async def listening_announced(self) -> None:
        """Return once the other nodes can know this node listens (a new subscription
        then misses none of their changes made after it). A no-op where nothing is sent."""

    async def open(self) -> None:
        """Connect, and create or migrate the schema. Safe when several nodes start at once."""

    async def close(self) -> None:
        """Finish what was submitted, then release connections. Idempotent."""

    async def check_writes(self) -> None:
        """Make one tiny write durable; raise `StoreUnavailable` saying why if it fails.

        For health checks: it fails exactly when enqueues would (a full disk,
        a read-only database), not merely when the database is unreachable.
        """

    async def insert_jobs(
        self, jobs: Sequence[Job], queued: Sequence[Job] | None = None
    ) -> list[Job]:
        """Persist new jobs, all or none, durably before returning; the jobs as stored.

        `queued`, when given, is each job as it was before a direct hand-off
        (the same object where there was none). A handed-off job whose queue is
        paused or has limits, as the inserting transaction reads the queue's
        settings, is inserted as its `queued` self instead: only the limited
        claim may start jobs there, and the caller's view of the settings may
        be stale.
        """

    async def get_job(self, job_id: str) -> Job | None:
        """The job's committed state, or None when there is no such job."""

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
        """Hand out up to `count` queued jobs of `queues` (None: any queue), or
        of any queue whose name starts with one of `prefixes` (a limited
        token's `prefix*` queues; with prefixes, `queues` is a list, maybe empty).

        Picks the lowest priority number, then the earliest due_at, then the
        oldest insertion; skips jobs whose deadline_at has passed. Each claimed
        job becomes `running` with `attempts + 1`, the next token of `leases`
        and `lease_expires_at`. Concurrent claims never return the same job.
        """
        ...

    async def update_job(self, job_id: str, decide: Decide) -> Job:
        """Apply `decide` to the locked row and write its answer.

        Returns the row as it stands afterwards (unchanged when decide returned
        None). Raises `JobNotFound` when there is no such job, or whatever
        `decide` raised, in which case nothing was written.
        """
        ...

    async def update_jobs(self, changes: Sequence[tuple[str, Decide]]) -> list[Job | Exception]:
        """`update_job` for several jobs in one transaction, each independently.

        One job's error (returned in its place) does not stop the others.
        """
        ...

    async def update_and_claim(
        self, changes: Sequence[tuple[str, Decide]], claim: ClaimRequest
    ) -> tuple[list[Job | Exception], list[Job], float | None]:
        """`update_jobs`, then the claim, in one transaction (one commit).

        A worker's report and its next take (report and take in one request).
        The claim is `claim_limited`'s when `claim.limited`, else `claim_jobs`';
        it is made only if every change was applied: a refused change (its
        error in its place) leaves the others to commit, and nothing is
        claimed. The claim sees the changes: a job given back may be claimed
        again, jobs released by a dependency made final are takeable, and a
        limited queue's running jobs are counted without those just ended.

        Returns the changes' results, the jobs claimed, and (limited claims)
        when a full rate window opens.
        """
        ...

    async def delete_job(self, job_id: str) -> Job:
        """Remove the job (and its attempt history); return the row as it was.

        Raises `JobNotFound`.
        """
        ...

    async def sweep(self, due: Due, now: float, decide: Decide, limit: int) -> list[Job]:
        """Apply `decide` to up to `limit` rows of kind `due` whose time is <= now.

        Returns the rows that changed. Rows locked by another node's sweep are
        skipped, not waited for; `decide` must re-check the condition, which
        makes a sweep idempotent.
        """
        ...

    async def purge_expired(self, now: float, limit: int) -> list[str]:
        """Delete up to `limit` final jobs past expires_at with no pending callback.

        Returns their ids.
        """
        ...

    async def next_due(self, due: Due) -> float | None:
        """The earliest time at which a row of kind `due` comes due, or None."""
        ...

    # -- queues ------------------------------------------------------------------
    # A queue exists while it holds a job or has a setting (paused, limits).

    async def queue_states(self, names: Sequence[str] | None = None) -> list[QueueState]:
        """The queues named that exist (None: every queue that exists), sorted by name.

        Counts are exact at one moment and cost no count over the job table
        (kept per queue and status as jobs change).
        """
        ...

    async def set_paused(self, queue: str, paused: bool, now: float) -> QueueState | None:
        """Pause (creating the queue's setting) or resume `queue`; its state afterwards.

        A resume of a queue that does not exist writes nothing and returns
        None. A resume that leaves the queue empty and without a setting
        still returns it (it stops existing afterwards). While paused,
        `claim_jobs` skips the queue's jobs; nothing else about them changes.
        """
        ...

    async def paused_queues(self) -> list[str]:
        """The names of the paused queues (what every node must not hand out)."""
        ...

    async def fold_counts(self) -> None:
        """Housekeeping of the counts, called about once a second by one task per node.

        A no-op where counts are kept in place (SQLite).
        """
        ...

    async def index_text(self, limit: int) -> int:
        """Bring the text-search index up to date by up to `limit` jobs; how many it did.

        Called by one background task per node until it answers less than
        `limit`. Searches are right whether or not it has run (what is not
        indexed yet is read directly); it keeps them fast. A no-op (0) where
        the database indexes in the writing transaction (PostgreSQL).
        """
        ...

    async def checkpoint(self, now: float) -> float | None:
        """Move committed writes from the write-ahead log into the database file,
        if it is time to; when to call again (None: never needed).

        Called by one background task per node, never on a commit's path: a
        commit must not wait for it, and the log must not grow without bound.
        SQLite: see store/sqlite_checkpoints.py (one process of a node does it).
        PostgreSQL checkpoints by itself: None.
        """
        ...

    # -- per-queue limits (flow-limits) ------------------------------------------------

    async def set_limits(self, queue: str, limits: QueueLimits, now: float) -> QueueState | None:
        """Set `queue`'s limits (all None: clear them); its state afterwards.

        Setting a limit creates the queue's setting. Clearing the limits of a
        queue that has none writes nothing and returns None when the queue
        does not exist. On a shared store the other nodes are told
        (`Wakeups.limits_changed`). While a queue has a limit, `claim_jobs`
        skips it: only `claim_limited` hands its jobs out.
        """
        ...

    async def limited_queues(self) -> dict[str, QueueLimits]:
        """Every queue that has a limit, and its limits."""
        ...

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
        """`claim_jobs` over limited and unlimited queues alike, within the limits.

        One transaction reads (on a shared store: locks, in name order) the
        settings rows of the limited queues the take names, counts their
        running jobs (and per fairness group), hands out no more than
        `concurrency`, `group_concurrency` and the rate window allow, and
        records the hand-outs in the rate window. Two claims of one limited
        queue, on any nodes, take turns, so a limit is never exceeded.

        Returns the jobs, and the earliest time a full rate window of those
        queues lets one more job through (None when none is full).
        """
        ...

    async def purge_fair_groups(self, now: float, limit: int) -> int:
        """Forget up to `limit` fairness groups whose place no longer matters; how many.

        A group's row holds the rank of its last job; its next job ranks after
        it, but never before its queue's head (now, when nothing is queued).
        A row whose rank (plus a step) is at or below that head changes nothing
        any more, so deleting it is invisible: these rows are the ones purged.
        """
        ...

    def announce_capacity(self, queue: str, count: int) -> None:
        """Tell the other nodes, soon, that `count` jobs of limited `queue` stopped running.

        Their `Wakeups.capacity_freed` hears it. A no-op for a store no other
        node can share (SQLite).
        """

    # -- idempotency keys ------------------------------------------------------------

    async def insert_jobs_once(
        self, jobs: Sequence[Job], keys: Sequence[IdempotencyKey | None], now: float
    ) -> list[Job | None]:
        """`insert_jobs`, except for a job whose key (same index) is already held.

        A key is held from the transaction that inserts it (with its job) until
        its `expires_at`. For each job: None when it was inserted with its key,
        or, when its key was held with the same fingerprint, the job that key
        made, as it is now (a replay; this job is not inserted). All or none:
        raises `IdempotencyKeyReused` when a held key has another fingerprint,
        `IdempotencyKeyInUse` when a transaction not yet committed is using the
        key (a store shared by several nodes), and `JobNotFound` when a held
        key's job no longer exists.
        """
        ...

    # -- unique jobs and dependencies (flow-deps) ------------------------------------

    def attach_dependencies(self, rules: DependencyRules) -> None:
        """Use `rules` for jobs waiting on others; call before the first write.

        From then on every write that makes a job with `has_dependents` final
        (or deletes it while not final) settles its dependents in the same
        transaction: all done, a dependent is released; one failed, cancelled
        or deleted, the dependent is cancelled, and so on down a chain. The
        jobs so changed go to `rules.changed` once committed.
        """

    async def insert_jobs_checked(
        self, jobs: Sequence[Job], keys: Sequence[IdempotencyKey | None], now: float
    ) -> list[Placed]:
        """`insert_jobs_once`, with unique keys and dependencies; all or none.

        Per job, in order: a held Idempotency-Key answers the job it made
        (REPLAY), or the holder that answered its first request
        (REPLAYED_DUPLICATE); else a job of the same queue with the same
        `unique_key` not final answers itself (DUPLICATE; a key claimed by this
        job then points at it, remembering that a holder answered); else the
        job is inserted (NEW). An `after` id that an earlier
        job of the batch stands for is replaced by the id of the job that
        answered for it. Each `after` id is looked up under its row's lock
        (marking it `has_dependents`): none -> `UnknownDependency`; one failed
        or cancelled -> the job is inserted cancelled (`dependency_ended`);
        some not final -> it waits for them (`wait_for`); all done -> as built.
        Race-free across nodes: the unique index decides, not a read.
        """
        ...

    async def purge_idempotency_keys(self, now: float, limit: int) -> int:
        """Delete up to `limit` keys whose expires_at has passed; returns how many."""
        ...

    async def next_idempotency_expiry(self) -> float | None:
        """The earliest expires_at of any stored key, or None."""
        ...

    # -- the attempt history ---------------------------------------------------------
    #
    # Whenever a write replaces a `running` row whose new version carries
    # `ended` (set by the rule that ended the hand-out) and no longer holds
    # its lease, the store adds that hand-out's row to the history in the same
    # transaction, numbered `attempt_base + attempts` (`rows.ended_attempt`).
    # The claim writes no history: the running hand-out is the row itself;
    # nor does a report of done: the done job is that hand-out's record
    # (`rules.attempt_history` adds it).
    # Jobs returned by the write methods never carry `ended`.

    async def get_attempts(self, job_id: str) -> tuple[Job, list[Attempt]]:
        """The job and its ended hand-outs, oldest first, read at one instant.

        Raises `JobNotFound`.
        """
        ...

    # -- listing -----------------------------------------------------------------

    async def list_jobs(self, where: JobFilter, limit: int, before: int | None = None) -> JobPage:
        """Up to `limit` jobs `where` selects, newest first (by insertion), below `before`.

        `before` is a `JobPage.next` of an earlier call: pages never repeat a
        job and never skip one that was stored when the first page was read.
        Served by indexes whatever the table's size, except text, which
        filters the rows walked. Reads one snapshot; never holds up writers.
        """
        ...

    async def delete_jobs(self, job_ids: Sequence[str]) -> list[Job]:
        """Remove these jobs, all in one transaction; return the rows as they were.

        Ids of no job are skipped; their attempt history goes with them. (A
        bulk delete's chunk.)
        """
        ...

    # -- schedules (store/sqlite_schedules.py, store/postgres_schedules.py) ------------
    #
    # Exactly one job per fire time, however many nodes fire at once: a fire
    # advances `next_run_at` only from the value its firer read (and only if
    # the definition's `revision` is unchanged), in the same transaction as
    # the job's insert. A firer that lost the race writes nothing.

    async def put_schedule(self, name: str, change: ChangeSchedule) -> Schedule:
        """Apply `change` to the schedule's locked row (None when there is none) and
        write what it returns; return that. Two concurrent puts of a new name
        both succeed, one after the other (the second sees the first's row).
        Raises whatever `change` raised, with nothing written. Other nodes are
        told (`Wakeups.schedules_changed`)."""
        ...

    async def get_schedule(self, name: str) -> Schedule | None:
        """The schedule as committed, or None."""
        ...

    async def list_schedules(self) -> list[Schedule]:
        """Every schedule, sorted by name."""
        ...

    async def delete_schedule(self, name: str) -> Schedule:
        """Remove the schedule; return it as it was. Raises `ScheduleNotFound`.

        The jobs it made stay. Other nodes are told."""
        ...

    async def due_schedules(self, now: float, limit: int) -> list[Schedule]:
        """Up to `limit` schedules whose `next_run_at` is <= now, earliest first."""
        ...

    async def next_schedule_due(self) -> float | None:
        """The earliest `next_run_at` of any schedule (paused ones have none), or None."""
        ...

    async def fire_schedule(self, read: Schedule, fired: Schedule, job: Job) -> bool:
        """Write `fired` (the schedule advanced past a fire) and insert `job`, together,
        only if the row still has `read`'s `next_run_at`, `revision` and
        `created_at` (a schedule deleted and made again starts a new life).

        Returns False, having written nothing, when another firer advanced it
        first, or the schedule was changed, paused or deleted since `read`.
        Only `next_run_at`, `last_run_at` and `last_job_id` are written.
        """
        ...

    async def record_run(self, name: str, job: Job) -> Schedule:
        """Insert `job` (a manual run) and set the schedule's `last_run_at` to its
        `created_at` and `last_job_id` to its id, together; return the schedule.

        Raises `ScheduleNotFound` (nothing written) when it is gone.
        """
        ...
