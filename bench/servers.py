"""Servers the harness starts and measures: accepted or the constant app, under
uvicorn (the production configuration) or granian, each on a free loopback port.

Server-side figures come from /proc (CPU seconds and RSS of the server's
process tree) and from strace, which counts fsync/fdatasync calls. strace is
started as the server's parent with --seccomp-bpf, so only those two syscalls
stop the process; everything else runs at full speed.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 30.0
STACKS = ("uvicorn", "granian", "thin")  # thin: bench/thin.py, the constant only
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def granian_available() -> bool:
    return shutil.which("granian", path=str(Path(sys.executable).parent)) is not None


def strace_available() -> bool:
    return shutil.which("strace") is not None


@dataclass
class Snapshot:
    """Server-side counters at one instant."""

    at: float
    cpu_seconds: float | None
    fsyncs: int | None
    main_thread_cpu: float | None = None  # the event loop's thread alone


class ProcessTree:
    """A process and its descendants, read from /proc (Linux only)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def pids(self) -> list[int]:
        found, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            for task in _listdir(f"/proc/{pid}/task"):
                try:
                    children = Path(f"/proc/{pid}/task/{task}/children").read_text()
                except OSError:
                    continue
                todo += [int(c) for c in children.split()]
        return found

    def cpu_seconds(self) -> float:
        return sum(_cpu(f"/proc/{pid}/stat") for pid in self.pids())

    def main_thread_cpu(self) -> float:
        """The first process's main thread: where the event loop runs (on uvicorn)."""
        return _cpu(f"/proc/{self.pid}/task/{self.pid}/stat")

    def rss_bytes(self) -> int:
        total = 0
        for pid in self.pids():
            try:
                total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
            except OSError:
                continue
        return total

    def open_files(self) -> int:
        return sum(len(_listdir(f"/proc/{pid}/fd")) for pid in self.pids())

    def nofile_limit(self) -> int | None:
        """The soft open-files limit of the process (the first of its tree)."""
        try:
            for line in Path(f"/proc/{self.pid}/limits").read_text().splitlines():
                if line.startswith("Max open files"):
                    return int(line.split()[3])
        except (OSError, ValueError):
            pass
        return None


def _cpu(stat_path: str) -> float:
    try:
        fields = Path(stat_path).read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


