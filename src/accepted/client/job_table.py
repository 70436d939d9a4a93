"""The table `accepted jobs` prints for people, fitted to the terminal.

Columns: ID, QUEUE, STATUS, GROUP and KEY (only when a job of the page has a
fairness group or a unique key), PRI, TRIES, CREATED, PARAMS. The id is never
cut: it is what `accepted get` takes. On a terminal (or with COLUMNS set) a
table wider than the screen is fitted instead of wrapped: free text (params,
key, group, queue) is cut with an ellipsis, and where even that cannot fit
them, whole columns go first, least needed first (PARAMS, KEY, CREATED,
TRIES, PRI), so what stays is readable.
Into a pipe nothing is cut but params, so `grep` sees every group and key.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from accepted.client.models import Job

__all__ = ["print_jobs", "screen_width"]

# A free-text cell (params, group, key) is cut to this many characters anyway.
TEXT_WIDTH = 40
# Columns that go, in this order, when cutting text is not enough.
DROP_ORDER = ("PARAMS", "KEY", "CREATED", "TRIES", "PRI")
# How narrow cutting may make a free-text column (an ellipsis included): any
# narrower says too little, so a column goes instead (DROP_ORDER).
MIN_WIDTH = {"QUEUE": 8, "GROUP": 12, "KEY": 12, "PARAMS": 12}
NUMERIC = frozenset({"PRI", "TRIES"})


@dataclass
class Column:
    header: str
    cells: list[str]

    @property
    def width(self) -> int:
        return max(len(cell) for cell in [self.header, *self.cells])

    def cut_to(self, width: int) -> None:
        self.cells = [_cut(cell, width) for cell in self.cells]


def screen_width() -> int | None:
    """COLUMNS, else the terminal's width; None into a pipe (nothing to fit)."""
    columns = shutil.get_terminal_size(fallback=(0, 0)).columns
    return columns or None


def print_jobs(out: TextIO, jobs: list[Job], width: int | None, now: datetime) -> None:
    columns = _columns(jobs, now)
    if width is not None:
        columns = _fitted(columns, width)
    for i in range(len(jobs) + 1):
        cells = []
        for column in columns:
            cell = column.header if i == 0 else column.cells[i - 1]
            justify = cell.rjust if column.header in NUMERIC else cell.ljust
            cells.append(justify(column.width))
        out.write("  ".join(cells).rstrip() + "\n")


def _columns(jobs: list[Job], now: datetime) -> list[Column]:
    columns = [
        Column("ID", [job.id for job in jobs]),
        Column("QUEUE", [job.queue for job in jobs]),
        Column("STATUS", [job.status.value for job in jobs]),
        Column("GROUP", [_cut(job.group or "-", TEXT_WIDTH) for job in jobs]),
        Column("KEY", [_cut(job.unique_key or "-", TEXT_WIDTH) for job in jobs]),
        Column("PRI", [str(job.priority) for job in jobs]),
        Column("TRIES", [str(job.attempts) for job in jobs]),
        Column("CREATED", [_when(job.created_at, now) for job in jobs]),
        Column("PARAMS", [_cut(_json(job.params), TEXT_WIDTH) for job in jobs]),
    ]
    unused = {
        "GROUP": all(not job.group for job in jobs),
        "KEY": all(not job.unique_key for job in jobs),
    }
    return [column for column in columns if not unused.get(column.header, False)]


def _fitted(columns: list[Column], width: int) -> list[Column]:
    """Drop columns until the rest fit at their narrowest, then cut the widest
    free text a character at a time until the table fits `width`."""
    for name in DROP_ORDER:
        if _total(columns, narrowest=True) <= width:
            break
        columns = [column for column in columns if column.header != name]
    while _total(columns) > width:
        cuttable = [c for c in columns if c.width > _narrowest(c)]
        if not cuttable:
            break  # the id alone is wider than the screen: it still is not cut
        widest = max(cuttable, key=lambda c: c.width)
        widest.cut_to(widest.width - 1)
    return columns


def _narrowest(column: Column) -> int:
    return min(column.width, MIN_WIDTH.get(column.header, column.width))


def _total(columns: list[Column], *, narrowest: bool = False) -> int:
    widths = [_narrowest(c) if narrowest else c.width for c in columns]
    return sum(widths) + 2 * (len(columns) - 1)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _when(value: datetime, now: datetime) -> str:
    """Local time, as `ls -l` shows it: the year only when it is not this one."""
    local = value.astimezone()
    if local.year == now.astimezone().year:
        return local.strftime("%m-%d %H:%M:%S")
    return local.strftime("%Y-%m-%d")
