"""Which rows a `JobFilter` selects, newest first, as SQL either dialect can run.

What the filter means is written once here; each backend supplies only its
spelling (placeholders, the id type, the case-insensitive match).

The plan: a listing reads the newest rows of each (queue, status) pair the
filter names, each through the index (queue, status, seq) or (status, seq)
walked backwards from the cursor and stopped after one page, then merges them
(`UNION ALL` ... `ORDER BY seq DESC LIMIT`). A filter by queue alone reads each
of the queue's statuses that way; without queue or status the primary key is
walked. So a first page costs a few index probes per pair, whatever the
table's size.

Text search of three characters or more is driven by the text index (see
`TextIndex`): the newest jobs whose params, then whose result, hold the text
are walked backwards from the cursor through that index, each joined to its
job for the other conditions, and the two halves merged. Shorter text has no
trigram to look up: it filters the rows walked, stopping once a page is found.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from accepted.queries import JobFilter
from accepted.types import JobStatus


@dataclass(slots=True)
class Dialect:
    """How one backend spells the few things that differ."""

    table: str
    placeholder: Callable[[int], str]  # the n-th parameter (1-based)
    id_equals: Callable[[str], str]  # `id` compared with the parameter given
    contains: Callable[[str, str], str]  # column, pattern parameter -> case-insensitive match
    id_array: Callable[[str], str] | None = None  # `id` in an array parameter (PostgreSQL)
    text_index: TextIndex | None = None


@dataclass(slots=True, frozen=True)
class TextIndex:
    """How a backend looks text up in its trigram index of params and of results.

    Each table holds one row per job, keyed by the job's seq, its text in `body`.
    """

    params_table: str
    results_table: str
    key: str  # the column holding the job's seq
    # text -> the argument of `matches`, or None when the index cannot narrow it
    argument: Callable[[str], str | None]
    matches: Callable[[str, str], str]  # table, parameter -> the indexed condition
    exact: bool  # the index's match is the search itself: no check against the job
    # Where the index lags the jobs (SQLite writes it behind them): a condition
    # on the job table for the jobs not indexed yet, and a table of the seqs
    # whose result changed since it was indexed. Both are read directly.
    unindexed: str | None = None
    pending_table: str | None = None


@dataclass(slots=True)
class Statement:
    """SQL and its arguments, built up one parameter at a time."""

    dialect: Dialect
    args: list[Any] = field(default_factory=list)

    def param(self, value: Any) -> str:
        self.args.append(value)
        return self.dialect.placeholder(len(self.args))


def like_pattern(text: str) -> str:
    """`%text%` with LIKE's wildcards in `text` escaped (ESCAPE '\\')."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def as_job_id(text: str) -> str | None:
    """The job id `text` names (normalised), or None when it is no UUID."""
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        return None


def page_query(
    dialect: Dialect, where: JobFilter, limit: int, before: int | None
) -> tuple[str, list[Any]]:
    """The seqs of up to `limit` rows the filter selects below `before`, newest first."""
    st = Statement(dialect)
    indexed = _indexed_text(dialect, where.text)
    if indexed is not None:
        return _text_search(st, where, before, limit, indexed), st.args
    common = _common_conditions(st, where, before)
    pairs = _index_pairs(where)
    count = st.param(limit)
    if len(pairs) > MAX_PARTS:
        return _one_scan(st, where, common, count), st.args
    parts = []
    for queue, status in pairs:
        conditions = list(common)
        if queue is not None:
            conditions.append(f"queue = {st.param(queue)}")
        if status is not None:
            conditions.append(f"status = {st.param(status.value)}")
        where_sql = " AND ".join(conditions) or "TRUE"
        parts.append(
            f"SELECT seq FROM (SELECT seq FROM {dialect.table} WHERE {where_sql} "
            f"ORDER BY seq DESC LIMIT {count}) AS part"
        )
    union = " UNION ALL ".join(parts)
    return f"SELECT seq FROM ({union}) AS found ORDER BY seq DESC LIMIT {count}", st.args


# SQLite refuses a compound SELECT of more than 500 terms; past this many
# (queue, status) pairs (100 queues x 6 statuses is 600) one scan with IN lists
# reads the same rows, walking seq backwards instead of one index per pair.
MAX_PARTS = 400


def _one_scan(st: Statement, where: JobFilter, common: list[str], count: str) -> str:
    conditions = [*common, *_in_lists(st, where)]
    where_sql = " AND ".join(conditions) or "TRUE"
    return f"SELECT seq FROM {st.dialect.table} WHERE {where_sql} ORDER BY seq DESC LIMIT {count}"


def _indexed_text(dialect: Dialect, text: str | None) -> str | None:
    """The text index's argument for `text`, if the index can serve this search."""
    if text is None or dialect.text_index is None or as_job_id(text) is not None:
        return None
    return dialect.text_index.argument(text)


