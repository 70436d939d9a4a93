"""`accepted worker` processes for the e2e tests, and waiting on what they do."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from accepted.client import Client, Job, JobStatus
from tests.support.servers import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
JOBS = "tests.e2e.worker_jobs"
# Bound on waits for something a worker does (start, take, exit); failing past it is a bug.
PATIENCE = 30.0


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = PATIENCE) -> int:
        return self.proc.wait(timeout)

    @property
    def log(self) -> str:
        return self.log_path.read_text()


StartWorker = Callable[..., WorkerProcess]


@pytest.fixture
def start_worker(server: ServerProcess, tmp_path: Path) -> Iterator[StartWorker]:
    """`start_worker("add", "--queue", "q")` runs tests.e2e.worker_jobs:add in a worker."""
    started: list[WorkerProcess] = []

    def start(function: str, *args: str) -> WorkerProcess:
        log_path = tmp_path / f"worker-{len(started)}.log"
        command = [sys.executable, "-m", "accepted", "worker", "--url", server.url,
                   "--log-level", "info", *args, f"{JOBS}:{function}"]  # fmt: skip
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
        worker = WorkerProcess(proc, log_path)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.proc.poll() is None:
            worker.proc.kill()
            worker.proc.wait()


def wait_until_started(worker: WorkerProcess, job_id: str) -> None:
    """Poll the worker's log until it says it started the job.

    "running" on the server is not enough: a job handed to a blocked worker is
    running from the commit that also sends it, before the worker has read it.
    """
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        lines = worker.log.splitlines()
        if any(f"job {job_id} (" in line and line.endswith(" started") for line in lines):
            return
        time.sleep(0.05)
    raise AssertionError(f"worker never started job {job_id}:\n{worker.log}")


def wait_until_running(client: Client, job_id: str) -> Job:
    """Poll until a worker has taken the job: the API has no event for "taken"."""
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        job = client.get(job_id)
        if job.status is JobStatus.RUNNING:
            return job
        assert not job.is_final, job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} was never taken")


def wait_for_log(worker: WorkerProcess, text: str) -> str:
    """Poll the worker's log until a line contains `text`; that line."""
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        for line in worker.log.splitlines():
            if text in line:
                return line
        time.sleep(0.05)
    raise AssertionError(f"the worker never logged {text!r}:\n{worker.log}")
