"""Health that tells the truth: /healthz is 503 while writes fail, and a server
that cannot write its database does not start, naming the path and the reason.

The faults are real: a tmpfs of a few hundred KiB that the test fills, and a
read-only bind mount (as root, chmod cannot make a file read-only). Both need
mount(8) with the privilege to use it; without it these tests skip, saying so.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.http.helpers import enqueue, until
from tests.support.databases import (
    PG_URL,
    create_pg_database,
    database_url,
    drop_pg_database,
    run_sync,
    skip_without_postgres,
)
from tests.support.servers import ServerProcess


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs of the test's own."""
    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        _mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk))
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here (needs root and mount): {exc}")
    try:
        yield disk
    finally:
        _umount(disk)


@pytest.fixture
def read_only_view(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A folder, and a read-only bind mount of it: (writable, read_only)."""
    source, view = tmp_path / "source", tmp_path / "view"
    source.mkdir()
    view.mkdir()
    try:
        _mount("--bind", str(source), str(view))
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot bind-mount here (needs root and mount): {exc}")
    try:
        _mount("-o", "remount,ro,bind", str(view))
        yield source, view
    finally:
        _umount(view)


def _fill(disk: Path) -> Path:
    """Write a file until the file system says it is full."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == 28, exc  # ENOSPC
    finally:
        os.close(fd)
    return filler


def _refused_start(proc: ServerProcess) -> str:
    """Start `proc`, expecting it to exit at once; its log."""
    with pytest.raises(RuntimeError, match="server exited at start"):
        proc.start()
    assert proc.proc is not None and proc.proc.returncode != 0
    return proc.log_path.read_text()


@pytest.mark.documents("healthz-503-writes")
def test_healthz_is_503_while_the_disk_is_full_and_200_again_after(
    small_disk: Path, tmp_path: Path
) -> None:
    server = ServerProcess(db=str(small_disk / "accepted.db"), log_path=tmp_path / "server.log")
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30.0) as client:
            kept = enqueue(client, "kept", {"before": "full"})
            # The server checkpoints on its own clock; one before the disk fills
            # lets a tiny commit reuse the log's space. Make it happen every time.
            with closing(sqlite3.connect(small_disk / "accepted.db")) as outside:
                outside.execute("PRAGMA wal_checkpoint(PASSIVE)")
            filler = _fill(small_disk)

            def health_is(status: int) -> bool:
                return client.get("/healthz").status_code == status

            until(lambda: health_is(503), timeout=10)
            body = client.get("/healthz").json()
            assert body["error"]["code"] == "store_unavailable"
            assert "full" in body["error"]["message"]
            # What the health check says is what a producer finds: a job bigger
            # than the log's reusable space is refused (a small one may still fit).
            refused = client.post("/jobs", json={"queue": "q", "params": "x" * 900_000})
            assert refused.status_code == 503
            assert client.get(f"/jobs/{kept['id']}").status_code == 200  # reads still work

            filler.unlink()
            until(lambda: health_is(200), timeout=10)
            assert client.post("/jobs", json={"queue": "q"}).status_code == 202
    finally:
        assert server.stop() == 0
    assert "Traceback" not in server.log_path.read_text()


@pytest.mark.documents("startup-refused")
def test_a_database_in_a_missing_folder_does_not_start(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "folder" / "accepted.db"
    log = _refused_start(ServerProcess(db=str(target), log_path=tmp_path / "server.log"))
    assert f"cannot open the SQLite database {target} for writing" in log
    assert f"the folder {target.parent} does not exist" in log
    assert ".lock" not in log
    assert not target.parent.exists()  # nothing was created on the way


@pytest.mark.documents("startup-refused")
def test_a_read_only_database_does_not_start(
    read_only_view: tuple[Path, Path], tmp_path: Path
) -> None:
    source, view = read_only_view
    first = ServerProcess(db=str(source / "accepted.db"), log_path=tmp_path / "first.log")
    first.start()
    assert first.stop() == 0
    target = view / "accepted.db"  # the same file, through a read-only mount
    log = _refused_start(ServerProcess(db=str(target), log_path=tmp_path / "server.log"))
    assert f"cannot open the SQLite database {target} for writing: Read-only file system" in log
    assert ".lock" not in log


@pytest.mark.postgres
@pytest.mark.documents("startup-refused")
def test_a_read_only_postgresql_database_does_not_start(tmp_path: Path) -> None:
    skip_without_postgres()
    import asyncpg

    name = run_sync(create_pg_database())
    try:
        first = ServerProcess(db=database_url(name), log_path=tmp_path / "first.log")
        first.start()
        assert first.stop() == 0

        async def read_only() -> None:
            conn = await asyncpg.connect(PG_URL)
            try:
                await conn.execute(
                    f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'
                )
            finally:
                await conn.close()

        run_sync(read_only())
        proc = ServerProcess(db=database_url(name), log_path=tmp_path / "server.log")
        log = _refused_start(proc)
        assert f"cannot open the PostgreSQL database 127.0.0.1:5432/{name} for writing" in log
        assert "read-only transaction" in log
    finally:
        run_sync(drop_pg_database(name))
