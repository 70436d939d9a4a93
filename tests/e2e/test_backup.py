"""`accepted backup PATH`: an online copy of the SQLite database while the server
runs and producers keep enqueuing. The copy opens, passes SQLite's integrity
check, holds every job acknowledged before the backup began, and serves.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from tests.http.helpers import enqueue
from tests.support.servers import ServerProcess


def _backup(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "accepted", "backup", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_backup_under_load_holds_every_acknowledged_job(tmp_path: Path) -> None:
    db = tmp_path / "accepted.db"
    server = ServerProcess(db=str(db), log_path=tmp_path / "server.log").start()
    stop = threading.Event()
    during: list[str] = []

    def keep_enqueuing() -> None:
        with httpx.Client(base_url=server.url, timeout=30.0) as client:
            while not stop.is_set():
                during.append(enqueue(client, "during", {"n": len(during)})["id"])

    try:
        with httpx.Client(base_url=server.url, timeout=30.0) as client:
            batch = [{"queue": "before", "params": {"n": i}} for i in range(500)]
            acknowledged = [job["id"] for job in client.post("/jobs", json=batch).json()]
            acknowledged.append(enqueue(client, "before", {"last": True})["id"])
        producer = threading.Thread(target=keep_enqueuing)
        producer.start()
        try:
            done = _backup(str(tmp_path / "backup.db"), "--db", str(db))
        finally:
            stop.set()
            producer.join()
    finally:
        assert server.stop() == 0
    assert done.returncode == 0, done.stderr
    assert "backed up" in done.stdout
    assert during, "the server took no writes while the backup ran"

    copy = sqlite3.connect(tmp_path / "backup.db")
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        ids = {row[0] for row in copy.execute("SELECT id FROM jobs")}
    finally:
        copy.close()
    assert set(acknowledged) <= ids
    assert not (tmp_path / "backup.db-wal").exists()  # one self-contained file

    restored = ServerProcess(db=str(tmp_path / "backup.db"), log_path=tmp_path / "restored.log")
    restored.start()
    try:
        with httpx.Client(base_url=restored.url, timeout=30.0) as client:
            job = client.get(f"/jobs/{acknowledged[-1]}").json()
            assert job["params"] == {"last": True} and job["status"] == "queued"
    finally:
        assert restored.stop() == 0


def test_a_backup_never_overwrites_and_names_what_is_wrong(tmp_path: Path) -> None:
    db = tmp_path / "accepted.db"
    server = ServerProcess(db=str(db), log_path=tmp_path / "server.log").start()
    assert server.stop() == 0
    existing = tmp_path / "existing.db"
    existing.write_bytes(b"keep me")
    done = _backup(str(existing), "--db", str(db))
    assert done.returncode == 1
    assert f"{existing} exists" in done.stderr
    assert existing.read_bytes() == b"keep me"

    done = _backup(str(tmp_path / "out.db"), "--db", str(tmp_path / "missing.db"))
    assert done.returncode == 1 and "no SQLite database at" in done.stderr
    assert not (tmp_path / "out.db").exists()

    done = _backup(str(tmp_path / "out.db"), "--db", "postgresql://127.0.0.1/x")
    assert done.returncode == 2 and "pg_dump" in done.stderr