class FsyncCounter:
    """Counts fsync/fdatasync calls in an strace output file, incrementally."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""
        self._count = 0

    def count(self) -> int:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                data = self._partial + handle.read()
        except FileNotFoundError:
            return self._count
        self._offset += len(data) - len(self._partial)
        lines = data.split(b"\n")
        self._partial = lines.pop()
        # "fdatasync(4 <unfinished ...>" counts; its "<... fdatasync resumed>" does not.
        self._count += sum(1 for line in lines if b"sync(" in line)
        return self._count


@dataclass
class ServerSpec:
    """What to run: `app` is "accepted" or "constant"; `stack` "uvicorn" or "granian"."""

    app: str
    stack: str = "uvicorn"
    db: str | None = None  # accepted only
    strace: bool = False
    variant: str | None = None  # bench/variants.py: a what-if patch (uvicorn only)
    extra_env: dict[str, str] = field(default_factory=dict)
    workers: int = 1  # --workers (processes) of accepted, or of the constant under uvicorn

    def command(self, port: int) -> list[str]:
        host = ["--host", "127.0.0.1", "--port", str(port)]
        if self.stack == "uvicorn":
            if self.app == "accepted":
                assert self.db is not None
                entry = ["accepted"] if self.variant is None else ["bench.variants", self.variant]
                return [
                    sys.executable,
                    "-m",
                    *entry,
                    "serve",
                    *host,
                    "--db",
                    self.db,
                    "--log-level",
                    "warning",
                    "--workers",
                    str(self.workers),
                ]
            return [sys.executable, "-m", "bench.constant", *host, "--workers", str(self.workers)]
        if self.stack == "thin":  # bench/thin.py: a prototype, one process, no variants
            if self.workers != 1 or self.variant is not None:
                raise ValueError("the thin stack runs one process, without variants")
            db = ["--db", self.db] if self.app == "accepted" and self.db is not None else []
            return [sys.executable, "-m", "bench.thin", *host, *db]
        if self.variant is not None:
            raise ValueError("variants run on uvicorn only")
        if self.stack == "granian":
            target = (
                ["--factory", "accepted.http.app:create_app"]
                if self.app == "accepted"
                else ["bench.constant:app"]
            )
            granian = str(Path(sys.executable).parent / "granian")
            return [
                granian,
                "--interface",
                "asgi",
                "--loop",
                "uvloop",
                "--no-ws",
                "--log-level",
                "warning",
                "--backlog",
                "4096",
                *host,
                *target,
            ]
        raise ValueError(f"unknown stack {self.stack!r}")

    def env(self, port: int) -> dict[str, str]:
        env = {**os.environ, "ACCEPTED_LOG_LEVEL": "warning", **self.extra_env}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        if self.db is not None:  # granian's factory reads its settings from the environment
            env.update(ACCEPTED_DB=self.db, ACCEPTED_HOST="127.0.0.1", ACCEPTED_PORT=str(port))
        return env


class RunningServer:
    """A started server; `stop()` ends it (and its strace) by PID."""

    def __init__(self, spec: ServerSpec, workdir: Path) -> None:
        self.spec = spec
        self.port = free_port()
        self.log_path = workdir / f"server-{spec.app}-{spec.stack}-{spec.variant}-{self.port}.log"
        self.trace_path = workdir / f"fsync-{self.port}.trace"
        self.fsyncs: FsyncCounter | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.tree: ProcessTree | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RunningServer:
        command = self.spec.command(self.port)
        if self.spec.strace:
            command = [
                "strace",
                "-f",
                "--seccomp-bpf",
                "-qq",
                "-e",
                "signal=none",
                "-e",
                "trace=fsync,fdatasync",
                "-o",
                str(self.trace_path),
                *command,
            ]
            self.fsyncs = FsyncCounter(self.trace_path)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.spec.env(self.port),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._await_ready()
        self.tree = ProcessTree(self._server_pid())
        return self

    def _server_pid(self) -> int:
        """The server itself: strace's child when traced, else the process we started."""
        assert self.proc is not None
        if not self.spec.strace:
            return self.proc.pid
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        return int(children.split()[0])

    def _await_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        path = "/healthz" if self.spec.app == "accepted" else "/"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited at start:\n{self.log_path.read_text()}")
            status = _status(self.port, path)
            # The constant answers anything, but 503 until all its processes serve.
            if status == 200 or (self.spec.app == "constant" and status not in (None, 503)):
                return
            time.sleep(0.05)  # nothing to await before the socket exists
        self.stop()
        raise RuntimeError(f"server not ready in {STARTUP_TIMEOUT}s:\n{self.log_path.read_text()}")

    @property
    def loop_pid(self) -> int | None:
        """The process running the app's event loop: granian's is its worker."""
        if self.tree is None:
            return None
        pids = self.tree.pids()
        return pids[-1] if self.spec.stack == "granian" and len(pids) > 1 else pids[0]

    def snapshot(self) -> Snapshot:
        # Under granian the loop runs in a worker process, not the first one's main thread.
        return _snapshot(self.tree, self.fsyncs, loop_thread=self.spec.stack != "granian")

    def stop(self) -> None:
        if self.proc is None:
            return
        target = self.tree.pid if self.tree is not None else self.proc.pid
        if self.proc.poll() is None:
            _signal(target, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            _signal(target, signal.SIGKILL)
            _signal(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


def _snapshot(
    tree: ProcessTree | None, fsyncs: FsyncCounter | None, *, loop_thread: bool = True
) -> Snapshot:
    return Snapshot(
        at=time.monotonic(),
        cpu_seconds=None if tree is None else tree.cpu_seconds(),
        fsyncs=None if fsyncs is None else fsyncs.count(),
        main_thread_cpu=None if tree is None or not loop_thread else tree.main_thread_cpu(),
    )


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _status(port: int, path: str) -> int | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


class ExternalServer:
    """A server the harness did not start (`--url`); measured only if its PID is given."""

    def __init__(self, url: str, pid: int | None) -> None:
        self.url = url.rstrip("/")
        host, _, port = self.url.removeprefix("http://").partition(":")
        if host not in ("127.0.0.1", "localhost", "[::1]"):
            raise ValueError(f"--url must be a loopback address, not {host!r}")
        self.port = int(port or 80)
        self.tree = ProcessTree(pid) if pid is not None else None
        self.fsyncs: FsyncCounter | None = None

    @property
    def loop_pid(self) -> int | None:
        return None if self.tree is None else self.tree.pid

    def start(self) -> ExternalServer:
        if _status(self.port, "/healthz") != 200:
            raise RuntimeError(f"{self.url}/healthz does not answer 200")
        return self

    def snapshot(self) -> Snapshot:
        return _snapshot(self.tree, None)

    def stop(self) -> None:
        pass


Server = RunningServer | ExternalServer
