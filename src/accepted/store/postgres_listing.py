"""The listing section of the PostgreSQL store: pages of jobs a `JobFilter` selects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from accepted.queries import JobFilter, JobPage
from accepted.store import postgres_sql as sql
from accepted.store.listing import (
    Dialect,
    TextIndex,
    as_job_id,
    like_pattern,
    page_query,
    window_query,
)
from accepted.store.postgres_link import Link
from accepted.types import Job

T = TypeVar("T")


def _indexable(text: str) -> str | None:
    """The ILIKE pattern, when pg_trgm can narrow it (three characters or more),
    and the text is not one a result of `null` holds (those are not kept)."""
    return like_pattern(text) if len(text) >= 3 and text.lower() not in "null" else None


# The side tables hold exactly the text the job's search reads: their ILIKE
# is the search itself, answered through the trigram index when pg_trgm is there.
TEXT_INDEX = TextIndex(
    params_table="accepted_params_text",
    results_table="accepted_results_text",
    key="job_seq",
    argument=_indexable,
    matches=lambda _table, p: f"t.body ILIKE {p}::text",
    exact=True,
)

DIALECT = Dialect(
    table=sql.TABLE,
    placeholder=lambda n: f"${n}",
    id_equals=lambda p: f"id = {p}::uuid",
    # ILIKE folds case as the database's locale does; the JSON text as sent.
    contains=lambda column, p: f"convert_from({column}, 'UTF8') ILIKE {p}::text",
    id_array=lambda p: f"id = ANY({p}::uuid[])",
    text_index=TEXT_INDEX,
)
_ROWS = f"SELECT seq, {', '.join(sql.COLUMN_TYPES)} FROM {sql.TABLE} WHERE seq = ANY($1::int8[])"


_DELETE = (
    f"DELETE FROM {sql.TABLE} WHERE id = ANY($1::uuid[]) RETURNING {', '.join(sql.COLUMN_TYPES)}"
)


class PostgresListing:
    """Mixed into `PostgresStore`; see `store.base.JobStore.list_jobs` for the contract."""

    _link: Link
    # How many of the rows the other filters select a search first walks,
    # checking each one's text by key, before it asks the trigram index. The
    # planner cannot tell a text in every job from a rare one (its estimate
    # for `ILIKE '%lorem ipsum%'` is a few hundred rows of a million): a
    # common text fills the page within this window; a rare one is what the
    # index finds fast. Either way no plan reads a million rows.
    text_window: int = 3000

    def _run(
        self, work: Callable[[Any], Awaitable[T]], *, transaction: bool = True
    ) -> Awaitable[T]:
        raise NotImplementedError  # pragma: no cover - PostgresStore's

    # -- flow-deps: PostgresStore's, for the deletion of jobs others wait on --
    def clock(self) -> float:
        raise NotImplementedError  # pragma: no cover - PostgresStore's

    async def settle_deleted(
        self, conn: Any, gone: Sequence[Job], now: float
    ) -> list[tuple[Job, Job]]:
        raise NotImplementedError  # pragma: no cover - PostgresStore's

    def _cascaded(self, changes: list[tuple[Job, Job]]) -> None:
        raise NotImplementedError  # pragma: no cover - PostgresStore's

    async def list_jobs(self, where: JobFilter, limit: int, before: int | None = None) -> JobPage:
        query, args = page_query(DIALECT, where, limit + 1, before)

        async def work(conn: Any) -> JobPage:
            # One snapshot for both reads: the page's rows are the rows it found.
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            if where.text is not None:
                # Plan each search for its own text: a generic plan (the prepared
                # statement's, after five runs) cannot tell a text in every job,
                # best found walking backwards, from a rare one the index finds.
                await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            seqs = await self._window_matches(conn, where, limit + 1, before)
            if seqs is None:
                seqs = [r["seq"] for r in await conn.fetch(query, *args)]
            more = len(seqs) > limit
            seqs = seqs[:limit]
            found = {r["seq"]: sql.from_record(r) for r in await conn.fetch(_ROWS, seqs)}
            jobs = [found[seq] for seq in seqs if seq in found]
            return JobPage(jobs, seqs[-1] if more else None)

        return await self._run(work)

    async def _window_matches(
        self, conn: Any, where: JobFilter, count: int, before: int | None
    ) -> list[int] | None:
        """The page's seqs when the newest `text_window` rows settle it, else None."""
        window = window_query(DIALECT, where, count, before, self.text_window)
        if window is None:
            return None
        row = await conn.fetchrow(window[0], *window[1])
        seqs: list[int] = list(row["seqs"])
        if len(seqs) >= count or row["walked"] < self.text_window:
            return seqs
        return None

    async def index_text(self, limit: int) -> int:
        return 0  # the triggers of migration 0015 index in the writing transaction

    async def delete_jobs(self, job_ids: Sequence[str]) -> list[Job]:
        ids = [i for i in dict.fromkeys(job_ids) if as_job_id(i) == i]

        cascaded: list[tuple[Job, Job]] = []
        now = self.clock()

        async def work(conn: Any) -> list[Job]:
            gone = [sql.from_record(r) for r in await conn.fetch(_DELETE, ids)]
            cascaded[:] = await self.settle_deleted(conn, gone, now)  # flow-deps
            return gone

        gone = await self._run(work)
        # Waiters elsewhere stop waiting; for a final job none are left.
        self._link.announce((), [job.id for job in gone if not job.is_final])
        self._cascaded(cascaded)
        return gone
