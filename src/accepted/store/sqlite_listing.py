"""The listing section of the SQLite store: pages of jobs a `JobFilter` selects,
and the deletion of many jobs at once (a bulk action's chunk).

Runs on the reader connection (`SqliteReader`), so a long text search never
holds up a commit; the page's seqs and then its rows are read in one snapshot.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from accepted.queries import JobFilter, JobPage
from accepted.store.listing import Dialect, TextIndex, page_query
from accepted.store.rows import COLUMN_LIST, job_from_row
from accepted.store.sqlite_flow import SqliteFlow
from accepted.store.sqlite_reader import SqliteReader
from accepted.store.sqlite_writer import SqliteWriter
from accepted.types import Job


def trigram_query(text: str) -> str | None:
    """An FTS5 query for the rows holding every trigram that covers `text`.

    The index keeps no positions (detail=none), so this finds a superset of
    the rows containing the text: the listing checks each candidate with LIKE.
    Trigrams at every third position plus the last cover the text; text under
    three characters has none, and is searched without the index, as is text
    that a result of `null` holds (those results are not indexed).
    """
    if len(text) < 3 or text.lower() in "null":
        return None  # no trigram; or text in every unindexed `null` result
    starts = sorted({*range(0, len(text) - 2, 3), len(text) - 3})
    return " AND ".join('"' + text[i : i + 3].replace('"', '""') + '"' for i in starts)


TEXT_INDEX = TextIndex(
    params_table="jobs_params_text",
    results_table="jobs_results_text",
    key="rowid",
    argument=trigram_query,
    matches=lambda table, p: f"t.{table} MATCH {p}",
    exact=False,
    unindexed="j.seq > (SELECT indexed_seq FROM text_index)",
    pending_table="text_pending",
)

DIALECT = Dialect(
    table="jobs",
    placeholder=lambda n: f"?{n}",
    id_equals=lambda p: f"id = {p}",
    # LIKE folds ASCII letters only; params and result are the JSON text as sent.
    contains=lambda column, p: f"CAST({column} AS TEXT) LIKE {p} ESCAPE '\\'",
    text_index=TEXT_INDEX,
)
_ROWS = f"SELECT seq, {COLUMN_LIST} FROM jobs WHERE seq IN "
_DELETE = "DELETE FROM jobs WHERE id IN "


class SqliteListing:
    """Mixed into `SqliteStore`; see `store.base.JobStore.list_jobs` for the contract."""

    _reader: SqliteReader
    _writer: SqliteWriter
    _flow: SqliteFlow

    def _cascaded(self, jobs: list[Job]) -> None: ...

    def _deleted(self, jobs: list[Job]) -> None: ...

    async def list_jobs(self, where: JobFilter, limit: int, before: int | None = None) -> JobPage:
        query, args = page_query(DIALECT, where, limit + 1, before)

        def work(conn: sqlite3.Connection) -> JobPage:
            seqs = [row[0] for row in conn.execute(query, args)]
            more = len(seqs) > limit
            seqs = seqs[:limit]
            return JobPage(_rows(conn, seqs), seqs[-1] if more else None)

        return await self._reader.run(work)

    async def delete_jobs(self, job_ids: Sequence[str]) -> list[Job]:
        ids = list(dict.fromkeys(job_ids))

        now = time.time()

        def work(conn: sqlite3.Connection) -> tuple[list[Job], list[Job]]:
            gone = []
            for start in range(0, len(ids), 500):  # under SQLite's bound-parameter limit
                chunk = ids[start : start + 500]
                query = f"{_DELETE}({', '.join('?' * len(chunk))}) RETURNING {COLUMN_LIST}"
                for row in conn.execute(query, chunk):
                    gone.append(job_from_row(row))
            return gone, self._flow.settle_deleted(conn, gone, now)  # flow-deps

        gone, cascaded = await self._writer.run(work)
        self._deleted(gone)
        self._cascaded(cascaded)
        return gone


def _rows(conn: sqlite3.Connection, seqs: list[int]) -> list[Any]:
    if not seqs:
        return []
    found = {
        row[0]: job_from_row(row[1:])
        for row in conn.execute(_ROWS + f"({', '.join('?' * len(seqs))})", seqs)
    }
    return [found[seq] for seq in seqs if seq in found]
