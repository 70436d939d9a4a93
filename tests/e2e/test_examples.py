"""The examples in examples/ run as their docstrings say, against a real server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.servers import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
PATIENCE = 30.0


def test_the_producer_and_worker_examples(server: ServerProcess, tmp_path: Path) -> None:
    env = {**os.environ, "ACCEPTED_URL": server.url}
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, str(ROOT / "examples" / "worker.py")],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        producer = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "producer.py")],
            env=env,
            capture_output=True,
            text=True,
            timeout=PATIENCE,
        )
        assert producer.returncode == 0, producer.stdout + producer.stderr
        lines = producer.stdout.splitlines()
        assert lines[0] == "enqueued 3 jobs"
        assert "done: 9 words, most common [['the', 2]" in lines[1]
        assert "done: 10 words, most common [['to', 2], ['be', 2]" in lines[2]
        assert "failed: ValueError: nothing to count: the text is empty" in lines[3]
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(PATIENCE)
    assert code == 0, log_path.read_text()
