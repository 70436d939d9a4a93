"""Real `accepted serve` processes on free loopback ports, for the HTTP and e2e tiers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.databases import database, workers_of

STARTUP_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """One server; `start()` returns once /healthz answers 200."""

    db: str
    log_path: Path
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    scheme: str = "http"  # "https" for a server given --tls-cert and --tls-key
    # Processes (`--workers`): one unless a test asks for more, since the server's
    # own default is one per core.
    workers: int = 1

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        env = {**os.environ, "ACCEPTED_LOG_LEVEL": "warning", **self.env}
        command = [sys.executable, "-m", "accepted", "serve", "--host", "127.0.0.1",
                   "--port", str(self.port), "--db", self.db, "--workers", str(self.workers),
                   *self.args]
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self._await_ready()
        return self

    def _await_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        assert self.proc is not None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited at start:\n{self.log_path.read_text()}")
            try:
                ready = httpx.get(self.url + "/healthz", timeout=1.0, verify=False)
                if ready.status_code == 200 and self._all_forked():
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.02)  # readiness poll: nothing to await before the socket exists
        raise RuntimeError(f"server not ready in {STARTUP_TIMEOUT}s:\n{self.log_path.read_text()}")

    def _all_forked(self) -> bool:
        """With --workers N, the parent has started its N processes (the first one answers)."""
        if self.workers == 1:
            return True
        assert self.proc is not None
        pid = self.proc.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return len(children) == self.workers

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Signal the server and wait for it to exit; returns its exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def kill(self) -> None:
        """kill -9: the crash a durable store must survive."""
        self.stop(signal.SIGKILL)

    def restart(self) -> ServerProcess:
        self.proc = None
        return self.start()


@contextmanager
def shared_server(backend: str, tmp: Path) -> Iterator[ServerProcess]:
    """A server on a fresh database of `backend` that many tests share.

    When it stops, its log must hold no unexpected error: a 500 that one of the
    tests provoked, but did not look for, fails the last of them here.
    """
    with database(backend, tmp) as target:
        log_path = tmp / "server.log"
        proc = ServerProcess(db=target, log_path=log_path, workers=workers_of(backend)).start()
        try:
            yield proc
        finally:
            proc.stop()
        log = log_path.read_text()
        assert "unexpected error" not in log and "Traceback" not in log, log[-4000:]
