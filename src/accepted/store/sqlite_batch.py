"""A batch's rows in a few statements, not one statement per row.

Each statement SQLite runs inside a transaction pays a fixed cost besides its
rows: the driver's cursor and binding, a statement journal opened and closed,
the VM halted and reset. For a 100-job batch that was most of the writer's
time per row (an UPDATE of one row ~15 us, its share of one UPDATE of 100
rows ~6 us; an INSERT ~27 us against ~15 us; bench.micro). So an insert of
many jobs is one multi-row `INSERT ... VALUES (...), (...)`, and the rows a
report batch changes are written as one `UPDATE ... FROM` a VALUES list per
set of changed columns. The values are the ones the Python rules decided,
bound as parameters: the SQL only places them, so what is stored is what a
row-at-a-time write would have stored.

Statements are built for row counts that are powers of two (at most
`MAX_ROWS`), so a handful of statements serves every batch size and stays
in the driver's statement cache.
"""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Iterator, Sequence
from functools import lru_cache
from itertools import chain
from typing import Any

from accepted.store.rows import COLUMNS, MUTABLE, column_value, ended_attempt, stored
from accepted.types import Job

MAX_ROWS = 64  # rows per statement: 64 x 37 columns stay far below SQLite's 32,766 parameters

INSERT_ATTEMPT = (
    "INSERT INTO job_attempts (job_id, attempt, started_at, ended_at, outcome, result) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
MUTABLE_OF = operator.attrgetter(*MUTABLE)


def sizes(count: int) -> Iterator[int]:
    """`count` rows as statements of powers of two, largest first (100: 64, 32, 4)."""
    size = MAX_ROWS
    while count:
        while size > count:
            size //= 2
        yield size
        count -= size


def insert_statements(rows: Sequence[Sequence[Any]]) -> list[tuple[str, list[Any]]]:
    """The INSERTs of these job rows (`COLUMNS` order), in order: `seq` follows the rows.

    A column that is NULL in every row of a statement is left out of it: it
    gets its default, NULL (every nullable column of `jobs` defaults to NULL),
    and binding a None costs the driver an adapter lookup. A plain job leaves
    out about half of its 37 columns (an insert of 64: ~8.4 -> ~4.7 us a row).
    """
    statements, start = [], 0
    for size in sizes(len(rows)):
        if size == 1:  # a lone job (single enqueues): its own non-NULL values
            row = rows[start]
            present = tuple(i for i, v in enumerate(row) if v is not None)
            values = [v for v in row if v is not None]
        else:
            chunk = rows[start : start + size]
            columns = zip(*chunk, strict=True)
            present = tuple(i for i, column in enumerate(columns) if column.count(None) < size)
            values = list(chain.from_iterable(map(operator.itemgetter(*present), chunk)))
        statements.append((_insert_sql(present, size), values))
        start += size
    return statements


@lru_cache(maxsize=64)
def _insert_sql(present: tuple[int, ...], rows: int) -> str:
    row = f"({', '.join('?' * len(present))})"
    names = ", ".join(COLUMNS[i] for i in present)
    return f"INSERT INTO jobs ({names}) VALUES {', '.join([row] * rows)}"


def changed_columns(old: Job, new: Job) -> tuple[tuple[int, ...], tuple[Any, ...]]:
    """Which `MUTABLE` columns differ between old and new, and new's values of them."""
    old_values, new_values = MUTABLE_OF(old), MUTABLE_OF(new)
    changed = tuple(
        i for i, (a, b) in enumerate(zip(old_values, new_values, strict=True)) if a != b
    )
    return changed, tuple(column_value(new_values[i]) for i in changed)


class RowWrites:
    """The changes one call decided, written together by `flush`.

    Only changes that cannot be refused are collected (`defers`): one UPDATE
    of many rows stands or falls as a whole, so a change the unique key's
    index may refuse is written on its own, where the refusal names its job.
    A job is collected once per flush: an UPDATE ... FROM that matched one
    row twice would apply either change.
    """

    def __init__(self) -> None:
        self._updates: dict[tuple[int, ...], list[tuple[Any, ...]]] = {}
        self._attempts: list[tuple[Any, ...]] = []
        self.ids: set[str] = set()

    @staticmethod
    def defers(old: Job, new: Job) -> bool:
        """Whether this change can wait for `flush`: neither side holds a unique key."""
        return old.unique_key is None and new.unique_key is None

    def add(self, old: Job, new: Job) -> Job:
        """Collect old -> new (see `defers`); returns the job as it will be stored."""
        changed, values = changed_columns(old, new)
        if changed:
            self._updates.setdefault(changed, []).append((new.id, *values))
        attempt = ended_attempt(old, new)
        if attempt is not None:
            self._attempts.append((new.id, *attempt))
        self.ids.add(new.id)
        return stored(new)

    def flush(self, conn: sqlite3.Connection) -> None:
        """Write what was collected: one UPDATE per set of changed columns and size."""
        for changed, rows in self._updates.items():
            start = 0
            for size in sizes(len(rows)):
                if size == 1:  # a lone row: the plain UPDATE by id, no VALUES list to join
                    job_id, *values = rows[start]
                    conn.execute(update_one_sql(changed), (*values, job_id))
                else:
                    chunk = rows[start : start + size]
                    conn.execute(_update_sql(changed, size), list(chain.from_iterable(chunk)))
                start += size
        if self._attempts:
            conn.executemany(INSERT_ATTEMPT, self._attempts)
        self._updates.clear()
        self._attempts.clear()
        self.ids.clear()


@lru_cache(maxsize=256)
def _update_sql(changed: tuple[int, ...], rows: int) -> str:
    names = [MUTABLE[i] for i in changed]
    row = f"({', '.join('?' * (len(names) + 1))})"
    return (
        f"WITH v (id, {', '.join(names)}) AS (VALUES {', '.join([row] * rows)}) "
        f"UPDATE jobs SET {', '.join(f'{name} = v.{name}' for name in names)} "
        "FROM v WHERE jobs.id = v.id"
    )


@lru_cache(maxsize=256)
def update_one_sql(changed: tuple[int, ...]) -> str:
    return f"UPDATE jobs SET {', '.join(MUTABLE[i] + ' = ?' for i in changed)} WHERE id = ?"
