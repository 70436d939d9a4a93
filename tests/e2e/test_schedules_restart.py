"""Catch-up across a restart, as an operator meets it: a server stopped for a few
seconds while an `every: 1` schedule kept coming due makes ONE job for all the
fires it missed when it comes back, then goes on with the regular fires.

SQLite only: the rule lives in the service, which both stores share, and the
store side of a fire is tested on both (tests/contract/test_schedules.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.http.helpers import take, timestamp
from tests.support.servers import ServerProcess

DOWN_FOR = 2.0  # seconds with no server: shorter than the 5 s a single late fire may be


def test_the_fires_missed_while_no_server_ran_make_one_job(tmp_path: Path) -> None:
    db = str(tmp_path / "restart.db")
    first = ServerProcess(db=db, log_path=tmp_path / "first.log").start()
    try:
        with httpx.Client(base_url=first.url, timeout=30) as http:
            answer = http.put("/schedules/tick", json={"queue": "ticks", "every": 1})
            assert answer.status_code == 200, answer.text
            before = take(http, "ticks", block_for=10)
            assert before is not None
    finally:
        first.stop()
    time.sleep(DOWN_FOR)  # the outage itself: fires come due with nobody to make them
    second = ServerProcess(db=db, log_path=tmp_path / "second.log").start()
    try:
        with httpx.Client(base_url=second.url, timeout=30) as http:
            caught_up = take(http, "ticks", block_for=10)
            regular = take(http, "ticks", block_for=10)
            assert http.delete("/schedules/tick").status_code == 200
            jobs = http.get("/jobs", params={"queue": "ticks", "limit": 500}).json()["jobs"]
    finally:
        second.stop()
    assert caught_up is not None and regular is not None
    series = timestamp(before["due_at"])  # fire times are series + k
    missed = timestamp(caught_up["due_at"]) - series
    assert missed > DOWN_FOR - 1  # due when it was made, after the outage
    later = round(timestamp(regular["due_at"]) - series, 3)
    assert later == int(later) and later > missed  # the regular fires go on, on their times
    # Between the job before the outage and the first regular fire after it: one job.
    between = [j for j in jobs if series < timestamp(j["due_at"]) < series + later]
    assert [j["id"] for j in between] == [caught_up["id"]]
