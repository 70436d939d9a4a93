"""The worker runner: run a Python function for each job of some queues.

    from accepted.worker import run_worker

    def resize(path: str, width: int) -> dict:
        ...
        return {"path": out}

    run_worker(resize, url="http://127.0.0.1:8000", queues=["images"], concurrency=4)

or from the shell: `accepted worker --queue images --concurrency 4 mymodule:resize`.
See docs/workers.md.
"""

from __future__ import annotations

from accepted.worker.invoke import FailForGood
from accepted.worker.loading import load_function
from accepted.worker.run import run_worker
from accepted.worker.runner import Worker, current_job

__all__ = ["FailForGood", "Worker", "current_job", "load_function", "run_worker"]