def _text_search(
    st: Statement, where: JobFilter, before: int | None, limit: int, argument: str
) -> str:
    """The newest matches of the params index, and of the results index, merged.

    Each half walks its index's key backwards from the cursor and stops after a
    page; a job found by both is one row of the merge (UNION).
    """
    index = st.dialect.text_index
    assert index is not None
    text = where.text
    assert text is not None
    filters = _common_conditions(st, replace(where, text=None), None)
    filters += _in_lists(st, where)
    if not index.exact:
        filters.append(_like_condition(st, text))
    found = st.param(argument)
    count = st.param(limit)
    jobs = st.dialect.table
    halves = []
    for table in (index.params_table, index.results_table):
        key = f"t.{index.key}"
        conditions = [index.matches(table, found), *filters]
        if before is not None:
            conditions.append(f"{key} < {st.param(before)}")
        joined = f"{table} AS t JOIN {jobs} AS j ON j.seq = {key}"
        halves.append(_half(joined, key, conditions, count))
    if index.unindexed is not None or index.pending_table is not None:
        checked = filters if not index.exact else [*filters, _like_condition(st, text)]
        below = [] if before is None else [f"j.seq < {st.param(before)}"]
        if index.unindexed is not None:
            conditions = [index.unindexed, *checked, *below]
            halves.append(_half(f"{jobs} AS j", "j.seq", conditions, count))
        if index.pending_table is not None:
            # Ordered by the pending table's key, so its few rows lead the join.
            joined = f"{index.pending_table} AS p JOIN {jobs} AS j ON j.seq = p.seq"
            halves.append(_half(joined, "p.seq", [*checked, *below], count))
    return f"SELECT seq FROM ({' UNION '.join(halves)}) AS found ORDER BY seq DESC LIMIT {count}"


def window_query(
    dialect: Dialect, where: JobFilter, limit: int, before: int | None, budget: int
) -> tuple[str, list[Any]] | None:
    """The text's matches among the newest `budget` rows the other filters select.

    One row: `walked`, how many rows the window held, and `seqs`, its newest
    `limit` matches. The window is walked like a listing without text (index
    driven, from the cursor), each row's text checked in the side tables by key.
    The window is contiguous, so its matches are exactly the newest matches
    when there are `limit` of them or when the window held fewer than `budget`
    rows (it reached the end). Otherwise the text is rare among the rows: the
    text index finds it (`page_query`). None when the index cannot serve `text`.
    """
    argument = _indexed_text(dialect, where.text)
    index = dialect.text_index
    if argument is None or index is None or not index.exact or index.unindexed is not None:
        return None
    window, args = page_query(dialect, replace(where, text=None), budget, before)
    st = Statement(dialect, args)
    found = st.param(argument)
    count = st.param(limit)
    has = [
        # OFFSET 0 keeps the text condition off the scan: each row's text is
        # read by key and checked, never looked up in the trigram index.
        f"EXISTS (SELECT 1 FROM (SELECT * FROM {table} WHERE {index.key} = w.seq "
        f"OFFSET 0) AS t WHERE {index.matches(table, found)})"
        for table in (index.params_table, index.results_table)
    ]
    query = (
        f"WITH w AS MATERIALIZED ({window}), "
        f"hits AS (SELECT seq FROM w WHERE {' OR '.join(has)} ORDER BY seq DESC LIMIT {count}) "
        "SELECT (SELECT count(*) FROM w) AS walked, "
        "ARRAY(SELECT seq FROM hits ORDER BY seq DESC) AS seqs"
    )
    return query, st.args


def _half(source: str, key: str, conditions: list[str], count: str) -> str:
    """The newest `count` seqs of `source` that meet `conditions`."""
    return (
        f"SELECT seq FROM (SELECT {key} AS seq FROM {source} "
        f"WHERE {' AND '.join(conditions)} ORDER BY {key} DESC LIMIT {count}) AS half"
    )


def _in_lists(st: Statement, where: JobFilter) -> list[str]:
    conditions = []
    if where.queues is not None:
        conditions.append(f"queue IN ({', '.join(st.param(q) for q in where.queues)})")
    if where.statuses is not None:
        names = ", ".join(st.param(s.value) for s in where.statuses)
        conditions.append(f"status IN ({names})")
    return conditions


def _index_pairs(where: JobFilter) -> list[tuple[str | None, JobStatus | None]]:
    """The (queue, status) pairs to read each through its own index."""
    queues: tuple[str | None, ...] = (None,) if where.queues is None else where.queues
    statuses: tuple[JobStatus | None, ...]
    if where.statuses is not None:
        statuses = where.statuses
    elif where.queues is not None:
        statuses = tuple(JobStatus)  # (queue, status, seq) serves a queue one status at a time
    else:
        statuses = (None,)
    return [(q, s) for q in dict.fromkeys(queues) for s in dict.fromkeys(statuses)]


def _common_conditions(st: Statement, where: JobFilter, before: int | None) -> list[str]:
    conditions = []
    if before is not None:
        conditions.append(f"seq < {st.param(before)}")
    if where.ids is not None:
        ids = [i for i in (as_job_id(raw) for raw in where.ids) if i is not None]
        if st.dialect.id_array is not None:
            conditions.append(st.dialect.id_array(st.param(ids)))
        elif ids:
            conditions.append(f"id IN ({', '.join(st.param(i) for i in ids)})")
        else:
            conditions.append("FALSE")
    if where.text is not None:
        conditions.append(_text_condition(st, where.text))
    return conditions


def _text_condition(st: Statement, text: str) -> str:
    """A job id finds that job (an index look-up); other text is searched for."""
    job_id = as_job_id(text)
    if job_id is not None:
        return st.dialect.id_equals(st.param(job_id))
    return _like_condition(st, text)


def _like_condition(st: Statement, text: str) -> str:
    """Params or result contain `text`, case-insensitively, read from the job."""
    pattern = st.param(like_pattern(text))
    matches = [st.dialect.contains("params", pattern), st.dialect.contains("result", pattern)]
    return f"({' OR '.join(matches)})"
