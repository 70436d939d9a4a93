"""The table `accepted jobs` prints for people, fitted to the terminal.

Columns: ID, QUEUE, STATUS, GROUP and KEY (only when a job of the page has a
fairness group or a unique key), PRI, TRIES, CREATED, PARAMS. The id is never
cut: it is what `accepted get` takes. On a terminal (or with COLUMNS set) a
table wider than the screen is fitted instead of wrapped (table_fit): free text
(params, key, group, queue) is cut with an ellipsis, and where even that cannot
fit them, whole columns go first, least needed first (PARAMS, KEY, CREATED,
TRIES, PRI, GROUP, QUEUE), so what stays is readable. ID and STATUS always
stay: on a screen narrower than those two the lines wrap.
Into a pipe nothing is cut but params, so `grep` sees every group and key.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TextIO

from accepted.client.models import Job
from accepted.client.table_fit import Column, cut, fitted, print_table, screen_width

__all__ = ["print_jobs", "screen_width"]

# A free-text cell (params, group, key) is cut to this many characters anyway.
TEXT_WIDTH = 40
# Columns that go, in this order, when cutting text is not enough.
DROP_ORDER = ("PARAMS", "KEY", "CREATED", "TRIES", "PRI", "GROUP", "QUEUE")
# How narrow cutting may make a free-text column (an ellipsis included): any
# narrower says too little, so a column goes instead (DROP_ORDER).
MIN_WIDTH = {"QUEUE": 8, "GROUP": 12, "KEY": 12, "PARAMS": 12}


def print_jobs(out: TextIO, jobs: list[Job], width: int | None, now: datetime) -> None:
    columns = _columns(jobs, now)
    if width is not None:
        columns = fitted(columns, width, DROP_ORDER, MIN_WIDTH)
    print_table(out, columns)


def _columns(jobs: list[Job], now: datetime) -> list[Column]:
    columns = [
        Column("ID", [job.id for job in jobs]),
        Column("QUEUE", [job.queue for job in jobs]),
        Column("STATUS", [job.status.value for job in jobs]),
        Column("GROUP", [cut(job.group or "-", TEXT_WIDTH) for job in jobs]),
        Column("KEY", [cut(job.unique_key or "-", TEXT_WIDTH) for job in jobs]),
        Column("PRI", [str(job.priority) for job in jobs], numeric=True),
        Column("TRIES", [str(job.attempts) for job in jobs], numeric=True),
        Column("CREATED", [_when(job.created_at, now) for job in jobs]),
        Column("PARAMS", [cut(_json(job.params), TEXT_WIDTH) for job in jobs]),
    ]
    unused = {
        "GROUP": all(not job.group for job in jobs),
        "KEY": all(not job.unique_key for job in jobs),
    }
    return [column for column in columns if not unused.get(column.header, False)]


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _when(value: datetime, now: datetime) -> str:
    """Local time, as `ls -l` shows it: the year only when it is not this one."""
    local = value.astimezone()
    if local.year == now.astimezone().year:
        return local.strftime("%m-%d %H:%M:%S")
    return local.strftime("%Y-%m-%d")
