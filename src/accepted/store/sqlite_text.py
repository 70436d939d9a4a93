"""The text-search index of the SQLite store, written behind the jobs.

See migration 0015 for the tables. `index_text` runs on the writer, one
batch per transaction, from the background task `tasks.text_index`; a search
never waits for it (the listing reads what it has not indexed yet directly).

A job's params never change after the insert (no rule rewrites them), so the
params index is written once per job and forgotten with its delete; only a
result is re-indexed when it changes (`text_pending`). A rule that rewrote
params would have to queue the job there too.
"""

from __future__ import annotations

import sqlite3

from accepted.store.sqlite_writer import SqliteWriter

_MARK = "SELECT indexed_seq FROM text_index"
_NEXT = "SELECT max(seq) FROM (SELECT seq FROM jobs WHERE seq > ?1 ORDER BY seq LIMIT ?2)"
_PARAMS = (
    "INSERT INTO jobs_params_text (rowid, body) "
    "SELECT seq, CAST(params AS TEXT) FROM jobs WHERE seq > ?1 AND seq <= ?2"
)
_RESULTS = (
    "INSERT INTO jobs_results_text (rowid, body) "
    "SELECT seq, CAST(result AS TEXT) FROM jobs "
    "WHERE seq > ?1 AND seq <= ?2 AND CAST(result AS TEXT) <> 'null'"
)
_MOVE = "UPDATE text_index SET indexed_seq = ?1"
_PENDING = "SELECT seq FROM text_pending ORDER BY seq LIMIT ?1"


class SqliteText:
    """Mixed into `SqliteStore`; see `store.base.JobStore.index_text`."""

    _writer: SqliteWriter

    async def index_text(self, limit: int) -> int:
        return await self._writer.run(lambda conn: _index(conn, limit))


def _index(conn: sqlite3.Connection, limit: int) -> int:
    """Index up to `limit` new jobs and up to `limit` changed results; how many."""
    done = 0
    mark = conn.execute(_MARK).fetchone()[0]
    top = conn.execute(_NEXT, (mark, limit)).fetchone()[0]
    if top is not None:
        done += conn.execute(_PARAMS, (mark, top)).rowcount
        conn.execute(_RESULTS, (mark, top))
        conn.execute(_MOVE, (top,))
    seqs = [row[0] for row in conn.execute(_PENDING, (limit,))]
    if seqs:
        marks = ", ".join("?" * len(seqs))
        conn.execute(f"DELETE FROM jobs_results_text WHERE rowid IN ({marks})", seqs)
        conn.execute(
            "INSERT INTO jobs_results_text (rowid, body) SELECT seq, CAST(result AS TEXT) "
            f"FROM jobs WHERE seq IN ({marks}) AND CAST(result AS TEXT) <> 'null'",
            seqs,
        )
        conn.execute(f"DELETE FROM text_pending WHERE seq IN ({marks})", seqs)
        done += len(seqs)
    return done
