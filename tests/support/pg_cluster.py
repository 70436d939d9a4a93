"""A throwaway PostgreSQL cluster of a test's own, to stop and start at will.

The machine's cluster at 127.0.0.1:5432 is shared by everyone and never
touched: this one is made with initdb in a temporary folder and listens on a
free loopback port (and a socket in its own folder). initdb and postgres refuse
to run as root, so as root they run as the `postgres` system user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.servers import free_port

RUN_AS = "postgres"  # the system user the distribution's packages make


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl is None:
        pytest.skip("no pg_ctl/initdb on this machine: the PostgreSQL fault tests need them")
    return Path(pg_ctl).parent


@dataclass
class Cluster:
    """One cluster: `url` for the server under test, `stop()` and `start()` for the fault."""

    folder: Path
    port: int
    bin_dir: Path

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", RUN_AS, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        # fsync off: the faults here kill PostgreSQL processes, not the machine,
        # and the operating system keeps what they wrote either way.
        self._run("initdb", "-D", str(self.folder / "data"), "-A", "trust", "-U", "postgres",
                  "--no-sync", "--no-instructions")

    def start(self) -> None:
        options = (f"-c port={self.port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={self.folder} -c fsync=off "
                   "-c max_connections=60")
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-l", str(self.folder / "log"),
                  "-o", options, "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast` disconnects every client and shuts down; `immediate` is a crash."""
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", mode, "-w", "-t", "30",
                  "stop")

    def running(self) -> bool:
        return (self.folder / "data" / "postmaster.pid").exists()


@contextmanager
def own_cluster() -> Iterator[Cluster]:
    """A started cluster in a temporary folder, stopped and removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="accepted-pg-"))
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam(RUN_AS)
        except KeyError:
            pytest.skip(f"running as root without a {RUN_AS} user to run initdb as")
        os.chown(folder, user.pw_uid, user.pw_gid)
    cluster = Cluster(folder, free_port(), _bin_dir())
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        if cluster.running():
            cluster.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)
